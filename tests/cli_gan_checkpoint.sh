#!/usr/bin/env bash
# `shendu gan` checkpoints (issue 8), on 640 images, 1 thread:
#   - stopped after step K (--stop-after) and resumed: the generator and the last
#     grid are byte-identical to the uninterrupted run's (both architectures;
#     with and without G's moving average)
#   - SIGTERM mid-run: exit 130, "resume with:", the checkpoint is a generator file
#     (gan sample reads it), and resuming it ends byte-identical too
#   - a resume refuses flags that disagree with the stored configuration (exit 2)
#     and lets --out / --classifier / --score-n change
#   - bad or foreign files given to --resume: a clear error, no crash
. "$(dirname "$0")/lib_cli.sh"
is_png() { [ "$(od -An -c -N4 "$1" | tr -d ' ')" = '211PNG' ]; }

run=(--limit 640 --threads 1 --seed 5 --batch 64)

# ---- stopped at step 13 (epoch 2, step 3) and resumed: bit-identical
for arch in "mlp --ema 0.999" "mlp --ema 0" "dcgan"; do
    a=($arch)
    "$BIN" gan "${run[@]}" --arch ${a[@]} --epochs 2 --out "$TMP/full" >/dev/null 2>&1 || bad "$arch: uninterrupted run failed"
    out=$("$BIN" gan "${run[@]}" --arch ${a[@]} --epochs 2 --out "$TMP/part" --checkpoint "$TMP/ck.st" \
          --checkpoint-every 4 --stop-after 13 2>&1); rc=$?
    [ $rc = 0 ] && ok || bad "$arch: --stop-after exited $rc: $out"
    grep -q "stopped at epoch 2 step 3; checkpoint written to $TMP/ck.st" <<<"$out" && ok || bad "$arch: no stop line: $out"
    grep -q "resume with: shendu gan --resume $TMP/ck.st" <<<"$out" && ok || bad "$arch: no resume hint: $out"
    out=$("$BIN" gan --resume "$TMP/ck.st" --out "$TMP/part" 2>&1) || bad "$arch: resume failed: $out"
    grep -q "resuming $TMP/ck.st at epoch 2, step 3 (13 steps done)" <<<"$out" && ok || bad "$arch: no resume line: $out"
    cmp -s "$TMP/full/generator.safetensors" "$TMP/part/generator.safetensors" && ok \
        || bad "$arch: stopped at 13 + resumed: a different generator"
    cmp -s "$TMP/full/epoch_002.png" "$TMP/part/epoch_002.png" && ok || bad "$arch: stopped + resumed: a different grid"
    rm -rf "$TMP/full" "$TMP/part"
done
# the checkpoint now holds the finished run: resuming it trains no more, and writes the same generator
out=$("$BIN" gan --resume "$TMP/ck.st" --out "$TMP/again" 2>&1) || bad "resuming a finished run failed: $out"
! grep -q "^epoch" <<<"$out" && ok || bad "resuming a finished run trained again: $out"
"$BIN" gan "${run[@]}" --arch dcgan --epochs 2 --out "$TMP/full" >/dev/null 2>&1
cmp -s "$TMP/full/generator.safetensors" "$TMP/again/generator.safetensors" && ok \
    || bad "resuming a finished run wrote a different generator"

# ---- a checkpoint is a generator file
expect 0 "16 samples of $TMP/ck.st" "$BIN" gan sample "$TMP/ck.st" --n 16 --out "$TMP/ck.png"
is_png "$TMP/ck.png" && ok || bad "gan sample of a checkpoint wrote no PNG"

# ---- SIGTERM mid-run: a final checkpoint, exit 130, resume ends identical
"$BIN" gan "${run[@]}" --limit 1280 --epochs 20 --out "$TMP/long" >/dev/null 2>&1 || bad "uninterrupted long run failed"
"$BIN" gan "${run[@]}" --limit 1280 --epochs 20 --out "$TMP/sig" --checkpoint "$TMP/sig.st" --checkpoint-every 40 >"$TMP/sig.log" 2>&1 &
pid=$!
for _ in $(seq 1 500); do [ -e "$TMP/sig.st" ] && break; sleep 0.02; done
kill -TERM $pid
wait $pid; rc=$?
if [ $rc = 130 ]; then
    grep -q "resume with: shendu gan --resume $TMP/sig.st" "$TMP/sig.log" && ok || bad "no resume hint: $(cat "$TMP/sig.log")"
    "$BIN" gan sample "$TMP/sig.st" --n 4 --out "$TMP/sig.png" >/dev/null 2>&1 && ok \
        || bad "the checkpoint written on SIGTERM does not load"
else
    [ $rc = 0 ] && echo "note: the run finished before SIGTERM reached it; the stop itself was not exercised" >&2 \
        || bad "SIGTERM: exit $rc: $(cat "$TMP/sig.log")"
fi
"$BIN" gan --resume "$TMP/sig.st" --out "$TMP/sig" >/dev/null 2>&1 || bad "resume after SIGTERM failed"
# where a resume writes is decided by its command line, not by the checkpoint's record (issue 15)
(cd "$TMP" && "$BIN" gan --resume "$TMP/sig.st" >"$TMP/nout.log" 2>&1)
grep -q "was writing to $TMP/sig; this run writes to gan-out" "$TMP/nout.log" && [ -d "$TMP/gan-out" ] && ok \
    || bad "a resume without --out did not write to the default directory: $(cat "$TMP/nout.log")"
cmp -s "$TMP/long/generator.safetensors" "$TMP/sig/generator.safetensors" && ok \
    || bad "SIGTERM + resume differs from the uninterrupted run"

# ---- a resumed run keeps its configuration
expect 2 "--lr gives lr = 0.1, but .*lr = 0.0002.*keeps its configuration" "$BIN" gan --resume "$TMP/ck.st" --lr 0.1
expect 2 "--epochs gives epochs = 3.*epochs = 2" "$BIN" gan --resume "$TMP/ck.st" --epochs 3
expect 2 "--arch gives arch = mlp.*arch = dcgan" "$BIN" gan --resume "$TMP/ck.st" --arch mlp
expect 2 "--loss gives loss = minimax.*loss = ns" "$BIN" gan --resume "$TMP/ck.st" --loss minimax
expect 2 "--ema gives ema = 0.*ema = 0.999" "$BIN" gan --resume "$TMP/ck.st" --ema 0
expect 0 "resuming" "$BIN" gan --resume "$TMP/ck.st" --epochs 2 --seed 5 --threads 1 --limit 640 --arch dcgan \
    --out "$TMP/other"
[ -e "$TMP/other/generator.safetensors" ] && ok || bad "--out on a resume was not used"

# ---- bad files
printf 'junk' > "$TMP/junk.st"
expect 2 "junk.st" "$BIN" gan --resume "$TMP/junk.st"
expect 2 "no such file|cannot open|No such" "$BIN" gan --resume "$TMP/missing.st"
head -c 5000 "$TMP/ck.st" > "$TMP/cut.st"
expect 2 "cut.st" "$BIN" gan --resume "$TMP/cut.st"
expect 2 "generator.safetensors is a GAN generator, not a checkpoint of shendu gan" "$BIN" gan --resume "$TMP/full/generator.safetensors"
"$BIN" train --limit 256 --limit-test 64 --epochs 1 --threads 1 --checkpoint "$TMP/cls.ck" >/dev/null 2>&1
expect 2 "cls.ck is a checkpoint of shendu train, not a checkpoint of shendu gan" "$BIN" gan --resume "$TMP/cls.ck"
done_tests
