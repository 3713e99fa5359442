#!/usr/bin/python3
"""Golden values for shendu's U-Net ops (group_norm, silu, upsample2x,
add_channels, channel concat), from PyTorch.

Writes tests/golden/unet_ops.st next to this script (a safetensors file, named
.st like gen_ops.st), read by tests/test_unet_ops.c with no torch at test time.
Every case's loss is sum(y * r) for a fixed random r, so the stored gradients
are each op's backward of r.

Run with Debian's torch:  /usr/bin/python3 tests/golden/make_unet_golden.py

Tensors, per case NAME: NAME.args (the op's settings), inputs, NAME.r, NAME.y and
the inputs' gradients NAME.d<input>.
  group_norm (args = [groups, eps]): x, gamma, beta
  silu, upsample2x: x
  add_channels: x (N,C,H,W), e (N,C)
  concat (along channels): a (N,Ca,H,W), b (N,Cb,H,W)
  unet (args = [c, groups, C, H, W]): the whole U-Net of bench/diffusion.py with
    every parameter drawn at random (none zero), NAME.p.<shendu's name>, the
    input NAME.x with steps NAME.t, NAME.r, NAME.y, NAME.dx and NAME.d.<name>
"""
import os
import sys

import torch
import torch.nn.functional as F

from make_gen_golden import put, save, tensors

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from diffusion import UNet, shendu_name  # noqa: E402  (the reference module of bench/)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unet_ops.st")


def backward_of_r(name, y, inputs):
    r = torch.randn(*y.shape)
    (y * r).sum().backward()
    put(name + ".r", r)
    put(name + ".y", y)
    for k, v in inputs.items():
        put(f"{name}.{k}", v)
        put(f"{name}.d{k}", v.grad)


def gn_case(name, xs, groups, eps=1e-5):
    C = xs[1]
    x = (torch.randn(*xs) * 1.5 + 0.3).requires_grad_()
    gamma = (1.0 + 0.3 * torch.randn(C)).requires_grad_()
    beta = (0.2 * torch.randn(C)).requires_grad_()
    put(name + ".args", torch.tensor([groups, eps]))
    backward_of_r(name, F.group_norm(x, groups, gamma, beta, eps), {"x": x, "gamma": gamma, "beta": beta})


def unary_case(name, xs, fn):
    x = (torch.randn(*xs) * 2.0).requires_grad_()
    put(name + ".args", torch.tensor([0.0]))
    backward_of_r(name, fn(x), {"x": x})


def add_channels_case(name, xs):
    x = torch.randn(*xs, requires_grad=True)
    e = torch.randn(xs[0], xs[1], requires_grad=True)
    put(name + ".args", torch.tensor([0.0]))
    backward_of_r(name, x + e[:, :, None, None], {"x": x, "e": e})


def concat_case(name, as_, bs):
    a = torch.randn(*as_, requires_grad=True)
    b = torch.randn(*bs, requires_grad=True)
    put(name + ".args", torch.tensor([1.0]))
    backward_of_r(name, torch.cat([a, b], dim=1), {"a": a, "b": b})


def unet_case(name, c, groups, img, t):
    net = UNet(channels=img[0], c=c, groups=groups)
    with torch.no_grad():
        for _, q in net.named_parameters():
            q.copy_(torch.randn_like(q) * 0.2)
    x = torch.randn(len(t), *img, requires_grad=True)
    y = net(x, torch.tensor(t))
    r = torch.randn(*y.shape)
    (y * r).sum().backward()
    put(name + ".args", torch.tensor([c, groups, *img], dtype=torch.float32))
    put(name + ".t", torch.tensor(t, dtype=torch.float32))
    for k, v in (("x", x), ("r", r), ("y", y), ("dx", x.grad)):
        put(f"{name}.{k}", v)
    for n, q in net.named_parameters():
        put(f"{name}.p.{shendu_name(n)}", q)
        put(f"{name}.d.{shendu_name(n)}", q.grad)


def main():
    torch.manual_seed(20261207)
    gn_case("gn_4d_g2", (3, 4, 5, 3), 2)
    gn_case("gn_4d_g1", (2, 6, 4, 4), 1, eps=1e-3)     # one group: layer norm over C,H,W
    gn_case("gn_4d_gc", (2, 8, 2, 3), 8)               # one channel a group: instance norm
    gn_case("gn_2d", (5, 12), 3)    # 4 channels a group (with 2, y = ±1 whatever x is)
    unary_case("silu", (4, 3, 5, 5), F.silu)
    unary_case("up2x", (2, 3, 3, 4), lambda x: F.interpolate(x, scale_factor=2, mode="nearest"))
    add_channels_case("addch", (3, 4, 2, 5))
    concat_case("cat_ch", (2, 3, 4, 5), (2, 2, 4, 5))
    unet_case("unet", 8, 4, (1, 8, 8), [3, 250])
    save(OUT, {"made_by": "tests/golden/make_unet_golden.py", "torch": torch.__version__})
    print(f"wrote {OUT}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
