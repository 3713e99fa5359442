"""shendu.train: the CLI's trainers with their options as keyword arguments.

The run is the `shendu` program's own (the one installed beside the library,
or $SHENDU_BIN): the same flags, defaults, checkpoints and files, in a child
process, so a training run holds no Python lock and Ctrl-C stops it the way it
stops the CLI (a checkpoint is written when one was asked for).
"""
import json
import os
import subprocess

from ._lib import LIBRARY_PATH, ShenduError

TRAINERS = {
    "classifier": ["train"], "lm": ["lm", "train"], "gan": ["gan"], "dqn": ["rl", "dqn"], "qlearn": ["rl", "qlearn"],
}


def _binary():
    env = os.environ.get("SHENDU_BIN")
    if env:
        return env
    try:
        from . import _install
        return _install.BINARY
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(LIBRARY_PATH))
    for cand in (os.path.join(here, "shendu"), os.path.join(here, "..", "bin", "shendu")):
        if os.access(cand, os.X_OK):
            return cand
    return "shendu"


def flags(**options):
    """Keyword arguments as the CLI's flags: limit_test=50 -> --limit-test 50, flip=True -> --flip."""
    out = []
    for k, v in options.items():
        if v is None or v is False:
            continue
        out.append("--" + k.replace("_", "-"))
        if v is not True:
            out.append(str(v))
    return out


def train(trainer="classifier", progress=None, **options):
    """Train with one of the CLI's trainers and return its metrics (the --json line) as a dict.

    trainer: "classifier" (shendu train), "lm" (lm train), "gan", "dqn" (rl dqn), "qlearn" (rl qlearn).
    options: that command's flags (see `shendu train --help`), e.g. model="cnn", epochs=1, out="m.safetensors".
    progress: called with every progress line the trainer prints (epochs, steps, episodes).
    Errors (a bad flag, a missing data set) raise ShenduError with the trainer's message."""
    if trainer not in TRAINERS:
        raise ValueError(f"unknown trainer '{trainer}' (expected one of {', '.join(TRAINERS)})")
    cmd = [_binary()] + TRAINERS[trainer] + flags(**options) + ["--json"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        last = None
        for line in p.stdout:
            line = line.rstrip("\n")
            if line.startswith("{"):
                last = line
            elif progress and line:
                progress(line)
        err = p.stderr.read()
        rc = p.wait()
    if rc != 0 or last is None:
        msg = err.strip().splitlines()[-1] if err.strip() else f"{' '.join(cmd)} exited {rc}"
        raise ShenduError(msg)
    return json.loads(last)
