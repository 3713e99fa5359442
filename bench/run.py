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
    p = subprocess.run(full, capture_output=True, text=True, errors="replace", env=env)   # samples may hold any byte
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


def row(name, ours, ref, unit, higher_better=True, digits=1):
    ratio = ours / ref if higher_better else ref / ours
    print(f"| {name} | {ours:,.{digits}f} {unit} | {ref:,.{digits}f} {unit} | {ratio:.2f}x |")


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


# ---- Reinforcement learning (issue 7): Q-learning vs qlearn.py, DQN vs dqn.py (CleanRL's recipe).
RL_BIN = os.environ.get("SHENDU_BIN", BIN)
RL_SEEDS = int(os.environ.get("RL_SEEDS", "3"))
# dqn.py's own fastest setting on the 2-vCPU machine is 1 torch thread (bench-ref/results:
# 24k env steps/s against 19k with 2); under load, 2 threads collapse far further.
RL_REF_THREADS = int(os.environ.get("RL_REF_THREADS", "1"))


def shendu_rl(*args):
    out, rss = timed([RL_BIN, "rl", *args, "--json"])
    j = last_json(out)
    j["rss"] = rss
    return j


def python_ref(script, *args, torch=False):
    cmd = [os.path.join(REF, "ref_env.sh")] if torch else []
    out, rss = timed(cmd + ["/usr/bin/python3", os.path.join(REF, script), *args])
    j = last_json(out)
    j["rss"] = rss
    return j


def bench_rl():
    # Tabular Q-learning. The like-for-like speed figure uses qlearn.py's own
    # settings (20000 episodes, alpha 0.1 constant, gamma 0.99, epsilon 1 -> 0.01
    # over half); the quality figures use shendu's defaults (alpha decaying).
    s_same, t_runs = [], []
    for i in range(REPS):
        s_same.append(shendu_rl("qlearn", "--env", "frozenlake", "--alpha", "0.1", "--alpha-end", "0.1",
                                "--seed", str(i)))
        t_runs.append(python_ref("qlearn.py", "--seed", str(i)))
    print(f"\n### Tabular Q-learning, FrozenLake 4x4 slippery, qlearn.py's settings, {REPS} runs each\n")
    print("| figure | shendu | qlearn.py (Python) | ratio |\n| --- | --- | --- | --- |")
    row("training env steps/s (median)", med([r["train_steps_per_s"] for r in s_same]),
        med([r["train_env_steps_per_s"] for r in t_runs]), "steps/s")
    print(f"| greedy success, 10,000 episodes (median) | {med([r['success_rate'] for r in s_same]):.4f} | "
          f"{med([r['eval_success_rate'] for r in t_runs]):.4f} | |")
    print(f"| exact success of the greedy policy (median) | {med([r['exact_success'] for r in s_same]):.4f} | "
          f"{med([r['exact_success_greedy_policy'] for r in t_runs]):.4f} | |")
    print(f"| exact optimum | {s_same[0]['optimal_success']:.4f} | {t_runs[0]['exact_success_optimal']:.4f} | |")

    print(f"\n### Tabular Q-learning with shendu's defaults, seeds 1-5 (`shendu rl qlearn --env E --seed S`)\n")
    print("| environment | greedy success (10,000 episodes) | greedy mean return | exact success / return "
          "| exact optimum | episodes | wall s |\n| --- | --- | --- | --- | --- | --- | --- |")
    for env in ("frozenlake", "frozenlake8", "cliffwalking"):
        runs = [shendu_rl("qlearn", "--env", env, "--seed", str(s)) for s in range(1, 6)]
        key = "exact_success" if env.startswith("frozen") else "exact_return"
        opt = "optimal_success" if env.startswith("frozen") else "optimal_return"
        cells = lambda k, fmt: " ".join(format(r[k], fmt) for r in runs)
        print(f"| {env} | {cells('success_rate', '.4f')} | {cells('mean_return', '.3f')} | {cells(key, '.4f')} | "
              f"{runs[0][opt]:.4f} | {runs[0]['episodes']} | {med([r['wall_s'] for r in runs]):.3f} |")

    # DQN, CleanRL's recipe: shendu and dqn.py alternately, same seeds. shendu
    # stops when solved; dqn.py records when it solved and runs on to 500k steps.
    s_runs, t_runs = [], []
    for s in range(1, RL_SEEDS + 1):
        s_runs.append(shendu_rl("dqn", "--env", "cartpole", "--recipe", "cleanrl", "--seed", str(s), "--eval", "10"))
        t_runs.append(python_ref("dqn.py", "--seed", str(s), "--threads", str(RL_REF_THREADS), torch=True))
    print(f"\n### DQN CartPole-v1, CleanRL's recipe (dqn.py's defaults), {RL_SEEDS} seeds each\n")
    print("| figure | shendu (1 thread) | PyTorch dqn.py (%d thread%s) | ratio |\n| --- | --- | --- | --- |"
          % (RL_REF_THREADS, "" if RL_REF_THREADS == 1 else "s"))
    row("wall time to solve, s (median)", med([r["solved_wall_s"] for r in s_runs]),
        med([r["solved_wall_s"] for r in t_runs]), "s", higher_better=False)
    row("env steps/s, everything included (median)", med([r["env_steps_per_s"] for r in s_runs]),
        med([r["env_steps_per_s"] for r in t_runs]), "steps/s")
    print(f"| solved (mean of the last 100 returns >= 475) | {sum(r['solved'] for r in s_runs)} of {len(s_runs)} | "
          f"{sum(r['solved_step_475'] is not None for r in t_runs)} of {len(t_runs)} | |")
    print(f"| env step when solved (median) | {med([r['solved_at_step'] for r in s_runs]):,.0f} | "
          f"{med([r['solved_step_475'] for r in t_runs]):,.0f} | |")
    print(f"| peak RSS (median) | {med([r['rss'] for r in s_runs]):.0f} MB | {med([r['rss'] for r in t_runs]):.0f} MB | |")
    print("\nshendu runs (seed, solved at step, s):", [(i + 1, r["solved_at_step"], r["solved_wall_s"])
                                                     for i, r in enumerate(s_runs)])
    print("dqn.py runs (seed, solved at step, s):", [(i + 1, r["solved_step_475"], r["solved_wall_s"])
                                                     for i, r in enumerate(t_runs)])

    # shendu's own recipe, 5 seeds; Acrobot likewise.
    for env in ("cartpole", "acrobot"):
        runs = [shendu_rl("dqn", "--env", env, "--seed", str(s), "--eval", "10") for s in range(1, 6)]
        solved = [r for r in runs if r["solved"]]
        print(f"\n### DQN {env}, shendu's default recipe (`shendu rl dqn --env {env} --seed S`), seeds 1-5\n")
        print("| seed | solved | at env step | wall s to solve | avg return, last 100 | greedy eval return "
              "| env steps/s |\n| --- | --- | --- | --- | --- | --- | --- |")
        for i, r in enumerate(runs):
            print(f"| {i + 1} | {'yes' if r['solved'] else 'no'} | {r['solved_at_step'] or '-'} | "
                  f"{r['solved_wall_s'] if r['solved'] else '-'} | {r['avg_return_100']:.1f} | "
                  f"{r['eval_return']:.1f} | {r['env_steps_per_s']:,.0f} |")
        print(f"\n{env}: solved in {len(solved)} of {len(runs)} seeds; median wall time to solve "
              f"{med([r['solved_wall_s'] for r in solved]):.2f} s")


