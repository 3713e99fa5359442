#!/usr/bin/env bash
# Issue 15, points 1, 4, 5: inputs that disagree with each other are refused
# before any work (data sets, models, checkpoints, classifiers); sizes that
# follow from a file are bounded (activation memory, shape arithmetic); what a
# model file says is checked (non-finite values) and what is printed from it
# stays valid JSON and never reaches a terminal raw.
. "$(dirname "$0")/lib_cli.sh"
DATA=/usr/share/datasets/fashion-mnist
PY=/usr/bin/python3

# idx FILE NDIM N [ROWS COLS [LABEL_MAX]]: a uint8 IDX file of N items, pixels i*7 mod 256, labels i mod (MAX+1)
idx() {
    $PY - "$@" <<'PY'
import struct, sys
path, ndim, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows, cols = (int(sys.argv[4]), int(sys.argv[5])) if ndim == 3 else (1, 1)
lmax = int(sys.argv[6]) if len(sys.argv) > 6 else 9
with open(path, "wb") as f:
    f.write(bytes([0, 0, 8, ndim]) + struct.pack(">I", n))
    if ndim == 3:
        f.write(struct.pack(">II", rows, cols) + bytes((i * 7) % 256 for i in range(n * rows * cols)))
    else:
        f.write(bytes(i % (lmax + 1) for i in range(n)))
PY
}
# dataset DIR TRAIN_H TEST_H [TRAIN_LABEL_MAX TEST_LABEL_MAX]
dataset() {
    mkdir -p "$1"
    idx "$1/train-images-idx3-ubyte" 3 200 "$2" "$2"; idx "$1/train-labels-idx1-ubyte" 1 200 0 0 "${4:-9}"
    idx "$1/t10k-images-idx3-ubyte" 3 100 "$3" "$3"; idx "$1/t10k-labels-idx1-ubyte" 1 100 0 0 "${5:-9}"
}

# ---- 1. inputs that disagree
dataset "$TMP/d20" 28 20
expect 1 "training set of .*d20 has 1x28x28 images but its test set \(t10k\) has 1x20x20" \
    "$BIN" train --data "$TMP/d20" --epochs 1
expect 1 "1x28x28 images but its test set" "$BIN" train --model cnn --data "$TMP/d20" --epochs 1
dataset "$TMP/dlab" 28 28 9 12
expect 1 "test set of .*dlab has labels up to 12 but its training set only up to 9" \
    "$BIN" train --data "$TMP/dlab" --epochs 1

"$BIN" train --limit 300 --limit-test 100 --epochs 1 --threads 2 --recipe best \
    --out "$TMP/m.safetensors" --checkpoint "$TMP/m.ckpt" >/dev/null 2>&1 || bad "train of the reference model failed"
PIC=$TMP/pic/input.png
"$BIN" show "$TMP/m.safetensors" --index 0 --out "$TMP/pic" >/dev/null 2>&1 && [ -s "$PIC" ] && ok || bad "show failed"
expect 1 "takes inputs of shape \[1,28,28\] but the test set of .*d20 has 1x20x20" \
    "$BIN" eval "$TMP/m.safetensors" --data "$TMP/d20"
expect 1 "has 10 classes but the test set of .*dlab has labels up to 12" "$BIN" eval "$TMP/m.safetensors" --data "$TMP/dlab"
expect 1 "the test images of .*d20 are 1x20x20" "$BIN" show "$TMP/m.safetensors" --data "$TMP/d20" --index 5 --out "$TMP/show"
[ ! -e "$TMP/show" ] && ok || bad "show created its output directory before refusing"
dataset "$TMP/d32" 32 32
expect 1 "test images of .*d32 are 1x32x32" "$BIN" show "$TMP/m.safetensors" --data "$TMP/d32" --index 99 --out "$TMP/show"

# a checkpoint resumed on data that changed under the same path
dataset "$TMP/dres" 28 28
"$BIN" train --data "$TMP/dres" --epochs 2 --batch 50 --threads 1 --checkpoint "$TMP/r.ckpt" --stop-after 2 \
    >/dev/null 2>&1 || bad "train --stop-after failed"
