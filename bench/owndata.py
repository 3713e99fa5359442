#!/usr/bin/python3
"""Your own data (issue 16): accuracy on scikit-learn's bundled tables, and
Fashion-MNIST read from PNG / JPEG class folders against the IDX files.

  SEEDS=5 bench/owndata.py tables      accuracy only (any machine): iris, wine,
                                       breast cancer, digits; 25 % seeded test split
  bench/owndata.py folders             accuracy, speed and peak memory: Fashion-MNIST
                                       from IDX, a PNG folder and a JPEG folder
                                       (timings: run on a quiet machine)

The tables are written with a header row from python3-sklearn's loaders (the
bundled CSVs start with a counts line instead of a header); the folders by
build/example_folder_export. Extra arguments after the mode go to `shendu train`.
"""
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "shendu")
EXPORT = os.path.join(ROOT, "build", "example_folder_export")
THREADS = os.environ.get("THREADS", "1")


def write_tables(out):
    from sklearn import datasets
    paths = {}
    for name, load in [("iris", datasets.load_iris), ("wine", datasets.load_wine),
                       ("breast_cancer", datasets.load_breast_cancer), ("digits", datasets.load_digits)]:
        d = load()
        names = [str(n) for n in d.feature_names]
        classes = [str(n) for n in d.target_names]
        path = os.path.join(out, name + ".csv")
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(names + ["target"])
            for x, y in zip(d.data, d.target):
                w.writerow([repr(float(v)) for v in x] + [classes[y]])
        paths[name] = path
    return paths


def train(args):
    p = subprocess.run([BIN, "train", "--threads", THREADS, "--json", *args], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench: shendu train {' '.join(args)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stdout


def tables(seeds, extra):
    targets = {"iris": 0.95, "wine": 0.95, "breast_cancer": 0.95, "digits": 0.97}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_tables(tmp)
        print(f"| table | rows | test accuracy, seeds {seeds[0]}-{seeds[-1]} | median | target |")
        print("|---|---|---|---|---|")
        for name, path in paths.items():
            accs = []
            for s in seeds:
                j, out = train(["--data", path, "--target", "target", "--task", "classify", "--test-split", "0.25",
                                "--seed", str(s), *extra])
                accs.append(j["test_accuracy"])
            rows = sum(1 for _ in open(path)) - 1
            med = statistics.median(accs)
            print(f"| {name} | {rows} | {' '.join(f'{a:.4f}' for a in accs)} | {med:.4f} | "
                  f"≥ {targets[name]} {'yes' if med >= targets[name] else 'NO'} |", flush=True)


def folders(extra):
    fashion = "/usr/share/datasets/fashion-mnist"
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("png", "jpg"):
            subprocess.run([EXPORT, *(["--jpeg"] if kind == "jpg" else []), fashion, os.path.join(tmp, kind)],
                           check=True, capture_output=True)
        print("| data | model | test accuracy per epoch | img/s per epoch | peak RSS MB |")
        print("|---|---|---|---|---|")
        for model, epochs in (("mlp", 5), ("cnn", 3)):
            for name, data in (("IDX", fashion), ("PNG folder", os.path.join(tmp, "png")),
                               ("JPEG folder", os.path.join(tmp, "jpg"))):
                cmd = ["/usr/bin/time", "-v", BIN, "train", "--model", model, "--epochs", str(epochs), "--data", data,
                       "--threads", os.environ.get("THREADS", "2"), "--recipe", "plain", *extra]
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    sys.exit(p.stderr[-2000:])
                accs = re.findall(r"test accuracy ([0-9.]+)%", p.stdout)
                ips = re.findall(r"([0-9]+) img/s", p.stdout)
                wall = re.findall(r"  ([0-9.]+)s\n", p.stdout)
                rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
                print(f"| {name} | {model} | {' '.join(accs)} | {' '.join(ips)} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "tables"
    if mode == "tables":
        tables(list(range(1, int(os.environ.get("SEEDS", "5")) + 1)), sys.argv[2:])
    elif mode == "folders":
        folders(sys.argv[2:])
    else:
        sys.exit(__doc__)
