"""The Python package over libshendu.so (python/shendu), run by ctest as python_shendu.
Needs SHENDU_LIB, SHENDU_BIN (ctest sets them), numpy, and torch for the gradient check."""
import ctypes
import os
import subprocess
import sys
import tempfile
import threading
import unittest

import numpy as np

import shendu

SRC = os.environ.get("SHENDU_SOURCE", os.path.join(os.path.dirname(__file__), "..", ".."))
TMP = tempfile.mkdtemp(prefix="python_shendu.", dir=os.environ.get("SHENDU_TEST_TMP"))


def setUpModule():
    global MLP, AGENT, LINES, METRICS
    MLP, AGENT, LINES = os.path.join(TMP, "mlp.safetensors"), os.path.join(TMP, "dqn.safetensors"), []
    METRICS = shendu.train("classifier", model="mlp", epochs=1, limit=600, limit_test=100, threads=2, seed=3,
                           out=MLP, checkpoint=os.path.join(TMP, "ckpt.safetensors"), progress=LINES.append)
    shendu.train("dqn", env="cartpole", steps=300, eval=1, threads=1, seed=3, out=AGENT)
    shendu.train("gan", limit=128, epochs=1, threads=2, seed=3, out=os.path.join(TMP, "gan"))


def strip_metadata(src, dst, keys):
    """A copy of a safetensors file without some metadata keys (the header padded to its old length)."""
    import json
    import struct
    with open(src, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8:8 + n])
    for k in keys:
        head["__metadata__"].pop(k, None)
    text = json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode()
    with open(dst, "wb") as f:
        f.write(data[:8] + text + b" " * (n - len(text)) + data[8 + n:])


