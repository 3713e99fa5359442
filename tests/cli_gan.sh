#!/usr/bin/env bash
# shendu gan / gan sample / gan score end to end on small slices of
# Fashion-MNIST, and the bad inputs: data of the wrong size, a generator used
# as a classifier and the other way round, a diverging run.
. "$(dirname "$0")/lib_cli.sh"

# PNG width and height (bytes 16..23 of the file, big-endian).
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%dx%d\n", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }'; }
is_png() { [ "$(od -An -c -N4 "$1" | tr -d ' ')" = '211PNG' ]; }

# --- one short epoch of the MLP GAN: grid, generator, JSON
out=$("$BIN" gan --limit 640 --epochs 1 --threads 2 --seed 3 --out "$TMP/mlp" --json 2>&1) || bad "gan failed: $out"
is_png "$TMP/mlp/epoch_001.png" && ok || bad "no epoch_001.png: $(ls "$TMP/mlp")"
[ "$(png_size "$TMP/mlp/epoch_001.png")" = 484x484 ] && ok || bad "the 8x8 grid should be 484x484: $(png_size "$TMP/mlp/epoch_001.png")"
[ -s "$TMP/mlp/generator.safetensors" ] && ok || bad "no generator file"
grep -qE "^epoch 1/1 +D loss [0-9.]+ +G loss [0-9.]+ +D\(x\) [0-9.]+ +D\(G\(z\)\) [0-9.]+" <<<"$out" && ok \
    || bad "no per-epoch line with D and G losses, D(x), D(G(z)): $out"
last=$(tail -n 1 <<<"$out")
for key in arch epochs d_loss g_loss train_images_per_s score real_score wall_s; do
    grep -q "\"$key\":" <<<"$last" && ok || bad "gan JSON lacks $key: $last"
done
grep -q '"arch":"mlp"' <<<"$last" && grep -q '"score":null' <<<"$last" && ok || bad "gan JSON: $last"

# same seed and threads: the same generator, byte for byte
"$BIN" gan --limit 320 --epochs 1 --threads 2 --seed 4 --out "$TMP/a" >/dev/null 2>&1
"$BIN" gan --limit 320 --epochs 1 --threads 2 --seed 4 --out "$TMP/b" >/dev/null 2>&1
cmp -s "$TMP/a/generator.safetensors" "$TMP/b/generator.safetensors" && ok || bad "same seed, different generators"
cmp -s "$TMP/a/epoch_001.png" "$TMP/b/epoch_001.png" && ok || bad "same seed, different grids"
# the file holds G's moving average (its decay in the metadata); --ema 0 saves G's last weights instead
grep -aq '"ema":"0.999"' "$TMP/a/generator.safetensors" && ok || bad "generator metadata lacks ema 0.999"
"$BIN" gan --limit 320 --epochs 1 --threads 2 --seed 4 --ema 0 --out "$TMP/e0" >/dev/null 2>&1
grep -aq '"ema":"0"' "$TMP/e0/generator.safetensors" && ! cmp -s "$TMP/a/generator.safetensors" "$TMP/e0/generator.safetensors" \
    && ok || bad "--ema 0 should save G's own (different) weights"
expect 2 "--ema" "$BIN" gan --ema 1 --epochs 1

# --- the DCGAN, minimax loss, 2 epochs: a grid per epoch
out=$("$BIN" gan --arch dcgan --loss minimax --limit 256 --epochs 2 --threads 2 --out "$TMP/dc" --json 2>&1) \
    || bad "gan --arch dcgan failed: $out"
is_png "$TMP/dc/epoch_001.png" && is_png "$TMP/dc/epoch_002.png" && ok || bad "dcgan grids: $(ls "$TMP/dc")"
grep -q '"arch":"dcgan"' <<<"$(tail -n 1 <<<"$out")" && grep -q '"loss":"minimax"' <<<"$(tail -n 1 <<<"$out")" \
    && ok || bad "dcgan JSON: $out"

# --- gan sample
expect 0 "16 samples" "$BIN" gan sample "$TMP/dc/generator.safetensors" --n 16 --out "$TMP/s16.png"
[ "$(png_size "$TMP/s16.png")" = 244x244 ] && ok || bad "4x4 sample grid should be 244x244: $(png_size "$TMP/s16.png")"
expect 0 "64 samples" "$BIN" gan sample "$TMP/mlp/generator.safetensors" --out "$TMP/s64.png" --seed 7
[ "$(png_size "$TMP/s64.png")" = 484x484 ] && ok || bad "default 64 samples, 8x8"

