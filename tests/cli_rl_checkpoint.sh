#!/usr/bin/env bash
# shendu rl dqn checkpoints (issue 8): a run stopped at env step K (before and
# after learning starts, once or twice) and resumed ends with an agent file
# and JSON figures bit-identical to an uninterrupted run; SIGTERM mid-run
# leaves a checkpoint that `rl play` loads and that resumes to the same end;
# a resume keeps its configuration; foreign or truncated files are refused.
. "$(dirname "$0")/lib_cli.sh"
run=(rl dqn --env cartpole --steps 3000 --seed 3 --eval 2 --log-steps 500 --learning-starts 200 --buffer 1000
     --batch 32 --threads 1)
# the JSON line without the timings
figures() { tail -n 1 "$1" | sed -E 's/"(solved_wall_s|env_steps_per_s|wall_s)":[0-9.]+//g'; }

"$BIN" "${run[@]}" --out "$TMP/full.safetensors" --json >"$TMP/full.log" 2>&1 || bad "uninterrupted run failed: $(cat "$TMP/full.log")"
grep -q '"env_steps":3000' "$TMP/full.log" && ok || bad "uninterrupted run: $(tail -n 1 "$TMP/full.log")"

# stopped at K (--stop-after acts like Ctrl-C at exactly that step), resumed
for k in 150 1234; do
    expect 0 "resume with: shendu rl dqn --resume .*ck$k" \
        "$BIN" "${run[@]}" --checkpoint "$TMP/ck$k.safetensors" --stop-after $k
    expect 0 "resuming .* at env step $k" "$BIN" rl dqn --resume "$TMP/ck$k.safetensors" \
        --out "$TMP/res$k.safetensors" --json
    "$BIN" rl dqn --resume "$TMP/ck$k.safetensors" --out "$TMP/res$k.safetensors" --json >"$TMP/res$k.log" 2>&1
    cmp -s "$TMP/full.safetensors" "$TMP/res$k.safetensors" && ok || bad "stopped at $k + resumed: the agent differs"
    [ "$(figures "$TMP/full.log")" = "$(figures "$TMP/res$k.log")" ] && ok ||
        bad "stopped at $k + resumed: figures differ: $(figures "$TMP/full.log") vs $(figures "$TMP/res$k.log")"
done

# twice, with a checkpoint every 700 steps in between, then a finished run resumed once more
expect 0 "stopped at env step 1000" "$BIN" "${run[@]}" --checkpoint "$TMP/two.safetensors" --stop-after 1000
expect 0 "stopped at env step 2100" "$BIN" rl dqn --resume "$TMP/two.safetensors" --checkpoint-every 700 --stop-after 2100
"$BIN" rl dqn --resume "$TMP/two.safetensors" --out "$TMP/two_out.safetensors" --json >"$TMP/two.log" 2>&1 || bad "second resume failed"
cmp -s "$TMP/full.safetensors" "$TMP/two_out.safetensors" && ok || bad "stopped twice: the agent differs"
[ "$(figures "$TMP/full.log")" = "$(figures "$TMP/two.log")" ] && ok || bad "stopped twice: figures differ"
"$BIN" rl dqn --resume "$TMP/two.safetensors" --out "$TMP/again.safetensors" --json >"$TMP/again.log" 2>&1 || bad "resuming a finished run failed"
cmp -s "$TMP/full.safetensors" "$TMP/again.safetensors" && [ "$(figures "$TMP/full.log")" = "$(figures "$TMP/again.log")" ] &&
    ok || bad "resuming a finished run changed something: $(cat "$TMP/again.log")"

# a checkpoint is an agent file
expect 0 "episode 1: return" "$BIN" rl play "$TMP/ck1234.safetensors" --quiet --steps 20
expect 0 "episode 1: return" "$BIN" rl play "$TMP/ck1234.safetensors" --env cartpole --quiet --steps 20

# a resumed run keeps its configuration
expect 2 "--lr gives lr = 0.1.*keeps its configuration" "$BIN" rl dqn --resume "$TMP/ck1234.safetensors" --lr 0.1
expect 2 "--steps gives steps = 5000.*keeps its configuration" "$BIN" rl dqn --resume "$TMP/ck1234.safetensors" --steps 5000
expect 2 "--env gives env = acrobot" "$BIN" rl dqn --resume "$TMP/ck1234.safetensors" --env acrobot
expect 2 "--double gives double = 1" "$BIN" rl dqn --resume "$TMP/ck1234.safetensors" --double
expect 0 "not solved in 3000" "$BIN" rl dqn --resume "$TMP/ck1234.safetensors" --steps 3000 --seed 3 --buffer 1000 \
    --checkpoint "$TMP/agree.safetensors"

# foreign and damaged files
expect 2 "full.safetensors is a DQN agent, not a checkpoint of shendu rl dqn" "$BIN" rl dqn --resume "$TMP/full.safetensors"
expect 2 "nothere.safetensors" "$BIN" rl dqn --resume "$TMP/nothere.safetensors"
head -c 3000 "$TMP/ck1234.safetensors" >"$TMP/trunc.safetensors"
expect 2 "trunc.safetensors" "$BIN" rl dqn --resume "$TMP/trunc.safetensors"
printf 'not a model' >"$TMP/junk.safetensors"
expect 2 "junk.safetensors" "$BIN" rl dqn --resume "$TMP/junk.safetensors"

# SIGTERM mid-run: a final checkpoint, exit 130, and the resume ends where an
# uninterrupted run does
long=(rl dqn --env cartpole --steps 400000 --seed 5 --eval 1 --learning-starts 200 --buffer 1000 --batch 32 --threads 1 --no-stop)
"$BIN" "${long[@]}" --out "$TMP/long_full.safetensors" --json >"$TMP/long_full.log" 2>&1 || bad "long run failed"
"$BIN" "${long[@]}" --checkpoint "$TMP/term.safetensors" --checkpoint-every 5000 >"$TMP/term.log" 2>&1 &
pid=$!
# the readiness sign: the first periodic checkpoint (step 5000) exists only once the
# training loop runs, so the SIGTERM handler is installed (a fixed sleep raced with a
# slow start under ASan and load); the run may also have ended by then (exit 0 below)
for _ in $(seq 1 1200); do [ -e "$TMP/term.safetensors" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
[ -e "$TMP/term.safetensors" ] || ! kill -0 $pid 2>/dev/null || bad "no checkpoint after 60 s: $(cat "$TMP/term.log")"
kill -TERM $pid 2>/dev/null
wait $pid; rc=$?
if [ $rc = 130 ]; then
    grep -q "resume with: shendu rl dqn --resume" "$TMP/term.log" && ok || bad "no resume hint: $(cat "$TMP/term.log")"
    expect 0 "episode 1: return" "$BIN" rl play "$TMP/term.safetensors" --quiet --steps 5
elif [ $rc != 0 ]; then
    bad "SIGTERM: exit $rc: $(cat "$TMP/term.log")"
fi   # exit 0: it finished before the signal; its final checkpoint resumes to the same end
"$BIN" rl dqn --resume "$TMP/term.safetensors" --out "$TMP/term_out.safetensors" --json >"$TMP/term_res.log" 2>&1 ||
    bad "resume after SIGTERM failed: $(cat "$TMP/term_res.log")"
cmp -s "$TMP/long_full.safetensors" "$TMP/term_out.safetensors" && ok || bad "SIGTERM + resume: the agent differs"
[ "$(figures "$TMP/long_full.log")" = "$(figures "$TMP/term_res.log")" ] && ok || bad "SIGTERM + resume: figures differ"
done_tests
