#!/usr/bin/env bash
# Data-parallel `shendu lm train` under mpirun (issue 9; registered only in an MPI
# build, like cli_mpi.sh: without MPI tests/tests.cmake says so when configuring):
#   - equivalence: 2 ranks with global batch B reach the weights of one process
#     with batch B after K = 20 Adam steps, up to summation order: max |dw| <= 1e-4
#     (observed about 2e-7); even (8 = 4 + 4) and uneven (7 = 4 + 3) batches,
#     overlapped and plain all-reduce; rank 0 alone prints
#   - a checkpoint written by 2 ranks (stopped after step 8) resumes on 1 process
#     (within the same tolerance of 1 process throughout) and on 2 ranks
#     (bit-identical to the uninterrupted 2-rank run)
#   - a transformer (AdamW, clipping, warm-up + cosine) on 2 ranks matches 1 process too
#   - different settings on the ranks end every rank with a message
. "$(dirname "$0")/lib_cli.sh"
BUILD=${SHENDU_BUILD:?run through ctest}
TD="$BUILD/test_dist"
MPIRUN=("${SHENDU_MPIRUN:-mpirun}" --allow-run-as-root --oversubscribe)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"   # Open MPI's own leaks (see cli_mpi.sh)
T=60
mpi() { timeout "$T" "${MPIRUN[@]}" "$@"; }
cmp_w() {   # cmp_w A B TOL WHAT
    local out
    out=$("$TD" compare "$1" "$2" "$3" 2>&1) && ok || bad "$4: $out"
}
if [ -r /usr/share/games/fortunes/fortunes ]; then
    head -c 20000 /usr/share/games/fortunes/fortunes > "$TMP/t.txt"
else
    cat "$SHENDU_SOURCE"/README.md "$SHENDU_SOURCE"/docs/*.md | head -c 20000 > "$TMP/t.txt"
fi
base=(--text "$TMP/t.txt" --seq 16 --hidden 24 --emb 8 --threads 1 --seed 3 --steps 20
      --sample-len 16 --eval-every 10 --log-every 10)
train1() { "$BIN" lm train "${base[@]}" "$@" >"$TMP/log" 2>&1 || bad "1 process $*: $(tail -3 "$TMP/log")"; }
train2() { mpi -np 2 "$BIN" lm train "${base[@]}" "$@" >"$TMP/log" 2>&1 || bad "2 ranks $*: $(tail -5 "$TMP/log")"; }

# ---- equivalence after K = 20 steps
train1 --batch 8 --out "$TMP/a1.st"
train2 --batch 8 --out "$TMP/a2.st"
grep -q "data parallel: 2 ranks x 1 threads, each 4 or 4 of the 8 windows" "$TMP/log" && ok \
    || bad "no data-parallel line: $(cat "$TMP/log")"
[ "$(grep -c '^step 20/20' "$TMP/log")" = 1 ] && ok || bad "rank 1 printed progress too: $(cat "$TMP/log")"
[ "$(grep -c '^sample at step 20' "$TMP/log")" = 1 ] && ok || bad "rank 1 sampled too: $(cat "$TMP/log")"
cmp_w "$TMP/a1.st" "$TMP/a2.st" 1e-4 "2 ranks vs 1 process, batch 8"
train2 --batch 8 --allreduce plain --out "$TMP/a2p.st"
cmp_w "$TMP/a2.st" "$TMP/a2p.st" 0 "overlapped vs plain all-reduce (2 ranks: a + b either way)"
train1 --batch 7 --out "$TMP/u1.st"
train2 --batch 7 --out "$TMP/u2.st"
cmp_w "$TMP/u1.st" "$TMP/u2.st" 1e-4 "uneven shards (4 + 3)"

# ---- a checkpoint of 2 ranks resumes on 1 and on 2
out=$(mpi -np 2 "$BIN" lm train "${base[@]}" --batch 8 --checkpoint "$TMP/ck.st" --checkpoint-every 4 --stop-after 8 2>&1) \
    && ok || bad "2 ranks --stop-after 8: $out"
[ "$(grep -c 'stopped at step 8 of 20' <<<"$out")" = 1 ] && ok || bad "no single stop line: $out"
cp "$TMP/ck.st" "$TMP/ck_b.st"
"$BIN" lm train --resume "$TMP/ck.st" --out "$TMP/r21.st" >"$TMP/log" 2>&1 || bad "2 -> 1 resume: $(tail -3 "$TMP/log")"
cmp_w "$TMP/a1.st" "$TMP/r21.st" 1e-4 "checkpoint of 2 ranks resumed by 1 process vs 1 process throughout"
mpi -np 2 "$BIN" lm train --resume "$TMP/ck_b.st" --out "$TMP/r22.st" >"$TMP/log" 2>&1 || bad "2 -> 2 resume: $(tail -5 "$TMP/log")"
cmp -s "$TMP/a2.st" "$TMP/r22.st" && ok || bad "2-rank resume is not bit-identical to the uninterrupted 2-rank run"

# ---- the transformer (issue 20): 2 ranks reach 1 process's weights (AdamW, clipping, schedule)
tfm=(--cell transformer --layers 2 --dim 16 --heads 2 --warmup 4)
train1 --batch 8 "${tfm[@]}" --out "$TMP/t1.st"
train2 --batch 8 "${tfm[@]}" --out "$TMP/t2.st"
cmp_w "$TMP/t1.st" "$TMP/t2.st" 1e-4 "transformer: 2 ranks vs 1 process, batch 8"

# ---- one rank's bad flag, or different settings, end every rank
quick=(--text "$TMP/t.txt" --seq 16 --batch 4 --hidden 8 --emb 4 --threads 1 --steps 2 --sample-len 0)
expect 2 "rank 1 of 2 stopped before training" \
    mpi -np 1 "$BIN" lm train "${quick[@]}" : -np 1 "$BIN" lm train "${quick[@]}" --lr abc
expect 1 "different settings: lr is 0.002 on rank 0 but 0.005 on rank 1" \
    mpi -np 1 "$BIN" lm train "${quick[@]}" : -np 1 "$BIN" lm train "${quick[@]}" --lr 0.005
expect 1 "different settings: eval-every" \
    mpi -np 1 "$BIN" lm train "${quick[@]}" : -np 1 "$BIN" lm train "${quick[@]}" --eval-every 1
done_tests