# --- gan score with a tiny classifier (and at the end of training)
"$BIN" train --model mlp --epochs 1 --limit 2000 --limit-test 200 --out "$TMP/cls.safetensors" >/dev/null 2>&1 \
    && ok || bad "classifier training failed"
out=$("$BIN" gan score "$TMP/mlp/generator.safetensors" --classifier "$TMP/cls.safetensors" --n 500 --json 2>&1) \
    || bad "gan score failed: $out"
score=$(tail -n 1 <<<"$out" | sed -E 's/.*"score":([0-9.]+).*/\1/')
real=$(tail -n 1 <<<"$out" | sed -E 's/.*"real_score":([0-9.]+).*/\1/')
awk -v s="$score" -v r="$real" 'BEGIN { exit !(s >= 1 && s <= 10 && r > 3 && r <= 10) }' && ok \
    || bad "scores out of range (1..10, real > 3): $out"
out=$("$BIN" gan --limit 320 --epochs 1 --classifier "$TMP/cls.safetensors" --score-n 300 --out "$TMP/sc" --json 2>&1) \
    || bad "gan --classifier failed: $out"
tail -n 1 <<<"$out" | grep -qE '"score":[0-9.]+,"real_score":[0-9.]+' && ok || bad "gan --classifier JSON: $out"
grep -q "inception score" <<<"$out" && ok || bad "no score line: $out"

# --- bad input
G="$TMP/mlp/generator.safetensors" C="$TMP/cls.safetensors"
expect 1 "is a GAN generator, not an image classifier; use it with shendu gan sample" "$BIN" eval "$G" --limit 100
expect 1 "is a GAN generator, not an image classifier; use it with shendu gan sample" "$BIN" predict "$G" "$TMP/s16.png"
expect 1 "is a GAN generator, not an image classifier; use it with shendu gan sample" "$BIN" gan score "$G" --classifier "$G" --n 100
expect 1 "is a GAN generator, not an image classifier; use it with shendu gan sample" "$BIN" gan --classifier "$G" --limit 320 --epochs 1 --out "$TMP/x"
expect 1 "cls.safetensors is an image classifier, not a GAN generator; use it with shendu eval" "$BIN" gan sample "$C" --out "$TMP/x.png"
expect 1 "cls.safetensors is an image classifier, not a GAN generator" "$BIN" gan score "$C" --classifier "$C"
printf 'not a model' > "$TMP/junk.safetensors"
expect 1 "junk.safetensors" "$BIN" gan sample "$TMP/junk.safetensors" --out "$TMP/x.png"
expect 2 "unknown architecture 'resnet'" "$BIN" gan --arch resnet
expect 2 "unknown loss 'wgan'" "$BIN" gan --loss wgan
expect 2 "expected a generator file and --out" "$BIN" gan sample "$G"
expect 2 "expected a generator file and --classifier" "$BIN" gan score "$G"
expect 0 "usage: shendu gan" "$BIN" gan --help

# 32x32 pictures: not what either architecture draws
mkdir -p "$TMP/big"
be32() { printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"; }
idx() {   # idx FILE NDIM N [ROWS COLS]: a uint8 IDX file of N zero-filled items
    { printf '\000\000\010'; printf "$(printf '\\%03o' "$2")"; be32 "$3"
      [ "$2" = 3 ] && { be32 "$4"; be32 "$5"; }
      head -c $(($3 * ${4:-1} * ${5:-1})) /dev/zero; } > "$1"
}
for split in train t10k; do
    idx "$TMP/big/$split-images-idx3-ubyte" 3 100 32 32
    idx "$TMP/big/$split-labels-idx1-ubyte" 1 100
done
expect 1 "draws 28x28 gray images.*1x32x32" "$BIN" gan --data "$TMP/big" --epochs 1
expect 1 "draws 28x28 gray images.*1x32x32" "$BIN" gan --arch dcgan --data "$TMP/big" --epochs 1
expect 1 "the generator draws 1x28x28" "$BIN" gan score "$G" --classifier "$C" --data "$TMP/big"

# a learning rate that blows up: stop with the step, write no NaN pictures
expect 1 "diverged at epoch 1 step [0-9]+.*loss is (NaN|infinite)" "$BIN" gan --lr 1e12 --limit 640 --epochs 1 --out "$TMP/nan"
[ ! -e "$TMP/nan/epoch_001.png" ] && ok || bad "a diverged run wrote a grid"

done_tests
