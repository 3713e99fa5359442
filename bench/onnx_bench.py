"""Workload "onnx" of ./scripts/bench: inference of the exported CNN and MLP in
ONNX Runtime (onnxruntime-node) beside shendu (sd_predict, bench_infer_model)
and PyTorch (the same networks, eager, no_grad), batch-1 latency and batch-256
throughput on 1 and 2 threads; then Python's per-call cost of model.predict.
The models are the presets trained for a few steps (the weights do not change
the time). N images (env ONNX_N, default 10000) per throughput pass."""
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
BIN = os.path.join(BUILD, "shendu")
NODE_PATH = os.path.join(ROOT, "build-onnx", "node_modules")
N = int(os.environ.get("ONNX_N", "10000"))


def run_json(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"bench onnx: {' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def models(tmp):
    out = {}
    for name in ("mlp", "cnn"):
        st, onnx = os.path.join(tmp, f"{name}.safetensors"), os.path.join(tmp, f"{name}.onnx")
        if not os.path.exists(onnx):
            subprocess.run([BIN, "train", "--model", name, "--epochs", "1", "--limit", "256", "--limit-test", "100",
                            "--out", st], check=True, stdout=subprocess.DEVNULL)
            subprocess.run([BIN, "export", st, "--onnx", onnx], check=True, stdout=subprocess.DEVNULL)
        out[name] = (st, onnx)
    return out


def torch_infer(name, st, threads):
    import torch
    from torch import nn
    torch.set_num_threads(threads)
    if name == "mlp":
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                            nn.Linear(128, 10))
    else:
        net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    net.eval()
    x = torch.randint(0, 256, (N, 1, 28, 28)).float()
    with torch.no_grad():
        for i in range(50):
            net(x[i:i + 1])
        lat = []
        for i in range(1000):
            t0 = time.perf_counter()
            net(x[i % N:i % N + 1])
            lat.append((time.perf_counter() - t0) * 1e3)
        thr = []
        for _ in range(4):
            t0 = time.perf_counter()
            for i in range(0, N, 256):
                net(x[i:i + 256])
            thr.append(N / (time.perf_counter() - t0))
    lat.sort()
    return {"infer_b1_latency_ms_median": lat[500], "infer_b256_images_per_s": statistics.median(thr[1:])}


def bench_onnx(threads_list=(1, 2), tmp=None):
    tmp = tmp or os.path.join(BUILD, "bench-onnx")
    os.makedirs(tmp, exist_ok=True)
    env = dict(os.environ, NODE_PATH=NODE_PATH)
    print("\n| inference | threads | shendu | ONNX Runtime | PyTorch | shendu / ORT |\n| --- | --- | --- | --- | --- | --- |")
    for name, (st, onnx) in models(tmp).items():
        for t in threads_list:
            ours = run_json([os.path.join(BUILD, "bench_infer_model"), st, str(t), str(N)])
            ort = run_json(["node", os.path.join(ROOT, "bench", "onnx_infer.js"), onnx, str(t), str(N)], env=env)
            ref = torch_infer(name, st, t)
            k = "infer_b1_latency_ms_median"
            print(f"| {name} batch-1 latency (median of 1000) | {t} | {ours[k]:.4f} ms | {ort[k]:.4f} ms | "
                  f"{ref[k]:.4f} ms | {ort[k] / ours[k]:.2f}x |")
            k = "infer_b256_images_per_s"
            print(f"| {name} batch-256 throughput | {t} | {ours[k]:,.0f} img/s | {ort[k]:,.0f} img/s | "
                  f"{ref[k]:,.0f} img/s | {ours[k] / ort[k]:.2f}x |")
    print("\n| Python model.predict, batch 1 | threads | predict | the same sd_predict through ctypes | C (sd_predict) |"
          "\n| --- | --- | --- | --- | --- |")
    for name, (st, _) in models(tmp).items():
        py = run_json(["/usr/bin/python3", os.path.join(ROOT, "bench", "py_predict.py"), st, "1"],
                      env=dict(os.environ, SHENDU_LIB=os.path.join(BUILD, "libshendu.so")))
        c = run_json([os.path.join(BUILD, "bench_infer_model"), st, "1", str(N)])
        print(f"| {name} | 1 | {py['predict_us']:.1f} us | {py['ctypes_call_us']:.1f} us | "
              f"{c['infer_b1_latency_ms_median'] * 1e3:.1f} us (overhead {py['predict_us'] - c['infer_b1_latency_ms_median'] * 1e3:.1f} us) |")
