#!/usr/bin/env bash
# explain (the lecture's examples to the printed digit), predict and show.
. "$(dirname "$0")/lib_cli.sh"

squash() { tr -s ' \n' ' '; }
conv=$("$BIN" explain conv) || bad "explain conv failed"
final=$(awk '/^step 9:/,0' <<<"$conv" | grep -A3 "output so far" | tail -n 3 | squash)
[ "$final" = " 1.8 0.1 -0.575 2.25 0 -0.75 1.8 0.1 -0.75 " ] && ok || bad "explain conv final matrix: '$final'"
grep -q "(-0.1 x -0.5) + (-0.1 x 0) + (0 x 0.5)" <<<"$conv" && ok || bad "explain conv: step 1 products missing"
[ "$(grep -c '^step ' <<<"$conv")" = 9 ] && ok || bad "explain conv should have 9 steps"
pool=$("$BIN" explain pool) || bad "explain pool failed"
pfinal=$(awk '/^step 4:/,0' <<<"$pool" | grep -A2 "output so far" | tail -n 2 | squash)
[ "$pfinal" = " 0.5 0.2 -0.25 1 " ] && ok || bad "explain pool final matrix: '$pfinal'"
shapes=$("$BIN" explain shapes --model cnn) || bad "explain shapes failed"
grep -qE "conv1 +conv +\[32,26,26\] +320" <<<"$shapes" && ok || bad "shapes: conv1 row: $shapes"
grep -qE "conv2 +conv +\[64,11,11\]" <<<"$shapes" && ok || bad "shapes: conv2 row"
grep -q "total parameters: 225034" <<<"$shapes" && ok || bad "shapes: total"
expect 0 "\[3,26,26\]" "$BIN" explain shapes --model "conv(3,3)"
expect 2 "cannot explain 'lstmx'" "$BIN" explain lstmx

# a small CNN, then pictures of it and predictions from PNGs
"$BIN" train --model cnn --epochs 1 --limit 1000 --limit-test 200 --out "$TMP/cnn.safetensors" >/dev/null 2>&1 \
    && ok || bad "cnn training failed"
out=$("$BIN" show "$TMP/cnn.safetensors" --out "$TMP/show" --index 1 2>&1) || bad "show failed: $out"
for f in input.png kernels_conv1.png features_conv1.png features_conv2.png; do
    [ -s "$TMP/show/$f" ] && ok || bad "show did not write $f"
done
pred=$("$BIN" predict "$TMP/cnn.safetensors" "$TMP/show/input.png" "$TMP/show/input.png") || bad "predict failed"
[ "$(grep -c '^  1\. ' <<<"$pred")" = 2 ] && ok || bad "predict: one top-3 block per image: $pred"
grep -qE "^  3\. " <<<"$pred" && ok || bad "predict shows 3 classes"
pj=$("$BIN" predict "$TMP/cnn.safetensors" "$TMP/show/input.png" --json) || bad "predict --json failed"
grep -q '"top":\[{"class":"' <<<"$pj" && ok || bad "predict JSON: $pj"
"$BIN" explain conv --image "$TMP/show/input.png" --kernel blur --out "$TMP/blur.png" >/dev/null && [ -s "$TMP/blur.png" ] \
    && ok || bad "explain conv --image"

# bad input
expect 1 "nothere.png: (cannot open: )?No such file" "$BIN" predict "$TMP/cnn.safetensors" "$TMP/nothere.png"
printf 'hello' > "$TMP/fake.png"
expect 1 "fake.png: not a PNG" "$BIN" predict "$TMP/cnn.safetensors" "$TMP/fake.png"
head -c 300 "$TMP/show/input.png" > "$TMP/cut.png"
expect 1 "cut.png" "$BIN" predict "$TMP/cnn.safetensors" "$TMP/cut.png"
expect 2 "expected a model file and at least one image" "$BIN" predict "$TMP/cnn.safetensors"
expect 2 "unknown kernel 'edge'" "$BIN" explain conv --image "$TMP/show/input.png" --kernel edge --out "$TMP/x.png"
# a model made for 3x32x32 inputs cannot classify 28x28 gray pictures
/usr/bin/python3 - "$TMP/rgb.safetensors" <<'PY'
import json, struct, sys
t = {"fc1.weight": (10, 3072), "fc1.bias": (10,)}
hdr, off, blobs = {}, 0, b""
for k, s in t.items():
    n = 1
    for d in s: n *= d
    hdr[k] = {"dtype": "F32", "shape": list(s), "data_offsets": [off, off + 4 * n]}
    off += 4 * n
    blobs += b"\0" * (4 * n)
hdr["__metadata__"] = {"shendu.format": "model", "shendu.arch": "flatten fc1=linear(10)", "shendu.input": "3,32,32"}
h = json.dumps(hdr).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + blobs)
PY
expect 1 "takes inputs of shape \[3,32,32\], but predict prepares pictures as 1x28x28" "$BIN" predict "$TMP/rgb.safetensors" "$TMP/show/input.png"
expect 1 "takes inputs of shape \[3,32,32\] but the test set of .* has 1x28x28 images" "$BIN" eval "$TMP/rgb.safetensors"
done_tests
