#!/usr/bin/env bash
# shendu train / eval end to end on a slice of Fashion-MNIST, and every kind
# of bad input the CLI must turn into a clear message and exit code.
. "$(dirname "$0")/lib_cli.sh"
DATA=/usr/share/datasets/fashion-mnist

# --- train + eval on a small slice, JSON last line
out=$("$BIN" train --model mlp --epochs 2 --limit 3000 --limit-test 1000 --threads 2 --seed 5 \
      --out "$TMP/m.safetensors" --json 2>&1) || bad "train failed: $out"
last=$(tail -n 1 <<<"$out")
for key in model epochs test_accuracy train_images_per_s wall_s params; do
    grep -q "\"$key\":" <<<"$last" && ok || bad "train JSON lacks $key: $last"
done
acc=$(sed -E 's/.*"test_accuracy":([0-9.]+).*/\1/' <<<"$last")
awk -v a="$acc" 'BEGIN { exit !(a > 0.70) }' && ok || bad "accuracy $acc after 2 epochs on 3000 images"
grep -q '"params":235146' <<<"$last" && ok || bad "MLP should have 235146 parameters: $last"
grep -q "^epoch 2/2" <<<"$out" && ok || bad "no per-epoch summary line: $out"

eval_out=$("$BIN" eval "$TMP/m.safetensors" --limit 1000 --json 2>&1) || bad "eval failed: $eval_out"
eacc=$(tail -n 1 <<<"$eval_out" | sed -E 's/.*"test_accuracy":([0-9.]+).*/\1/')
[ "$eacc" = "$acc" ] && ok || bad "eval accuracy $eacc differs from train's $acc"
tail -n 1 <<<"$eval_out" | grep -q '"n":1000' && ok || bad "eval JSON: $eval_out"

# same seed and threads -> identical model file
"$BIN" train --epochs 1 --limit 500 --limit-test 100 --threads 1 --seed 9 --out "$TMP/a.safetensors" >/dev/null 2>&1
"$BIN" train --epochs 1 --limit 500 --limit-test 100 --threads 1 --seed 9 --out "$TMP/b.safetensors" >/dev/null 2>&1
cmp -s "$TMP/a.safetensors" "$TMP/b.safetensors" && ok || bad "same seed gave different models"

# --- usage errors: exit 2 with a usage line
expect 2 "unknown flag '--bogus'.*" "$BIN" train --bogus
expect 2 "usage: shendu train" "$BIN" train --bogus
expect 2 "--epochs: 'abc' is not an integer" "$BIN" train --epochs abc
expect 2 "--lr: '-1' is not a number" "$BIN" train --lr -1
expect 2 "unknown optimizer 'rmsprop'" "$BIN" train --optim rmsprop
expect 2 "unknown command 'trian'" "$BIN" trian
expect 2 "expected one model file" "$BIN" eval
expect 0 "usage: shendu train" "$BIN" train --help
expect 0 "commands:" "$BIN" --help

# --- bad data
expect 1 "apt-get install dataset-fashion-mnist" "$BIN" train --data "$TMP/nowhere"
mkdir -p "$TMP/trunc"
cp "$DATA"/*labels* "$TMP/trunc/"
gzip -dc "$DATA/train-images-idx3-ubyte.gz" | head -c 100000 > "$TMP/trunc/train-images-idx3-ubyte"
cp "$DATA/t10k-images-idx3-ubyte.gz" "$TMP/trunc/"
expect 1 "train-images-idx3-ubyte.*truncated" "$BIN" train --data "$TMP/trunc"
printf 'garbage file' > "$TMP/trunc/train-images-idx3-ubyte"
expect 1 "train-images-idx3-ubyte" "$BIN" train --data "$TMP/trunc"

# --- bad model files
printf 'not a model' > "$TMP/junk.safetensors"
expect 1 "junk.safetensors" "$BIN" eval "$TMP/junk.safetensors"
expect 1 "nofile.safetensors" "$BIN" eval "$TMP/nofile.safetensors"
head -c 200 "$TMP/m.safetensors" > "$TMP/cut.safetensors"
expect 1 "cut.safetensors" "$BIN" eval "$TMP/cut.safetensors"
expect 2 "unknown layer kind .bogus." "$BIN" train --model "flatten linear(10) bogus" --limit 100 --limit-test 100
expect 1 "10 classes" "$BIN" train --model "flatten linear(7)" --limit 100 --limit-test 100

# --- numerical faults: stop with the step and the tensor/op, write nothing
expect 1 "diverged at epoch 1 step [0-9]+ .*(loss is (NaN|Inf)|gradient of)" \
    "$BIN" train --optim sgd --lr 100 --momentum 0.999 --limit 3000 --limit-test 100 --epochs 3 --out "$TMP/nan.safetensors"
[ ! -e "$TMP/nan.safetensors" ] && ok || bad "a diverged run wrote a model"
expect 1 "anomaly: op [a-z_]+ produced (NaN|Inf)" \
    "$BIN" train --optim sgd --lr 100 --momentum 0.999 --limit 3000 --limit-test 100 --epochs 3 --detect-anomaly

done_tests
