"""The graph API: tensors from numpy, ops recorded on a tape, backward, optimizers.

    P = shendu.Params()
    fc = shendu.Linear(P, "fc1", 784, 10, seed=1)
    opt = shendu.Optimizer(P, "adam", lr=1e-3)
    g = shendu.Graph()
    g.reset()                                   # every step: the arena is reused
    loss = g.cross_entropy(fc(g.input(x)), labels)
    P.zero_grad(); g.backward(loss); opt.step()

A graph's tensors live until its next reset(); numpy() and grad() return copies.
Each op is the library's (sd_matmul, sd_relu, ...): shapes and errors are its.
"""
import ctypes

import numpy as np

from ._lib import (Conv2dLayer, CtxOpts, Linear as LinearStruct, OptimOpts, Rng, Shape, c_float_p, check,
                   check_ptr, enc, error, lib)

TRANS_A, TRANS_B = 1, 2


def _view(ptr, shape):
    n = int(np.prod(shape))
    return np.ctypeslib.as_array(ptr, shape=(n,)).reshape(shape)


class Tensor:
    """A value on a graph (sd_tensor). Operators +, -, *, @ record ops on its graph."""

    def __init__(self, graph, ptr):
        self.graph = graph
        self._t = ptr

    @property
    def shape(self):
        return self._t.contents.shape.tuple()

    def numpy(self):
        t = self._t.contents
        return _view(t.data, self.shape).copy()

    def grad(self):
        """dloss/dself after backward (None if no gradient reached it)."""
        t = self._t.contents
        return _view(t.grad, self.shape).copy() if t.grad else None

    def item(self):
        return float(self.numpy().reshape(-1)[0])

    def __add__(self, o): return self.graph.add(self, o)
    def __sub__(self, o): return self.graph.sub(self, o)
    def __mul__(self, o): return self.graph.scale(self, o) if np.isscalar(o) else self.graph.mul(self, o)
    def __matmul__(self, o): return self.graph.matmul(self, o)

    def __repr__(self):
        return f"<shendu.Tensor {self.shape}>"


class Graph:
    """A define-by-run tape and its arena (sd_graph) on a context of `threads` threads (0: all cores)."""

    def __init__(self, threads=0):
        self._ctx = None
        self._g = None
        self._ctx = check_ptr(lib.sd_ctx_new(ctypes.byref(CtxOpts(threads))))
        self._g = check_ptr(lib.sd_graph_new(self._ctx))
        self._keep = []            # numpy buffers the graph borrows until reset

    def close(self):
        if getattr(self, "_g", None):
            lib.sd_graph_free(self._g)
            self._g = None
        if getattr(self, "_ctx", None):
            lib.sd_ctx_free(self._ctx)
            self._ctx = None

    def __del__(self):
        self.close()

    def reset(self):
        """Drop every tensor of the last step (the arena is reused: no malloc once it has grown)."""
        lib.sd_graph_reset(self._g)
        self._keep = []

    def set_grad(self, enabled):
        """Record gradients (default) or not (inference)."""
        lib.sd_graph_set_grad(self._g, int(bool(enabled)))

    def _wrap(self, ptr):
        if not ptr:
            raise error()
        return Tensor(self, ptr)

    def input(self, array):
        """A leaf over a numpy array (float32, C-contiguous arrays are borrowed, not copied), no gradient."""
        a = np.ascontiguousarray(array, dtype=np.float32)
        self._keep.append(a)
        return self._wrap(lib.sd_input(self._g, a.ctypes.data_as(c_float_p), Shape.of(a.shape)))

    def zeros(self, shape):
        return self._wrap(lib.sd_zeros(self._g, Shape.of(shape)))

    def param(self, params, name):
        """Parameter `name` of a Params set as a leaf whose gradient accumulates into the set."""
        return self._wrap(lib.sd_param(self._g, params._P, params.id(name)))

    def _labels(self, labels):
        y = np.ascontiguousarray(labels, dtype=np.int32)
        self._keep.append(y)
        return y.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))

    # ops: each one of the library's
    def matmul(self, a, b, trans_a=False, trans_b=False):
        return self._wrap(lib.sd_matmul(self._g, a._t, b._t, (TRANS_A if trans_a else 0) | (TRANS_B if trans_b else 0)))

    def bias_add(self, x, b): return self._wrap(lib.sd_bias_add(self._g, x._t, b._t))
    def add(self, a, b): return self._wrap(lib.sd_add(self._g, a._t, b._t))
    def sub(self, a, b): return self._wrap(lib.sd_sub(self._g, a._t, b._t))
    def mul(self, a, b): return self._wrap(lib.sd_mul(self._g, a._t, b._t))
    def scale(self, x, s): return self._wrap(lib.sd_scale(self._g, x._t, float(s)))
    def relu(self, x): return self._wrap(lib.sd_relu(self._g, x._t))
    def leaky_relu(self, x, slope=0.01): return self._wrap(lib.sd_leaky_relu(self._g, x._t, float(slope)))
    def sigmoid(self, x): return self._wrap(lib.sd_sigmoid(self._g, x._t))
    def tanh(self, x): return self._wrap(lib.sd_tanh(self._g, x._t))
    def softmax(self, x): return self._wrap(lib.sd_softmax(self._g, x._t))
    def log_softmax(self, x): return self._wrap(lib.sd_log_softmax(self._g, x._t))
    def reshape(self, x, shape): return self._wrap(lib.sd_reshape(self._g, x._t, Shape.of(shape)))
    def flatten(self, x): return self._wrap(lib.sd_flatten(self._g, x._t))
    def sum(self, x): return self._wrap(lib.sd_sum(self._g, x._t))
    def mean(self, x): return self._wrap(lib.sd_mean(self._g, x._t))

    def conv2d(self, x, w, b=None, stride=1, pad=0):
        return self._wrap(lib.sd_conv2d(self._g, x._t, w._t, b._t if b is not None else None, stride, pad))

    def maxpool2d(self, x, k, stride=None):
        return self._wrap(lib.sd_maxpool2d(self._g, x._t, k, stride or k))

    def mse(self, pred, target): return self._wrap(lib.sd_mse(self._g, pred._t, target._t))
    def bce_logits(self, logits, target): return self._wrap(lib.sd_bce_logits(self._g, logits._t, target._t))

    def cross_entropy(self, logits, labels):
        """Mean of -log softmax(logits)[label]; labels: N integers in [0, C)."""
        return self._wrap(lib.sd_cross_entropy(self._g, logits._t, self._labels(labels)))

    def backward(self, loss):
        """Backpropagate from a one-element tensor into every gradient that needs it."""
        check(lib.sd_backward(self._g, loss._t))