# ---- GAN (issue 6): the MLP GAN's speed against gan.py, and the 20-epoch quality runs.
GAN_BIN = os.environ.get("SHENDU_BIN", BIN)
GAN_EPOCH = re.compile(r"^epoch (\d+)/\d+ +D loss ([-0-9.]+) +G loss ([-0-9.]+) +D\(x\) ([0-9.]+) +"
                       r"D\(G\(z\)\) ([0-9.]+) +(\d+) img/s +([0-9.]+)s(?: +score ([0-9.]+))?", re.M)


def shendu_gan(*args, threads=THREADS):
    """One `shendu gan` run: its JSON line, per-epoch rows and peak RSS."""
    out, rss = timed([GAN_BIN, "gan", "--threads", str(threads), "--json", *args])
    j = last_json(out)
    j["rss"], j["rows"] = rss, GAN_EPOCH.findall(out)
    return j


def bench_gan():
    # One epoch each (937 steps of 64), shendu and gan.py alternately, same threads; --ema 0:
    # the same work as gan.py (no moving average of G).
    s_runs, t_runs = [], []
    for i in range(REPS):
        s_runs.append(shendu_gan("--arch", "mlp", "--epochs", "1", "--ema", "0", "--seed", str(i + 1),
                                 "--out", "/tmp/bench-gan"))
        t = torch_ref("gan.py", "--seed", str(i), "--png", "/tmp/bench-gan-ref.png")
        t_runs.append(dict(t["raw"], rss=t["rss"]))
    print(f"\n### MLP GAN (gan.py's networks, Adam 2e-4 beta1 0.5, batch 64), 1 epoch, {THREADS} threads, "
          f"{REPS} runs each\n")
    print("| figure | shendu | PyTorch gan.py | ratio |\n| --- | --- | --- | --- |")
    row("train images/s, D+G steps (median)", med([r["train_images_per_s"] for r in s_runs]),
        med([r["images_per_s"] for r in t_runs]), "img/s")
    print(f"| D / G loss after 1 epoch (median) | {med([r['d_loss'] for r in s_runs]):.3f} / "
          f"{med([r['g_loss'] for r in s_runs]):.3f} | {med([r['loss_D'][0] for r in t_runs]):.3f} / "
          f"{med([r['loss_G'][0] for r in t_runs]):.3f} | |")
    print(f"| peak RSS (median) | {med([r['rss'] for r in s_runs]):.0f} MB | {med([r['rss'] for r in t_runs]):.0f} MB | |")
    print("\nshendu img/s:", [round(r["train_images_per_s"]) for r in s_runs],
          " gan.py img/s:", [round(r["images_per_s"]) for r in t_runs])


def bench_gan_quality():
    # Long (an hour or more on 2 cores): a CNN classifier for the score, then 20
    # epochs of each GAN, scored after every epoch on 10,000 samples.
    epochs = os.environ.get("GAN_EPOCHS", "20")
    out = os.environ.get("GAN_OUT", "/tmp/bench-gan-quality")
    os.makedirs(out, exist_ok=True)
    cls = os.path.join(out, "cls.safetensors")
    if not os.path.exists(cls):
        timed([GAN_BIN, "train", "--model", "cnn", "--threads", str(THREADS), "--out", cls])
    for arch in ("mlp", "dcgan"):
        j = shendu_gan("--arch", arch, "--epochs", epochs, "--out", os.path.join(out, arch), "--classifier", cls)
        print(f"\n### {arch} GAN, {epochs} epochs, inception score with a shendu CNN "
              f"(real test images: {j['real_score']:.3f})\n")
        print("| epoch | D loss | G loss | D(x) | D(G(z)) | img/s | score | % of real |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- |")
        for e, dl, gl, dx, dz, ips, _, sc in j["rows"]:
            print(f"| {e} | {dl} | {gl} | {dx} | {dz} | {ips} | {sc} | {100 * float(sc) / j['real_score']:.0f}% |")
        print(f"\nfinal grid: {out}/{arch}/epoch_{int(epochs):03d}.png, generator: {j['generator']}, "
              f"wall {j['wall_s'] / 60:.1f} min")