dataset "$TMP/dres" 28 28 4 4
expect 1 "r.ckpt was trained on other data: its training set was 200 images of 1x28x28, 10 classes, fingerprint [0-9a-f]+, but .*dres now holds 200 images of 1x28x28, 5 classes" \
    "$BIN" train --resume "$TMP/r.ckpt"

# gan --classifier: its classes and the test images must fit the data
dataset "$TMP/dg" 28 20
expect 1 "training set of .*dg has 1x28x28 images but its test set \(t10k\) has 1x20x20" \
    "$BIN" gan --data "$TMP/dg" --classifier "$TMP/m.safetensors" --epochs 1 --out "$TMP/g1"
dataset "$TMP/dg5" 28 28 4 4
expect 1 "m.safetensors has 10 classes but the data of .*dg5 has 5" \
    "$BIN" gan --data "$TMP/dg5" --classifier "$TMP/m.safetensors" --epochs 1 --out "$TMP/g2"
[ ! -e "$TMP/g1" ] && [ ! -e "$TMP/g2" ] && ok || bad "gan created an output directory before refusing"

# ---- 5. a checkpoint is a model file: same normalisation, same accuracy
a=$("$BIN" eval "$TMP/m.safetensors" --limit 500 --json 2>&1 | tail -n 1)
b=$("$BIN" eval "$TMP/m.ckpt" --limit 500 --json 2>&1 | tail -n 1)
[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "eval of the checkpoint ($b) differs from eval of the model ($a)"

# edit a model file's header or tensors (python: the safetensors layout is plain)
edit() {   # edit IN OUT PYTHON-EXPR-ON (meta, tensors): meta is __metadata__, data a bytearray
    $PY - "$@" <<'PY'
import json, struct, sys
src, dst, code = sys.argv[1], sys.argv[2], sys.argv[3]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n]); data = bytearray(raw[8 + n:])
meta = head["__metadata__"]
def f32(name, k, v):
    off = head[name]["data_offsets"][0] + 4 * k
    data[off:off + 4] = struct.pack("<f", v)
exec(code)
h = json.dumps(head).encode()
open(dst, "wb").write(struct.pack("<Q", len(h)) + h + bytes(data))
PY
}
edit "$TMP/m.safetensors" "$TMP/nan.safetensors" 'f32("fc2.weight", 3, float("nan"))'
expect 1 "nan.safetensors: tensor 'fc2.weight' holds NaN or infinite values" "$BIN" eval "$TMP/nan.safetensors"
expect 1 "holds NaN or infinite" "$BIN" predict "$TMP/nan.safetensors" "$PIC"
edit "$TMP/m.safetensors" "$TMP/inf.safetensors" 'f32("fc1.bias", 0, float("inf"))'
expect 1 "tensor 'fc1.bias' holds NaN or infinite" "$BIN" show "$TMP/inf.safetensors" --out "$TMP/show2"
for v in nan inf 1e39 "0.5x" ""; do
    edit "$TMP/m.safetensors" "$TMP/scale.safetensors" "meta['input_scale'] = '$v'"
    expect 1 "metadata input_scale is '$v', not a finite number" "$BIN" eval "$TMP/scale.safetensors"
done
edit "$TMP/m.safetensors" "$TMP/huge.safetensors" 'f32("fc1.weight", 0, 3e38); f32("fc1.weight", 1, 3e38)
[f32("fc2.weight", k, 3e38) for k in range(0, 1280)]'
expect 1 "test loss is not finite" "$BIN" eval "$TMP/huge.safetensors" --limit 200 --json
edit "$TMP/m.safetensors" "$TMP/five.safetensors" "meta['classes'] = 'a,b,c,d,e'"
expect 1 "its metadata names 5 classes but the model has 10 outputs" "$BIN" eval "$TMP/five.safetensors"

