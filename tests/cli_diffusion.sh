#!/usr/bin/env bash
# shendu diffusion (issue 21): a tiny run end to end (grid, model, checkpoint),
# a stopped and resumed run that ends with the files of an uninterrupted one,
# sampling with DDIM, DDPM and the trajectory, model files from before the U-Net's
# attention block, explain diffusion, and bad input.
. "$(dirname "$0")/lib_cli.sh"
tiny=(--limit 96 --batch 32 --channels 8 --groups 4 --steps 50 --sample-steps 5 --threads 2 --seed 3)

expect 0 '"epochs":2' "$BIN" diffusion "${tiny[@]}" --epochs 2 --out "$TMP/a" --checkpoint "$TMP/a.ck" --json
[ -s "$TMP/a/epoch_001.png" ] && [ -s "$TMP/a/epoch_002.png" ] && ok || bad "no epoch grids"
python3 - "$TMP/a/epoch_002.png" <<'PY' && ok || bad "the epoch grid is not an 8x8 grid of 28x28 pictures"
import struct, sys
d = open(sys.argv[1], "rb").read()
w, h = struct.unpack(">II", d[16:24])
sys.exit(0 if d[:8] == b"\x89PNG\r\n\x1a\n" and w == h and w > 8 * 56 else 1)
PY

# stop after 2 of the 6 steps, resume: the same model as the uninterrupted run
expect 0 "resume with: shendu diffusion --resume $TMP/b.ck --out $TMP/b --sample-steps" \
    "$BIN" diffusion "${tiny[@]}" --epochs 2 --out "$TMP/b" --checkpoint "$TMP/b.ck" --stop-after 2
# where a resumed run writes is its command line's --out, not the directory the checkpoint recorded
expect 0 "was writing to $TMP/b; this run writes to diffusion-out" sh -c "cd '$TMP' && '$BIN' diffusion --resume '$TMP/b.ck' --stop-after 1 --checkpoint '$TMP/b2.ck'"
expect 0 'resuming' "$BIN" diffusion --resume "$TMP/b.ck" --out "$TMP/b"
cmp -s "$TMP/a/model.safetensors" "$TMP/b/model.safetensors" && ok || bad "the resumed run's model differs from the uninterrupted run's"
cmp -s "$TMP/a/epoch_002.png" "$TMP/b/epoch_002.png" && ok || bad "the resumed run's grid differs"
expect 2 'disagrees|stored|--channels' "$BIN" diffusion --resume "$TMP/b.ck" --channels 16

# sampling: DDIM (default), DDPM, the trajectory; a checkpoint samples too
expect 0 '16 samples \(DDIM, 5 steps\)' "$BIN" diffusion sample "$TMP/a/model.safetensors" --out "$TMP/g.png" --n 16 \
    --sample-steps 5 --trajectory 2 --trajectory-out "$TMP/t.png"
[ -s "$TMP/g.png" ] && [ -s "$TMP/t.png" ] && ok || bad "no sample grid or trajectory"
expect 0 '4 samples \(DDPM, 50 steps\)' "$BIN" diffusion sample "$TMP/a.ck" --out "$TMP/g2.png" --n 4 --sampler ddpm
"$BIN" diffusion sample "$TMP/a/model.safetensors" --out "$TMP/s1.png" --n 4 --sample-steps 5 --seed 9 >/dev/null &&
"$BIN" diffusion sample "$TMP/a/model.safetensors" --out "$TMP/s2.png" --n 4 --sample-steps 5 --seed 9 >/dev/null &&
    cmp -s "$TMP/s1.png" "$TMP/s2.png" && ok || bad "DDIM sampling is not repeatable for a seed"

# a model file from before the U-Net had its attention block (no mid_attn.* tensors,
# no diffusion.attention) still samples; a checkpoint from then cannot resume: said so
python3 - "$TMP/a/model.safetensors" "$TMP/old.safetensors" "$TMP/a.ck" "$TMP/old.ck" <<'PY' && ok || bad "could not write the old-format files"
import json, struct, sys
def strip(src, dst, drop_tensors):
    d = open(src, "rb").read()
    n = struct.unpack("<Q", d[:8])[0]
    h, body = json.loads(d[8:8 + n]), d[8 + n:]
    meta = h.pop("__metadata__")
    meta.pop("diffusion.attention")
    out, blobs, off = {"__metadata__": meta}, [], 0
    for k, v in sorted(h.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if drop_tensors and k.startswith("mid_attn."):
            continue
        a, b = v["data_offsets"]
        out[k] = dict(v, data_offsets=[off, off + b - a])
        blobs.append(body[a:b])
        off += b - a
    hb = json.dumps(out).encode()
    hb += b" " * (-len(hb) % 8)
    open(dst, "wb").write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))
strip(sys.argv[1], sys.argv[2], True)
strip(sys.argv[3], sys.argv[4], False)
PY
expect 0 '4 samples' "$BIN" diffusion sample "$TMP/old.safetensors" --out "$TMP/old.png" --n 4 --sample-steps 5
expect 1 'before the U-Net had its attention block' "$BIN" diffusion --resume "$TMP/old.ck"

# explain
expect 0 'abar_t.*sqrt\(abar_t\)' "$BIN" explain diffusion --steps 1000 --out "$TMP/strip.png"
expect 0 '  1000   0\.020000   0\.000040' "$BIN" explain diffusion
[ -s "$TMP/strip.png" ] && ok || bad "no strip"

# bad input: exit 2 for flags, 1 for files
expect 2 'linear or cosine' "$BIN" diffusion --schedule quadratic
expect 2 'groups must divide' "$BIN" diffusion --channels 12 --groups 8
expect 2 'more than the 50 noise steps' "$BIN" diffusion --steps 50 --sample-steps 60
expect 2 'needs --checkpoint' "$BIN" diffusion --stop-after 3
expect 2 'ddim or ddpm' "$BIN" diffusion sample "$TMP/a/model.safetensors" --out "$TMP/x.png" --sampler euler
expect 1 'T = 50 noise steps' "$BIN" diffusion sample "$TMP/a/model.safetensors" --out "$TMP/x.png" --sample-steps 51
expect 1 'is a diffusion model, not a GAN generator' "$BIN" gan sample "$TMP/a/model.safetensors" --out "$TMP/x.png"
"$BIN" gan --limit 64 --epochs 1 --threads 1 --out "$TMP/gan" >/dev/null 2>&1 || bad "gan for the cross check failed"
expect 1 'is a GAN generator, not a diffusion model' "$BIN" diffusion sample "$TMP/gan/generator.safetensors" --out "$TMP/x.png"
printf 'junk' > "$TMP/junk.safetensors"
expect 1 'junk.safetensors' "$BIN" diffusion sample "$TMP/junk.safetensors" --out "$TMP/x.png"
expect 2 'model.safetensors is a diffusion model, not a checkpoint of shendu diffusion' "$BIN" diffusion --resume "$TMP/a/model.safetensors"
# an output may not replace an input
expect 1 'model' "$BIN" diffusion sample "$TMP/a/model.safetensors" --out "$TMP/a/model.safetensors"
expect 1 'checkpoint|--out' "$BIN" diffusion "${tiny[@]}" --out "$TMP/c" --checkpoint "$TMP/c/model.safetensors"
[ ! -e "$TMP/c/epoch_001.png" ] && ok || bad "a run whose outputs collide trained anyway"
done_tests
