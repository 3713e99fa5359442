#!/usr/bin/env bash
# `shendu lm train --cell transformer` (issue 20) on a tiny corpus and model, 1 thread:
#   - it trains (validation bpc printed, below the uniform 6+ bits), the file samples,
#     with --top-k and with --no-cache (the same text as with the key/value cache)
#   - stopped after step K and resumed: byte-identical to the uninterrupted run (dropout on)
#   - bad input: heads not dividing dim (exit 2), a prime longer than the context (exit 1),
#     a transformer checkpoint resumed as an LSTM (exit 2), an LSTM model to explain attention (exit 1),
#     (and it exports to ONNX: the onnx stage checks the file against ONNX Runtime)
#   - explain attention: the worked example's numbers, a heatmap PNG of a trained model
. "$(dirname "$0")/lib_cli.sh"

if [ -r /usr/share/games/fortunes/fortunes ]; then
    head -c 20000 /usr/share/games/fortunes/fortunes > "$TMP/t.txt"
else
    cat "$SHENDU_SOURCE"/README.md "$SHENDU_SOURCE"/docs/*.md | head -c 20000 > "$TMP/t.txt"
fi
run=(--text "$TMP/t.txt" --cell transformer --layers 2 --dim 32 --heads 4 --seq 24 --batch 8 --threads 1
     --seed 3 --dropout 0.1 --warmup 5 --sample-len 16 --eval-every 10 --log-every 10)

out=$("$BIN" lm train "${run[@]}" --steps 30 --out "$TMP/full.st" --json 2>&1); rc=$?
[ $rc = 0 ] && ok || bad "training exited $rc: $out"
grep -q "2-layer transformer language model" <<<"$out" && ok || bad "no model line: $out"
grep -q "adamw: weight decay 0.1 on matrices" <<<"$out" && ok || bad "no optimizer line: $out"
bpc=$(grep -o '"val_bpc":[0-9.]*' <<<"$out" | cut -d: -f2)
awk -v b="$bpc" 'BEGIN { exit !(b > 0 && b < 5.5) }' && ok || bad "validation bpc '$bpc' after 30 steps"

s1=$("$BIN" lm sample "$TMP/full.st" --len 60 --seed 2 --top-k 5 2>&1) && ok || bad "sample failed: $s1"
s2=$("$BIN" lm sample "$TMP/full.st" --len 60 --seed 2 --top-k 5 --no-cache 2>&1) && ok || bad "no-cache sample failed: $s2"
[ "$s1" = "$s2" ] && ok || bad "the cache changes the sample: '$s1' vs '$s2'"
# past the context (24): the cache restarts from the last half of the window
s3=$("$BIN" lm sample "$TMP/full.st" --len 100 --seed 2 --temperature 0 2>&1) && ok || bad "long sample failed: $s3"
s4=$("$BIN" lm sample "$TMP/full.st" --len 100 --seed 2 --temperature 0 --no-cache 2>&1)
[ "$s3" = "$s4" ] && ok || bad "past the context, the cache changes the sample"

# ---- stopped and resumed: bit-identical (dropout's masks come from seed and step)
"$BIN" lm train "${run[@]}" --steps 30 --checkpoint "$TMP/ck.st" --stop-after 12 >/dev/null 2>&1 || bad "stop-after failed"
out=$("$BIN" lm train --resume "$TMP/ck.st" --out "$TMP/resumed.st" 2>&1) || bad "resume failed: $out"
cmp -s "$TMP/full.st" "$TMP/resumed.st" && ok || bad "stopped at 12 + resumed differs from the uninterrupted run"

# ---- bad input
expect 2 "--heads 3 does not divide --dim 32" "$BIN" lm train --cell transformer --dim 32 --heads 3 --text "$TMP/t.txt"
expect 2 "unknown cell 'gpt' \(expected rnn, lstm or transformer\)" "$BIN" lm train --cell gpt
expect 1 "longer than the model's context of 24 positions" "$BIN" lm sample "$TMP/full.st" \
    --prime "$(head -c 30 /dev/zero | tr '\0' 'e')"
expect 2 "--cell gives cell = lstm" "$BIN" lm train --resume "$TMP/ck.st" --cell lstm
"$BIN" lm train --text "$TMP/t.txt" --seq 16 --batch 4 --hidden 16 --emb 8 --steps 3 --threads 1 \
    --out "$TMP/lstm.st" >/dev/null 2>&1 || bad "lstm training failed"
expect 0 "wrote $TMP/x.onnx" "$BIN" export "$TMP/full.st" --onnx "$TMP/x.onnx"
expect 1 "is an lstm language model, not a transformer" "$BIN" explain attention "$TMP/lstm.st" --prime "the" --out "$TMP/x.png"

# ---- explain attention
out=$("$BIN" explain attention 2>&1) && ok || bad "explain attention failed: $out"
for w in "Q = X" "K = X" "V = X" "scores" "causal mask" "softmax" "weighted sum"; do
    grep -q "$w" <<<"$out" && ok || bad "explain attention does not show '$w'"
done
out=$("$BIN" explain attention "$TMP/full.st" --prime "the cat" --out "$TMP/heads.png" 2>&1) && ok || bad "heatmap failed: $out"
[ -s "$TMP/heads.png" ] && head -c 8 "$TMP/heads.png" | grep -q PNG && ok || bad "no PNG written"
expect 1 "longer than the model's context" "$BIN" explain attention "$TMP/full.st" \
    --prime "$(head -c 30 /dev/zero | tr '\0' 'e')" --out "$TMP/h2.png"
done_tests
