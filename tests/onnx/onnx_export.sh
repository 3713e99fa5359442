#!/usr/bin/env bash
# shendu export --onnx for every kind of model the CLI makes, checked twice:
# onnx.checker.check_model(full_check=True) (Debian's python3-onnx) accepts
# each file, and ONNX Runtime (onnxruntime-node) run on real inputs agrees with
# shendu's own outputs to 1e-5 (tests/onnx/run_ort.js); then the bad inputs.
. "$(dirname "$0")/../lib_cli.sh"
REF=${SHENDU_ONNX_REF:?run through ctest}
HERE=$SHENDU_SOURCE/tests/onnx
PY=/usr/bin/python3
head -c 30000 /usr/share/games/fortunes/fortunes > "$TMP/t.txt" 2>/dev/null ||
    cat "$SHENDU_SOURCE"/README.md "$SHENDU_SOURCE"/docs/*.md | head -c 30000 > "$TMP/t.txt"

# tiny models of every kind, a few seconds in all
q=(--threads 2 --seed 3)
"$BIN" train --model mlp --epochs 1 --limit 300 --limit-test 50 "${q[@]}" --out "$TMP/mlp.safetensors" >/dev/null 2>&1 || bad "train mlp"
"$BIN" train --model cnn --recipe best --epochs 1 --limit 200 --limit-test 50 "${q[@]}" \
    --out "$TMP/cnn.safetensors" --checkpoint "$TMP/cnn_ckpt.safetensors" >/dev/null 2>&1 || bad "train cnn"
"$BIN" gan --limit 128 --epochs 1 "${q[@]}" --out "$TMP/gan_mlp" >/dev/null 2>&1 || bad "gan mlp"
"$BIN" gan --arch dcgan --limit 64 --epochs 1 "${q[@]}" --out "$TMP/gan_dcgan" >/dev/null 2>&1 || bad "gan dcgan"
"$BIN" rl dqn --env cartpole --steps 300 --eval 1 "${q[@]}" --out "$TMP/dqn.safetensors" \
    --checkpoint "$TMP/dqn_ckpt.safetensors" >/dev/null 2>&1 || bad "rl dqn"
lm=(--text "$TMP/t.txt" --seq 32 --batch 8 --hidden 32 --emb 16 --steps 5 --sample-len 0 "${q[@]}")
"$BIN" lm train "${lm[@]}" --layers 2 --out "$TMP/lstm.safetensors" >/dev/null 2>&1 || bad "lm train lstm"
"$BIN" lm train "${lm[@]}" --cell rnn --out "$TMP/rnn.safetensors" >/dev/null 2>&1 || bad "lm train rnn"
"$BIN" lm train --text "$TMP/t.txt" --cell transformer --layers 2 --dim 16 --heads 2 --seq 24 --batch 8 --steps 5 \
    --sample-len 0 "${q[@]}" --out "$TMP/transformer.safetensors" >/dev/null 2>&1 || bad "lm train transformer"
"$BIN" diffusion --limit 64 --batch 32 --channels 8 --groups 4 --steps 100 --sample-steps 2 --epochs 1 \
    "${q[@]}" --out "$TMP/dif_out" --checkpoint "$TMP/dif_ckpt.safetensors" >/dev/null 2>&1 || bad "diffusion"
# one step of training leaves the zero-initialised layers (each block's conv2, conv_out, the attention's
# projection) near zero, which would make eps ~ 0 and the comparison weak: every weight gets noise
$PY -c "
import json, struct, sys, random
d = bytearray(open(sys.argv[1], 'rb').read())
n = struct.unpack('<Q', d[:8])[0]
h = json.loads(d[8:8 + n])
r = random.Random(5)
for k, v in h.items():
    if k == '__metadata__' or v['dtype'] != 'F32': continue
    a, b = v['data_offsets']
    vals = struct.unpack(f'<{(b - a) // 4}f', d[8 + n + a:8 + n + b])
    d[8 + n + a:8 + n + b] = struct.pack(f'<{len(vals)}f', *(x + r.gauss(0, 0.05) for x in vals))
open(sys.argv[2], 'wb').write(d)" "$TMP/dif_out/model.safetensors" "$TMP/dif.safetensors" || bad "perturbing the diffusion model"
cp "$TMP/gan_mlp/generator.safetensors" "$TMP/gen_mlp.safetensors"
cp "$TMP/gan_dcgan/generator.safetensors" "$TMP/gen_dcgan.safetensors"

meta_of() {   # FILE KEY: one metadata value of a safetensors file
    $PY -c "
import json, struct, sys
d = open(sys.argv[1], 'rb').read(1 << 20)
print(json.loads(d[8:8 + struct.unpack('<Q', d[:8])[0]])['__metadata__'].get(sys.argv[2], ''))" "$1" "$2"
}

models=(mlp cnn cnn_ckpt gen_mlp gen_dcgan dqn dqn_ckpt lstm rnn transformer dif dif_ckpt)   # a checkpoint exports as its model
for m in "${models[@]}"; do
    expect 0 "wrote $TMP/$m.onnx" "$BIN" export "$TMP/$m.safetensors" --onnx "$TMP/$m.onnx"
done

# the onnx checker, and what the files say about themselves
out=$($PY - "$TMP" "${models[@]}" 2>&1 <<'PYEOF'
import sys, onnx
tmp, names = sys.argv[1], sys.argv[2:]
for n in names:
    m = onnx.load(f"{tmp}/{n}.onnx")
    onnx.checker.check_model(m, full_check=True)
    assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [17], n
    meta = {p.key: p.value for p in m.metadata_props}
    batch = m.graph.input[0].type.tensor_type.shape.dim[1 if n in ("lstm", "rnn", "transformer") else 0].dim_param
    assert batch == "batch", (n, batch)
    if n in ("mlp", "cnn", "cnn_ckpt"):
        assert meta["classes"].startswith("T-shirt/top"), meta.get("classes")
        assert meta["shendu.kind"] == "classifier"
    if n.startswith("dif"):
        a = [float(x) for x in meta["alphas_cumprod"].split(",")]
        assert meta["shendu.kind"] == "diffusion" and len(a) == int(meta["T"]) + 1 == 101, meta["T"]
        assert a[0] == 1 and all(x > y for x, y in zip(a, a[1:])), "alphas_cumprod not falling from 1"
    print(n, "checked:", ", ".join(i.name for i in m.graph.input), "->", ", ".join(o.name for o in m.graph.output))
PYEOF
) && ok || bad "onnx checker: $out"
echo "$out"

# ONNX Runtime against shendu, on real inputs
for m in "${models[@]}"; do
    if "$REF" "$TMP/$m.safetensors" "$TMP/ref_$m" "$TMP/t.txt" && node "$HERE/run_ort.js" "$TMP/$m.onnx" "$TMP/ref_$m.json"; then
        ok
    else
        bad "ONNX Runtime disagrees with shendu on $m"
    fi
done

# bad input: a clear error and no file
head -c 5000 /dev/urandom > "$TMP/noise.bin"
expect 1 "noise.bin" "$BIN" export "$TMP/noise.bin" --onnx "$TMP/noise.onnx"
[ ! -e "$TMP/noise.onnx" ] && ok || bad "a failed export left a file"
$PY -c "
import json, struct, sys
h = json.dumps({'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}).encode()
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h + b'\0\0\0\0')" "$TMP/plain.safetensors"
expect 1 "not a shendu model" "$BIN" export "$TMP/plain.safetensors" --onnx "$TMP/plain.onnx"
[ ! -e "$TMP/plain.onnx" ] && ok || bad "a failed export left a file"
$PY -c "
import json, struct, sys
h = json.dumps({'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]},
                '__metadata__': {'shendu.format': 'tokenizer'}}).encode()
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h + b'\0\0\0\0')" "$TMP/other.safetensors"
expect 1 "'tokenizer' file has no ONNX export" "$BIN" export "$TMP/other.safetensors" --onnx "$TMP/other.onnx"
[ ! -e "$TMP/other.onnx" ] && ok || bad "a failed export left a file"
# a classifier's checkpoint carries its input normalisation and classes (the same as the model file's);
# one written before it did is refused
for k in input_scale input_shift classes; do
    [ "$(meta_of "$TMP/cnn_ckpt.safetensors" $k)" = "$(meta_of "$TMP/cnn.safetensors" $k)" ] && ok ||
        bad "the checkpoint's $k differs from the model file's"
done
$PY -c "
import json, struct, sys
d = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', d[:8])[0]
h = json.loads(d[8:8 + n])
for k in ('input_scale', 'input_shift'): h['__metadata__'].pop(k)
t = json.dumps(h, separators=(',', ':'), ensure_ascii=False).encode()
open(sys.argv[2], 'wb').write(d[:8] + t + b' ' * (n - len(t)) + d[8 + n:])" "$TMP/cnn_ckpt.safetensors" "$TMP/old_ckpt.safetensors"
expect 1 "does not carry its input normalisation" "$BIN" export "$TMP/old_ckpt.safetensors" --onnx "$TMP/ck.onnx"
[ ! -e "$TMP/ck.onnx" ] && ok || bad "a refused checkpoint export left a file"
expect 1 "is the same file as the model" "$BIN" export "$TMP/mlp.safetensors" --onnx "$TMP/mlp.safetensors"
expect 2 "--onnx OUT.onnx is required" "$BIN" export "$TMP/mlp.safetensors"
expect 1 "nonexistent" "$BIN" export "$TMP/mlp.safetensors" --onnx "$TMP/nonexistent/x.onnx"
done_tests