class TestTrainAndPredict(unittest.TestCase):
    def test_train_returns_metrics_and_reports_progress(self):
        self.assertEqual(METRICS["epochs"], 1)
        self.assertGreater(METRICS["test_accuracy"], 0.3)
        self.assertTrue(any(line.startswith("epoch 1/1") for line in LINES), LINES)

    def test_train_errors_carry_the_message(self):
        with self.assertRaisesRegex(shendu.ShenduError, "epochs"):
            shendu.train("classifier", epochs=0)
        with self.assertRaisesRegex(ValueError, "unknown trainer"):
            shendu.train("nope")

    def test_predict_matches_the_cli_and_takes_bytes_or_floats(self):
        m = shendu.load(MLP)
        self.assertIsInstance(m, shendu.Classifier)
        self.assertEqual(m.input_shape, (1, 28, 28))
        self.assertEqual(m.classes[0], "T-shirt/top")
        x, _ = shendu.load_mnist(split="t10k")
        x = x[:50]
        logits = os.path.join(TMP, "logits.bin")
        subprocess.run([os.environ["SHENDU_BIN"], "eval", MLP, "--limit", "50", "--logits", logits], check=True,
                       stdout=subprocess.DEVNULL)
        want = np.fromfile(logits, dtype=np.float32).reshape(50, 10)
        got = m.predict(x)
        self.assertEqual(got.shape, (50, 10))
        np.testing.assert_allclose(got, want, atol=1e-5)
        np.testing.assert_array_equal(m.predict(x.astype(np.float32)), got)
        np.testing.assert_allclose(m.predict(x[3]), got[3], atol=1e-6)            # one image, no batch axis
        np.testing.assert_allclose(m.predict(x.reshape(50, 784)), got, atol=0)   # flat rows
        self.assertEqual(m.predict(x[:0]).shape, (0, 10))
        big = shendu.load(MLP, batch=7)                                          # passes of 7: same numbers
        np.testing.assert_allclose(big.predict(x), got, atol=1e-6)
        with self.assertRaisesRegex(ValueError, r"\(1, 28, 28\)"):
            m.predict(np.zeros((2, 3), np.float32))

    def test_agent_and_environment(self):
        a = shendu.load(AGENT)
        self.assertIsInstance(a, shendu.Agent)
        env = shendu.make("CartPole-v1")
        self.assertEqual(env.action_space.n, 2)
        self.assertEqual(env.observation_space.shape, (4,))
        obs, info = env.reset(seed=42)
        obs2, _ = shendu.make("CartPole-v1").reset(seed=42)
        np.testing.assert_array_equal(obs, obs2)
        self.assertEqual(obs.dtype, np.float32)
        self.assertEqual(info, {})
        steps = 0
        while True:
            act = a.act(obs)
            self.assertEqual(act, int(np.argmax(a.predict(obs))))
            obs, reward, terminated, truncated, info = env.step(act)
            self.assertIsInstance(reward, float)
            self.assertIsInstance(terminated, bool)
            steps += 1
            if terminated or truncated:
                break
        self.assertGreater(steps, 0)
        with self.assertRaisesRegex(shendu.ShenduError, "episode|reset"):
            env.step(0)                                   # the episode is over
        lake = shendu.make("FrozenLake-v1")
        self.assertEqual(lake.observation_space.n, 16)
        s, _ = lake.reset(seed=0)
        self.assertEqual(s, 0)
        self.assertIsInstance(lake.step(lake.action_space.sample())[0], int)
        with self.assertRaisesRegex(shendu.ShenduError, "action"):
            lake.step(7)
        with self.assertRaisesRegex(shendu.ShenduError, "cartpole"):
            shendu.make("NoSuchEnv-v0")

    def test_generator(self):
        gen = shendu.load(os.path.join(TMP, "gan", "generator.safetensors"))
        self.assertIsInstance(gen, shendu.Generator)
        z = np.random.default_rng(0).standard_normal((3, gen.noise_dim)).astype(np.float32)
        img = gen.predict(z)
        self.assertEqual(img.shape, (3, 1, 28, 28))
        self.assertTrue(np.all(np.abs(img) <= 1.0))
        self.assertEqual(gen.predict(z[0]).shape, (1, 28, 28))
        with self.assertRaisesRegex(TypeError, "float32"):
            gen.predict(z.astype(np.uint8))

    def test_errors_are_the_librarys(self):
        with self.assertRaisesRegex(shendu.ShenduError, "nothere.safetensors"):
            shendu.load(os.path.join(TMP, "nothere.safetensors"))
        with self.assertRaisesRegex(TypeError, "float32"):
            shendu.load(AGENT).predict(np.zeros((1, 4), np.uint8))

    def test_a_classifier_checkpoint_predicts_like_its_model(self):
        # a checkpoint carries the input normalisation and class names of the model file
        ckpt = shendu.load(os.path.join(TMP, "ckpt.safetensors"))
        self.assertIsInstance(ckpt, shendu.Classifier)
        self.assertEqual(ckpt.classes, shendu.load(MLP).classes)
        x, _ = shendu.load_mnist(split="t10k")
        np.testing.assert_array_equal(ckpt.predict(x[:20]), shendu.load(MLP).predict(x[:20]))
        # one written before checkpoints carried it is refused, not read with a guessed normalisation
        old = os.path.join(TMP, "old_ckpt.safetensors")
        strip_metadata(os.path.join(TMP, "ckpt.safetensors"), old, ("input_scale", "input_shift"))
        with self.assertRaisesRegex(shendu.ShenduError, "does not carry its input normalisation"):
            shendu.load(old)

    def test_export_onnx(self):
        out = os.path.join(TMP, "m.onnx")
        shendu.load(MLP).export_onnx(out)
        self.assertGreater(os.path.getsize(out), 4 * 200000)

    def test_calls_release_the_gil(self):
        # ctypes drops the GIL around every call into a CDLL (a PyDLL would keep it)
        self.assertIsInstance(shendu._lib.lib, ctypes.CDLL)
        self.assertNotIsInstance(shendu._lib.lib, ctypes.PyDLL)
        m = shendu.load(MLP, threads=1)
        x = np.zeros((256, 1, 28, 28), np.uint8)
        want = m.predict(x)
        results = [None] * 4
        def work(i):
            results[i] = m.predict(x) if i % 2 else shendu.load(MLP, threads=1).predict(x)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in results:                                  # threads calling in at once: the same answers
            np.testing.assert_array_equal(r, want)