# class names with quotes, backslashes, newlines and escape sequences
edit "$TMP/m.safetensors" "$TMP/names.safetensors" \
    "meta['classes'] = 'T\"shirt,Tro\\\\user,Pull\nover,Dr\x1b[31mess,Coat\x07,Sandal\x7f,Sh\u009birt,Sneaker,Bag,Ankle boot'"
out=$("$BIN" predict "$TMP/names.safetensors" "$PIC" --top 10 --json 2>&1) || bad "predict --json: $out"
$PY -c 'import json, sys; d = json.loads(sys.stdin.read()); n = sorted(t["class"] for t in d["top"]); assert "T\"shirt" in n and "Pull\nover" in n and "Dr\x1b[31mess" in n, n' <<<"$out" \
    && ok || bad "predict --json is not valid JSON with the class names: $out"
for cmd in "predict $TMP/names.safetensors $PIC --top 10" \
           "show $TMP/names.safetensors --index 0 --out $TMP/show3"; do
    out=$("$BIN" $cmd 2>&1) || bad "$cmd: $out"
    if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' <<<"$out" || grep -q $'\xc2\x9b' <<<"$out"; then
        bad "$cmd wrote control bytes from the model file to the terminal: $(od -c <<<"$out" | head -20)"
    else ok; fi
done
grep -q 'Dr\\x1b\[31mess' <<<"$("$BIN" predict "$TMP/names.safetensors" "$PIC" --top 10 2>&1)" \
    && ok || bad "predict does not show an escaped control byte as \\x1b"
# messages that quote a file's contents are escaped too
edit "$TMP/m.safetensors" "$TMP/arch.safetensors" "head['__metadata__']['shendu.arch'] = 'flatten \x1b]0;pwned\x07'"
out=$("$BIN" eval "$TMP/arch.safetensors" 2>&1)
if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' <<<"$out"; then bad "a message wrote control bytes: $out"; else ok; fi

# ---- 4. activation memory planned from the shapes, refused before anything runs
mkmodel() {   # mkmodel OUT ARCH INPUT META_JSON TENSORS: TENSORS = "name:d0,d1,..;..." (all values 0.01)
    $PY - "$@" <<'PY'
import json, struct, sys
out, arch, inp, meta, spec = sys.argv[1:6]
head, blobs = {}, b""
for t in filter(None, spec.split(";")):
    name, dims = t.split(":")
    shape = [int(d) for d in dims.split(",")]
    n = 1
    for d in shape: n *= d
    head[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(blobs), len(blobs) + 4 * n]}
    blobs += struct.pack("<%df" % n, *([0.01] * n))
m = {"shendu.format": "model", "shendu.arch": arch, "shendu.input": inp}
m.update(json.loads(meta))
head["__metadata__"] = m
h = json.dumps(head).encode()
open(out, "wb").write(struct.pack("<Q", len(h)) + h + blobs)
PY
}
# a 1 KB classifier of upsampling transposed convolutions: 6.6 GB of activations per picture
W1="convt1.weight:1,2,4,4;convt1.bias:2"; W="convt%d.weight:2,2,4,4;convt%d.bias:2"
ws="$W1"; for i in 2 3 4 5; do ws="$ws;$(printf "$W" $i $i)"; done
mkmodel "$TMP/up.safetensors" "convt(2,4,4) convt(2,4,4) convt(2,4,4) convt(2,4,4) convt(2,4,4) flatten" 1,28,28 '{}' "$ws"
[ "$(stat -c %s "$TMP/up.safetensors")" -lt 4096 ] && ok || bad "the upsampling model file is not small"
for cmd in "eval $TMP/up.safetensors" "predict $TMP/up.safetensors $PIC" "show $TMP/up.safetensors --out $TMP/up"; do
    expect 1 "over the limit of 2.00 GiB \(--max-memory\); the largest share is layer 5 \(convt5=convt\) with its \[2,[0-9]+,[0-9]+\] output" \
        "$BIN" $cmd
