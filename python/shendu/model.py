"""Model files: shendu.load(path) -> Classifier, Generator or Agent."""
import ctypes
import threading

import numpy as np

from ._lib import PredictorOpts, c_float_p, check, check_ptr, enc, lib


class Model:
    """A sequential model file (sd_model). predict() runs it through sd_predict, without the GIL; calls to
    one model from several threads take turns (load it once per thread to run them side by side)."""

    def __init__(self, handle, path, threads=0, batch=0):
        self._m = handle          # owned from here on: close() frees it, also when __init__ fails
        self._p = None
        self.path = path
        self._p = check_ptr(lib.sd_predictor_new(self._m, ctypes.byref(PredictorOpts(threads, batch))))
        self.input_shape = lib.sd_model_input_shape(self._m).tuple()
        self.output_shape = lib.sd_model_output_shape(self._m).tuple()
        self.arch = lib.sd_model_arch(self._m).decode()
        self._in_size = int(np.prod(self.input_shape))
        self._lock = threading.Lock()     # one predictor (context, graph): calls from several threads take turns
        self._u8 = isinstance(self, Classifier)
        self.metadata = {}
        for i in range(lib.sd_model_meta_count(self._m)):
            k, v = ctypes.c_char_p(), ctypes.c_char_p()
            lib.sd_model_meta_at(self._m, i, ctypes.byref(k), ctypes.byref(v))
            self.metadata[k.value.decode()] = v.value.decode()

    def close(self):
        if getattr(self, "_p", None):
            lib.sd_predictor_free(self._p)
            self._p = None
        if getattr(self, "_m", None):
            lib.sd_model_free(self._m)
            self._m = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<shendu.{type(self).__name__} {self.path!r}: {self.arch}>"

    def _batch(self, x):
        """x as a C-contiguous float32 or uint8 array (N, *input_shape), without a copy when it already is one."""
        x = np.asarray(x)
        if x.dtype == np.uint8 and not self._u8:
            raise TypeError(f"{self.path}: this model takes float32 inputs (uint8 is for image classifiers)")
        if x.dtype != np.float32 and x.dtype != np.uint8:
            x = x.astype(np.float32)
        x = np.ascontiguousarray(x)
        single = x.shape == self.input_shape
        if single:
            x = x.reshape((1,) + self.input_shape)
        elif not (x.ndim >= 1 and x.shape[1:] in (self.input_shape, (self._in_size,))):
            raise ValueError(f"{self.path}: inputs of shape {self.input_shape} (or a batch of them) expected, "
                             f"got {x.shape}")
        return x, single

    def predict(self, x):
        """Outputs for x: one example of input_shape or a batch (N, *input_shape) -> (N, *output_shape)
        float32 (one example: without the batch dimension). The input is read in place, not copied."""
        if (type(x) is np.ndarray and x.shape[1:] == self.input_shape and x.flags.c_contiguous
                and (x.dtype == np.float32 or (self._u8 and x.dtype == np.uint8))):
            single = False                                   # the common case, checked in one go
        else:
            x, single = self._batch(x)
        n = x.shape[0]
        out = np.empty((n,) + self.output_shape, dtype=np.float32)
        with self._lock:
            rc = lib.sd_predict(self._p, x.ctypes.data, x.dtype == np.uint8, n, out.ctypes.data)
            if rc:
                check(rc)                 # the message is this thread's (sd_last_error is per thread)
        return out[0] if single else out

    __call__ = predict

    def save(self, path):
        check(lib.sd_model_save(self._m, enc(path)))

    def export_onnx(self, path):
        """The model as an ONNX file (opset 17), as `shendu export --onnx` writes it."""
        check(lib.sd_onnx_save_model(self._m, enc(path), None))


class Classifier(Model):
    """An image classifier: predict() takes raw pixels (uint8, or float32 0..255) and returns logits; the
    model's normalisation (input_scale, input_shift) is applied by the library."""

    @property
    def classes(self):
        names = self.metadata.get("classes")
        return names.split(",") if names else [str(i) for i in range(self.output_shape[0])]

    def classify(self, x):
        """Class indices of a batch (or one image)."""
        return np.argmax(self.predict(x), axis=-1)


class Generator(Model):
    """A GAN generator: predict(noise (N, noise_dim)) -> images (N, C, H, W) in [-1, 1]."""

    def predict(self, x):
        y = super().predict(x)
        return y.reshape(y.shape[:-len(self.output_shape)] + self.image_shape)

    __call__ = predict

    @property
    def noise_dim(self):
        return self.input_shape[0]

    @property
    def image_shape(self):
        s = self.metadata.get("image_shape")
        return tuple(int(v) for v in s.split(",")) if s else self.output_shape


class Agent(Model):
    """A DQN agent: predict(obs) -> Q-values, act(obs) -> the greedy action."""

    def __init__(self, handle, path, threads=0, batch=0):
        super().__init__(handle, path, threads, batch)
        from ._lib import CtxOpts
        self._ctx = check_ptr(lib.sd_ctx_new(ctypes.byref(CtxOpts(1))))
        self._g = check_ptr(lib.sd_graph_new(self._ctx))
        self.env = self.metadata.get("rl.env")

    def close(self):
        if getattr(self, "_g", None):
            lib.sd_graph_free(self._g)
            self._g = None
        if getattr(self, "_ctx", None):
            lib.sd_ctx_free(self._ctx)
            self._ctx = None
        super().close()

    def act(self, obs):
        obs = np.ascontiguousarray(obs, dtype=np.float32).reshape(-1)
        if obs.size != self.input_shape[0]:
            raise ValueError(f"{self.path}: observations of {self.input_shape[0]} values expected, got {obs.size}")
        with self._lock:
            a = lib.sd_agent_act(self._g, self._m, obs.ctypes.data_as(c_float_p))
            if a < 0:
                check(-1)
        return a


def load(path, threads=0, batch=0):
    """Load a model file written by shendu (a classifier, a GAN generator or a DQN agent, or a checkpoint of
    one). threads: for predict (0: all cores); batch: examples per forward pass (0: 256)."""
    f = check_ptr(lib.sd_st_open(enc(path)))
    fmt = lib.sd_st_meta(f, b"shendu.format")
    bare_ckpt = fmt == b"checkpoint" and lib.sd_st_meta(f, b"shendu.train.epoch") and not lib.sd_st_meta(f, b"input_scale")
    lib.sd_st_close(f)
    if bare_ckpt:                       # as `shendu export` refuses it
        from ._lib import ShenduError
        raise ShenduError(f"{path}: a training checkpoint of a classifier does not carry its input normalisation; "
                          "load the model file the run wrote with --out")
    if fmt and fmt.startswith(b"lm"):
        from ._lib import ShenduError
        raise ShenduError(f"{path}: a language model; the Python package loads classifiers, generators and "
                          "agents (use `shendu lm sample`, or export it: `shendu export --onnx`)")
    m = check_ptr(lib.sd_model_load(enc(path)))
    role = lib.sd_model_meta_get(m, b"role")
    if lib.sd_model_meta_get(m, b"rl.env"):
        cls = Agent
    elif role == b"generator":
        cls = Generator
    else:
        cls = Classifier
    return cls(m, path, threads, batch)
