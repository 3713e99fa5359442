#!/usr/bin/python3
"""Side-by-side benchmarks: shendu vs the PyTorch reference in ../shared/bench-ref.

Every workload runs REPS times for each side, alternating (shendu, torch,
shendu, ...) so that both see the same machine state; the table shows medians.
Peak RSS comes from /usr/bin/time -v. The reference runs under ref_env.sh
(OpenMP OpenBLAS, OPENBLAS_CORETYPE unset), as its README prescribes.
"""
import json
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REF = os.path.join(os.path.dirname(ROOT), "shared", "bench-ref")
BIN = os.path.join(ROOT, "build", "shendu")
REPS = int(os.environ.get("REPS", "3"))
THREADS = int(os.environ.get("THREADS", "2"))


def timed(cmd, env=None):
    """Run cmd under /usr/bin/time -v; return (stdout, peak RSS in MB)."""
    full = ["/usr/bin/time", "-v"] + cmd
    p = subprocess.run(full, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return p.stdout, (int(rss.group(1)) / 1024.0 if rss else float("nan"))


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def shendu_train(model, epochs, extra=()):
    out, rss = timed([BIN, "train", "--model", model, "--epochs", str(epochs), "--threads", str(THREADS),
                      "--json", *extra])
    accs = [float(m) / 100 for m in re.findall(r"test accuracy ([0-9.]+)%", out)]
    j = last_json(out)
    return {"ips": j["train_images_per_s"], "acc": accs, "rss": rss}


def torch_ref(script, *args):
    out, rss = timed([os.path.join(REF, "ref_env.sh"), "/usr/bin/python3", os.path.join(REF, script),
                      "--threads", str(THREADS), *args])
    j = last_json(out)
    return {"ips": j.get("train_images_per_s"), "acc": j.get("test_acc", []), "rss": rss, "raw": j}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def row(name, ours, ref, unit, higher_better=True):
    ratio = ours / ref if higher_better else ref / ours
    print(f"| {name} | {ours:,.1f} {unit} | {ref:,.1f} {unit} | {ratio:.2f}x |")


def bench_mlp():
    s_runs, t_runs = [], []
    for _ in range(REPS):
        s_runs.append(shendu_train("mlp", 5))
        t_runs.append(torch_ref("mlp.py", "--opt", "adam", "--epochs", "5", "--max-seconds", "600"))
    print(f"\n### MLP 784-256-128-10, Adam 1e-3, batch 64, 5 epochs, {THREADS} threads, {REPS} runs each\n")
    print("| figure | shendu | PyTorch | ratio |\n| --- | --- | --- | --- |")
    row("train images/s (median)", med([r["ips"] for r in s_runs]), med([r["ips"] for r in t_runs]), "img/s")
    for e in (1, 5):
        sa = med([r["acc"][e - 1] for r in s_runs if len(r["acc"]) >= e])
        ta = med([r["acc"][e - 1] for r in t_runs if len(r["acc"]) >= e])
        print(f"| test accuracy after epoch {e} (median) | {sa:.4f} | {ta:.4f} | |")
    print(f"| peak RSS (median) | {med([r['rss'] for r in s_runs]):.0f} MB | {med([r['rss'] for r in t_runs]):.0f} MB | "
          f"{med([r['rss'] for r in t_runs]) / med([r['rss'] for r in s_runs]):.1f}x smaller |")
    print("\nshendu runs (img/s, acc e1, acc e5):",
          [(round(r["ips"]), r["acc"][0], r["acc"][-1]) for r in s_runs])
    print("PyTorch runs (img/s, acc e1, acc e5):",
          [(round(r["ips"]), r["acc"][0], r["acc"][-1]) for r in t_runs])


WORKLOADS = {"mlp": bench_mlp}

if __name__ == "__main__":
    names = sys.argv[1:] or list(WORKLOADS)
    for n in names:
        if n not in WORKLOADS:
            sys.exit(f"bench: unknown workload '{n}' (have: {', '.join(WORKLOADS)})")
    cpu = subprocess.run(["sh", "-c", "lscpu | grep 'Model name' | sed 's/.*: *//'"], capture_output=True,
                         text=True).stdout.strip()
    print(f"machine: {cpu}, {os.cpu_count()} CPUs; shendu {subprocess.run([BIN, 'version'], capture_output=True, text=True).stdout.strip()}")
    for n in names:
        WORKLOADS[n]()
