#!/usr/bin/python3
"""Reference: char-level (byte-level) decoder-only Transformer LM (PyTorch, CPU),
the same model, initialisation, optimizer, schedule and data rules as
`shendu lm train --cell transformer` (src/nn/transformer.c, src/apps/lm.c).

Corpus: as ../shared/bench-ref/lstm.py: every plain file in /usr/share/games/fortunes/
    (no *.dat, no *.u8, no symlinks) as bytes, in sorted name order; vocabulary the
    sorted distinct bytes (V); the last 5% held out.
Model (time steps t < context = seq):
    x = tok_emb[x_t] + pos_emb[t]                   both N(0, 0.02²); dropout
    per block (pre-norm):
        x += dropout(attn.proj(causal_attention(attn.qkv(ln1(x)))))   heads of dim/heads,
                                                   scores / sqrt(dim/heads), no dropout on the weights
        x += dropout(mlp.proj(gelu(mlp.fc(ln2(x)))))                  fc: dim -> 4 dim, exact (erf) GELU
    logits = ln_f(x) tok_embᵀ                       the output layer is the embedding (tied), no bias
    Linear weights N(0, 0.02²), the two projections into the residual stream
    N(0, (0.02/sqrt(2 layers))²), biases 0, LayerNorm gains 1, eps 1e-5.
Training: each step B random windows (offset uniform in [0, n_train - T - 1]) of T inputs and
    T shifted targets; mean cross-entropy; gradients clipped to global norm 1; AdamW
    (betas 0.9, 0.99, eps 1e-8, weight decay 0.1 on 2-D weights only: none on gains,
    biases... embeddings are 2-D and decay, as shendu's decay_matrices_only); learning
    rate for update s: lr (s+1)/warmup for s < warmup, then cosine from lr to lr/10
    over the remaining steps.
Validation: the held-out bytes cut into windows of T + 1 (stride T), bits/char = mean CE / ln 2.
Throughput: tokens/s = steps * B * T / training wall time (validation excluded).
Prints one JSON line on stdout.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CORPUS_DIR = "/usr/share/games/fortunes"


def load_corpus(d=CORPUS_DIR):
    names = sorted(n for n in os.listdir(d)
                   if not n.endswith((".dat", ".u8"))
                   and os.path.isfile(os.path.join(d, n))
                   and not os.path.islink(os.path.join(d, n)))
    return names, b"".join(open(os.path.join(d, n), "rb").read() for n in names)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):                      # x (B, T, D)
        B, T, D = x.shape
        dh = D // self.heads
        q, k, v = self.qkv(x).split(D, dim=2)
        q, k, v = (t.view(B, T, self.heads, dh).transpose(1, 2) for t in (q, k, v))   # (B, H, T, dh)
        s = q @ k.transpose(-2, -1) / math.sqrt(dh)
        s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        o = torch.softmax(s, dim=-1) @ v
        return self.proj(o.transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, 4 * dim)
        self.proj = nn.Linear(4 * dim, dim)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, p):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.ln2, self.mlp = nn.LayerNorm(dim), MLP(dim)
        self.drop = nn.Dropout(p)

    def forward(self, x):
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.drop(self.mlp(self.ln2(x)))


class CharTransformer(nn.Module):
    def __init__(self, vocab, layers, dim, heads, context, p):
        super().__init__()
        self.tok_emb, self.pos_emb = nn.Embedding(vocab, dim), nn.Embedding(context, dim)
        self.drop = nn.Dropout(p)
        self.blocks = nn.ModuleList(Block(dim, heads, p) for _ in range(layers))
        self.ln_f = nn.LayerNorm(dim)
        for name, w in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(w)
            elif "ln" in name:
                nn.init.ones_(w)
            elif name.endswith("proj.weight"):
                nn.init.normal_(w, 0.0, 0.02 / math.sqrt(2 * layers))
            else:
                nn.init.normal_(w, 0.0, 0.02)

    def forward(self, idx):                    # idx (B, T)
        T = idx.shape[1]
        x = self.drop(self.tok_emb(idx) + self.pos_emb(torch.arange(T)))
        for b in self.blocks:
            x = b(x)
        return self.ln_f(x) @ self.tok_emb.weight.t()


@torch.no_grad()
def val_bpc(model, val, T, bs=256):
    model.eval()
    nwin = (len(val) - 1) // T
    starts = torch.arange(nwin) * T
    tot, cnt = 0.0, 0
    for i in range(0, nwin, bs):
        chunk = val[starts[i:i + bs][:, None] + torch.arange(T + 1)[None, :]]
        logits = model(chunk[:, :-1])
        tot += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1), reduction="sum").item()
        cnt += chunk[:, 1:].numel()
    model.train()
    return tot / cnt / math.log(2)


def lr_at(s, warmup, total, lr):
    if s < warmup:
        return lr * (s + 1) / warmup
    p = min(1.0, (s - warmup) / max(1, total - warmup))
    return lr / 10 + (lr - lr / 10) * 0.5 * (1 + math.cos(math.pi * p))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-eval", action="store_true", help="throughput only")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    names, raw = load_corpus()
    itos = sorted(set(raw))
    lut = np.zeros(256, dtype=np.int64)
    lut[itos] = np.arange(len(itos))
    data = torch.from_numpy(lut[np.frombuffer(raw, dtype=np.uint8)])
    n_train = int(len(data) * 0.95)
    train, val = data[:n_train], data[n_train:]

    B, T = args.batch, args.seq
    model = CharTransformer(len(itos), args.layers, args.dim, args.heads, T, args.dropout)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99), eps=1e-8)
    gen = torch.Generator().manual_seed(args.seed)
    ar = torch.arange(T + 1)[None, :]
    losses = []
    t0 = time.perf_counter()
    for step in range(args.steps):
        off = torch.randint(0, n_train - T, (B,), generator=gen)
        chunk = train[off[:, None] + ar]
        logits = model(chunk[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.warmup, args.steps, args.lr)
        opt.step()
        losses.append(loss.item())
    train_s = time.perf_counter() - t0
    res = {"bench": "transformer", "corpus_files": len(names), "corpus_bytes": len(raw), "vocab": len(itos),
           "params": sum(p.numel() for p in model.parameters()), "batch": B, "seq": T, "steps": args.steps,
           "train_time_s": round(train_s, 2), "tokens_per_s": round(args.steps * B * T / train_s, 1),
           "train_bpc_last100": round(sum(losses[-100:]) / len(losses[-100:]) / math.log(2), 4),
           "torch": torch.__version__, "threads": torch.get_num_threads()}
    if not args.no_eval:
        res["val_bpc"] = round(val_bpc(model, val, T), 4)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
