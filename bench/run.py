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


# ---- Reinforcement learning (issue 7): Q-learning vs qlearn.py, DQN vs dqn.py (CleanRL's recipe).
RL_BIN = os.environ.get("SHENDU_BIN", BIN)
RL_SEEDS = int(os.environ.get("RL_SEEDS", "3"))


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
        t_runs.append(python_ref("dqn.py", "--seed", str(s), "--threads", str(THREADS), torch=True))
    print(f"\n### DQN CartPole-v1, CleanRL's recipe (dqn.py's defaults), {RL_SEEDS} seeds each\n")
    print("| figure | shendu (1 thread) | PyTorch dqn.py (%d threads) | ratio |\n| --- | --- | --- | --- |" % THREADS)
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


WORKLOADS = {"mlp": bench_mlp}
WORKLOADS["rl"] = bench_rl

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
