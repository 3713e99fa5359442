#!/usr/bin/env bash
# shendu rl solve | qlearn | dqn | play end to end, their --json lines, and
# the bad inputs: unknown environments, flags, agent files for another
# environment or that are not agents at all.
. "$(dirname "$0")/lib_cli.sh"

# json_has LINE KEY...: every key present in the JSON line
json_has() {
    local line=$1; shift
    for key in "$@"; do
        grep -q "\"$key\":" <<<"$line" && ok || bad "JSON lacks $key: $line"
    done
}
json_num() { sed -E "s/.*\"$2\":(-?[0-9.]+).*/\1/" <<<"$1"; }

# --- rl solve: exact optimum of FrozenLake (0.7442) and CliffWalking (-13)
out=$("$BIN" rl solve --env frozenlake --json 2>&1) || bad "rl solve failed: $out"
last=$(tail -n 1 <<<"$out")
json_has "$last" env gamma sweeps policy values exact_success optimal_success
grep -q '"policy":"LUUULLLLUDLLLRDL"' <<<"$last" && ok || bad "FrozenLake optimal policy: $last"
grep -q '"optimal_success":0.744' <<<"$last" && ok || bad "FrozenLake optimum: $last"
grep -q "policy evaluation" <<<"$out" && grep -q "value iteration" <<<"$out" && ok || bad "solve output: $out"
grep -q "← ↑ ↑ ↑" <<<"$out" && ok || bad "solve should draw the policy as arrows: $out"
last=$("$BIN" rl solve --env cliffwalking --json 2>&1 | tail -n 1)
grep -q '"exact_return":-13.0' <<<"$last" && grep -q '"optimal_return":-13.0' <<<"$last" && ok || bad "cliff: $last"
expect 0 "FrozenLake8x8-v1.*200-step" "$BIN" rl solve --env frozenlake8

# --- rl qlearn: the greedy policy's success, exact success, the JSON line
out=$("$BIN" rl qlearn --env frozenlake --seed 2 --json 2>&1) || bad "rl qlearn failed: $out"
last=$(tail -n 1 <<<"$out")
json_has "$last" env episodes success_rate mean_return wall_s exact_success optimal_success policy
sr=$(json_num "$last" success_rate)
awk -v a="$sr" 'BEGIN { exit !(a >= 0.72) }' && ok || bad "FrozenLake 4x4 success rate $sr"
grep -q "greedy policy, argmax" <<<"$out" && grep -q "of it)" <<<"$out" && ok || bad "qlearn output: $out"
last=$("$BIN" rl qlearn --env frozenlake --not-slippery --episodes 500 --eval 100 --json 2>&1 | tail -n 1)
grep -q '"success_rate":1.0000' <<<"$last" && ok || bad "non-slippery FrozenLake: $last"
last=$("$BIN" rl qlearn --env cliffwalking --eval 100 --json 2>&1 | tail -n 1)
grep -q '"mean_return":-13.0000' <<<"$last" && ok || bad "CliffWalking greedy return: $last"
"$BIN" rl qlearn --env frozenlake --seed 4 --eval 200 --json > "$TMP/q1" 2>&1
"$BIN" rl qlearn --env frozenlake --seed 4 --eval 200 --json > "$TMP/q2" 2>&1
[ "$(tail -n 1 "$TMP/q1" | sed 's/"wall_s":[0-9.]*//; s/"train_steps_per_s":[0-9]*//')" = \
  "$(tail -n 1 "$TMP/q2" | sed 's/"wall_s":[0-9.]*//; s/"train_steps_per_s":[0-9]*//')" ] && ok || bad "qlearn: same seed, different result"

# --- rl dqn: a short run, the JSON line, an agent file
out=$("$BIN" rl dqn --env cartpole --steps 4000 --seed 3 --eval 2 --log-steps 1000 --out "$TMP/agent.safetensors" --json 2>&1) ||
    bad "rl dqn failed: $out"
last=$(tail -n 1 <<<"$out")
json_has "$last" env solved solved_at_step avg_return_100 eval_return env_steps_per_s wall_s
grep -q '"solved":false' <<<"$last" && grep -q '"env_steps":4000' <<<"$last" && ok || bad "dqn 4000 steps: $last"
grep -qE "^episode +[0-9]+ +step" <<<"$out" && ok || bad "dqn progress lines: $out"
[ -s "$TMP/agent.safetensors" ] && ok || bad "no agent file"
last=$("$BIN" rl dqn --env acrobot --steps 600 --learning-starts 100 --eval 1 --json 2>&1 | tail -n 1)
grep -q '"env":"acrobot"' <<<"$last" && grep -q '"env_steps":600' <<<"$last" && ok || bad "acrobot dqn: $last"

# --- rl play: a few rendered steps of the saved agent
out=$("$BIN" rl play "$TMP/agent.safetensors" --env cartpole --steps 3 --json 2>&1) || bad "rl play failed: $out"
grep -q "\[###\]" <<<"$out" && grep -q "=====" <<<"$out" && ok || bad "play should draw the cart: $out"
grep -q "stopped by --steps" <<<"$out" && ok || bad "play --steps: $out"
json_has "$(tail -n 1 <<<"$out")" env episodes steps mean_return returns
grep -q '"steps":3' <<<"$(tail -n 1 <<<"$out")" && ok || bad "play JSON: $out"
expect 0 "episode 1: return" "$BIN" rl play "$TMP/agent.safetensors" --quiet --steps 10

# --- bad input
expect 2 "unknown environment 'pong'.*frozenlake" "$BIN" rl qlearn --env pong
expect 2 "unknown environment 'pong'" "$BIN" rl dqn --env pong
expect 2 "unknown environment 'pong'" "$BIN" rl solve --env pong
expect 1 "continuous states" "$BIN" rl qlearn --env cartpole
expect 2 "frozenlake is tabular: use .rl qlearn." "$BIN" rl dqn --env frozenlake
expect 2 "unknown subcommand 'train'" "$BIN" rl train
expect 2 "usage: shendu rl" "$BIN" rl
expect 2 "unknown flag '--bogus'" "$BIN" rl qlearn --bogus
expect 2 "--gamma: '2' is not a number" "$BIN" rl qlearn --gamma 2
expect 2 "unknown DQN recipe 'rainbow'" "$BIN" rl dqn --recipe rainbow
expect 2 "unknown loss 'l1'" "$BIN" rl dqn --loss l1
expect 2 "expected an agent file" "$BIN" rl play
expect 1 "an agent for 'cartpole', not for 'acrobot'" "$BIN" rl play "$TMP/agent.safetensors" --env acrobot
expect 1 "nofile.safetensors" "$BIN" rl play "$TMP/nofile.safetensors" --env cartpole
printf 'not a model' > "$TMP/junk.safetensors"
expect 1 "junk.safetensors" "$BIN" rl play "$TMP/junk.safetensors" --env cartpole
# a classifier is not an agent
if "$BIN" train --model "flatten linear(10)" --epochs 1 --limit 200 --limit-test 100 --threads 1 \
       --out "$TMP/clf.safetensors" >/dev/null 2>&1; then
    expect 1 "clf.safetensors is an image classifier, not a DQN agent" "$BIN" rl play "$TMP/clf.safetensors" --env cartpole
    expect 1 "clf.safetensors is an image classifier, not a DQN agent" "$BIN" rl play "$TMP/clf.safetensors"
fi
expect 0 "usage: shendu rl dqn" "$BIN" rl dqn --help
expect 0 "solve.*qlearn.*dqn.*play" "$BIN" rl --help

done_tests