class TestGraph(unittest.TestCase):
    def test_mlp_gradients_match_pytorch(self):
        import torch
        rng = np.random.default_rng(1)
        x = rng.standard_normal((16, 20)).astype(np.float32)
        y = rng.integers(0, 5, 16)
        P = shendu.Params()
        fc1, fc2 = shendu.Linear(P, "fc1", 20, 32, seed=1), shendu.Linear(P, "fc2", 32, 5, seed=2)
        g = shendu.Graph(threads=1)
        g.reset()
        xin = g.input(x)
        h = g.tanh(fc1(xin))
        loss = g.cross_entropy(fc2(g.relu(h * 2.0 - g.input(np.full((16, 32), 0.1, np.float32)))), y)
        P.zero_grad()
        g.backward(loss)

        w = {n: torch.tensor(P.value(n).copy(), requires_grad=True) for n in P.names()}
        xt = torch.tensor(x)
        ht = torch.tanh(xt @ w["fc1.weight"].T + w["fc1.bias"])
        lt = torch.nn.functional.cross_entropy(
            torch.relu(ht * 2.0 - 0.1) @ w["fc2.weight"].T + w["fc2.bias"], torch.tensor(y))
        lt.backward()
        self.assertAlmostEqual(loss.item(), lt.item(), places=5)
        for n in P.names():
            np.testing.assert_allclose(P.grad(n), w[n].grad.numpy(), atol=1e-5, err_msg=n)

    def test_conv_gradients_match_pytorch(self):
        import torch
        rng = np.random.default_rng(2)
        x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
        P = shendu.Params()
        conv = shendu.Conv2d(P, "conv", 3, 4, 3, pad=1, seed=3)
        g = shendu.Graph(threads=1)
        g.reset()
        xin = g.input(x)
        t = g.maxpool2d(g.relu(conv(xin)), 2)
        target = rng.standard_normal((2, 4, 4, 4)).astype(np.float32)
        loss = g.mse(t, g.input(target))
        P.zero_grad()
        g.backward(loss)
        w = {n: torch.tensor(P.value(n).copy(), requires_grad=True) for n in P.names()}
        tt = torch.nn.functional.max_pool2d(torch.relu(torch.nn.functional.conv2d(
            torch.tensor(x), w["conv.weight"], w["conv.bias"], padding=1)), 2)
        lt = torch.nn.functional.mse_loss(tt, torch.tensor(target))
        lt.backward()
        np.testing.assert_allclose(t.numpy(), tt.detach().numpy(), atol=1e-5)
        for n in P.names():
            np.testing.assert_allclose(P.grad(n), w[n].grad.numpy(), atol=1e-5, err_msg=n)

    def test_op_errors_name_the_shapes(self):
        g = shendu.Graph(threads=1)
        g.reset()
        with self.assertRaisesRegex(shendu.ShenduError, "3"):
            g.matmul(g.input(np.zeros((2, 3), np.float32)), g.input(np.zeros((4, 5), np.float32)))

    def test_adam_step_lowers_the_loss(self):
        P = shendu.Params()
        fc = shendu.Linear(P, "fc", 4, 3, seed=1)
        opt = shendu.Optimizer(P, "adam", lr=0.05)
        g = shendu.Graph(threads=1)
        x = np.random.default_rng(3).standard_normal((8, 4)).astype(np.float32)
        y = np.argmax(x[:, :3], axis=1)                  # learnable: a linear rule
        losses = []
        for _ in range(40):
            g.reset()
            loss = g.cross_entropy(fc(g.input(x)), y)
            P.zero_grad()
            g.backward(loss)
            opt.step()
            losses.append(loss.item())
        self.assertLess(losses[-1], 0.5 * losses[0])

    def test_the_mnist_example_runs(self):
        out = subprocess.run([sys.executable, os.path.join(SRC, "python", "examples", "mnist_mlp.py"), "", "1", "640"],
                             capture_output=True, text=True, check=True).stdout
        self.assertRegex(out, r"epoch 1: loss [0-9.]+  test accuracy 0\.[0-9]+")


class TestInstall(unittest.TestCase):
    def test_cmake_install_puts_the_package_beside_the_library(self):
        build = os.environ.get("SHENDU_BUILD")
        if not build:
            self.fail("SHENDU_BUILD is not set (run through ctest)")
        prefix = os.path.join(TMP, "prefix")
        subprocess.run(["cmake", "--install", build, "--prefix", prefix], check=True, stdout=subprocess.DEVNULL)
        env = {k: v for k, v in os.environ.items() if k not in ("SHENDU_LIB", "SHENDU_BIN", "PYTHONPATH")}
        env["PYTHONPATH"] = os.path.join(prefix, "lib", "python3", "dist-packages")
        out = subprocess.run([sys.executable, "-c", "import shendu; print(shendu.LIBRARY_PATH)"], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
        self.assertTrue(out.startswith(prefix), out)


if __name__ == "__main__":
    unittest.main()
