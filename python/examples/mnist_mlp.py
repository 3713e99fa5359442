"""The lecture's MLP on MNIST (or Fashion-MNIST), written with shendu's graph API.
   PYTHONPATH=python python3 python/examples/mnist_mlp.py [DATA_DIR] [EPOCHS] [LIMIT]"""
import sys
import numpy as np
import shendu

data = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None   # default: Fashion-MNIST
epochs, limit = int(sys.argv[2]) if len(sys.argv) > 2 else 2, int(sys.argv[3]) if len(sys.argv) > 3 else 0
x, y = shendu.load_mnist(data, "train")
xt, yt = shendu.load_mnist(data, "t10k")
x, y = (x[:limit], y[:limit]) if limit else (x, y)
x, xt = x.reshape(len(x), -1) / np.float32(255), xt.reshape(len(xt), -1) / np.float32(255)

P = shendu.Params()                                         # every weight in one buffer
fc1, fc2 = shendu.Linear(P, "fc1", 784, 128, seed=1), shendu.Linear(P, "fc2", 128, 10, seed=2)
opt = shendu.Optimizer(P, "adam", lr=1e-3)
g = shendu.Graph()
rng = np.random.default_rng(0)
for epoch in range(epochs):
    order = rng.permutation(len(x))
    for i in range(0, len(x), 64):
        idx = order[i:i + 64]
        g.reset()                                           # reuse the arena: no malloc after step 1
        loss = g.cross_entropy(fc2(g.relu(fc1(g.input(x[idx])))), y[idx])
        P.zero_grad()
        g.backward(loss)
        opt.step()
    last = loss.item()
    g.reset()
    logits = fc2(g.relu(fc1(g.input(xt)))).numpy()
    print(f"epoch {epoch + 1}: loss {last:.4f}  test accuracy {(logits.argmax(1) == yt).mean():.4f}")
