#!/usr/bin/env bash
# Checkpoints: a run stopped by SIGINT, or killed with SIGKILL at random
# moments, resumes to weights bit-identical to an uninterrupted run; every
# checkpoint left behind loads (atomic writes); resume refuses other settings.
. "$(dirname "$0")/lib_cli.sh"
KILLS=${SHENDU_KILL_TRIALS:-8}
run=(--model mlp --epochs 2 --limit 4000 --limit-test 200 --threads 1 --seed 3)

"$BIN" train "${run[@]}" --out "$TMP/full.safetensors" >/dev/null 2>&1 || bad "uninterrupted run failed"

# SIGINT: a final checkpoint, exit 130, a message on how to resume
"$BIN" train "${run[@]}" --checkpoint "$TMP/ck.safetensors" >"$TMP/int.log" 2>&1 &
pid=$!
sleep 0.3
kill -INT $pid
wait $pid; rc=$?
if [ $rc = 130 ]; then
    grep -q "resume with: shendu train --resume" "$TMP/int.log" && ok || bad "no resume hint: $(cat "$TMP/int.log")"
    "$BIN" eval "$TMP/ck.safetensors" --limit 200 >/dev/null 2>&1 && ok || bad "eval refuses a checkpoint"
    "$BIN" train --resume "$TMP/ck.safetensors" --out "$TMP/resumed.safetensors" >/dev/null 2>&1 || bad "resume failed"
else
    # the run finished before the signal: resuming its final checkpoint must change nothing
    "$BIN" train --resume "$TMP/ck.safetensors" --out "$TMP/resumed.safetensors" >/dev/null 2>&1 || bad "resume failed"
fi
cmp -s "$TMP/full.safetensors" "$TMP/resumed.safetensors" && ok || bad "SIGINT + resume differs from the uninterrupted run"

# SIGKILL at random moments with a checkpoint every 5 steps: what is left always
# loads, and resuming it ends bit-identical to the uninterrupted run
for i in $(seq 1 "$KILLS"); do
    rm -f "$TMP/k.safetensors"
    "$BIN" train "${run[@]}" --checkpoint "$TMP/k.safetensors" --checkpoint-every 5 >/dev/null 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))"
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
    if [ ! -e "$TMP/k.safetensors" ]; then       # killed before the first checkpoint
        rm -f "$TMP"/k.safetensors.tmp.*
        continue
    fi
    "$BIN" eval "$TMP/k.safetensors" --limit 50 >/dev/null 2>&1 && ok || bad "trial $i: the checkpoint left does not load"
    "$BIN" train --resume "$TMP/k.safetensors" --out "$TMP/k_out.safetensors" >/dev/null 2>&1 || { bad "trial $i: resume failed"; continue; }
    # the temporary file of a write the SIGKILL cut short is removed by the next write to the same path
    ls "$TMP"/k.safetensors.tmp.* >/dev/null 2>&1 && bad "trial $i: a torn temporary file was left: $(ls "$TMP")" || ok
    cmp -s "$TMP/full.safetensors" "$TMP/k_out.safetensors" && ok || bad "trial $i: resumed weights differ"
done

# --stop-after: the same stop as Ctrl-C at an exact step (exit 0), resumed bit-identically
out=$("$BIN" train "${run[@]}" --checkpoint "$TMP/sa.safetensors" --stop-after 7 2>&1); rc=$?
[ $rc = 0 ] && grep -q "stopped at epoch 1 step 7; checkpoint written" <<<"$out" && ok || bad "--stop-after 7: exit $rc: $out"
"$BIN" train --resume "$TMP/sa.safetensors" --out "$TMP/sa_out.safetensors" >/dev/null 2>&1 || bad "resume after --stop-after failed"
cmp -s "$TMP/full.safetensors" "$TMP/sa_out.safetensors" && ok || bad "--stop-after 7 + resume differs from the uninterrupted run"

# a resumed run keeps its configuration
expect 2 "disagree|keeps its configuration" "$BIN" train --resume "$TMP/ck.safetensors" --lr 0.5
expect 2 "keeps its configuration" "$BIN" train --resume "$TMP/ck.safetensors" --epochs 7
expect 0 "" "$BIN" train --resume "$TMP/ck.safetensors" --epochs 2 --seed 3
expect 2 "not a checkpoint" "$BIN" train --resume "$TMP/full.safetensors"
expect 2 "No such file|nothere" "$BIN" train --resume "$TMP/nothere.safetensors"
done_tests
