#!/usr/bin/python3
"""Cross-check a `shendu lm train --out FILE` model in PyTorch (not run by ctest).

Loads FILE's tensors, with strict=True, into the CharLSTM module of
../shared/bench-ref/lstm.py (so the parameter names and shapes must be PyTorch's)
and computes that script's validation bits per character on the fortunes corpus;
it should equal the val_bpc that shendu stored in the file's metadata. Needs
Debian's python3-torch and the default model shape (embedding 64, 1 LSTM layer of
256, trained on /usr/share/games/fortunes):
    /usr/bin/python3 tests/golden/check_lm_torch.py m.safetensors
"""
import json
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "shared", "bench-ref"))
import lstm as ref  # noqa: E402


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        assert t["dtype"] == "F32", name
        b, e = t["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(raw[8 + n + b:8 + n + e], dtype=np.float32)
                                         .reshape(t["shape"]).copy())
    return tensors, meta


tensors, meta = load_safetensors(sys.argv[1])
_, data = ref.load_corpus()
itos = sorted(set(data))
lut = np.zeros(256, dtype=np.int64)
lut[itos] = np.arange(len(itos))
tokens = torch.from_numpy(lut[np.frombuffer(data, dtype=np.uint8)])
model = ref.CharLSTM(len(itos))
model.load_state_dict(tensors, strict=True)
torch.set_num_threads(1)
bpc = ref.val_bpc(model, tokens[int(len(tokens) * 0.95):], int(meta.get("seq", 64)))
print(json.dumps({"shendu_val_bpc": float(meta["val_bpc"]), "torch_val_bpc": round(bpc, 4)}))