# ---- Char-LSTM (issue 5): `shendu lm train` against lstm.py, same corpus and configuration
# (fortunes, embedding 64, 1 LSTM layer of 256, seq 64, batch 32, Adam 2e-3); the RNN on the
# same budget. LSTM_STEPS (default 2000, lstm.py's) shortens a trial run.
LM_BIN = os.environ.get("SHENDU_BIN", BIN)
LM_STEPS = os.environ.get("LSTM_STEPS", "2000")


def shendu_lm(cell, seed):
    out, rss = timed([LM_BIN, "lm", "train", "--cell", cell, "--layers", "1", "--hidden", "256", "--emb", "64",
                      "--seq", "64", "--batch", "32", "--lr", "0.002", "--steps", LM_STEPS, "--eval-every", "0",
                      "--sample-len", "200", "--threads", str(THREADS), "--seed", str(seed), "--json"])
    j = last_json(out)
    j["rss"] = rss
    return j


def bench_lstm():
    s_runs, t_runs = [], []
    for i in range(REPS):
        s_runs.append(shendu_lm("lstm", i + 1))
        t = torch_ref("lstm.py", "--steps", LM_STEPS)
        t_runs.append(dict(t["raw"], rss=t["rss"]))
    r_runs = [shendu_lm("rnn", i + 1) for i in range(REPS)]
    print(f"\n### Char-LSTM (lstm.py's model: emb 64, LSTM 256, seq 64, batch 32, Adam 2e-3), {LM_STEPS} steps, "
          f"{THREADS} threads, {REPS} runs each\n")
    print("| figure | shendu | PyTorch lstm.py | ratio |\n| --- | --- | --- | --- |")
    row("train tokens/s (median)", med([r["train_tokens_per_s"] for r in s_runs]),
        med([r["tokens_per_s"] for r in t_runs]), "tok/s")
    sb, tb = med([r["val_bpc"] for r in s_runs]), med([r["val_bpc"] for r in t_runs])
    print(f"| validation bits/char (median) | {sb:.4f} | {tb:.4f} | {100 * (sb / tb - 1):+.1f}% |")
    print(f"| peak RSS (median) | {med([r['rss'] for r in s_runs]):.0f} MB | {med([r['rss'] for r in t_runs]):.0f} MB | "
          f"{med([r['rss'] for r in t_runs]) / med([r['rss'] for r in s_runs]):.1f}x smaller |")
    print(f"| simple RNN (tanh), same budget: validation bits/char (median) | "
          f"{med([r['val_bpc'] for r in r_runs]):.4f} | | |")
    print(f"| simple RNN train tokens/s (median) | {med([r['train_tokens_per_s'] for r in r_runs]):,.0f} tok/s | | |")
    print("\nshendu LSTM runs (tok/s, val bpc):", [(round(r["train_tokens_per_s"]), r["val_bpc"]) for r in s_runs])
    print("PyTorch runs (tok/s, val bpc):", [(round(r["tokens_per_s"]), r.get("val_bpc")) for r in t_runs])
    print("shendu RNN runs (tok/s, val bpc):", [(round(r["train_tokens_per_s"]), r["val_bpc"]) for r in r_runs])


# ---- Char Transformer (issue 20): `shendu lm train --cell transformer` against bench/transformer.py,
# same corpus, model (4 blocks, dim 128, 4 heads, context 128: ~0.82 M parameters), AdamW, warm-up +
# cosine, clipping, data rules and budget (2000 steps, batch 32; TF_STEPS shortens a trial run);
# shendu's LSTM on the LSTM issue's configuration and budget alongside. Sampling: characters/s of
# `shendu lm sample` on one thread with the key/value cache and without it (--no-cache).
TF_STEPS = os.environ.get("TF_STEPS", "2000")
TF_ARCH = ["--layers", "4", "--dim", "128", "--heads", "4", "--seq", "128"]


def shendu_tf(seed, out=None):
    cmd = [LM_BIN, "lm", "train", "--cell", "transformer", *TF_ARCH, "--batch", "32", "--lr", "0.002",
           "--steps", TF_STEPS, "--eval-every", "0", "--sample-len", "0", "--threads", str(THREADS),
           "--seed", str(seed), "--json"]
    out_, rss = timed(cmd + (["--out", out] if out else []))
    j = last_json(out_)
    j["rss"] = rss
    return j


def sample_rate(model, n, *extra):
    import time
    t0 = time.perf_counter()
    p = subprocess.run([LM_BIN, "lm", "sample", model, "--len", str(n), "--threads", "1", *extra],
                       capture_output=True)
    if p.returncode != 0:
        sys.exit(f"bench: lm sample failed: {p.stderr[-500:]}")
    return n / (time.perf_counter() - t0)


def bench_transformer():
    import tempfile
    s_runs, t_runs, l_runs = [], [], []
    model = os.path.join(tempfile.mkdtemp(), "tf.safetensors")
    for i in range(REPS):
        s_runs.append(shendu_tf(i + 1, model if i == 0 else None))
        t = torch_ref_at(os.path.join(ROOT, "bench", "transformer.py"), "--steps", TF_STEPS, "--seed", str(i))
        t_runs.append(dict(t["raw"], rss=t["rss"]))
        l_runs.append(shendu_lm("lstm", i + 1))
    cached = sample_rate(model, 20000)
    uncached = sample_rate(model, 2000, "--no-cache")
    print(f"\n### Char Transformer (4 blocks, dim 128, 4 heads, context 128, AdamW 2e-3 warm-up 100 + cosine, "
          f"clip 1), {TF_STEPS} steps, batch 32, {THREADS} threads, {REPS} runs each\n")
    print("| figure | shendu | PyTorch bench/transformer.py | ratio |\n| --- | --- | --- | --- |")
    row("train tokens/s (median)", med([r["train_tokens_per_s"] for r in s_runs]),
        med([r["tokens_per_s"] for r in t_runs]), "tok/s")
    sb, tb = med([r["val_bpc"] for r in s_runs]), med([r["val_bpc"] for r in t_runs])
    print(f"| validation bits/char (median) | {sb:.4f} | {tb:.4f} | {100 * (sb / tb - 1):+.1f}% |")
    print(f"| peak RSS (median) | {med([r['rss'] for r in s_runs]):.0f} MB | {med([r['rss'] for r in t_runs]):.0f} MB | "
          f"{med([r['rss'] for r in t_runs]) / med([r['rss'] for r in s_runs]):.1f}x smaller |")
    lb = med([r["val_bpc"] for r in l_runs])
    print(f"| shendu LSTM (emb 64, 256 units, seq 64), same budget: validation bits/char | {lb:.4f} | | "
          f"transformer {sb - lb:+.3f} |")
    print(f"| sampling, 1 thread, key/value cache | {cached:,.0f} char/s | | {cached / uncached:.1f}x the uncached |")
    print(f"| sampling, 1 thread, no cache | {uncached:,.0f} char/s | | |")
    print("\nshendu transformer runs (tok/s, val bpc, params):",
          [(round(r["train_tokens_per_s"]), r["val_bpc"], r["params"]) for r in s_runs])
    print("PyTorch runs (tok/s, val bpc, params):", [(round(r["tokens_per_s"]), r.get("val_bpc"), r["params"]) for r in t_runs])
    print("shendu LSTM runs (tok/s, val bpc):", [(round(r["train_tokens_per_s"]), r["val_bpc"]) for r in l_runs])


