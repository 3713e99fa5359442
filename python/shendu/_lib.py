"""The shared library through ctypes: where it is, the C signatures, errors.

ctypes releases the GIL around every call into a CDLL, so prediction and the
graph's ops run while other Python threads go on.
"""
import ctypes
import ctypes.util
import os


class ShenduError(RuntimeError):
    """An error reported by the library; the message is sd_last_error()'s."""


def _candidates():
    env = os.environ.get("SHENDU_LIB")
    if env:
        yield env
        return
    try:  # written by `cmake --install` beside the installed package
        from . import _install
        yield _install.LIBRARY
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "..", "..", "build", "libshendu.so")   # a source tree built in build/
    found = ctypes.util.find_library("shendu")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path}: {e}")
    raise ImportError("shendu: libshendu.so not found (set SHENDU_LIB, or build it: cmake -S . -B build && "
                      "cmake --build build)\n  " + "\n  ".join(tried))


lib, LIBRARY_PATH = _load()

c_float_p = ctypes.POINTER(ctypes.c_float)
MAX_DIMS = 4


class Shape(ctypes.Structure):          # sd_shape
    _fields_ = [("ndim", ctypes.c_int), ("d", ctypes.c_int * MAX_DIMS)]

    def tuple(self):
        return tuple(self.d[i] for i in range(self.ndim))

    @staticmethod
    def of(dims):
        dims = tuple(int(d) for d in dims)
        if not 1 <= len(dims) <= MAX_DIMS:
            raise ValueError(f"shendu tensors have 1 to {MAX_DIMS} dimensions, not {len(dims)}")
        s = Shape()
        s.ndim = len(dims)
        for i, d in enumerate(dims):
            s.d[i] = d
        return s


class TensorStruct(ctypes.Structure):   # the leading fields of struct sd_tensor
    _fields_ = [("shape", Shape), ("n", ctypes.c_size_t), ("data", c_float_p), ("grad", c_float_p)]


class EnvInfo(ctypes.Structure):        # sd_env_info
    _fields_ = [("name", ctypes.c_char_p), ("gym_id", ctypes.c_char_p), ("n_states", ctypes.c_int),
                ("obs_dim", ctypes.c_int), ("n_actions", ctypes.c_int), ("max_steps", ctypes.c_int),
                ("start_state", ctypes.c_int), ("goal_state", ctypes.c_int), ("reward_threshold", ctypes.c_double),
                ("action_names", ctypes.POINTER(ctypes.c_char_p))]


class EnvResult(ctypes.Structure):      # sd_env_result
    _fields_ = [("reward", ctypes.c_float), ("terminated", ctypes.c_int), ("truncated", ctypes.c_int)]


class PredictorOpts(ctypes.Structure):  # sd_predictor_opts
    _fields_ = [("threads", ctypes.c_int), ("batch", ctypes.c_int)]


class CtxOpts(ctypes.Structure):        # sd_ctx_opts
    _fields_ = [("threads", ctypes.c_int)]


class OptimOpts(ctypes.Structure):      # sd_optim_opts
    _fields_ = [("kind", ctypes.c_int), ("lr", ctypes.c_float), ("momentum", ctypes.c_float),
                ("beta1", ctypes.c_float), ("beta2", ctypes.c_float), ("eps", ctypes.c_float),
                ("weight_decay", ctypes.c_float), ("decoupled", ctypes.c_int), ("threads", ctypes.c_int),
                ("decay_matrices_only", ctypes.c_int)]


class Rng(ctypes.Structure):            # sd_rng
    _fields_ = [("s", ctypes.c_uint64 * 4)]


class Linear(ctypes.Structure):         # sd_linear
    _fields_ = [("P", ctypes.c_void_p), ("w", ctypes.c_int), ("b", ctypes.c_int), ("in_", ctypes.c_int),
                ("out", ctypes.c_int)]


class Conv2dLayer(ctypes.Structure):    # sd_conv2d_layer
    _fields_ = [("P", ctypes.c_void_p), ("w", ctypes.c_int), ("b", ctypes.c_int), ("in_", ctypes.c_int),
                ("out", ctypes.c_int), ("k", ctypes.c_int), ("stride", ctypes.c_int), ("pad", ctypes.c_int)]


T = ctypes.POINTER(TensorStruct)
V = ctypes.c_void_p
I, F, S, SZ = ctypes.c_int, ctypes.c_float, ctypes.c_char_p, ctypes.c_size_t


def _sig(name, res, *args):
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = list(args)


