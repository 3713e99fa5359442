#!/usr/bin/env bash
# shendu lm train / lm sample / explain lstm end to end on a small text, and
# every kind of bad input: empty or binary text, a window longer than the
# text, model files of the wrong kind.
. "$(dirname "$0")/lib_cli.sh"

# A small text: the start of a fortunes file, or the project's own docs.
if [ -r /usr/share/games/fortunes/fortunes ]; then
    head -c 40000 /usr/share/games/fortunes/fortunes > "$TMP/t.txt"
else
    cat "$SHENDU_SOURCE"/README.md "$SHENDU_SOURCE"/docs/*.md | head -c 40000 > "$TMP/t.txt"
fi
SMALL=(--seq 32 --batch 8 --hidden 48 --emb 16 --threads 2)

# --- train: progress, validation, samples, JSON last line, model file
out=$("$BIN" lm train --text "$TMP/t.txt" "${SMALL[@]}" --steps 40 --log-every 10 --eval-every 20 \
      --sample-len 30 --seed 3 --out "$TMP/m.safetensors" --json 2>&1) || bad "lm train failed: $out"
last=$(tail -n 1 <<<"$out")
for key in cell val_bpc train_tokens_per_s steps wall_s params; do
    grep -q "\"$key\":" <<<"$last" && ok || bad "lm train JSON lacks $key: $last"
done
grep -q '"cell":"lstm"' <<<"$last" && ok || bad "default cell is not lstm: $last"
grep -q '"steps":40' <<<"$last" && ok || bad "steps: $last"
grep -qE "^step 10/40  loss [0-9.]+ \([0-9.]+ bpc\)  [0-9]+ tokens/s" <<<"$out" && ok || bad "no progress line: $out"
grep -qE "^step 20: validation [0-9.]+ bits per character" <<<"$out" && ok || bad "no periodic validation: $out"
grep -q "^sample at step 20:" <<<"$out" && ok || bad "no periodic sample: $out"
bpc=$(sed -E 's/.*"val_bpc":([0-9.]+).*/\1/' <<<"$last")
awk -v b="$bpc" 'BEGIN { exit !(b > 1 && b < 6) }' && ok || bad "validation bpc $bpc after 40 steps"
[ -s "$TMP/m.safetensors" ] && ok || bad "no model file"

# same seed and threads -> identical model file
"$BIN" lm train --text "$TMP/t.txt" "${SMALL[@]}" --steps 15 --seed 9 --sample-len 0 --out "$TMP/a.safetensors" >/dev/null 2>&1
"$BIN" lm train --text "$TMP/t.txt" "${SMALL[@]}" --steps 15 --seed 9 --sample-len 0 --out "$TMP/b.safetensors" >/dev/null 2>&1
cmp -s "$TMP/a.safetensors" "$TMP/b.safetensors" && ok || bad "same seed gave different language models"

# the RNN cell and stacked layers
out=$("$BIN" lm train --text "$TMP/t.txt" "${SMALL[@]}" --cell rnn --layers 2 --steps 10 --sample-len 0 \
      --out "$TMP/r.safetensors" --json 2>&1) || bad "lm train --cell rnn failed: $out"
tail -n 1 <<<"$out" | grep -q '"cell":"rnn"' && ok || bad "rnn JSON: $out"