def torch_ref_at(path, *args):
    out, rss = timed([os.path.join(REF, "ref_env.sh"), "/usr/bin/python3", path, "--threads", str(THREADS), *args])
    return {"rss": rss, "raw": last_json(out)}


def bench_cnn():
    """CNN, the reference recipe (Adam 1e-3, batch 64, pixels/255), 1 epoch per run
    for throughput; inference latency and throughput come from cnn.py's own
    measurement and `shendu bench-infer`-style timing below."""
    s_runs, t_runs = [], []
    for _ in range(REPS):
        s_runs.append(shendu_train("cnn", 1, ("--recipe", "plain")))
        t_runs.append(torch_ref("cnn.py", "--epochs", "1"))
    print(f"\n### CNN (cnn.py's network), Adam 1e-3, batch 64, pixels/255, 1 epoch, {THREADS} threads, {REPS} runs each\n")
    print("| figure | shendu | PyTorch | ratio |\n| --- | --- | --- | --- |")
    row("train images/s (median)", med([r["ips"] for r in s_runs]), med([r["ips"] for r in t_runs]), "img/s")
    sa, ta = med([r["acc"][0] for r in s_runs]), med([r["acc"][0] for r in t_runs])
    print(f"| test accuracy after epoch 1 (median) | {sa:.4f} | {ta:.4f} | |")
    print(f"| peak RSS while training (median) | {med([r['rss'] for r in s_runs]):.0f} MB | "
          f"{med([r['rss'] for r in t_runs]):.0f} MB | "
          f"{med([r['rss'] for r in t_runs]) / med([r['rss'] for r in s_runs]):.1f}x smaller |")
    print("\nshendu runs (img/s, acc):", [(round(r["ips"]), r["acc"][0]) for r in s_runs])
    print("PyTorch runs (img/s, acc):", [(round(r["ips"]), r["acc"][0]) for r in t_runs])
    # Inference, measured cnn.py's way (bench/infer.c): batch-1 latency and batch-256 throughput.
    lat = [r["raw"].get("infer_b1_latency_ms_median") for r in t_runs]
    thr = [r["raw"].get("infer_b256_images_per_s") for r in t_runs]
    inf = [last_json(timed([os.path.join(os.path.dirname(BIN), "bench_infer"), str(THREADS)])[0]) for _ in range(REPS)]
    print(f"\n| inference ({THREADS} threads) | shendu | PyTorch | ratio |\n| --- | --- | --- | --- |")
    row("batch-1 latency, median of 1000 (median of runs)", med([r["infer_b1_latency_ms_median"] for r in inf]),
        med(lat), "ms", higher_better=False, digits=3)
    row("batch-256 throughput (median of runs)", med([r["infer_b256_images_per_s"] for r in inf]), med(thr), "img/s")


