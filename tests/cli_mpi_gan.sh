#!/usr/bin/env bash
# Data-parallel `shendu gan` under mpirun (issue 9; registered only in an MPI
# build, like cli_mpi.sh):
#   - equivalence: 2 ranks with global batch 64 reach the generator and
#     discriminator of one process with batch 64 after K = 20 steps, up to
#     summation order: max |dw| <= 5e-4 (observed about 1e-4: Adam divides by
#     sqrt(v), which magnifies rounding differences in weights whose gradients are
#     near zero); overlapped and plain all-reduce agree bit for bit; rank 0 alone
#     prints and writes
#   - the DCGAN (batchnorm: each rank normalises its own shard) trains under 2 ranks
#   - a checkpoint written by 2 ranks (stopped after step 13) resumes on 1 process
#     and on 2 ranks (bit-identical to the uninterrupted 2-rank run)
#   - one rank's bad flag, or different settings on the ranks, end every rank with a message
. "$(dirname "$0")/lib_cli.sh"
BUILD=${SHENDU_BUILD:?run through ctest}
TD="$BUILD/test_dist"
MPIRUN=("${SHENDU_MPIRUN:-mpirun}" --allow-run-as-root --oversubscribe)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"   # Open MPI's own leaks (see cli_mpi.sh)
T=120
mpi() { timeout "$T" "${MPIRUN[@]}" "$@"; }
cmp_w() {   # cmp_w A B TOL WHAT
    local out
    out=$("$TD" compare "$1" "$2" "$3" 2>&1) && ok || bad "$4: $out"
}
base=(--limit 640 --epochs 2 --threads 1 --seed 5 --ema 0)
gan1() { "$BIN" gan "${base[@]}" "$@" >"$TMP/log" 2>&1 || bad "1 process $*: $(tail -3 "$TMP/log")"; }
gan2() { mpi -np 2 "$BIN" gan "${base[@]}" "$@" >"$TMP/log" 2>&1 || bad "2 ranks $*: $(tail -5 "$TMP/log")"; }

# ---- equivalence after 20 steps
gan1 --out "$TMP/one" --checkpoint "$TMP/one.ck"
gan2 --out "$TMP/two" --checkpoint "$TMP/two.ck"
grep -q "data parallel: 2 ranks x 1 threads, each 32 or 32 of the 64 images of a step" "$TMP/log" && ok \
    || bad "no data-parallel line: $(cat "$TMP/log")"
[ "$(grep -c '^epoch 2/2' "$TMP/log")" = 1 ] && ok || bad "rank 1 printed progress too: $(cat "$TMP/log")"
cmp_w "$TMP/one/generator.safetensors" "$TMP/two/generator.safetensors" 5e-4 "G: 2 ranks vs 1 process"
cmp_w "$TMP/one.ck" "$TMP/two.ck" 5e-4 "G in the checkpoint: 2 ranks vs 1 process"
gan2 --out "$TMP/twop" --allreduce plain
cmp -s "$TMP/two/generator.safetensors" "$TMP/twop/generator.safetensors" && ok \
    || bad "overlapped and plain all-reduce give different generators"

# ---- the DCGAN under 2 ranks
mpi -np 2 "$BIN" gan --arch dcgan --limit 256 --epochs 1 --threads 1 --out "$TMP/dc" >"$TMP/log" 2>&1 && ok \
    || bad "dcgan, 2 ranks: $(tail -5 "$TMP/log")"
"$BIN" gan sample "$TMP/dc/generator.safetensors" --n 4 --out "$TMP/dc.png" >/dev/null 2>&1 && ok \
    || bad "the 2-rank DCGAN's generator does not load"

# ---- a checkpoint of 2 ranks resumes on 1 and on 2
out=$(mpi -np 2 "$BIN" gan "${base[@]}" --out "$TMP/s" --checkpoint "$TMP/ck.st" --checkpoint-every 4 --stop-after 13 2>&1) \
    && ok || bad "2 ranks --stop-after 13: $out"
[ "$(grep -c 'stopped at epoch 2 step 3' <<<"$out")" = 1 ] && ok || bad "no single stop line: $out"
cp "$TMP/ck.st" "$TMP/ck_b.st"
"$BIN" gan --resume "$TMP/ck.st" --out "$TMP/r21" >"$TMP/log" 2>&1 || bad "2 -> 1 resume: $(tail -3 "$TMP/log")"
cmp_w "$TMP/one/generator.safetensors" "$TMP/r21/generator.safetensors" 5e-4 "checkpoint of 2 ranks resumed by 1 process"
mpi -np 2 "$BIN" gan --resume "$TMP/ck_b.st" --out "$TMP/r22" >"$TMP/log" 2>&1 || bad "2 -> 2 resume: $(tail -5 "$TMP/log")"
cmp -s "$TMP/two/generator.safetensors" "$TMP/r22/generator.safetensors" && ok \
    || bad "2-rank resume is not bit-identical to the uninterrupted 2-rank run"

# ---- one rank's bad flag, or different settings, end every rank
quick=(--limit 128 --epochs 1 --threads 1 --out "$TMP/q")
expect 2 "rank 1 of 2 stopped before training" \
    mpi -np 1 "$BIN" gan "${quick[@]}" : -np 1 "$BIN" gan "${quick[@]}" --lr abc
expect 1 "different settings: lr is 0.0002 on rank 0 but 0.005 on rank 1" \
    mpi -np 1 "$BIN" gan "${quick[@]}" : -np 1 "$BIN" gan "${quick[@]}" --lr 0.005
expect 1 "different settings: allreduce" \
    mpi -np 1 "$BIN" gan "${quick[@]}" : -np 1 "$BIN" gan "${quick[@]}" --allreduce plain
done_tests
