"""PyTorch's CNN training as ../shared/bench-ref/cnn.py runs it (the same network,
data, Adam 1e-3, batch and loop: imported from that file), with --bf16 for CPU
autocast to bfloat16 (the issue-22 anchor: oneDNN's bf16 convolutions and
matmuls, float32 weights and optimizer) and --limit to train on the first N
training images. Prints one JSON line like cnn.py's (no inference part).

    /usr/bin/python3 bench/cnn_ref.py [--bf16] [--epochs N] [--batch N] [--threads N] [--seed N] [--limit N]
"""
import argparse
import importlib.util
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.environ.get("SHENDU_BENCH_REF", os.path.join(HERE, "..", "..", "shared", "bench-ref"))
spec = importlib.util.spec_from_file_location("cnn_ref_base", os.path.join(REF, "cnn.py"))
base = importlib.util.module_from_spec(spec)
spec.loader.exec_module(base)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images (0: all)")
    ap.add_argument("--bf16", action="store_true", help="torch.autocast('cpu', dtype=torch.bfloat16)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    xtr, ytr, xte, yte = base.load_fashion_mnist()
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    n = len(xtr)
    model = base.CNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(args.seed)
    epoch_times, test_acc = [], []
    for _ in range(args.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        t0 = time.perf_counter()
        for i in range(0, n, args.batch):
            idx = perm[i:i + args.batch]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        epoch_times.append(time.perf_counter() - t0)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            test_acc.append(base.accuracy(model, xte, yte))
    print(json.dumps({"bench": "cnn", "bf16": args.bf16, "batch": args.batch, "images": n,
                      "epoch_time_median_s": round(statistics.median(epoch_times), 3),
                      "train_images_per_s": round(n / statistics.median(epoch_times), 1),
                      "test_acc": [round(a, 4) for a in test_acc], "test_acc_last": test_acc[-1],
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