class Params:
    """A set of parameters in one contiguous buffer (sd_params): weights and their gradients."""

    def __init__(self):
        self._P = check_ptr(lib.sd_params_new())

    def close(self):
        if getattr(self, "_P", None):
            lib.sd_params_free(self._P)
            self._P = None

    def __del__(self):
        self.close()

    def add(self, name, shape):
        """A new zero tensor; returns its id."""
        i = lib.sd_params_add(self._P, enc(name), Shape.of(shape))
        if i < 0:
            raise error()
        return i

    def id(self, name):
        i = lib.sd_params_find(self._P, enc(name))
        if i < 0:
            raise KeyError(f"no parameter '{name}' (have: {', '.join(self.names())})")
        return i

    def names(self):
        return [lib.sd_params_name(self._P, i).decode() for i in range(lib.sd_params_count(self._P))]

    def value(self, name):
        """A writable numpy view of the values (valid until more parameters are added)."""
        i = self.id(name)
        return _view(lib.sd_params_data(self._P, i), lib.sd_params_shape(self._P, i).tuple())

    def grad(self, name):
        """A numpy view of the gradient."""
        i = self.id(name)
        return _view(lib.sd_params_grad(self._P, i), lib.sd_params_shape(self._P, i).tuple())

    def zero_grad(self):
        lib.sd_params_zero_grad(self._P)

    def numel(self):
        return lib.sd_params_numel(self._P)


def _rng(seed):
    r = Rng()
    lib.sd_rng_seed(ctypes.byref(r), int(seed))
    return r


def _init(name):
    v = ctypes.c_int()
    check(lib.sd_init_parse(enc(name), ctypes.byref(v)))
    return v.value


class Linear:
    """A dense layer (sd_linear): y = x Wᵀ + b, NAME.weight (out, in), NAME.bias (out)."""

    def __init__(self, params, name, n_in, n_out, init="default", seed=1):
        self.params = params
        self._l = LinearStruct()
        check(lib.sd_linear_init(ctypes.byref(self._l), params._P, enc(name), n_in, n_out, _init(init),
                                 ctypes.byref(_rng(seed))))

    def __call__(self, x):
        return x.graph._wrap(lib.sd_linear_forward(x.graph._g, ctypes.byref(self._l), x._t))


class Conv2d:
    """A convolution layer (sd_conv2d_layer): NAME.weight (out, in, k, k), NAME.bias (out)."""

    def __init__(self, params, name, n_in, n_out, k, stride=1, pad=0, init="default", seed=1):
        self.params = params
        self._l = Conv2dLayer()
        check(lib.sd_conv2d_layer_init(ctypes.byref(self._l), params._P, enc(name), n_in, n_out, k, stride, pad,
                                       _init(init), ctypes.byref(_rng(seed))))

    def __call__(self, x):
        return x.graph._wrap(lib.sd_conv2d_layer_forward(x.graph._g, ctypes.byref(self._l), x._t))


class Optimizer:
    """SGD (with momentum) or Adam over a complete Params set (sd_optim)."""

    def __init__(self, params, kind="adam", lr=0.0, momentum=0.0, betas=(0.0, 0.0), eps=0.0, weight_decay=0.0,
                 decoupled=False, threads=1, decay_matrices_only=False):
        k = ctypes.c_int()
        check(lib.sd_optim_kind_parse(enc(kind), ctypes.byref(k)))
        self.params = params
        o = OptimOpts(k.value, lr, momentum, betas[0], betas[1], eps, weight_decay, int(decoupled), threads,
                      int(decay_matrices_only))
        self._o = check_ptr(lib.sd_optim_new(params._P, ctypes.byref(o)))

    def step(self):
        lib.sd_optim_step(self._o)

    def set_lr(self, lr):
        lib.sd_optim_set_lr(self._o, float(lr))

    def close(self):
        if getattr(self, "_o", None):
            lib.sd_optim_free(self._o)
            self._o = None

    def __del__(self):
        self.close()