# --- sample: length, seed, prime, temperature
s1=$("$BIN" lm sample "$TMP/m.safetensors" --len 80 --seed 4 2>&1) || bad "lm sample failed: $s1"
s2=$("$BIN" lm sample "$TMP/m.safetensors" --len 80 --seed 4 2>&1)
[ "$s1" = "$s2" ] && ok || bad "same seed gave different samples"
n=$("$BIN" lm sample "$TMP/m.safetensors" --len 80 --seed 4 | head -c 200 | wc -c)
[ "$n" -ge 80 ] && ok || bad "sample has $n bytes, expected at least 80"
out=$("$BIN" lm sample "$TMP/m.safetensors" --len 20 --prime 'The ' 2>&1) || bad "--prime failed: $out"
[ "${out:0:4}" = "The " ] && ok || bad "sample does not start with the prime: $out"
g1=$("$BIN" lm sample "$TMP/m.safetensors" --len 40 --temperature 0 --seed 1)
g2=$("$BIN" lm sample "$TMP/m.safetensors" --len 40 --temperature 0 --seed 2)
[ "$g1" = "$g2" ] && ok || bad "temperature 0 should not depend on the seed"
"$BIN" lm sample "$TMP/r.safetensors" --len 20 --temperature 1.5 >/dev/null 2>&1 && ok || bad "sampling the rnn model failed"
expect 1 "not in the vocabulary" "$BIN" lm sample "$TMP/m.safetensors" --prime $'\x01'
expect 2 "--temperature: '-1' is not a number" "$BIN" lm sample "$TMP/m.safetensors" --temperature -1

# --- explain lstm
expect 0 "forget gate.*遺忘閘" "$BIN" explain lstm
expect 0 "h_t = o × tanh\(c_t\) = " "$BIN" explain lstm
expect 0 "same h_t and c_t" "$BIN" explain lstm
expect 2 "conv, pool, shapes, lstm or attention" "$BIN" explain gru

# --- bad text input
: > "$TMP/empty.txt"
expect 1 "empty.txt: empty file" "$BIN" lm train --text "$TMP/empty.txt" --steps 1
head -c 4000 "$BIN" > "$TMP/binary.txt"
expect 1 "binary.txt: not a text file" "$BIN" lm train --text "$TMP/binary.txt" --steps 1
head -c 3000 /dev/urandom | tr -d '\000' > "$TMP/noise.txt"
expect 1 "noise.txt: not a text file \([0-9.]+% of its bytes are control characters\)" \
    "$BIN" lm train --text "$TMP/noise.txt" --steps 1
expect 1 "nowhere.txt: No such file" "$BIN" lm train --text "$TMP/nowhere.txt" --steps 1
expect 1 "--seq 100000 is longer than the text" "$BIN" lm train --text "$TMP/t.txt" --seq 100000 --steps 1
head -c 1000 "$TMP/t.txt" > "$TMP/short.txt"
expect 1 "longer than the held-out text" "$BIN" lm train --text "$TMP/short.txt" --seq 64 --steps 1
mkdir -p "$TMP/nodir"
expect 1 "nodir: no text files" "$BIN" lm train --text "$TMP/nodir" --steps 1

# --- usage errors
expect 2 "expected a subcommand" "$BIN" lm
expect 2 "unknown subcommand 'fit'" "$BIN" lm fit
expect 2 "unknown cell 'gru'" "$BIN" lm train --cell gru
expect 2 "--layers: '0' is not an integer" "$BIN" lm train --layers 0
expect 2 "expected one model file" "$BIN" lm sample
expect 0 "usage: shendu lm train" "$BIN" lm train --help
expect 0 "usage: shendu lm sample" "$BIN" lm sample --help

# --- model files of the wrong kind
printf 'not a model' > "$TMP/junk.safetensors"
expect 1 "junk.safetensors" "$BIN" lm sample "$TMP/junk.safetensors"
expect 1 "nofile.safetensors" "$BIN" lm sample "$TMP/nofile.safetensors"
expect 1 "m.safetensors is a language model, not an image classifier; use it with shendu lm sample" "$BIN" eval "$TMP/m.safetensors" --limit 10
if [ -d /usr/share/datasets/fashion-mnist ]; then
    "$BIN" train --epochs 1 --limit 200 --limit-test 50 --threads 2 --out "$TMP/cls.safetensors" >/dev/null 2>&1
    expect 1 "cls.safetensors is an image classifier, not a language model; use it with shendu eval" \
        "$BIN" lm sample "$TMP/cls.safetensors"
fi

done_tests
