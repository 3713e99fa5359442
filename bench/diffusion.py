#!/usr/bin/python3
"""Reference: DDPM on Fashion-MNIST with the U-Net of `shendu diffusion` (PyTorch, CPU).

The same network, layer for layer and with the same parameter names as
src/nn/unet.c (so shendu's files load into it), the same schedule, optimizer,
batch and data order rules:
    x0 = pixels / 127.5 - 1, (1, 28, 28); t ~ U{1..T}; eps ~ N(0, I)
    x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps;  loss = mean (eps_theta(x_t, t) - eps)^2
    Adam lr 2e-4, betas (0.9, 0.999), batch 64, per-epoch shuffle, last partial batch dropped.
Metrics: images/s (training examples per second), peak RSS; one JSON line on stdout.

Used by bench/run.py (workload "diffusion") and by tests/golden/make_unet_golden.py
(which imports UNet to check shendu's forward and backward against it).
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t, dim):
    half = dim // 2
    k = torch.arange(half, dtype=torch.float64)
    w = 10000.0 ** (-k / max(half - 1, 1))
    a = t.to(torch.float64)[:, None] * w[None, :]
    return torch.cat([torch.sin(a), torch.cos(a)], dim=1).to(torch.float32)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb, groups):
        super().__init__()
        self.groups = groups
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class AttnBlock(nn.Module):
    """Self-attention over the H*W positions (one head, every position sees every
    other), pre-norm, residual; the output projection starts at zero, so the block
    starts as the identity. shendu: src/nn/unet.c's attention block."""

    def __init__(self, c, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.qkv = nn.Linear(c, 3 * c)
        self.proj = nn.Linear(c, c)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x):
        n, c, h, w = x.shape
        a = self.norm(x).flatten(2).transpose(1, 2)            # (N, H*W, C)
        q, k, v = self.qkv(a).chunk(3, dim=-1)
        p = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1)   # this torch has no F.scaled_dot_product_attention
        return x + self.proj(p @ v).transpose(1, 2).reshape(n, c, h, w)


class Down(nn.Module):
    def __init__(self, cin, cout, temb, groups):
        super().__init__()
        self.block = ResBlock(cin, cout, temb, groups)
        self.down = nn.Conv2d(cout, cout, 3, stride=2, padding=1)


class Up(nn.Module):
    def __init__(self, cin, cskip, cout, temb, groups):
        super().__init__()
        self.up = nn.Conv2d(cin, cin, 3, padding=1)
        self.block = ResBlock(cin + cskip, cout, temb, groups)


class UNet(nn.Module):
    def __init__(self, channels=1, c=32, groups=8, attention=True):
        super().__init__()
        te = 4 * c
        self.c = c
        self.temb = nn.ModuleDict({"fc1": nn.Linear(c, te), "fc2": nn.Linear(te, te)})
        self.conv_in = nn.Conv2d(channels, c, 3, padding=1)
        self.down0 = Down(c, c, te, groups)
        self.down1 = Down(c, 2 * c, te, groups)
        self.mid1 = ResBlock(2 * c, 2 * c, te, groups)
        self.mid_attn = AttnBlock(2 * c, groups) if attention else None
        self.mid2 = ResBlock(2 * c, 2 * c, te, groups)
        self.up1 = Up(2 * c, 2 * c, 2 * c, te, groups)
        self.up0 = Up(2 * c, c, c, te, groups)
        self.norm_out = nn.GroupNorm(groups, c)
        self.conv_out = nn.Conv2d(c, channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x, t):
        e = self.temb["fc2"](F.silu(self.temb["fc1"](timestep_embedding(t, self.c))))
        h = self.conv_in(x)
        s0 = self.down0.block(h, e)
        s1 = self.down1.block(self.down0.down(s0), e)
        h = self.mid1(self.down1.down(s1), e)
        if self.mid_attn is not None:
            h = self.mid_attn(h)
        h = self.mid2(h, e)
        h = self.up1.up(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.up1.block(torch.cat([h, s1], 1), e)
        h = self.up0.up(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.up0.block(torch.cat([h, s0], 1), e)
        return self.conv_out(F.silu(self.norm_out(h)))


def shendu_name(torch_name):
    """PyTorch's parameter name -> shendu's (src/nn/unet.c): the Down/Up wrappers'
    `block.` level is not a level in shendu's names."""
    return torch_name.replace(".block.", ".")


def linear_alpha_bar(T):
    scale = 1000.0 / T
    lo, hi = 1e-4 * scale, min(0.02 * scale, 0.999)
    betas = [hi] if T == 1 else [lo + (hi - lo) * i / (T - 1) for i in range(T)]
    abar, out = 1.0, [1.0]
    for b in betas:
        abar *= 1.0 - b
        out.append(abar)
    return torch.tensor(out, dtype=torch.float64)


def load_images(path):
    import gzip
    import struct
    with gzip.open(path, "rb") as f:
        _, n, h, w = struct.unpack(">IIII", f.read(16))
        data = torch.frombuffer(bytearray(f.read(n * h * w)), dtype=torch.uint8)
    return data.view(n, 1, h, w).float() / 127.5 - 1.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--T", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x_all = load_images(os.path.join(a.data, "train-images-idx3-ubyte.gz"))
    abar = linear_alpha_bar(a.T).float()
    net = UNet(c=a.channels)
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)
    order = torch.randperm(len(x_all))
    done, losses, t0 = 0, [], None
    while done < a.steps:
        for i in range(0, len(order) - a.batch + 1, a.batch):
            if done == 5:
                t0 = time.perf_counter()   # the first steps warm up
            x0 = x_all[order[i:i + a.batch]]
            t = torch.randint(1, a.T + 1, (a.batch,))
            eps = torch.randn_like(x0)
            ab = abar[t][:, None, None, None]
            loss = F.mse_loss(net(ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t), eps)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            done += 1
            if done == a.steps:
                break
        order = torch.randperm(len(x_all))
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"model": "diffusion", "images_per_s": (a.steps - 5) * a.batch / wall,
                      "loss": sum(losses[-20:]) / len(losses[-20:]), "peak_rss_mb": rss,
                      "params": sum(q.numel() for q in net.parameters()), "threads": a.threads}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
