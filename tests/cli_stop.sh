#!/usr/bin/env bash
# Stop means stop (issue 15, point 6): SIGTERM is honoured promptly inside the
# long loops of a trainer, not only between steps: between the updates of one
# `rl dqn` env step (--gradient-steps 1000000 would take minutes), during an
# `lm train` validation pass, and during the scoring of a GAN's or a diffusion
# model's epoch. Each stop writes a checkpoint that loads. The bound below is
# generous (a liveness check, not a timing): without the fix these runs ignore
# the signal for minutes.
. "$(dirname "$0")/lib_cli.sh"

# ends_within SECONDS PID: 0 if the process has ended by then (else it is killed)
ends_within() {
    local s=$1 pid=$2
    if timeout "$s" tail --pid="$pid" -f /dev/null; then return 0; fi
    kill -KILL "$pid" 2>/dev/null
    return 1
}

# --- rl dqn: a million updates per env step once learning starts (at step 21)
"$BIN" rl dqn --env cartpole --steps 100000 --learning-starts 20 --train-freq 1 --gradient-steps 1000000 \
    --batch 16 --threads 1 --checkpoint "$TMP/dqn.st" --out "$TMP/agent.st" >"$TMP/dqn.log" 2>&1 &
pid=$!
sleep 3
kill -TERM $pid
ends_within 20 $pid && ok || bad "rl dqn ignored SIGTERM during its updates: $(cat "$TMP/dqn.log")"
wait $pid; rc=$?
[ $rc = 130 ] && ok || bad "rl dqn stopped by SIGTERM exited $rc: $(cat "$TMP/dqn.log")"
grep -q "stopped at env step 21; checkpoint written" "$TMP/dqn.log" && ok || bad "no stop line: $(cat "$TMP/dqn.log")"
grep -q -- "resume with: shendu rl dqn --resume .*dqn.st --out .*agent.st" "$TMP/dqn.log" && ok \
    || bad "the resume hint lacks --out: $(cat "$TMP/dqn.log")"
grep -aq "shendu.rl.pending_updates" "$TMP/dqn.st" && ok || bad "the checkpoint does not hold the updates still due"
"$BIN" rl play "$TMP/dqn.st" --quiet --steps 5 >/dev/null 2>&1 && ok || bad "the checkpoint written mid-step does not load"

# --- lm train: a validation pass over a large held-out part, stopped in the middle
if [ -r /usr/share/games/fortunes/fortunes ]; then src=/usr/share/games/fortunes/fortunes; else src="$SHENDU_SOURCE/README.md"; fi
for i in $(seq 1 400); do cat "$src"; [ "$(stat -c %s "$TMP/big.txt" 2>/dev/null || echo 0)" -gt 8000000 ] && break; done > "$TMP/big.txt"
"$BIN" lm train --text "$TMP/big.txt" --hidden 1024 --emb 16 --seq 8 --batch 1 --steps 2 --eval-every 1 --sample-len 0 \
    --threads 1 --checkpoint "$TMP/lm.st" >"$TMP/lm.log" 2>&1 &
pid=$!
sleep 4
kill -TERM $pid
ends_within 20 $pid && ok || bad "lm train ignored SIGTERM during validation: $(cat "$TMP/lm.log")"
wait $pid; rc=$?
[ $rc = 130 ] && ok || bad "lm train stopped by SIGTERM exited $rc: $(cat "$TMP/lm.log")"
grep -q "stopped at step 1 of 2; checkpoint written" "$TMP/lm.log" && ok || bad "no stop line: $(cat "$TMP/lm.log")"
"$BIN" lm sample "$TMP/lm.st" --len 5 >/dev/null 2>&1 && ok || bad "the lm checkpoint does not load"

# --- gan --classifier: the scoring of an epoch's samples (10000 DCGAN samples take many
# seconds), stopped in the middle; the readiness sign is the epoch's grid, written just before
"$BIN" train --model mlp --epochs 1 --limit 256 --limit-test 100 --threads 1 --out "$TMP/cls.st" >/dev/null 2>&1 \
    || bad "classifier training failed"
"$BIN" gan --arch dcgan --limit 64 --batch 32 --epochs 2 --classifier "$TMP/cls.st" --score-n 10000 --threads 1 \
    --checkpoint "$TMP/gan.st" --out "$TMP/gan" >"$TMP/gan.log" 2>&1 &
pid=$!
for _ in $(seq 1 2400); do [ -e "$TMP/gan/epoch_001.png" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
kill -TERM $pid
ends_within 20 $pid && ok || bad "gan ignored SIGTERM while scoring an epoch: $(cat "$TMP/gan.log")"
wait $pid; rc=$?
[ $rc = 130 ] && ok || bad "gan stopped by SIGTERM exited $rc: $(cat "$TMP/gan.log")"
grep -q "stopped at the end of epoch 1 (its score not taken); checkpoint written" "$TMP/gan.log" && ok \
    || bad "no stop line: $(cat "$TMP/gan.log")"
"$BIN" gan sample "$TMP/gan.st" --n 4 --out "$TMP/s.png" >/dev/null 2>&1 && ok || bad "the gan checkpoint does not load"

# --- diffusion --classifier: the same for the DDIM samples of its per-epoch score (a tiny
# U-Net, 20000 samples: far longer than the wait), checked between two U-Net passes
"$BIN" diffusion --channels 4 --groups 2 --steps 10 --sample-steps 10 --limit 64 --batch 32 --epochs 2 \
    --classifier "$TMP/cls.st" --score-n 20000 --threads 1 --no-plot --checkpoint "$TMP/dif.st" --out "$TMP/dif" \
    >"$TMP/dif.log" 2>&1 &
pid=$!
for _ in $(seq 1 2400); do [ -e "$TMP/dif/epoch_001.png" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
kill -TERM $pid
ends_within 20 $pid && ok || bad "diffusion ignored SIGTERM while scoring an epoch: $(cat "$TMP/dif.log")"
wait $pid; rc=$?
[ $rc = 130 ] && ok || bad "diffusion stopped by SIGTERM exited $rc: $(cat "$TMP/dif.log")"
grep -q "stopped at the end of epoch 1 (its score not taken); checkpoint written" "$TMP/dif.log" && ok \
    || bad "no stop line: $(cat "$TMP/dif.log")"
"$BIN" diffusion sample "$TMP/dif.st" --n 4 --sample-steps 2 --out "$TMP/d.png" >/dev/null 2>&1 && ok \
    || bad "the diffusion checkpoint does not load"

done_tests
