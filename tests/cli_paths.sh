#!/usr/bin/env bash
# What an output path and an input path really are (issue 15, points 2, 3, 6):
# a device or FIFO is written through or refused, never replaced; a symlink's
# target is replaced, not the link; an output that is an input is refused
# before any work in every command; every output is checked writable before
# training; --stop-after needs a checkpoint; the resume hint repeats the output
# flags; a FIFO or device given as an input is refused at once (never waited
# on), and so is a text corpus over the limit.
. "$(dirname "$0")/lib_cli.sh"
T=(timeout 60)   # a command that blocks (the bug) fails instead of hanging the test
quick=(--model mlp --epochs 1 --limit 300 --limit-test 60 --threads 1 --seed 2)
"$BIN" train "${quick[@]}" --out "$TMP/m.st" >/dev/null 2>&1 || bad "training the model failed"
cp "$TMP/m.st" "$TMP/m.orig"
unchanged() { cmp -s "$TMP/m.st" "$TMP/m.orig" && ok || bad "$1: the model file changed"; }

# --- outputs that are inputs: refused before any work, in every command
expect 1 "--logits .*m.st is the same file as the model" "${T[@]}" "$BIN" eval "$TMP/m.st" --logits "$TMP/m.st" --limit 20
unchanged "eval M --logits M"
ln -s m.st "$TMP/m-link.st"
expect 1 "same file as the model" "${T[@]}" "$BIN" eval "$TMP/m.st" --logits "$TMP/m-link.st" --limit 20
mkdir -p "$TMP/sub"
expect 1 "same file as the model" "${T[@]}" "$BIN" eval "$TMP/m.st" --logits "$TMP/sub/../m.st" --limit 20
unchanged "eval M --logits a link to M"
expect 1 "same file as the generator" "${T[@]}" "$BIN" gan sample "$TMP/m.st" --out "$TMP/m.st"
unchanged "gan sample G --out G"
out=$("${T[@]}" "$BIN" train "${quick[@]}" --checkpoint "$TMP/x.st" --out "$TMP/x.st" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "same file" <<<"$out" && ! grep -q "^epoch" <<<"$out" && [ ! -e "$TMP/x.st" ] && ok \
    || bad "train --checkpoint X --out X: exit $rc: $out"
# a tiny data set of its own (the check comes before anything is read)
mkdir -p "$TMP/d"
{ printf '\0\0\10\1\0\0\0\24'; head -c 20 /dev/zero; } > "$TMP/d/t10k-labels-idx1-ubyte"
{ printf '\0\0\10\3\0\0\0\24\0\0\0\34\0\0\0\34'; head -c 15680 /dev/zero; } > "$TMP/d/t10k-images-idx3-ubyte"
cp "$TMP/d/t10k-labels-idx1-ubyte" "$TMP/labels.orig"
expect 1 "same file as the data set's file" "${T[@]}" "$BIN" eval "$TMP/m.st" --data "$TMP/d" --logits "$TMP/d/t10k-labels-idx1-ubyte"
cmp -s "$TMP/d/t10k-labels-idx1-ubyte" "$TMP/labels.orig" && ok || bad "eval --logits DATA-FILE changed the data"
head -c 3000 /usr/share/games/fortunes/fortunes 2>/dev/null > "$TMP/t.txt" || head -c 3000 "$SHENDU_SOURCE/README.md" > "$TMP/t.txt"
cp "$TMP/t.txt" "$TMP/t.orig"
expect 1 "--checkpoint .* is the same file as --text" "${T[@]}" "$BIN" lm train --text "$TMP/t.txt" --checkpoint "$TMP/t.txt" --steps 2
cmp -s "$TMP/t.txt" "$TMP/t.orig" && ok || bad "lm train --checkpoint = --text changed the text"
mkdir -p "$TMP/corpus" && cp "$TMP/t.txt" "$TMP/corpus/a.txt"
expect 1 "inside --text .* read whole" "${T[@]}" "$BIN" lm train --text "$TMP/corpus" --out "$TMP/corpus/m.st" --steps 2
expect 1 "the generator \(in --out\) and --checkpoint are the same file" "${T[@]}" "$BIN" gan --limit 64 --epochs 1 \
    --out "$TMP/g" --checkpoint "$TMP/g/generator.safetensors"
expect 1 "--out .*t.txt is the same file as the log" "${T[@]}" "$BIN" plot "$TMP/t.txt" --out "$TMP/t.txt"
cmp -s "$TMP/t.txt" "$TMP/t.orig" && ok || bad "plot LOG --out LOG changed the log"
expect 1 "--onnx .*m-link.st is the same file as the model" "${T[@]}" "$BIN" export "$TMP/m.st" --onnx "$TMP/m-link.st"
unchanged "export M --onnx a link to M"
expect 1 "--out .*m.st is the same file as --image" "${T[@]}" "$BIN" explain conv --image "$TMP/m.st" --out "$TMP/m.st"
unchanged "explain conv --image X --out X"

# --- every output is writable before the first step
out=$("${T[@]}" "$BIN" train "${quick[@]}" --out "$TMP/no-such-dir/m.st" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "cannot write there" <<<"$out" && ! grep -q "^epoch" <<<"$out" && ok \
    || bad "train --out into a missing directory: exit $rc: $out"
expect 1 "--checkpoint .* cannot write there" "${T[@]}" "$BIN" lm train --text "$TMP/t.txt" --checkpoint "$TMP/no-such-dir/ck" --steps 2
expect 1 "--out .* cannot write there" "${T[@]}" "$BIN" rl dqn --steps 50 --out "$TMP/no-such-dir/a.st"
expect 1 "--out .* is a regular file, not a directory" "${T[@]}" "$BIN" gan --limit 64 --epochs 1 --out "$TMP/t.txt"
expect 1 "--out .* is a regular file, not a directory" "${T[@]}" "$BIN" show "$TMP/m.st" --out "$TMP/t.txt"

# --- --stop-after without a checkpoint would lose its steps: a usage error
expect 2 "--stop-after needs --checkpoint" "$BIN" train "${quick[@]}" --stop-after 2
expect 2 "--stop-after needs --checkpoint" "$BIN" lm train --text "$TMP/t.txt" --stop-after 2
expect 2 "--stop-after needs --checkpoint" "$BIN" gan --limit 64 --stop-after 2
expect 2 "--stop-after needs --checkpoint" "$BIN" rl dqn --stop-after 2

# --- the resume hint repeats the output flags: following it writes --out
out=$("$BIN" train "${quick[@]}" --checkpoint "$TMP/ck st" --out "$TMP/final.st" --stop-after 2 2>&1)
hint=$(grep "^resume with: " <<<"$out" | sed 's/^resume with: //')
grep -q -- "--out" <<<"$hint" && ok || bad "the resume hint lacks --out: $out"
eval "set -- $hint"   # the hint quotes the checkpoint's space as a shell would need
[ "$1" = shendu ] && shift
"$BIN" "$@" >/dev/null 2>&1 && [ -s "$TMP/final.st" ] && ok || bad "following the hint ($hint) did not write --out"
cp "$TMP/ck st" "$TMP/ck.orig"
expect 1 "--out .* is the same file as --resume" "${T[@]}" "$BIN" train --resume "$TMP/ck st" --out "$TMP/ck st"
cmp -s "$TMP/ck st" "$TMP/ck.orig" && ok || bad "train --resume X --out X changed the checkpoint"

# --- special outputs: written through or refused, never replaced
expect 0 "test accuracy" "${T[@]}" "$BIN" eval "$TMP/m.st" --logits /dev/null --limit 20
[ -c /dev/null ] && ok || bad "/dev/null is no longer a character device"
if mknod "$TMP/null" c 1 3 2>/dev/null; then
    expect 0 "test accuracy" "${T[@]}" "$BIN" eval "$TMP/m.st" --logits "$TMP/null" --limit 20
    [ -c "$TMP/null" ] && ok || bad "a character device was replaced by a file"
else
    echo "cli_paths: cannot mknod here (not root): /dev/null itself was the device checked"
fi
mkfifo "$TMP/fifo"
expect 1 "FIFO with no reader" "${T[@]}" "$BIN" eval "$TMP/m.st" --logits "$TMP/fifo" --limit 20
[ -p "$TMP/fifo" ] && ok || bad "the FIFO was replaced"
echo old > "$TMP/real.bin"
ln -s real.bin "$TMP/link.bin"
expect 0 "test accuracy" "${T[@]}" "$BIN" eval "$TMP/m.st" --logits "$TMP/link.bin" --limit 20
[ -L "$TMP/link.bin" ] && [ "$(stat -c %s "$TMP/real.bin")" = 800 ] && ok \
    || bad "--logits through a symlink: the link should stay and its target get 20 x 10 floats"

# --- the metric log (--log, appended as the run goes) under the same rules: a device or a FIFO
# with a reader written through, a FIFO without one refused, a symlink followed, an input or
# another output refused before any work, a directory refused
expect 0 "saved" "${T[@]}" "$BIN" train "${quick[@]}" --out "$TMP/l1.st" --log /dev/null
[ -c /dev/null ] && ok || bad "--log /dev/null: no longer a character device"
expect 1 "FIFO with no reader: the log cannot be written" "${T[@]}" "$BIN" train "${quick[@]}" --out "$TMP/l2.st" --log "$TMP/fifo"
[ -p "$TMP/fifo" ] && ok || bad "--log: the FIFO was replaced"
( timeout 60 cat "$TMP/fifo" > "$TMP/fifo.out" ) & reader=$!
expect 0 "saved" "${T[@]}" "$BIN" train "${quick[@]}" --out "$TMP/l3.st" --log "$TMP/fifo"
wait $reader
grep -q '"kind":"epoch"' "$TMP/fifo.out" && ok || bad "--log FIFO: the reader got no records: $(cat "$TMP/fifo.out")"
ln -s real.csv "$TMP/log-link.csv"
expect 0 "saved" "${T[@]}" "$BIN" train "${quick[@]}" --out "$TMP/l4.st" --log "$TMP/log-link.csv"
[ -L "$TMP/log-link.csv" ] && head -n 1 "$TMP/real.csv" | grep -q "^kind,step,epoch,time" && ok \
    || bad "--log through a symlink: the link should stay and its target hold the CSV"
out=$("${T[@]}" "$BIN" train "${quick[@]}" --out "$TMP/l5.st" --log "$TMP/l5.st" 2>&1); rc=$?
[ $rc = 1 ] && grep -q -- "--out and --log are the same file" <<<"$out" && ! grep -q "^training" <<<"$out" && ok \
    || bad "train --out X --log X: exit $rc: $out"
"$BIN" train "${quick[@]}" --epochs 2 --stop-after 2 --checkpoint "$TMP/lck.st" >/dev/null 2>&1
cp "$TMP/lck.st" "$TMP/lck.orig"
expect 1 "--log .*lck.st is the same file as --resume" "${T[@]}" "$BIN" train --resume "$TMP/lck.st" --log "$TMP/lck.st"
cmp -s "$TMP/lck.st" "$TMP/lck.orig" && ok || bad "--resume X --log X changed the checkpoint"
expect 1 "--log .*m.st is the same file as --classifier" "${T[@]}" "$BIN" gan --classifier "$TMP/m.st" --log "$TMP/m.st"
unchanged "gan --classifier M --log M"
expect 1 "--log .*t.txt is the same file as --text" "${T[@]}" "$BIN" lm train --text "$TMP/t.txt" --log "$TMP/t.txt" --steps 2
expect 1 "--log $TMP is a directory" "${T[@]}" "$BIN" rl dqn --steps 50 --log "$TMP"
chmod 444 "$TMP/real.csv"
if ! ( : >>"$TMP/real.csv" ) 2>/dev/null; then   # (root writes anyway)
    out=$("${T[@]}" "$BIN" train "${quick[@]}" --out "$TMP/l6.st" --log "$TMP/real.csv" 2>&1); rc=$?
    [ $rc = 1 ] && grep -q "cannot write there" <<<"$out" && ! grep -q "^training" <<<"$out" && ok \
        || bad "a read-only --log: exit $rc: $out"
fi
chmod 644 "$TMP/real.csv"

# --- a FIFO or device where a file is expected: refused at once, never waited on
expect 1 "a FIFO, not a regular file" "${T[@]}" "$BIN" eval "$TMP/fifo" --limit 20
expect 1 "a FIFO, not a regular file" "${T[@]}" "$BIN" predict "$TMP/m.st" "$TMP/fifo"
expect 1 "a FIFO, not a regular file" "${T[@]}" "$BIN" plot "$TMP/fifo" --out "$TMP/p.svg"
expect 1 "a FIFO, not a regular file" "${T[@]}" "$BIN" lm train --text "$TMP/fifo" --steps 2
expect 1 "a character device, not a regular file" "${T[@]}" "$BIN" lm train --text /dev/zero --steps 2
expect 2 "a FIFO, not a regular file" "${T[@]}" "$BIN" train --resume "$TMP/fifo"
mkdir -p "$TMP/data"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do mkfifo "$TMP/data/$f"; done
expect 1 "a FIFO, not a regular file" "${T[@]}" "$BIN" train --data "$TMP/data" --epochs 1
# a corpus over the 2 GiB limit is refused from its size (a sparse file: nothing is read)
truncate -s 2049M "$TMP/big.txt"
expect 1 "larger than the limit" "${T[@]}" "$BIN" lm train --text "$TMP/big.txt" --steps 2
rm -f "$TMP/big.txt"

done_tests
