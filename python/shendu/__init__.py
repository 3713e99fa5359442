"""shendu from Python: a thin ctypes layer over libshendu.so (numpy in, numpy out).

    import shendu
    model = shendu.load("model.safetensors")       # classifier, GAN generator or DQN agent
    logits = model.predict(images)                   # uint8 or float32 pixels, any batch
    print(model.classes[logits.argmax(1)[0]])
    metrics = shendu.train("classifier", model="cnn", epochs=1, out="cnn.safetensors", progress=print)
    env = shendu.make("CartPole-v1")                 # Gymnasium's API
    obs, info = env.reset(seed=42)
    obs, reward, terminated, truncated, info = env.step(agent.act(obs))

The graph API (Graph, Params, Linear, Conv2d, Optimizer) writes models by hand:
python/examples/mnist_mlp.py. Library errors raise shendu.ShenduError with the
library's message. ctypes releases the GIL during every library call.
"""
from ._lib import LIBRARY_PATH, ShenduError
from .data import default_data_dir, load_mnist
from .env import Box, Discrete, Env, env_names, make
from .graph import Conv2d, Graph, Linear, Optimizer, Params, Tensor
from .model import Agent, Classifier, Generator, Model, load
from .train import train

__all__ = ["Agent", "Box", "Classifier", "Conv2d", "Discrete", "Env", "Generator", "Graph", "LIBRARY_PATH", "Linear",
           "Model", "Optimizer", "Params", "ShenduError", "Tensor", "default_data_dir", "env_names", "load",
           "load_mnist", "make", "train"]
