"""Our JAX environments offered as `gymnasium.Env` and `gymnasium.vector.VectorEnv`.

For tools that speak Gymnasium (its `check_env`, other libraries' loops). Each
instance jits its reset/step once; arrays cross to numpy at the boundary.
`as_gymnasium` does not auto-reset (a Gymnasium env must not): after a done step,
call `reset`. `as_gymnasium_vector` auto-resets in Gymnasium's SAME_STEP mode,
which is our own semantics.
"""

from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from trax_rl.envs import registry, spaces
from trax_rl.envs.environment import Environment
from trax_rl.envs.wrappers import vectorize


def _resolve(env_or_id) -> tuple[Environment, Any]:
    if isinstance(env_or_id, str):
        return registry.make(env_or_id)
    env, params = env_or_id
    return env, params


def _jitted(env: Environment, params):
    """`reset(key)` and `step(key, state, action)` that split their key and return the next."""

    def reset(key):
        key, reset_key = jax.random.split(key)
        obs, state = env.reset(reset_key, params)
        return key, obs, state

    def step(key, state, action):
        key, step_key = jax.random.split(key)
        return (key, *env.step(step_key, state, action, params))

    return jax.jit(reset), jax.jit(step)


def _to_jax_action(action, space):
    if isinstance(space, spaces.Discrete):
        return jnp.asarray(np.asarray(action).astype(np.int32))
    return jnp.asarray(np.asarray(action, np.float32))


class JaxToGymnasiumEnv(gymnasium.Env):
    """One JAX env as a `gymnasium.Env`; see `as_gymnasium`."""

    def __init__(self, env: Environment, params, seed: int | None = None, render_mode=None):
        self.env, self.params = env, params
        self.observation_space = spaces.to_gymnasium(env.observation_space(params))
        self.action_space = spaces.to_gymnasium(env.action_space(params))
        self._action_space = env.action_space(params)
        self.metadata = {
            "render_modes": ["rgb_array"] if env.gymnasium_id else [],
            "render_fps": 30,
        }
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"{env.name} renders {self.metadata['render_modes'] or 'nothing'}, "
                f"got render_mode={render_mode!r}"
            )
        self.render_mode = render_mode
        self._reset, self._step = _jitted(env, params)
        self._first_seed = seed
        self._key = self._state = None
        self._renderer = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None and self._key is None:
            seed = self._first_seed
        super().reset(seed=seed)
        if seed is not None or self._key is None:
            # Derived from np_random so that an unseeded first reset is still random.
            self._key = jax.random.key(int(self.np_random.integers(2**31)))
        self._key, obs, self._state = self._reset(self._key)
        return np.asarray(obs), {}

    def step(self, action):
        if self._state is None:
            raise RuntimeError(f"{self.env.name}: call reset() before step()")
        action = _to_jax_action(action, self._action_space)
        self._key, _, self._state, reward, terminated, truncated, info = self._step(
            self._key, self._state, action
        )
        # The JAX state has already auto-reset; Gymnasium callers see the episode's
        # last observation and call reset() themselves.
        return np.asarray(info["final_obs"]), float(reward), bool(terminated), bool(truncated), {}

    def render(self):
        if self.render_mode is None:
            return None
        if self._renderer is None:
            self._renderer = gymnasium.make(self.env.gymnasium_id, render_mode="rgb_array").unwrapped
            self._renderer.reset(seed=0)
        # Renders the state the episode is in (after a done step, the fresh one).
        self._renderer.state = np.array(jax.tree.leaves(self._state.env_state), np.float64)
        return self._renderer.render()

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def as_gymnasium(env_or_id, seed: int | None = None, render_mode: str | None = None):
    """A `gymnasium.Env` backed by a JAX env: a registry id or an `(env, params)` pair.

    `seed` seeds the first `reset()` when that reset passes none. Ports render
    `"rgb_array"` through Gymnasium's own renderer.
    """
    env, params = _resolve(env_or_id)
    return JaxToGymnasiumEnv(env, params, seed=seed, render_mode=render_mode)


class JaxToGymnasiumVectorEnv(gymnasium.vector.VectorEnv):
    """`num_envs` JAX envs as a Gymnasium vector env in SAME_STEP autoreset mode.

    `infos["final_obs"]` is dense (equal to obs where the episode goes on) with the
    `"_final_obs"` mask Gymnasium uses; `infos["episode"]` holds `"r"` and `"l"`
    with mask `"_episode"`, like `RecordEpisodeStatistics`.
    """

    def __init__(self, env: Environment, params, num_envs: int, seed: int | None = None):
        self.env, self.params, self.num_envs = env, params, num_envs
        self.single_observation_space = spaces.to_gymnasium(env.observation_space(params))
        self.single_action_space = spaces.to_gymnasium(env.action_space(params))
        self.observation_space = gymnasium.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gymnasium.vector.utils.batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": gymnasium.vector.AutoresetMode.SAME_STEP}
        self.render_mode = None
        self._action_space = env.action_space(params)
        self._reset, self._step = _jitted(vectorize(env, num_envs), params)
        self._first_seed = seed
        self._key = self._state = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None and self._key is None:
            seed = self._first_seed
        if seed is not None or self._key is None:
            rng = np.random.default_rng(seed)
            self._key = jax.random.key(int(rng.integers(2**31)))
        self._key, obs, self._state = self._reset(self._key)
        return np.asarray(obs), {}

    def step(self, actions):
        if self._state is None:
            raise RuntimeError(f"{self.env.name}: call reset() before step()")
        actions = _to_jax_action(actions, self._action_space)
        self._key, obs, self._state, reward, terminated, truncated, info = self._step(
            self._key, self._state, actions
        )
        done = np.asarray(terminated | truncated)
        infos = {
            "final_obs": np.asarray(info["final_obs"]),
            "_final_obs": done,
            "episode": {"r": np.asarray(info["episode_return"]), "l": np.asarray(info["episode_length"])},
            "_episode": done,
        }
        return np.asarray(obs), np.asarray(reward), np.asarray(terminated), np.asarray(truncated), infos


def as_gymnasium_vector(env_or_id, num_envs: int, seed: int | None = None):
    """A `gymnasium.vector.VectorEnv` of `num_envs` copies of a JAX env (SAME_STEP autoreset)."""
    env, params = _resolve(env_or_id)
    return JaxToGymnasiumVectorEnv(env, params, num_envs, seed=seed)