done
expect 1 "for a batch of 100, over the limit of 64.00 GiB" "$BIN" eval "$TMP/up.safetensors" --max-memory 64G
expect 1 "over the limit of 2.00 GiB" "$BIN" train --model "$(sed 's/ flatten/ flatten linear(10)/' <<<"convt(2,4,4) convt(2,4,4) convt(2,4,4) convt(2,4,4) convt(2,4,4) flatten")" --limit 100
expect 1 "model 'cnn': the model needs .* in training, over the limit of 1.0 MiB .*layer [0-9]+ \(conv[12]=conv\)" \
    "$BIN" train --model cnn --limit 100 --max-memory 1M
expect 1 "batch of 65536 in training, over the limit" "$BIN" train --model cnn --limit 100 --batch 65536
expect 0 "epoch 1/1" "$BIN" train --model cnn --limit 200 --limit-test 100 --epochs 1 --max-memory 512M
expect 2 "--max-memory: '2X' is not a size" "$BIN" eval "$TMP/m.safetensors" --max-memory 2X
expect 2 "--max-memory: '100' is not a size" "$BIN" train --max-memory 100
expect 1 "a step of .* over the limit of 1.0 MiB" "$BIN" lm train --steps 1 --max-memory 1M
expect 1 "a step of 65536 windows of 64 characters .* over the limit of 2048.0 MiB" "$BIN" lm train --steps 1 --batch 65536
expect 1 "over the limit" "$BIN" rl dqn --batch 1048576 --hidden "linear(8192) relu linear(8192) relu" --steps 1

# a generator with 2^20 noise values and no parameters: n x noise used to overflow int
mkmodel "$TMP/wide.safetensors" "reshape(1,1024,1024) maxpool(37) tanh" 1048576 \
    '{"role": "generator", "image_shape": "1,27,27", "gan_arch": "mlp"}' ""
expect 1 "10000 samples of .*wide.safetensors \(noise of 1048576 values, 729 pixels each\) need [0-9]+ bytes, over the limit" \
    "$BIN" gan sample "$TMP/wide.safetensors" --n 10000 --out "$TMP/wide.png"
expect 0 "2 samples of" "$BIN" gan sample "$TMP/wide.safetensors" --n 2 --out "$TMP/wide.png"

# a checkpoint's settings lie in the flags' ranges
edit "$TMP/m.ckpt" "$TMP/shift.ckpt" "meta['shendu.train.shift'] = '100'"
expect 2 "shift.*100" "$BIN" train --resume "$TMP/shift.ckpt"
edit "$TMP/m.ckpt" "$TMP/batch.ckpt" "meta['shendu.train.batch'] = '1073741824'"
expect 2 "batch.*1073741824" "$BIN" train --resume "$TMP/batch.ckpt"

# lm sample on a terminal: the bytes it learned from a text file are shown, not sent
if command -v script >/dev/null; then
    $PY -c 'import sys; sys.stdout.buffer.write(b"the quick brown fox jumps over the lazy dog, the cat sat on a mat \x1b[1m bold words here\n" * 300)' > "$TMP/esc.txt"
    "$BIN" lm train --text "$TMP/esc.txt" --steps 30 --hidden 16 --emb 8 --seq 16 --batch 4 --eval-every 0 \
        --sample-len 0 --threads 1 --out "$TMP/esc.lm" >/dev/null 2>&1 || bad "lm train on a text with escapes failed"
    out=$(script -qec "$BIN lm sample $TMP/esc.lm --len 3000 --temperature 1.5" /dev/null 2>&1)
    if LC_ALL=C grep -q $'[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]' <<<"$out"; then bad "lm sample sent control bytes to a terminal"
    else grep -q '\\x1b' <<<"$out" && ok || bad "lm sample on a terminal: no escaped \\x1b in: $out"; fi
    "$BIN" lm sample "$TMP/esc.lm" --len 3000 --temperature 1.5 > "$TMP/esc.out" 2>&1
    LC_ALL=C grep -q $'\x1b' "$TMP/esc.out" && ok || bad "lm sample to a file no longer writes the raw bytes"
else
    bad "script(1) (util-linux) is missing: cannot test lm sample on a terminal"
fi

done_tests
