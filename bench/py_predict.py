"""Python's cost over the C call: shendu.load(MODEL).predict on one example, against the
same sd_predict called through ctypes directly (medians of single timed calls, as
bench_infer_model times the C call).
   python3 bench/py_predict.py MODEL.safetensors THREADS [CALLS]   (prints one JSON line)"""
import ctypes
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import numpy as np  # noqa: E402
import shendu  # noqa: E402


def per_call(f, calls):
    """Median seconds of one call over `calls` timed calls (after 50 warm-up calls), as bench_infer_model
    takes the median of its 1000 batch-1 calls."""
    for _ in range(50):
        f()
    clock, times = time.perf_counter, []
    for _ in range(calls):
        t0 = clock()
        f()
        times.append(clock() - t0)
    return statistics.median(times)


def main():
    path, threads = sys.argv[1], int(sys.argv[2])
    calls = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    m = shendu.load(path, threads=threads)
    x = np.random.default_rng(1).integers(0, 256, (1,) + m.input_shape).astype(np.float32)
    out = np.empty((1,) + m.output_shape, np.float32)
    lib, p = shendu._lib.lib, m._p
    xp, op = x.ctypes.data, out.ctypes.data
    raw = per_call(lambda: lib.sd_predict(p, xp, 0, 1, op), calls)
    py = per_call(lambda: m.predict(x), calls)
    print(json.dumps({"threads": threads, "ctypes_call_us": raw * 1e6, "predict_us": py * 1e6,
                      "predict_overhead_us": (py - raw) * 1e6}))


if __name__ == "__main__":
    main()
