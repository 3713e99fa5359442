#!/usr/bin/python3
"""Golden values for shendu's conv_transpose2d and batch_norm ops, from PyTorch.

Writes tests/golden/gen_ops.st next to this script: small fixed inputs,
weights, outputs and gradients that tests/test_gen_ops.c reads (no torch
needed at test time). It is a safetensors file, named .st so that the
repository's *.safetensors ignore rule (meant for trained models) keeps it.
Every case's loss is sum(y * r) for a fixed random r, so the gradients are
the ops' backward of r.

Run with Debian's torch:  /usr/bin/python3 tests/golden/make_gen_golden.py

Tensors, per case NAME:
  conv_transpose2d (NAME.args = [stride, pad, out_pad, has_bias]):
    NAME.x, NAME.w, NAME.b, NAME.r, NAME.y, NAME.dx, NAME.dw, NAME.db
  batch_norm (NAME.args = [training, momentum, eps]):
    NAME.x, NAME.gamma, NAME.beta, NAME.rm, NAME.rv (running stats before),
    NAME.r, NAME.y, NAME.dx, NAME.dgamma, NAME.dbeta,
    NAME.rm_after, NAME.rv_after (running stats after the forward)
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen_ops.st")
tensors = {}


def put(name, t):
    tensors[name] = np.ascontiguousarray(t.detach().numpy().astype(np.float32))


def conv_case(name, xs, ws, stride, pad, out_pad, bias):
    x = torch.randn(*xs, requires_grad=True)
    w = (torch.randn(*ws) * 0.5).requires_grad_()
    b = torch.randn(ws[1], requires_grad=True) if bias else None
    y = F.conv_transpose2d(x, w, b, stride=stride, padding=pad, output_padding=out_pad)
    r = torch.randn(*y.shape)
    (y * r).sum().backward()
    put(name + ".args", torch.tensor([stride, pad, out_pad, int(bias)], dtype=torch.float32))
    for k, v in (("x", x), ("w", w), ("r", r), ("y", y), ("dx", x.grad), ("dw", w.grad)):
        put(f"{name}.{k}", v)
    if bias:
        put(name + ".b", b)
        put(name + ".db", b.grad)


def bn_case(name, xs, training, momentum=0.1, eps=1e-5):
    C = xs[1]
    x = (torch.randn(*xs) * 2.0 + 0.5).requires_grad_()
    gamma = (1.0 + 0.3 * torch.randn(C)).requires_grad_()
    beta = (0.2 * torch.randn(C)).requires_grad_()
    rm, rv = 0.3 * torch.randn(C), 0.5 + torch.rand(C)
    rm0, rv0 = rm.clone(), rv.clone()
    y = F.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=momentum, eps=eps)
    r = torch.randn(*y.shape)
    (y * r).sum().backward()
    put(name + ".args", torch.tensor([int(training), momentum, eps], dtype=torch.float32))
    for k, v in (("x", x), ("gamma", gamma), ("beta", beta), ("rm", rm0), ("rv", rv0), ("r", r), ("y", y),
                 ("dx", x.grad), ("dgamma", gamma.grad), ("dbeta", beta.grad), ("rm_after", rm),
                 ("rv_after", rv)):
        put(f"{name}.{k}", v)


def save(path, meta):
    header, off = {}, 0
    for k in sorted(tensors):
        a = tensors[k]
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for k in sorted(tensors):
            f.write(tensors[k].astype("<f4").tobytes())


def main():
    torch.manual_seed(20261127)
    conv_case("ct_s2p1op1", (2, 3, 4, 5), (3, 2, 3, 3), 2, 1, 1, True)     # odd kernel, output padding
    conv_case("ct_dcgan", (2, 4, 3, 3), (4, 3, 4, 4), 2, 1, 0, True)       # the DCGAN block: doubles H, W
    conv_case("ct_s1_rect", (1, 2, 4, 3), (2, 3, 2, 3), 1, 0, 0, False)    # stride 1, 2x3 kernel, no bias
    conv_case("ct_s3p2", (2, 2, 3, 4), (2, 2, 4, 3), 3, 2, 2, True)        # stride 3, taps in gaps
    bn_case("bn4d_train", (4, 3, 5, 5), True)
    bn_case("bn2d_train", (8, 6), True, momentum=0.2, eps=1e-3)
    bn_case("bn4d_eval", (3, 2, 4, 4), False)
    bn_case("bn2d_eval", (5, 4), False)
    save(OUT, {"made_by": "tests/golden/make_gen_golden.py", "torch": torch.__version__})
    print(f"wrote {OUT}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
