#!/usr/bin/env bash
# Data-parallel `shendu diffusion` under mpirun (issue 21; registered only in an
# MPI build, like cli_mpi_gan.sh):
#   - equivalence: 2 ranks with global batch 16 reach the weights of one process
#     with batch 16 after 8 steps, up to summation order (max |dw| <= 5e-4, as for
#     the GAN: Adam magnifies rounding in weights with near-zero gradients);
#     overlapped and plain all-reduce agree bit for bit; rank 0 alone prints and writes
#   - a checkpoint written by 2 ranks (stopped after step 5) resumes on 1 process and
#     on 2 ranks (bit-identical to the uninterrupted 2-rank run)
#   - one rank's bad flag, or different settings on the ranks, end every rank
. "$(dirname "$0")/lib_cli.sh"
BUILD=${SHENDU_BUILD:?run through ctest}
TD="$BUILD/test_dist"
MPIRUN=("${SHENDU_MPIRUN:-mpirun}" --allow-run-as-root --oversubscribe)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"   # Open MPI's own leaks (see cli_mpi.sh)
mpi() { timeout 300 "${MPIRUN[@]}" "$@"; }
cmp_w() {   # cmp_w A B TOL WHAT
    local out
    out=$("$TD" compare "$1" "$2" "$3" 2>&1) && ok || bad "$4: $out"
}
base=(--limit 64 --batch 16 --channels 8 --groups 4 --steps 20 --sample-steps 2 --epochs 2 --threads 1 --seed 5 --ema 0)
dif1() { "$BIN" diffusion "${base[@]}" "$@" >"$TMP/log" 2>&1 || bad "1 process $*: $(tail -3 "$TMP/log")"; }
dif2() { mpi -np 2 "$BIN" diffusion "${base[@]}" "$@" >"$TMP/log" 2>&1 || bad "2 ranks $*: $(tail -5 "$TMP/log")"; }

# ---- equivalence after 8 steps (2 epochs of 4)
dif1 --out "$TMP/one" --checkpoint "$TMP/one.ck"
dif2 --out "$TMP/two" --checkpoint "$TMP/two.ck"
grep -q "data parallel: 2 ranks x 1 threads, each 8 or 8 of the 16 pictures of a step" "$TMP/log" && ok \
    || bad "no data-parallel line: $(cat "$TMP/log")"
[ "$(grep -c '^epoch 2/2' "$TMP/log")" = 1 ] && ok || bad "rank 1 printed progress too: $(cat "$TMP/log")"
cmp_w "$TMP/one/model.safetensors" "$TMP/two/model.safetensors" 5e-4 "U-Net: 2 ranks vs 1 process"
cmp_w "$TMP/one.ck" "$TMP/two.ck" 5e-4 "the checkpoint's weights: 2 ranks vs 1 process"
dif2 --out "$TMP/twop" --allreduce plain
cmp -s "$TMP/two/model.safetensors" "$TMP/twop/model.safetensors" && ok \
    || bad "overlapped and plain all-reduce give different models"
"$BIN" diffusion sample "$TMP/two/model.safetensors" --n 4 --sample-steps 2 --out "$TMP/two.png" >/dev/null 2>&1 && ok \
    || bad "the 2-rank model does not sample"

# ---- a checkpoint of 2 ranks resumes on 1 and on 2
out=$(mpi -np 2 "$BIN" diffusion "${base[@]}" --out "$TMP/s" --checkpoint "$TMP/ck.st" --checkpoint-every 2 \
      --stop-after 5 2>&1) && ok || bad "2 ranks --stop-after 5: $out"
[ "$(grep -c 'stopped at epoch 2, step 5' <<<"$out")" = 1 ] && ok || bad "no single stop line: $out"
cp "$TMP/ck.st" "$TMP/ck_b.st"
"$BIN" diffusion --resume "$TMP/ck.st" --out "$TMP/r21" >"$TMP/log" 2>&1 || bad "2 -> 1 resume: $(tail -3 "$TMP/log")"
cmp_w "$TMP/one/model.safetensors" "$TMP/r21/model.safetensors" 5e-4 "checkpoint of 2 ranks resumed by 1 process"
mpi -np 2 "$BIN" diffusion --resume "$TMP/ck_b.st" --out "$TMP/r22" >"$TMP/log" 2>&1 \
    || bad "2 -> 2 resume: $(tail -5 "$TMP/log")"
cmp -s "$TMP/two/model.safetensors" "$TMP/r22/model.safetensors" && ok \
    || bad "2-rank resume is not bit-identical to the uninterrupted 2-rank run"

# ---- one rank's bad flag, or different settings, end every rank; sample and score stay one process
quick=(--limit 64 --batch 32 --channels 8 --groups 4 --steps 20 --sample-steps 2 --epochs 1 --threads 1 --out "$TMP/q")
expect 2 "rank 1 of 2 stopped before training" \
    mpi -np 1 "$BIN" diffusion "${quick[@]}" : -np 1 "$BIN" diffusion "${quick[@]}" --lr abc
expect 1 "different settings: lr is 0.0002 on rank 0 but 0.005 on rank 1" \
    mpi -np 1 "$BIN" diffusion "${quick[@]}" : -np 1 "$BIN" diffusion "${quick[@]}" --lr 0.005
expect 1 "different settings: allreduce" \
    mpi -np 1 "$BIN" diffusion "${quick[@]}" : -np 1 "$BIN" diffusion "${quick[@]}" --allreduce plain
expect 2 "does not run data-parallel" mpi -np 2 "$BIN" diffusion sample "$TMP/two/model.safetensors" --out "$TMP/x.png"
done_tests
