#!/usr/bin/python3
"""PyTorch <-> shendu interoperability (Debian's python3-torch; no pip).

  shendu -> PyTorch: load shendu's MLP and CNN safetensors files into the
      identical modules of ../shared/bench-ref (mlp.py's MLP, cnn.py's CNN) and
      compare logits on the test set with `shendu eval --logits`.
  PyTorch -> shendu: train both modules briefly in PyTorch, write safetensors
      (header and data written here by hand, with shendu's metadata), and check
      that `shendu eval` reports the same accuracy and the same logits.

Layer names are the same on both sides: fc1.weight [256,784], fc1.bias [256], ...,
conv1.weight [32,1,3,3], conv1.bias [32], conv2.*, fc1.*, fc2.* for the CNN.
usage: torch_interop.py SHENDU_BIN MLP.safetensors CNN.safetensors WORKDIR [LIMIT]
Prints one line per check and "N passed, N failed"; exits 1 on any failure.
"""
import gzip
import importlib.util
import json
import os
import struct
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "bench-ref"))
DATA = "/usr/share/datasets/fashion-mnist"
TOL = 1e-4


def load_module(name, cls):
    """The reference's own class when ../shared/bench-ref is there, else an
    identical definition (a fresh clone without shared/ still runs the test)."""
    path = os.path.join(REF, name + ".py")
    if os.path.exists(path):
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        print(f"using {cls} from {path}")
        return getattr(mod, cls)
    print(f"note: {path} not found; using an identical {cls} definition")

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(784, 256), nn.Linear(256, 128), nn.Linear(128, 10)

        def forward(self, x):
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
            self.fc1, self.fc2 = nn.Linear(1600, 128), nn.Linear(128, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))
    return {"MLP": MLP, "CNN": CNN}[cls]


def read_idx(name):
    raw = gzip.open(os.path.join(DATA, name)).read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_safetensors(path):
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        assert e["dtype"] == "F32", f"{name}: {e['dtype']}"
        tensors[name] = torch.from_numpy(np.frombuffer(blob[base + a:base + b], dtype="<f4").reshape(e["shape"]).copy())
    return tensors, meta


def write_safetensors(path, tensors, meta):
    header, offset, chunks = {}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        chunks.append(data)
    header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def shendu_logits(binary, model, workdir, limit, classes=10):
    out = os.path.join(workdir, "logits.f32")
    subprocess.run([binary, "eval", model, "--limit", str(limit), "--logits", out, "--threads", "1"],
                   check=True, capture_output=True)
    acc = None
    r = subprocess.run([binary, "eval", model, "--limit", str(limit), "--json", "--threads", "1"],
                       check=True, capture_output=True, text=True)
    acc = json.loads(r.stdout.strip().splitlines()[-1])["test_accuracy"]
    return torch.from_numpy(np.fromfile(out, dtype="<f4").reshape(-1, classes)), acc


def main():
    binary, mlp_file, cnn_file, workdir = sys.argv[1:5]
    limit = int(sys.argv[5]) if len(sys.argv) > 5 else 10000
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.from_numpy(read_idx("t10k-images-idx3-ubyte.gz")[:limit].astype(np.float32) / 255.0)
    y = torch.from_numpy(read_idx("t10k-labels-idx1-ubyte.gz")[:limit].astype(np.int64))
    xtr = torch.from_numpy(read_idx("train-images-idx3-ubyte.gz")[:6000].astype(np.float32) / 255.0)
    ytr = torch.from_numpy(read_idx("train-labels-idx1-ubyte.gz")[:6000].astype(np.int64))
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        passed, failed = passed + ok, failed + (not ok)
        print(("ok   " if ok else "FAIL ") + what)

    for cls, path, shape, arch in [
        ("MLP", mlp_file, (-1, 784), "flatten fc1=linear(256) relu fc2=linear(128) relu fc3=linear(10)"),
        ("CNN", cnn_file, (-1, 1, 28, 28),
         "conv1=conv(32,3) relu maxpool(2,2) conv2=conv(64,3) relu maxpool(2,2) flatten fc1=linear(128) relu fc2=linear(10)"),
    ]:
        Model = load_module(cls.lower(), cls)
        # shendu -> PyTorch
        tensors, meta = read_safetensors(path)
        scale, shift = float(meta.get("input_scale", 1 / 255)), float(meta.get("input_shift", 0))
        model = Model()
        missing = model.load_state_dict(tensors, strict=True)
        check(not missing.missing_keys and not missing.unexpected_keys, f"{cls}: every tensor maps by name")
        model.eval()
        with torch.no_grad():
            ours = model((x * 255.0 * scale + shift).reshape(shape))
        theirs, acc = shendu_logits(binary, path, workdir, limit)
        diff = (ours - theirs).abs().max().item()
        check(diff <= TOL, f"{cls}: shendu -> PyTorch logits, max |diff| = {diff:.2e} (<= {TOL})")
        torch_acc = (ours.argmax(1) == y).float().mean().item()
        # shendu prints 4 decimals; a logit within 1e-5 of a tie may flip one image
        check(abs(round(torch_acc, 4) - acc) <= 1.0 / limit + 1e-9, f"{cls}: same accuracy ({acc:.4f} vs {torch_acc:.4f})")
        # PyTorch -> shendu: a few hundred steps of training in PyTorch
        model = Model()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for i in range(0, 6000, 64):
            loss = F.cross_entropy(model(xtr[i:i + 64].reshape(shape)), ytr[i:i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        out = os.path.join(workdir, f"torch_{cls.lower()}.safetensors")
        write_safetensors(out, model.state_dict(), {
            "shendu.format": "model", "shendu.arch": arch, "shendu.input": "1,28,28",
            "input_scale": repr(1 / 255), "input_shift": "0", "trained_by": "PyTorch " + torch.__version__})
        with torch.no_grad():
            ref = model(x.reshape(shape))
        ref_acc = (ref.argmax(1) == y).float().mean().item()
        theirs, acc = shendu_logits(binary, out, workdir, limit)
        diff = (ref - theirs).abs().max().item()
        check(diff <= TOL, f"{cls}: PyTorch -> shendu logits, max |diff| = {diff:.2e} (<= {TOL})")
        check(abs(round(ref_acc, 4) - acc) <= 1.0 / limit + 1e-9,
              f"{cls}: shendu eval of PyTorch weights {acc:.4f}, PyTorch {ref_acc:.4f}")
    print(f"torch_interop: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
