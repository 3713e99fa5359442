#!/usr/bin/env bash
# Messages and exit codes say the truth (issue 15, point 7): usage errors exit 2
# whatever flag holds the bad value, a range message states the range really
# accepted (open ends included), --stop-after exits 0 for every trainer, and a
# command that does not train data-parallel refuses to run as N copies.
. "$(dirname "$0")/lib_cli.sh"
cd "$TMP" || exit 1

# ---- usage errors: exit 2, naming the value and what is expected
expect 2 "--model: 'resnet' is neither a preset \(mlp, cnn\) nor an architecture string \(unknown layer kind 'resnet'" \
    "$BIN" train --model resnet
expect 2 "--model: 'flatten lin\(3\)' is neither a preset" "$BIN" train --model "flatten lin(3)"
expect 2 "--model: 'resnet' is neither a preset" "$BIN" explain shapes --model resnet
expect 2 "unknown kernel 'emboss' \(expected sobel-x, sobel-y, blur, sharpen or lecture\)" \
    "$BIN" explain conv --image in.png --kernel emboss --out out.png
expect 2 "unknown environment 'bogus'" "$BIN" rl play agent.st --env bogus
# a float flag's value that a 32-bit float cannot hold is refused, never rounded (1e-50 -> 0
# was silently "the default"; 1e-40 a denormal; 1e39 infinity)
expect 2 "--lr: '1e-50' cannot be held by a 32-bit float .*range is \[0, 100\]" "$BIN" lm train --lr 1e-50 --steps 1
expect 2 "--lr: '1e-40' cannot be held by a 32-bit float" "$BIN" train --lr 1e-40 --epochs 1
expect 2 "--ema: '1e-45' cannot be held" "$BIN" gan --ema 1e-45
expect 2 "--lr: '1e39' cannot be held" "$BIN" diffusion --lr 1e39
expect 2 "--lr: '1e-400' is not a number in \(0, 1\]" "$BIN" rl dqn --lr 1e-400
# ... and so is such a value stored in a checkpoint's settings (read as the flag would be)
"$BIN" lm train --steps 2 --hidden 8 --emb 4 --seq 8 --batch 2 --sample-len 0 --threads 1 \
    --checkpoint "$TMP/lmck.st" >/dev/null 2>&1 || bad "lm train for the checkpoint failed"
python3 - "$TMP/lmck.st" "$TMP/lmck-tiny.st" <<'PY' || bad "could not rewrite the checkpoint"
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); h["__metadata__"]["shendu.lm.lr"] = "1e-50"
j = json.dumps(h).encode(); j += b" " * (-len(j) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(j)) + j + b[8 + n:])
PY
expect 2 "1e-50" "$BIN" lm train --resume "$TMP/lmck-tiny.st" --steps 4
expect 2 "--hidden: unknown layer kind 'foo'" "$BIN" rl dqn --hidden "foo(3)"
# presets still work, as do architecture strings
expect 0 "conv1 +conv +\[32,26,26\]" "$BIN" explain shapes --model cnn
expect 0 "params|parameters" "$BIN" explain shapes --model "flatten linear(10)"

# ---- ranges as accepted: closed and open ends, integers printed as integers
expect 2 "--ema: '1' is not a number in \[0, 1\)" "$BIN" gan --ema 1
expect 2 "--ema: '0.99999999' is not a number in \[0, 1\)" "$BIN" gan --ema 0.99999999   # 1 as a float
expect 2 "--smooth: '0.5' is not a number in \[0, 0.5\)" "$BIN" gan --smooth 0.5
expect 2 "--momentum: '1' is not a number in \[0, 1\)" "$BIN" train --momentum 1
expect 2 "--lr: '-1' is not a number in \[0, 100\]" "$BIN" train --lr -1   # 0: the default, as checkpoints store it
expect 2 "--lr: '101' is not a number in \[0, 100\]" "$BIN" lm train --lr 101
expect 2 "--alpha: '0' is not a number in \(0, 1\]" "$BIN" rl qlearn --alpha 0
expect 2 "--tau: '0' is not a number in \(0, 1\]" "$BIN" rl dqn --tau 0
expect 2 "--batch: '0' is not an integer in \[1, 1048576\]" "$BIN" train --batch 0
expect 2 "--seq: '0' is not an integer in \[1, 1048576\]" "$BIN" lm train --seq 0
# the edges that are inside are accepted (checked up to the data: a bad --data ends it with exit 1)
expect 1 "nowhere" "$BIN" gan --ema 0.9999 --smooth 0.49 --data nowhere
expect 1 "nowhere" "$BIN" train --momentum 0.99 --optim sgd --lr 100 --data nowhere

# ---- --stop-after: stopped as asked is a success, for every trainer
DATA=/usr/share/datasets/fashion-mnist
if [ -d "$DATA" ]; then
    expect 0 "resume with" "$BIN" train --limit 256 --limit-test 64 --threads 1 --checkpoint c1.st --stop-after 1
    expect 0 "resume with" "$BIN" gan --limit 128 --threads 1 --out g --checkpoint c3.st --stop-after 1
fi
for i in $(seq 40); do echo "a line of text for a tiny language model $i"; done > t.txt
expect 0 "resume with" "$BIN" lm train --text t.txt --hidden 8 --emb 4 --seq 8 --batch 2 --threads 1 \
    --checkpoint c2.st --stop-after 1
expect 0 "resume with" "$BIN" rl dqn --steps 2000 --checkpoint c4.st --stop-after 100

# ---- under mpirun, a command that does not train data-parallel says so instead of running N copies
for cmd in "eval m.st" "predict m.st x.png" "show m.st --out d" "explain conv" "lm sample m.st" "gan sample g.st --out x.png" \
           "gan score g.st --classifier c.st" "rl solve" "rl qlearn" "rl dqn" "rl play a.st"; do
    # shellcheck disable=SC2086
    expect 2 "does not run data-parallel; started as 2 processes" env OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 "$BIN" $cmd
done
out=$(env OMPI_COMM_WORLD_SIZE=3 OMPI_COMM_WORLD_RANK=1 "$BIN" rl solve 2>&1); rc=$?
[ $rc = 2 ] && [ -z "$out" ] && ok || bad "rank 1 of 3: exit $rc (expected 2, silent: rank 0 says it): $out"
expect 0 "optimal" env OMPI_COMM_WORLD_SIZE=1 "$BIN" rl solve   # one process: runs
done_tests
