#!/usr/bin/env bash
# Memory stays small everywhere (issue 15, point 8): scoring a DCGAN generator
# streams its samples through the classifier a batch at a time, so its peak
# resident memory does not grow with --n (it was 1.25 GB for 10,000 samples:
# batches of 500 through G's im2col columns, about 2 MB an image). Peak RSS
# is read with getrusage(RUSAGE_CHILDREN) (ru_maxrss, KiB) through python3. DCGAN
# training stays under 300 MB with and without its classifier's score.
. "$(dirname "$0")/lib_cli.sh"
DATA=/usr/share/datasets/fashion-mnist
[ -d "$DATA" ] || { echo "cli_memory: needs $DATA (dataset-fashion-mnist)" >&2; exit 1; }
cd "$TMP" || exit 1
# peak_kib CMD...: run CMD (its output to run.log), print its peak RSS in KiB; fails with CMD
peak_kib() { python3 -c 'import resource,subprocess,sys
r=subprocess.run(sys.argv[1:],stdout=open("run.log","w"),stderr=subprocess.STDOUT).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r)' "$@"; }
# under BOUND_MB CMD...: CMD succeeds with a peak RSS under BOUND_MB
under() {
    local bound=$1 kib; shift
    if ! kib=$(peak_kib "$@"); then bad "$* failed: $(tail -n 3 run.log)"; return; fi
    [ "$kib" -lt $((bound * 1024)) ] && ok || bad "$*: peak RSS $((kib / 1024)) MB, expected under $bound MB"
    echo "peak RSS $((kib / 1024)) MB: ${*#"$BIN" }"
}

under 300 "$BIN" train --epochs 1 --limit 256 --limit-test 300 --threads 2 --out cls.st
# DCGAN training: one step and the epoch's end (its grid, its generator file) reach the run's
# peak, as every step has the same shapes (it was 381 MB: the batch's im2col columns of dx for
# every convolution, and the grid's graph beside the two training graphs; now about 275 MB)
under 300 "$BIN" gan --arch dcgan --epochs 1 --limit 32 --threads 2 --out g
# ... and with the per-epoch score (it was 399 MB with its two graphs of its own)
under 300 "$BIN" gan --arch dcgan --epochs 1 --limit 32 --threads 2 --classifier cls.st --score-n 100 --out gs
# 600 samples: one batch of 600 would take G's columns past 1 GB; streamed, the peak is one small batch's
under 300 "$BIN" gan score g/generator.safetensors --classifier cls.st --n 600 --threads 2
done_tests
