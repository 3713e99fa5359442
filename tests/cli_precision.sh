#!/usr/bin/env bash
# --precision fp32|bf16 (issue 22): bfloat16 products train to the same place
# as float32 (a loose bound: a few hundred images), the same seed gives the
# same bits twice, the precision is kept in checkpoints and a resume cannot
# change it, a CPU without the kernel (forced here) runs fp32 with a note, and
# an unknown value is a usage error.
. "$(dirname "$0")/lib_cli.sh"

run() { "$BIN" train --model cnn --recipe plain --epochs 1 --limit 640 --limit-test 400 --threads 2 --seed 3 --json "$@" 2>&1; }
acc() { sed -n 's/.*"test_accuracy":\([0-9.]*\).*/\1/p' <<<"$1" | tail -1; }

f=$(run --precision fp32) || bad "fp32 training failed: $f"
b=$(run --precision bf16 --out "$TMP/b1.st") || bad "bf16 training failed: $b"
b2=$(run --precision bf16 --out "$TMP/b2.st") || bad "bf16 training failed: $b2"
if grep -q "no AVX512_BF16\|needs a CPU with AVX512_BF16" <<<"$b"; then
    echo "cli_precision: this CPU has no AVX512_BF16: the bf16 runs were fp32 (said by the note)"
fi
fa=$(acc "$f") ba=$(acc "$b")
awk -v f="$fa" -v b="$ba" 'BEGIN { exit !(f > 0.3 && b > 0.3 && b > f - 0.05 && b < f + 0.05) }' && ok \
    || bad "bf16 accuracy $ba far from fp32's $fa"
cmp -s "$TMP/b1.st" "$TMP/b2.st" && ok || bad "two bf16 runs with the same seed differ"

# kept in the checkpoint; a resume keeps it and refuses another
"$BIN" train --model cnn --recipe plain --epochs 2 --limit 640 --limit-test 100 --threads 1 --seed 3 --precision bf16 \
    --checkpoint "$TMP/ck.st" --stop-after 3 >/dev/null 2>&1
grep -aq '"shendu.train.precision":"bf16"' "$TMP/ck.st" && ok || bad "the checkpoint does not record bf16"
expect 2 "precision" "$BIN" train --resume "$TMP/ck.st" --precision fp32
expect 0 "" "$BIN" train --resume "$TMP/ck.st"

# a CPU without the kernel: a note, fp32, success
out=$(SHENDU_GEMM_KERNEL=avx2 "$BIN" train --model mlp --epochs 1 --limit 256 --limit-test 100 --threads 1 --precision bf16 2>&1)
[ $? = 0 ] && grep -q "note: bf16 precision needs a CPU with AVX512_BF16.*training in fp32" <<<"$out" && ok \
    || bad "bf16 without the kernel: $out"

expect 2 "unknown --precision 'fp16' \(expected fp32 or bf16\)" "$BIN" train --precision fp16
expect 2 "unknown --precision" "$BIN" lm train --precision half
expect 2 "unknown --precision" "$BIN" gan --precision x
expect 2 "unknown --precision" "$BIN" diffusion --precision x
done_tests