# ---- Scale-out (issue 9): the data-parallel CNN, 1 rank x 2 threads against 2 ranks x 1 thread
# on this machine (alternating, MPI_EPOCHS epochs each, --recipe plain), the all-reduce's cost
# for the CNN's gradient (bench_allreduce), and a model of 2-64 machines from those figures.
# Needs an MPI build: SHENDU_MPI_BIN (default build/shendu) and bench_allreduce beside it.
MPI_BIN = os.environ.get("SHENDU_MPI_BIN", BIN)
MPI_EPOCHS = int(os.environ.get("MPI_EPOCHS", "3"))
MPIRUN = ["mpirun", "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])


def shendu_cnn_dp(ranks, threads, seed, *extra):
    cmd = [MPI_BIN, "train", "--model", "cnn", "--recipe", "plain", "--epochs", str(MPI_EPOCHS),
           "--threads", str(threads), "--seed", str(seed), "--json", *extra]
    out, _ = timed((MPIRUN + ["-np", str(ranks)] if ranks > 1 else []) + cmd)
    j = last_json(out)
    accs = [float(m) / 100 for m in re.findall(r"test accuracy ([0-9.]+)%", out)]
    return {"ips": j["train_images_per_s"], "acc": accs[-1], "wait": j.get("sync_wait_s", 0.0), "wall": j["wall_s"]}


def ring_allreduce_s(machines, nbytes, gbit, latency_s):
    """Ring all-reduce: 2(M-1) steps, each moving nbytes/M over one link and paying one latency."""
    return 2 * (machines - 1) * (nbytes / machines / (gbit * 1e9 / 8) + latency_s)


def bench_mpi():
    ar_bin = os.path.join(os.path.dirname(MPI_BIN), "bench_allreduce")
    out, _ = timed(MPIRUN + ["-np", "2", ar_bin, "300"])
    ar = last_json(out)
    print("\n### All-reduce cost, 2 ranks on this machine (shared memory), `mpirun -np 2 bench_allreduce 300`\n")
    print("| floats | KiB | median | best |\n| --- | --- | --- | --- |")
    for n, m, b in zip(ar["sizes"], ar["median_s"], ar["best_s"]):
        tag = " (the CNN's gradient)" if n == ar["cnn_floats"] else ""
        print(f"| {n:,}{tag} | {n * 4 / 1024:,.0f} | {m * 1e6:,.0f} us | {b * 1e6:,.0f} us |")
    cnn_ar = ar["median_s"][ar["sizes"].index(ar["cnn_floats"])]

    # run i uses seed i + 1 on every configuration: the speed medians, and the accuracy over seeds
    # (a run is deterministic, so a repeat with the same seed would only repeat its accuracy)
    one, ov, pl = [], [], []
    for i in range(REPS):
        one.append(shendu_cnn_dp(1, 2, i + 1))
        ov.append(shendu_cnn_dp(2, 1, i + 1))
        pl.append(shendu_cnn_dp(2, 1, i + 1, "--allreduce", "plain"))
    print(f"\n### CNN, --recipe plain, batch 64, {MPI_EPOCHS} epochs, 1 rank x 2 threads vs 2 ranks x 1 thread, "
          f"seeds 1-{REPS}, alternating\n")
    print("| configuration | train images/s (median) | vs 1x2 | final test accuracy (mean of the seeds) | "
          "all-reduce wait, s (median) |\n| --- | --- | --- | --- | --- |")
    base = med([r["ips"] for r in one])
    for name, runs in (("1 rank x 2 threads", one), ("2 ranks x 1 thread, overlapped all-reduce", ov),
                       ("2 ranks x 1 thread, plain all-reduce", pl)):
        print(f"| {name} | {med([r['ips'] for r in runs]):,.0f} | {med([r['ips'] for r in runs]) / base:.2f}x | "
              f"{100 * statistics.mean([r['acc'] for r in runs]):.2f}% | {med([r['wait'] for r in runs]):.2f} |")
    for name, runs in (("1x2", one), ("2x1 overlap", ov), ("2x1 plain", pl)):
        print(f"\n{name} runs by seed (img/s, final acc, wait s):", [(round(r["ips"]), r["acc"], r["wait"]) for r in runs])
    print("\naccuracy, 2x1 minus 1x2, by seed (points):", [round(100 * (b["acc"] - a["acc"]), 2) for a, b in zip(one, ov)])

    # The model: every machine (this one: 2 cores) trains 64 images per step (weak scaling), then a
    # ring all-reduce of the gradient; no overlap assumed (the overlapped version can only do better).
    # MPI_MODEL_IPS (e.g. a quiet machine's 1x2 figure) replaces the measured one.
    base = float(os.environ.get("MPI_MODEL_IPS", base))
    t_step = 64 / base
    nbytes = ar["cnn_floats"] * 4
    print(f"\n### Model: M machines like this one, 64 images each per step (global batch 64 M)\n")
    print(f"Compute per step {t_step * 1e3:.1f} ms (64 / {base:,.0f} img/s, 1 rank x 2 threads); gradient "
          f"{nbytes / 1e6:.2f} MB; ring all-reduce 2(M-1)(bytes/M/bandwidth + latency), latency 30 us at "
          f"10 Gbit/s (TCP), 5 us at 100 Gbit/s; measured here between 2 ranks: {cnn_ar * 1e3:.2f} ms.\n")
    print("| machines | all-reduce 10 Gbit/s | images/s 10 Gbit/s | efficiency | all-reduce 100 Gbit/s | "
          "images/s 100 Gbit/s | efficiency |\n| --- | --- | --- | --- | --- | --- | --- |")
    for m in (2, 4, 8, 16, 32, 64):
        cells = []
        for gbit, lat in ((10, 30e-6), (100, 5e-6)):
            t_ar = ring_allreduce_s(m, nbytes, gbit, lat)
            ips = 64 * m / (t_step + t_ar)
            cells += [f"{t_ar * 1e3:.2f} ms", f"{ips:,.0f}", f"{ips / (m * base):.0%}"]
        print(f"| {m} | " + " | ".join(cells) + " |")


# ---- sgemm (issue 4): shendu's GEMM against OpenBLAS on the same shapes and transposes (the
# -DSHENDU_BLAS=openblas build of bench_gemm, in build-blas/) and against the machine's FMA peak
# (../shared/bench-ref/peak_fma.c), 1 and 2 threads, OPENBLAS_CORETYPE unset.
def _build_blas():
    if not os.path.exists(os.path.join(ROOT, "build-blas", "bench_gemm")):
        subprocess.run(["cmake", "-S", ROOT, "-B", os.path.join(ROOT, "build-blas"), "-DCMAKE_BUILD_TYPE=Release",
                        "-DSHENDU_BLAS=openblas", "-DSHENDU_MPI=OFF", "-DSHENDU_TESTS=OFF"], check=True,
                       capture_output=True)
        subprocess.run(["cmake", "--build", os.path.join(ROOT, "build-blas"), "-j2", "--target", "bench_gemm"],
                       check=True, capture_output=True)
    return os.path.join(ROOT, "build-blas", "bench_gemm")


def bench_sgemm():
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    peak_bin = "/tmp/shendu-bench-peak_fma"
    subprocess.run(["gcc", "-O3", "-march=native", "-fopenmp", os.path.join(REF, "peak_fma.c"), "-o", peak_bin],
                   check=True)
    peak = {}
    for line in subprocess.run([peak_bin], capture_output=True, text=True, env=dict(env, OMP_NUM_THREADS="2")).stdout.splitlines():
        m = re.match(r"^(\S.*?)\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)$", line)
        if m:
            peak[int(m.group(2))] = max(peak.get(int(m.group(2)), 0.0), float(m.group(3)))
    ours, blas, bf16 = {}, {}, {}
    blas_bin = _build_blas()
    ours_bin = os.path.join(ROOT, "build", "bench_gemm")
    for t in (1, 2):
        for rep in range(REPS):   # alternate, REPS runs each; the median per shape
            for name, cmd, into in (("shendu", [ours_bin, str(t), "--json"], ours),
                                    ("openblas", [blas_bin, str(t), "--json"], blas),
                                    ("shendu bf16", [ours_bin, str(t), "--json", "--bf16"], bf16)):
                out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
                for r in json.loads(out)["results"]:
                    into.setdefault((t, r["shape"]), []).append(r["gflops"])
    # The bfloat16 peak beside the float one (bench/peak_bf16.c: vdpbf16ps chains).
    pk = [json.loads(subprocess.run([os.path.join(ROOT, "build", "bench_peak_bf16"), "2"], capture_output=True,
                                    text=True, check=True).stdout) for _ in range(3)]
    bf_peak = {1: max(p["bf16_dp_gflops_1"] for p in pk), 2: max(p["bf16_dp_gflops"] for p in pk)}
    fp_peak2 = {1: max(p["fp32_fma_gflops_1"] for p in pk), 2: max(p["fp32_fma_gflops"] for p in pk)}
    shapes = [k[1] for k in ours if k[0] == 1]
    print(f"\n### sgemm, GFLOP/s (median of {REPS} runs, each the median of 5 trials), shendu's kernels vs "
          f"OpenBLAS through the same sd_gemm call\n")
    print(f"FMA peak (peak_fma.c): {peak.get(1, float('nan')):.1f} GFLOP/s on 1 thread, "
          f"{peak.get(2, float('nan')):.1f} on 2.\n")
    print("| shape | shendu 1 thr | OpenBLAS 1 thr | ratio | shendu 2 thr | OpenBLAS 2 thr | ratio | shendu % of peak (2 thr) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for sh in shapes:
        o1, b1, o2, b2 = (med(ours[(1, sh)]), med(blas[(1, sh)]), med(ours[(2, sh)]), med(blas[(2, sh)]))
        print(f"| {sh} | {o1:.1f} | {b1:.1f} | {o1 / b1:.2f}x | {o2:.1f} | {b2:.1f} | {o2 / b2:.2f}x | "
              f"{100 * o2 / peak.get(2, float('nan')):.0f}% |")
    print(f"\n### sgemm in bfloat16 (`--precision bf16`'s products), GFLOP/s, median of {REPS} runs\n")
    print(f"Peaks measured by bench/peak_bf16.c in the same run: FP32 FMA {fp_peak2[1]:.1f} (1 thr) / "
          f"{fp_peak2[2]:.1f} (2 thr), bf16 vdpbf16ps {bf_peak[1]:.1f} / {bf_peak[2]:.1f} GFLOP/s.\n")
    print("| shape | bf16 1 thr | vs shendu fp32 | bf16 2 thr | vs shendu fp32 | % of bf16 peak (1 thr) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for sh in shapes:
        o1, o2, h1, h2 = med(ours[(1, sh)]), med(ours[(2, sh)]), med(bf16[(1, sh)]), med(bf16[(2, sh)])
        print(f"| {sh} | {h1:.1f} | {h1 / o1:.2f}x | {h2:.1f} | {h2 / o2:.2f}x | {100 * h1 / bf_peak[1]:.0f}% |")


# ---- Diffusion (issue 21): `shendu diffusion` against bench/diffusion.py (the same U-Net,
# schedule, Adam 2e-4, batch 64), 100 steps each; DDIM sampling of 64 pictures in 50 steps.
# diffusion-quality trains for DIFF_MINUTES (default: the DCGAN's 20 epochs, 101 min) and
# scores the EMA weights' DDIM samples with a shendu CNN.
DIFF_STEPS = int(os.environ.get("DIFF_STEPS", "100"))   # training steps of batch 64 per run


def bench_diffusion():
    s_runs, t_runs, samp = [], [], []
    for i in range(REPS):
        out, rss = timed([BIN, "diffusion", "--epochs", "1", "--limit", str(64 * DIFF_STEPS), "--threads", str(THREADS),
                          "--seed", str(i + 1), "--out", "/tmp/bench-diffusion", "--json"])
        s_runs.append(dict(last_json(out), rss=rss))
        out, rss = timed([os.path.join(REF, "ref_env.sh"), "/usr/bin/python3", os.path.join(ROOT, "bench", "diffusion.py"),
                          "--steps", str(DIFF_STEPS), "--threads", str(THREADS), "--seed", str(i)])
        t_runs.append(dict(last_json(out), rss=rss))
        out, _ = timed([BIN, "diffusion", "sample", "/tmp/bench-diffusion/model.safetensors", "--out",
                        "/tmp/bench-diffusion/grid.png", "--threads", str(THREADS)])
        samp.append(float(re.search(r"in ([0-9.]+) s", out).group(1)))
    print(f"\n### Diffusion U-Net (c = 32, batch 64), {DIFF_STEPS} steps, {THREADS} threads, {REPS} runs each\n")
    print("| figure | shendu | PyTorch bench/diffusion.py | ratio |\n| --- | --- | --- | --- |")
    row("train images/s (median)", med([r["train_images_per_s"] for r in s_runs]),
        med([r["images_per_s"] for r in t_runs]), "img/s")
    row("peak RSS (median)", med([r["rss"] for r in s_runs]), med([r["rss"] for r in t_runs]), "MB",
        higher_better=False, digits=0)
    print(f"| DDIM, 64 pictures in 50 steps (median) | {med(samp):.2f} s | | |")


def bench_logging():
    """Issue 17: the cost of --log (a record every step, the most it can write) on
    the MLP classifier and the LSTM language model, runs alternating with and
    without it; the ratio is the medians' (with / without). Tabular Q-learning
    too, at its default --log-every (a 200th of the episodes) and at 1 (a
    flushed line per episode of about 20 env steps, a microsecond of work: the
    write costs far more than the episode).
    LOG_EPOCHS / LOG_STEPS / LOG_EPISODES shrink it for a smoke test."""
    import tempfile
    import shutil
    epochs = os.environ.get("LOG_EPOCHS", "2")
    steps = os.environ.get("LOG_STEPS", "300")
    episodes = os.environ.get("LOG_EPISODES", "100000")
    tmp = tempfile.mkdtemp(prefix="shendu-bench-log-")
    work = {
        "MLP (train --model mlp), img/s": (
            ["train", "--model", "mlp", "--epochs", epochs, "--threads", str(THREADS), "--json"],
            lambda j: j["train_images_per_s"]),
        "LSTM (lm train), tok/s": (
            ["lm", "train", "--hidden", "256", "--emb", "64", "--seq", "64", "--batch", "32", "--steps", steps,
             "--eval-every", "0", "--sample-len", "0", "--threads", str(THREADS), "--json"],
            lambda j: j["train_tokens_per_s"]),
        "Q-learning (rl qlearn frozenlake8), env steps/s": (
            ["rl", "qlearn", "--env", "frozenlake8", "--episodes", episodes, "--eval", "100", "--json"],
            lambda j: j["train_steps_per_s"]),
    }
    every = {name: "1" for name in work}
    work["Q-learning, default --log-every (episodes/200)"] = work["Q-learning (rl qlearn frozenlake8), env steps/s"]
    every["Q-learning, default --log-every (episodes/200)"] = None
    runs = {name: ([], []) for name in work}
    for rep in range(REPS):
        for i, (name, (args, figure)) in enumerate(work.items()):
            log = ("--log", os.path.join(tmp, f"{i}-{rep}.jsonl"), "--no-plot") + (
                ("--log-every", every[name]) if every[name] else ())
            order = ((0, ()), (1, log)) if rep % 2 == 0 else ((1, log), (0, ()))   # alternate which goes first
            for k, extra in order:
                out, _ = timed([BIN, *args, *extra])
                runs[name][k].append(figure(last_json(out)))
    print(f"\n### Metric log cost (--log with --log-every 1, a record every step, unless said; median of {REPS}, "
          "alternating)\n")
    print("| workload | without --log | with --log | with / without | cost |")
    print("| --- | --- | --- | --- | --- |")
    for name, (plain, logged) in runs.items():
        a, b = med(plain), med(logged)
        print(f"| {name} | {a:,.0f}/s | {b:,.0f}/s | {b / a:.4f} | {100 * (a - b) / a:+.2f} % |")
    shutil.rmtree(tmp, ignore_errors=True)


# ---- The shared training loop (issue 17): throughput before and after it.
# LOOP_BASE is the commit before the trainers' loops were replaced by sd_trainer (f5c2dcb's
# parent), LOOP_NEW the commit where every trainer runs on it (d54f55b, the next two commits);
# between them only the loop changed. Both are built from `git archive` in /tmp (Release, once;
# about 5 min each on 2 cores) and run alternately with the current build (HEAD), REPS runs each.
# LOOP_BASE / LOOP_NEW may also name a shendu binary. LOOP_SCALE < 1 shrinks every workload for
# a smoke test.
LOOP_BASE = os.environ.get("LOOP_BASE", "6c5bac5")
LOOP_NEW = os.environ.get("LOOP_NEW", "d54f55b")


def _build_at(rev):
    if os.path.isfile(rev) and os.access(rev, os.X_OK):   # a binary already built
        return rev, rev
    sha = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", rev], capture_output=True, text=True,
                         check=True).stdout.strip()
    top = f"/tmp/shendu-loop-{sha}"
    binary = os.path.join(top, "build", "shendu")
    if os.path.exists(binary):
        return binary, sha
    os.makedirs(os.path.join(top, "src"), exist_ok=True)
    archive = subprocess.Popen(["git", "-C", ROOT, "archive", sha], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", os.path.join(top, "src")], stdin=archive.stdout, check=True)
    if archive.wait():
        sys.exit(f"bench loop: git archive {sha} failed")
    for cmd in (["cmake", "-S", os.path.join(top, "src"), "-B", os.path.join(top, "build"),
                 "-DCMAKE_BUILD_TYPE=Release"],
                ["cmake", "--build", os.path.join(top, "build"), "-j", str(THREADS), "--target", "shendu"]):
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode:
            sys.exit(f"bench loop: {' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return binary, sha


def bench_loop():
    scale = float(os.environ.get("LOOP_SCALE", "1"))
    n = lambda x: str(max(1, int(x * scale)))
    bins = [_build_at(LOOP_BASE), _build_at(LOOP_NEW), (BIN, "HEAD")]
    t = str(THREADS)
    work = [   # name, arguments (the same flags exist in every binary), the --json figure
        ("MLP train, img/s", ["train", "--model", "mlp", "--epochs", "1", "--limit", n(60000), "--threads", t, "--json"],
         "train_images_per_s"),
        ("CNN train, img/s", ["train", "--model", "cnn", "--epochs", "1", "--limit", n(6400), "--threads", t, "--json"],
         "train_images_per_s"),
        ("LSTM lm train, tok/s", ["lm", "train", "--hidden", "256", "--emb", "64", "--seq", "64", "--batch", "32",
                                  "--steps", n(300), "--eval-every", "0", "--sample-len", "0", "--threads", t,
                                  "--json"], "train_tokens_per_s"),
        ("MLP GAN, img/s", ["gan", "--epochs", "1", "--limit", n(12800), "--threads", t, "--out", "/tmp/shendu-loop-gan",
                            "--json"], "train_images_per_s"),
        ("DQN CartPole, env steps/s", ["rl", "dqn", "--steps", n(20000), "--no-stop", "--eval", "0", "--threads", t,
                                       "--json"], "env_steps_per_s"),
    ]
    res = {w[0]: [[] for _ in bins] for w in work}
    for rep in range(REPS):
        for name, args, key in work:
            order = list(range(len(bins)))
            if rep % 2:
                order.reverse()   # alternate which binary goes first
            for i in order:
                out, _ = timed([bins[i][0], *args])
                res[name][i].append(last_json(out)[key])
    print(f"\n### The shared training loop (issue 17): before ({bins[0][1]}), after ({bins[1][1]}) and HEAD; "
          f"{THREADS} threads, median of {REPS}, alternating\n")
    print("| workload | before the loop | on sd_trainer_run | after / before | HEAD | HEAD / before |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, _, _ in work:
        m = [med(r) for r in res[name]]
        print(f"| {name} | {m[0]:,.0f} | {m[1]:,.0f} | {m[1] / m[0]:.3f} | {m[2]:,.0f} | {m[2] / m[0]:.3f} |")
    print("\nruns:", {name: [[round(x) for x in r] for r in res[name]] for name, _, _ in work})


# ---- Mixed precision and threads (issue 22).
# precision: CNN training (--recipe plain, the reference's recipe) on PREC_IMAGES images, 1 epoch,
# shendu fp32 / bf16 against bench/cnn_ref.py (bench-ref's cnn.py loop) fp32 / bf16 autocast, the
# four alternating, PREC_REPS runs each: min / median / max images/s and test accuracy.
# threads: MLP and CNN training on 1 and 2 threads, THREAD_REPS runs each (alternating):
# min / median / max, the 2-thread / 1-thread ratios of the medians and of the minima.
PREC_IMAGES = os.environ.get("PREC_IMAGES", "12800")


def spread(xs):
    xs = sorted(x for x in xs if x is not None)
    return f"{xs[0]:,.0f} / {statistics.median(xs):,.0f} / {xs[-1]:,.0f}" if xs else "n/a"


def bench_precision():
    reps = int(os.environ.get("PREC_REPS", "5"))
    runs = {k: [] for k in ("s32", "s16", "t32", "t16")}
    accs = {k: [] for k in runs}
    for _ in range(reps):
        for prec, key in (("fp32", "s32"), ("bf16", "s16")):
            r = shendu_train("cnn", 1, ("--recipe", "plain", "--limit", PREC_IMAGES, "--precision", prec))
            runs[key].append(r["ips"])
            accs[key].append(r["acc"][-1] if r["acc"] else None)
        for extra, key in (((), "t32"), (("--bf16",), "t16")):
            t = torch_ref_at(os.path.join(ROOT, "bench", "cnn_ref.py"), "--epochs", "1", "--limit", PREC_IMAGES, *extra)
            runs[key].append(t["raw"]["train_images_per_s"])
            accs[key].append(t["raw"]["test_acc_last"])
    print(f"\n### CNN training in bfloat16 (issue 22): {PREC_IMAGES} images, 1 epoch, {THREADS} threads, "
          f"{reps} runs each, alternating\n")
    print("| run | images/s min / median / max | test accuracy (median) |")
    print("| --- | --- | --- |")
    names = {"s32": "shendu fp32", "s16": "shendu --precision bf16", "t32": "PyTorch fp32",
             "t16": "PyTorch bf16 autocast"}
    for k in runs:
        print(f"| {names[k]} | {spread(runs[k])} | {med(accs[k]):.4f} |")
    m = {k: med(v) for k, v in runs.items()}
    mn = {k: min(v) for k, v in runs.items()}
    print(f"\nshendu bf16 / shendu fp32: {m['s16'] / m['s32']:.2f}x (median), {mn['s16'] / mn['s32']:.2f}x (min); "
          f"shendu bf16 / PyTorch bf16: {m['s16'] / m['t16']:.2f}x (median), {mn['s16'] / mn['t16']:.2f}x (min); "
          f"shendu fp32 / PyTorch fp32: {m['s32'] / m['t32']:.2f}x (median), {mn['s32'] / mn['t32']:.2f}x (min).")


def bench_threads():
    reps = int(os.environ.get("THREAD_REPS", "10"))
    global THREADS
    saved = THREADS
    print(f"\n### Two threads against one (issue 22): {reps} runs each, alternating; images/s min / median / max\n")
    print("| workload | 1 thread | 2 threads | 2/1 median | 2/1 minimum | 2-thread min vs 1-thread median |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, model, extra in (("MLP, 1 epoch", "mlp", ()),
                               ("CNN --recipe plain, 12,800 images", "cnn", ("--recipe", "plain", "--limit", "12800"))):
        r = {1: [], 2: []}
        for _ in range(reps):
            for t in (1, 2):
                THREADS = t
                r[t].append(shendu_train(model, 1, extra)["ips"])
        THREADS = saved
        m1, m2 = med(r[1]), med(r[2])
        print(f"| {name} | {spread(r[1])} | {spread(r[2])} | {m2 / m1:.2f}x | {min(r[2]) / min(r[1]):.2f}x | "
              f"{min(r[2]) / m1:.2f}x |")


WORKLOADS = {"mlp": bench_mlp}
WORKLOADS["precision"] = bench_precision
WORKLOADS["threads"] = bench_threads
WORKLOADS["logging"] = bench_logging
WORKLOADS["loop"] = bench_loop
WORKLOADS["sgemm"] = bench_sgemm
WORKLOADS["cnn"] = bench_cnn
WORKLOADS["rl"] = bench_rl
WORKLOADS["gan"] = bench_gan
WORKLOADS["gan-quality"] = bench_gan_quality
WORKLOADS["lstm"] = bench_lstm
WORKLOADS["transformer"] = bench_transformer
WORKLOADS["mpi"] = bench_mpi
WORKLOADS["diffusion"] = bench_diffusion
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_bench import bench_onnx  # noqa: E402  (ONNX Runtime beside shendu and PyTorch; issue 19)
WORKLOADS["onnx"] = bench_onnx

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
