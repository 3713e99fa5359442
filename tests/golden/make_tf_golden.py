#!/usr/bin/python3
"""Golden values for shendu's Transformer ops and optimizer pieces, from PyTorch.

Writes tests/golden/tf_ops.st next to this script (a safetensors file; .st so
that the *.safetensors ignore rule keeps it) for tests/test_tf_ops.c. Each op
case's loss is sum(y * r) for a fixed random r, so the stored gradients are
the op's backward of r.

Run with Debian's torch:  /usr/bin/python3 tests/golden/make_tf_golden.py

Cases:
  ln       layer_norm (eps 1e-5): ln.x (N,C), ln.gamma, ln.beta, ln.r, ln.y, ln.dx, ln.dgamma, ln.dbeta
  gelu     F.gelu, exact erf form: gelu.x, gelu.r, gelu.y, gelu.dx
  bmm, bmmt torch.bmm(a, b) and torch.bmm(a, b.transpose(1, 2)): *.a, *.b, *.r, *.y, *.da, *.db
  attn     causal softmax(q kᵀ / √dh) v (masked_fill -inf above the diagonal; this torch has no
           F.scaled_dot_product_attention) on q, k, v (T*B, D) time-major viewed as (B, H, T, dh): attn.args = [T, heads], attn.q/k/v/r/y/dq/dk/dv
  attn_full the same without the mask (every query sees every key: the U-Net's attention), attn_full.*
  adamw    torch.optim.AdamW, weight decay on the matrix only (the vector's group has 0),
           clip_grad_norm_ before each step, LinearLR warm-up then CosineAnnealingLR
           (SequentialLR): adamw.args = [lr, wd, warmup, steps, max_norm, min_lr],
           adamw.w0, adamw.b0 (start), adamw.gw, adamw.gb (steps, ...) the raw gradients,
           adamw.lrs (steps) the learning rate of each update, adamw.w, adamw.b (end)
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_ops.st")
tensors = {}


def put(name, t):
    if isinstance(t, torch.Tensor):
        t = t.detach().numpy()
    tensors[name] = np.array(t, dtype=np.float32, copy=True)   # a copy: the optimizer changes w in place


def ln_case():
    x = (torch.randn(6, 10) * 2 + 0.3).requires_grad_()
    gamma = (1 + 0.3 * torch.randn(10)).requires_grad_()
    beta = (0.2 * torch.randn(10)).requires_grad_()
    y = F.layer_norm(x, (10,), gamma, beta, eps=1e-5)
    r = torch.randn(*y.shape)
    (y * r).sum().backward()
    for k, v in (("x", x), ("gamma", gamma), ("beta", beta), ("r", r), ("y", y), ("dx", x.grad),
                 ("dgamma", gamma.grad), ("dbeta", beta.grad)):
        put("ln." + k, v)


def gelu_case():
    x = (torch.randn(64) * 2.5).requires_grad_()
    y = F.gelu(x)
    r = torch.randn(64)
    (y * r).sum().backward()
    for k, v in (("x", x), ("r", r), ("y", y), ("dx", x.grad)):
        put("gelu." + k, v)


def bmm_case(name, trans_b):
    a = torch.randn(3, 4, 5, requires_grad=True)
    b = torch.randn(3, 6, 5 if trans_b else 6, requires_grad=True) if trans_b else torch.randn(3, 5, 6, requires_grad=True)
    y = torch.bmm(a, b.transpose(1, 2)) if trans_b else torch.bmm(a, b)
    r = torch.randn(*y.shape)
    (y * r).sum().backward()
    for k, v in (("a", a), ("b", b), ("r", r), ("y", y), ("da", a.grad), ("db", b.grad)):
        put(f"{name}.{k}", v)


def attn_case(name="attn", causal=True, T=5, B=3, H=2, D=8):
    dh = D // H
    q, k, v = (torch.randn(T * B, D, requires_grad=True) for _ in range(3))

    def heads(x):   # (T*B, D) time-major -> (B, H, T, dh)
        return x.view(T, B, H, dh).permute(1, 2, 0, 3)

    qh, kh, vh = heads(q), heads(k), heads(v)   # this torch (1.13) has no F.scaled_dot_product_attention
    s = qh @ kh.transpose(-2, -1) / dh ** 0.5
    if causal:
        s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    o = torch.softmax(s, dim=-1) @ vh
    y = o.permute(2, 0, 1, 3).reshape(T * B, D)
    r = torch.randn(*y.shape)
    (y * r).sum().backward()
    put(name + ".args", [T, H])
    for kk, vv in (("q", q), ("k", k), ("v", v), ("r", r), ("y", y), ("dq", q.grad), ("dk", k.grad),
                   ("dv", v.grad)):
        put(f"{name}.{kk}", vv)


def adamw_case():
    lr, wd, warmup, steps, max_norm, min_lr = 0.01, 0.1, 2, 5, 0.5, 0.001
    w = torch.nn.Parameter(torch.randn(4, 3))
    b = torch.nn.Parameter(torch.randn(3))
    put("adamw.w0", w)
    put("adamw.b0", b)
    opt = torch.optim.AdamW([{"params": [w], "weight_decay": wd}, {"params": [b], "weight_decay": 0.0}], lr=lr)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0 / warmup, end_factor=1.0, total_iters=warmup - 1),
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps - warmup, eta_min=min_lr)], milestones=[warmup])
    gws, gbs, lrs = [], [], []
    for _ in range(steps):
        gw, gb = torch.randn(4, 3), torch.randn(3)
        gws.append(gw.clone())
        gbs.append(gb.clone())
        w.grad, b.grad = gw, gb
        torch.nn.utils.clip_grad_norm_([w, b], max_norm)
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    put("adamw.args", [lr, wd, warmup, steps, max_norm, min_lr])
    put("adamw.gw", torch.stack(gws))
    put("adamw.gb", torch.stack(gbs))
    put("adamw.lrs", lrs)
    put("adamw.w", w)
    put("adamw.b", b)


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
    torch.manual_seed(20261207)
    ln_case()
    gelu_case()
    bmm_case("bmm", False)
    bmm_case("bmmt", True)
    attn_case()
    adamw_case()
    attn_case("attn_full", causal=False, T=6, B=2, H=2, D=6)   # last: the cases above keep their draws
    save(OUT, {"made_by": "tests/golden/make_tf_golden.py", "torch": torch.__version__})
    print(f"wrote {OUT}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