for _name, _res, _args in [
    ("sd_last_error", S, []),
    ("sd_ctx_new", V, [ctypes.POINTER(CtxOpts)]), ("sd_ctx_free", None, [V]),
    ("sd_rng_seed", None, [ctypes.POINTER(Rng), ctypes.c_uint64]),
    # models and inference
    ("sd_model_load", V, [S]), ("sd_model_free", None, [V]), ("sd_model_save", I, [V, S]),
    ("sd_model_input_shape", Shape, [V]), ("sd_model_output_shape", Shape, [V]),
    ("sd_model_arch", S, [V]), ("sd_model_meta_get", S, [V, S]), ("sd_model_meta_count", I, [V]),
    ("sd_model_meta_at", None, [V, I, ctypes.POINTER(S), ctypes.POINTER(S)]),
    ("sd_predictor_new", V, [V, ctypes.POINTER(PredictorOpts)]), ("sd_predictor_free", None, [V]),
    ("sd_predict", I, [V, V, I, SZ, V]),
    ("sd_onnx_save_model", I, [V, S, V]),
    ("sd_st_open", V, [S]), ("sd_st_close", None, [V]), ("sd_st_meta", S, [V, S]),
    # environments and agents
    ("sd_env_new", V, [S, V]), ("sd_env_free", None, [V]), ("sd_env_get_info", ctypes.POINTER(EnvInfo), [V]),
    ("sd_env_reset", I, [V, ctypes.c_int64, c_float_p]),
    ("sd_env_step", I, [V, I, c_float_p, ctypes.POINTER(EnvResult)]),
    ("sd_env_render", I, [V, ctypes.c_char_p, SZ]), ("sd_env_names", S, []),
    ("sd_agent_act", I, [V, V, c_float_p]),
    # graphs, parameters, ops
    ("sd_graph_new", V, [V]), ("sd_graph_free", None, [V]), ("sd_graph_reset", None, [V]),
    ("sd_graph_set_grad", None, [V, I]),
    ("sd_params_new", V, []), ("sd_params_free", None, [V]), ("sd_params_add", I, [V, S, Shape]),
    ("sd_params_count", I, [V]), ("sd_params_find", I, [V, S]), ("sd_params_name", S, [V, I]),
    ("sd_params_shape", Shape, [V, I]), ("sd_params_data", c_float_p, [V, I]),
    ("sd_params_grad", c_float_p, [V, I]), ("sd_params_zero_grad", None, [V]), ("sd_params_numel", SZ, [V]),
    ("sd_param", T, [V, V, I]),
    ("sd_linear_init", I, [ctypes.POINTER(Linear), V, S, I, I, I, ctypes.POINTER(Rng)]),
    ("sd_linear_forward", T, [V, ctypes.POINTER(Linear), T]),
    ("sd_conv2d_layer_init", I, [ctypes.POINTER(Conv2dLayer), V, S, I, I, I, I, I, I, ctypes.POINTER(Rng)]),
    ("sd_conv2d_layer_forward", T, [V, ctypes.POINTER(Conv2dLayer), T]),
    ("sd_init_parse", I, [S, ctypes.POINTER(I)]),
    ("sd_optim_new", V, [V, ctypes.POINTER(OptimOpts)]), ("sd_optim_free", None, [V]),
    ("sd_optim_step", None, [V]), ("sd_optim_set_lr", None, [V, F]), ("sd_optim_kind_parse", I, [S, ctypes.POINTER(I)]),
    ("sd_input", T, [V, c_float_p, Shape]), ("sd_zeros", T, [V, Shape]),
    ("sd_backward", I, [V, T]),
    ("sd_matmul", T, [V, T, T, I]), ("sd_bias_add", T, [V, T, T]),
    ("sd_add", T, [V, T, T]), ("sd_sub", T, [V, T, T]), ("sd_mul", T, [V, T, T]), ("sd_scale", T, [V, T, F]),
    ("sd_relu", T, [V, T]), ("sd_leaky_relu", T, [V, T, F]), ("sd_sigmoid", T, [V, T]), ("sd_tanh", T, [V, T]),
    ("sd_softmax", T, [V, T]), ("sd_log_softmax", T, [V, T]), ("sd_reshape", T, [V, T, Shape]),
    ("sd_flatten", T, [V, T]), ("sd_sum", T, [V, T]), ("sd_mean", T, [V, T]),
    ("sd_conv2d", T, [V, T, T, T, I, I]), ("sd_maxpool2d", T, [V, T, I, I]),
    ("sd_mse", T, [V, T, T]), ("sd_cross_entropy", T, [V, T, ctypes.POINTER(ctypes.c_int32)]),
    ("sd_bce_logits", T, [V, T, T]),
]:
    _sig(_name, _res, *_args)


def error():
    msg = lib.sd_last_error()
    return ShenduError(msg.decode("utf-8", "replace") if msg else "unknown error")


def check(rc):
    """A status from the library: 0 is fine, anything else raises its message."""
    if rc != 0:
        raise error()
    return rc


def check_ptr(p):
    if not p:
        raise error()
    return p


def enc(s):
    return s.encode("utf-8") if isinstance(s, str) else s


class Dataset(ctypes.Structure):        # sd_dataset
    _fields_ = [("n", ctypes.c_int), ("c", ctypes.c_int), ("h", ctypes.c_int), ("w", ctypes.c_int),
                ("images", ctypes.POINTER(ctypes.c_uint8)), ("labels", ctypes.POINTER(ctypes.c_uint8)),
                ("nclass", ctypes.c_int)]


_sig("sd_dataset_load_mnist", I, S, S, ctypes.POINTER(Dataset))
_sig("sd_dataset_free", None, ctypes.POINTER(Dataset))
_sig("sd_data_default_dir", S)
