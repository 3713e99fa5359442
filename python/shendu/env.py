"""shendu's environments with Gymnasium's API: make("CartPole-v1"), reset(seed=), step(a)."""
import ctypes

import numpy as np

from ._lib import EnvResult, c_float_p, check, check_ptr, enc, lib

NO_SEED = -1


class Discrete:
    """Gymnasium's Discrete(n): the integers 0 .. n-1."""

    def __init__(self, n, seed=None):
        self.n = n
        self.shape = ()
        self.dtype = np.int64
        self._rng = np.random.default_rng(seed)

    def sample(self):
        return int(self._rng.integers(self.n))

    def seed(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def contains(self, x):
        return isinstance(x, (int, np.integer)) and 0 <= x < self.n

    def __repr__(self):
        return f"Discrete({self.n})"


class Box:
    """Gymnasium's Box: float32 vectors of a shape (the bounds are the environment's own)."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.dtype = np.float32

    def __repr__(self):
        return f"Box({self.shape}, float32)"


class Env:
    """One of shendu's environments (sd_env). Tabular ones (FrozenLake, CliffWalking) observe a state index
    (an int, Discrete observation space); CartPole and Acrobot a float32 vector (Box)."""

    def __init__(self, name, max_steps=0, slippery=None):
        opts = None
        if max_steps or slippery is not None:
            class EnvOpts(ctypes.Structure):
                _fields_ = [("slippery", ctypes.c_int), ("max_steps", ctypes.c_int)]
            opts = ctypes.byref(EnvOpts(0 if slippery is None else (1 if slippery else -1), max_steps))
        self._e = check_ptr(lib.sd_env_new(enc(name), opts))
        info = lib.sd_env_get_info(self._e).contents
        self.name = info.name.decode()
        self.spec_id = info.gym_id.decode()
        self._discrete = info.n_states > 0
        self.action_space = Discrete(info.n_actions)
        self.observation_space = Discrete(info.n_states) if self._discrete else Box((info.obs_dim,))
        self.action_names = [info.action_names[i].decode() for i in range(info.n_actions)] \
            if info.action_names else None
        self.max_episode_steps = info.max_steps or None
        self.reward_threshold = None if np.isnan(info.reward_threshold) else info.reward_threshold
        self._obs = np.zeros(info.obs_dim, dtype=np.float32)
        self._res = EnvResult()

    def _out(self):
        return int(self._obs[0]) if self._discrete else self._obs.copy()

    def reset(self, seed=None, options=None):
        """Start an episode -> (observation, info). seed reseeds the environment's own RNG."""
        check(lib.sd_env_reset(self._e, NO_SEED if seed is None else int(seed), self._obs.ctypes.data_as(c_float_p)))
        if seed is not None:
            self.action_space.seed(seed)
        return self._out(), {}

    def step(self, action):
        """One step -> (observation, reward, terminated, truncated, info)."""
        check(lib.sd_env_step(self._e, int(action), self._obs.ctypes.data_as(c_float_p), ctypes.byref(self._res)))
        r = self._res
        return self._out(), float(r.reward), bool(r.terminated), bool(r.truncated), {}

    def render(self):
        """The current state as text (grid worlds draw the grid, CartPole its cart and pole)."""
        buf = ctypes.create_string_buffer(8192)
        n = lib.sd_env_render(self._e, buf, len(buf))
        if n < 0:
            check(n)
        return buf.value.decode()

    def close(self):
        if getattr(self, "_e", None):
            lib.sd_env_free(self._e)
            self._e = None

    def __del__(self):
        self.close()

    def __repr__(self):
        return f"<shendu.Env {self.spec_id}>"


def make(name, **kwargs):
    """An environment by Gymnasium id ("CartPole-v1", "FrozenLake-v1", "Acrobot-v1", "CliffWalking-v0", ...) or
    shendu name ("cartpole", "frozenlake8", ...). kwargs: max_episode_steps, is_slippery (FrozenLake)."""
    return Env(name, max_steps=kwargs.get("max_episode_steps", 0) or 0, slippery=kwargs.get("is_slippery"))


def env_names():
    return lib.sd_env_names().decode()
