"""The Gymnasium bridge: any Gymnasium id as a host-side vector env with our semantics.

This is the one host-bound path in `trax_rl.envs`. `HostVectorEnv` wraps
`gymnasium.make_vec(..., vectorization_mode="sync")` and returns numpy arrays with the
semantics of `vectorize(env, n)` on a JAX env: the observation returned for a
finished sub-env is already its reset observation, and `info` holds `"final_obs"`,
`"episode_return"` and `"episode_length"` as dense `[num_envs, ...]` arrays.

What agents send is made valid for the Gymnasium env here, once: `Discrete(n, start=k)`
actions are 0-based on our side (`action_space.start == 0`) and shifted by `k`; `Box`
actions are clipped to the bounds (agents keep the log-prob of the unclipped sample).
Tuple and Dict observations are flattened (`gymnasium.wrappers.FlattenObservation`),
and every episode has a step bound: the env's own time limit, or `max_episode_steps`,
or `DEFAULT_MAX_EPISODE_STEPS` for an env registered without one (CliffWalking-v1).
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


DEFAULT_MAX_EPISODE_STEPS = 1000
"""Time limit for Gymnasium ids registered without one, so no episode runs forever."""


class HostVectorEnv:
    """`num_envs` Gymnasium envs stepped on the host; numpy in, numpy out.

    `observation_space`/`action_space` are ours (`spaces.Box`/`Discrete`) for one env;
    a `Discrete` action space is 0-based whatever the Gymnasium env's `start`.
    Observations come back in that space's dtype (float32 / int32), rewards float32.
    """

    def __init__(self, vector_env: gymnasium.vector.VectorEnv, seed: int = 0):
        self._env = vector_env
        self._seed = seed
        self.num_envs = vector_env.num_envs
        self.observation_space = spaces.from_gymnasium(vector_env.single_observation_space)
        gym_actions = vector_env.single_action_space
        self.action_space = spaces.from_gymnasium(gym_actions)
        self._action_start = 0
        if isinstance(self.action_space, spaces.Discrete):
            self._action_start = self.action_space.start
            self.action_space = spaces.Discrete(self.action_space.n)
        self._gym_action_dtype = gym_actions.dtype
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
        if isinstance(self.action_space, spaces.Box):
            actions = np.clip(actions, self.action_space.low, self.action_space.high)
        return (actions + self._action_start).astype(self._gym_action_dtype)

    def close(self) -> None:
        self._env.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"HostVectorEnv({self._env.spec.id if self._env.spec else self._env!r}, {self.num_envs})"


def max_episode_steps(env_id: str, override: int | None = None) -> int:
    """The step bound of `env_id`'s episodes: `override`, else its own, else the default."""
    if override:
        return int(override)
    spec = gymnasium.registry.get(env_id)
    return int(getattr(spec, "max_episode_steps", None) or DEFAULT_MAX_EPISODE_STEPS)


def make_gymnasium_vec(env_id: str, num_envs: int, *, seed: int = 0,
                       max_episode_steps: int | None = None, **kwargs) -> HostVectorEnv:
    """Any registered Gymnasium id as a `HostVectorEnv`; `kwargs` go to the env.

    Episodes end after `max_episode_steps` (default: the env's own limit, or
    `DEFAULT_MAX_EPISODE_STEPS`). Raises ValueError for an unknown id (naming close ones)
    or an observation space that cannot be flattened to a Box, and ImportError naming the
    pip command when the id needs an uninstalled extra (Box2D, MuJoCo, Atari).
    """
    _check_registered(env_id)
    limit = globals()["max_episode_steps"](env_id, max_episode_steps)
    vector_env = _make_vec(env_id, num_envs, limit, [], kwargs)
    if isinstance(vector_env.single_observation_space,
                  (gymnasium.spaces.Tuple, gymnasium.spaces.Dict)):
        vector_env.close()
        vector_env = _make_vec(env_id, num_envs, limit,
                               [gymnasium.wrappers.FlattenObservation], kwargs)
    try:
        return HostVectorEnv(vector_env, seed=seed)
    except TypeError as e:
        vector_env.close()
        raise ValueError(f"{env_id}: {e}") from None


def _make_vec(env_id, num_envs, limit, wrappers, kwargs):
    try:
        return gymnasium.make_vec(
            env_id,
            num_envs,
            vectorization_mode="sync",
            # SAME_STEP: a finished sub-env is reset inside the step that ended it and
            # its last observation comes in info["final_obs"], like our JAX envs.
            # Gymnasium's default, NEXT_STEP, would spend the next step on the reset.
            vector_kwargs={"autoreset_mode": gymnasium.vector.AutoresetMode.SAME_STEP},
            wrappers=wrappers,
            max_episode_steps=limit,
            **kwargs,
        )
    except DependencyNotInstalled as e:
        hint = _install_hint(env_id) or "the extra named below"
        raise ImportError(f"{env_id} needs a dependency that is not installed: run `{hint}` ({e})") from e
