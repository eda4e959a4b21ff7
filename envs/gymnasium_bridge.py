"""The Gymnasium bridge: any Gymnasium id as a host-side vector env with our semantics.

This is the one host-bound path in `trax_rl.envs`. `HostVectorEnv` wraps
`gymnasium.make_vec(..., vectorization_mode="sync")` and returns numpy arrays with the
semantics of `vectorize(env, n)` on a JAX env: the observation returned for a
finished sub-env is already its reset observation, and `info` holds `"final_obs"`,
`"episode_return"` and `"episode_length"` as dense `[num_envs, ...]` arrays.
"""

import difflib

import gymnasium
import numpy as np
from gymnasium.error import DependencyNotInstalled

from trax_rl.envs import spaces

# Extras named by a Gymnasium entry point's module, for the missing-dependency error.
_EXTRAS = {
    "box2d": 'pip install swig "gymnasium[box2d]"',
    "mujoco": 'pip install "gymnasium[mujoco]"',
    "ale_py": "pip install ale-py",
    "toy_text": 'pip install "gymnasium[toy-text]"',
    "classic_control": 'pip install "gymnasium[classic-control]"',
}


def _install_hint(env_id: str) -> str | None:
    if env_id.startswith("ALE/"):
        return _EXTRAS["ale_py"]
    spec = gymnasium.registry.get(env_id)
    entry_point = str(getattr(spec, "entry_point", ""))
    for module, hint in _EXTRAS.items():
        if module in entry_point:
            return hint
    return None


def _check_registered(env_id: str) -> None:
    if env_id in gymnasium.registry:
        return
    close = difflib.get_close_matches(env_id, list(gymnasium.registry), n=3, cutoff=0.6)
    hint = _install_hint(env_id)
    raise ValueError(
        f"Gymnasium has no environment {env_id!r}"
        + (f"; did you mean {', '.join(map(repr, close))}?" if close else ".")
        + (f" Atari ids need `{hint}` and `import ale_py`." if hint else "")
    )


class HostVectorEnv:
    """`num_envs` Gymnasium envs stepped on the host; numpy in, numpy out.

    `observation_space`/`action_space` are ours (`spaces.Box`/`Discrete`) for one env.
    Observations come back in that space's dtype (float32 / int32), rewards float32.
    """

    def __init__(self, vector_env: gymnasium.vector.VectorEnv, seed: int = 0):
        self._env = vector_env
        self._seed = seed
        self.num_envs = vector_env.num_envs
        self.observation_space = spaces.from_gymnasium(vector_env.single_observation_space)
        self.action_space = spaces.from_gymnasium(vector_env.single_action_space)
        self._gym_action_dtype = vector_env.single_action_space.dtype
        self._episode_return = np.zeros(self.num_envs, np.float32)
        self._episode_length = np.zeros(self.num_envs, np.int32)

    def reset(self) -> np.ndarray:
        """Starts every sub-env; seeded from `seed` on the first call only."""
        obs, _ = self._env.reset(seed=self._seed)
        self._seed = None
        self._episode_return[:] = 0.0
        self._episode_length[:] = 0
        return self._cast_obs(obs)

    def step(self, actions):
        """Returns `(obs, reward, terminated, truncated, info)`, auto-reset done in place."""
        actions = self._check_actions(actions)
        obs, reward, terminated, truncated, gym_info = self._env.step(actions)
        obs = self._cast_obs(obs)
        reward = np.asarray(reward, np.float32)
        terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
        done = terminated | truncated

        final_obs = obs.copy()
        for i in np.flatnonzero(done):
            final_obs[i] = gym_info["final_obs"][i]
        self._episode_return += reward
        self._episode_length += 1
        info = {
            "final_obs": final_obs,
            "episode_return": self._episode_return.copy(),
            "episode_length": self._episode_length.copy(),
        }
        self._episode_return[done] = 0.0
        self._episode_length[done] = 0
        return obs, reward, terminated, truncated, info

    def _cast_obs(self, obs):
        return np.asarray(obs).astype(self.observation_space.dtype, copy=False)

    def _check_actions(self, actions) -> np.ndarray:
        actions = np.asarray(actions)
        expected = (self.num_envs, *self.action_space.shape)
        is_int = np.issubdtype(actions.dtype, np.integer)
        wants_int = isinstance(self.action_space, spaces.Discrete)
        if actions.shape != expected or is_int != wants_int:
            raise TypeError(
                f"actions must have shape {expected} and "
                f"{'an integer' if wants_int else 'a float'} dtype for {self.action_space}, "
                f"got shape {actions.shape} dtype {actions.dtype}"
            )
        return actions.astype(self._gym_action_dtype)

    def close(self) -> None:
        self._env.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"HostVectorEnv({self._env.spec.id if self._env.spec else self._env!r}, {self.num_envs})"


def make_gymnasium_vec(env_id: str, num_envs: int, *, seed: int = 0, **kwargs) -> HostVectorEnv:
    """Any registered Gymnasium id as a `HostVectorEnv`; `kwargs` go to the env.

    Raises ValueError for an unknown id (naming close ones) and ImportError naming
    the pip command when the id needs an uninstalled extra (Box2D, MuJoCo, Atari).
    """
    _check_registered(env_id)
    try:
        vector_env = gymnasium.make_vec(
            env_id,
            num_envs,
            vectorization_mode="sync",
            # SAME_STEP: a finished sub-env is reset inside the step that ended it and
            # its last observation comes in info["final_obs"], like our JAX envs.
            # Gymnasium's default, NEXT_STEP, would spend the next step on the reset.
            vector_kwargs={"autoreset_mode": gymnasium.vector.AutoresetMode.SAME_STEP},
            **kwargs,
        )
    except DependencyNotInstalled as e:
        hint = _install_hint(env_id) or "the extra named below"
        raise ImportError(f"{env_id} needs a dependency that is not installed: run `{hint}` ({e})") from e
    return HostVectorEnv(vector_env, seed=seed)
