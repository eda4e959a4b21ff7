"""Pure wrappers over the environment contract, and `vectorize`.

A wrapper is an `Environment` holding another one; it keeps the contract (same
`reset`/`step` signatures, auto-reset included) and wraps the inner state in its own
NamedTuple when it needs state.

Order. `vectorize(env, n)` adds a leading batch axis to everything and exposes
`num_envs`; its spaces stay the single-env spaces (like Gymnasium's
`single_observation_space`). Every wrapper here works on both sides of it:

* `vectorize(NormalizeObservation(env), n)`: each sub-env keeps its own statistics
  (vmap gives each copy its own state);
* `NormalizeObservation(vectorize(env, n))`: one set of statistics shared by the
  batch, updated with the batch's moments each step (Gymnasium's vector wrapper
  semantics, and what PPO implementations use). The wrapper sees the batch axis
  through `num_envs` and reduces over it. Same for `ScaleReward`.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from trax_rl.envs import spaces
from trax_rl.envs.environment import Environment, auto_reset
from trax_rl.running_stats import RunningMeanStd


class Wrapper(Environment):
    """Delegates everything to `env`; subclasses override what they change."""

    def __init__(self, env: Environment):
        self.env = env

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def num_envs(self) -> int | None:
        """Batch size if a `vectorize` sits inside this wrapper, else None."""
        return getattr(self.env, "num_envs", None)

    @property
    def default_params(self):
        return self.env.default_params

    def observation_space(self, params=None):
        return self.env.observation_space(params)

    def action_space(self, params=None):
        return self.env.action_space(params)

    def reset(self, key, params=None):
        return self.env.reset(key, params)

    def step(self, key, state, action, params=None):
        return self.env.step(key, state, action, params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env!r})"


class VectorizedEnv(Wrapper):
    """`num_envs` copies of `env` stepped with `vmap`; params are shared.

    For a plain `Environment` the auto-reset happens here, batched, with a reset
    budget: a step draws `reset_budget` fresh episodes and hands them to the envs
    that finished, in order, falling back to drawing one per env (`lax.cond`) when
    more finish at once. Every finished env still gets its own independent draw, so
    the distribution is exactly the per-env one, but a step pays for
    `reset_budget` resets instead of `num_envs` (resets are mostly PRNG work, which
    dominates cheap dynamics like CartPole's). Wrapped envs are vmapped whole.

    With `resets=False` (for evaluations, which count each env's first episode only), a
    plain env draws no fresh episodes: one that ended goes on from its last state, with
    its time and return starting again from 0. The first episodes are the same as with
    resets, step keys included, and the program has no reset to compile or run. A
    wrapped env's own step still resets.
    """

    def __init__(self, env: Environment, num_envs: int, reset_budget: int | None = None,
                 resets: bool = True):
        super().__init__(env)
        if int(num_envs) <= 0:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        self._num_envs = int(num_envs)
        budget = max(1, self._num_envs // 8) if reset_budget is None else int(reset_budget)
        self.reset_budget = min(max(budget, 1), self._num_envs)
        self.resets = bool(resets)
        # Wrappers override `step`; only the base's step splits into the pieces used here.
        self._batched_reset = type(env).step is Environment.step

    @property
    def num_envs(self) -> int:
        return self._num_envs

    def reset(self, key, params=None):
        params = self.default_params if params is None else params
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset, in_axes=(0, None))(keys, params)

    def step(self, key, state, action, params=None):
        params = self.default_params if params is None else params
        if jnp.shape(action)[:1] != (self.num_envs,):
            raise TypeError(
                f"{self.name} x {self.num_envs}: actions need a leading axis of "
                f"{self.num_envs}, got shape {jnp.shape(action)}"
            )
        if not self._batched_reset:
            keys = jax.random.split(key, self.num_envs)
            return jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(keys, state, action, params)
        jax.vmap(self.env.check_action)(action)
        if self.reset_budget >= self.num_envs:
            # One key per env serves both, as in `Environment.step`.
            reset_keys = jax.random.split(key, self.num_envs)
            step_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(reset_keys, 1)
        else:
            step_key, reset_key = jax.random.split(key)
            step_keys = jax.random.split(step_key, self.num_envs)
        # The step keys are dropped by XLA when the dynamics are deterministic.
        transition = jax.vmap(self.env.step_env, in_axes=(0, 0, 0, None))(
            step_keys, state.env_state, action, params
        )
        if not self.resets:
            return auto_reset(state, transition, transition[:2], params)
        if self.reset_budget >= self.num_envs:
            reset = jax.vmap(self.env.reset_env, in_axes=(0, None))(reset_keys, params)
        else:
            done = transition[3] | (state.time + 1 >= params.max_steps_in_episode)
            reset = self._budgeted_resets(reset_key, done, params)
        return auto_reset(state, transition, reset, params)

    def _budgeted_resets(self, key, done, params):
        """Fresh episodes `[num_envs, ...]`, independent across the envs where `done`."""

        def draw(n):
            keys = jax.random.split(key, n)
            return jax.vmap(self.env.reset_env, in_axes=(0, None))(keys, params)

        def within_budget():
            slot = jnp.clip(jnp.cumsum(done) - 1, 0, self.reset_budget - 1)  # (B,)
            return jax.tree.map(lambda x: x[slot], draw(self.reset_budget))

        return jax.lax.cond(
            jnp.sum(done) <= self.reset_budget, within_budget, lambda: draw(self.num_envs)
        )

    def __repr__(self) -> str:
        resets = "" if self.resets else ", resets=False"
        return f"vectorize({self.env!r}, {self.num_envs}{resets})"


def vectorize(env: Environment, num_envs: int, reset_budget: int | None = None,
              resets: bool = True) -> VectorizedEnv:
    """The same contract over `num_envs` envs: obs `[num_envs, ...]`, actions `[num_envs, ...]`.

    `reset` and `step` take one key and split it per env. `reset_budget` (default
    `num_envs // 8`) is how many fresh episodes a step draws before falling back to
    one per env; see `VectorizedEnv`. Raise it for envs whose episodes are very short.
    `resets=False`: no fresh episodes after the first ones (see `VectorizedEnv`).
    """
    return VectorizedEnv(env, num_envs, reset_budget, resets)


class NormalizeObsState(NamedTuple):
    env_state: Any
    obs_stats: RunningMeanStd


class NormalizeObservation(Wrapper):
    """Observations standardized by running statistics kept in the state.

    Statistics update on every reset and step observation, then normalize it (and
    `info["final_obs"]`), like Gymnasium's `NormalizeObservation`.
    """

    def __init__(self, env: Environment, epsilon: float = 1e-8):
        super().__init__(env)
        self.epsilon = epsilon

    def _update(self, stats, obs):
        batch = obs if self.num_envs else obs[None]
        return stats.update(batch)

    def _normalize(self, stats, obs):
        return stats.normalize(obs, epsilon=self.epsilon)

    def reset(self, key, params=None):
        obs, env_state = self.env.reset(key, params)
        single_shape = self.env.observation_space(params).shape
        stats = self._update(RunningMeanStd.create(single_shape), obs)
        return self._normalize(stats, obs), NormalizeObsState(env_state, stats)

    def step(self, key, state, action, params=None):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action, params
        )
        stats = self._update(state.obs_stats, obs)
        info = {**info, "final_obs": self._normalize(stats, info["final_obs"])}
        new_state = NormalizeObsState(env_state, stats)
        return self._normalize(stats, obs), new_state, reward, terminated, truncated, info

    def observation_space(self, params=None):
        shape = self.env.observation_space(params).shape
        return spaces.Box(-np.inf, np.inf, shape, jnp.float32)


class ScaleRewardState(NamedTuple):
    env_state: Any
    discounted_return: jax.Array
    return_stats: RunningMeanStd


class ScaleReward(Wrapper):
    """Rewards divided by the running std of a discounted return (not re-centered).

    Gymnasium's `NormalizeReward`: `R <- R * gamma * (1 - terminated) + reward`,
    statistics of `R` updated each step, `reward / sqrt(var(R) + epsilon)`.
    """

    def __init__(self, env: Environment, gamma: float = 0.99, epsilon: float = 1e-8):
        super().__init__(env)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"ScaleReward needs 0 <= gamma <= 1, got {gamma}")
        self.gamma, self.epsilon = gamma, epsilon

    def reset(self, key, params=None):
        obs, env_state = self.env.reset(key, params)
        zeros = jnp.zeros((self.num_envs,) if self.num_envs else (), jnp.float32)
        return obs, ScaleRewardState(env_state, zeros, RunningMeanStd.create())

    def step(self, key, state, action, params=None):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action, params
        )
        # Gymnasium resets the accumulator on termination only, not truncation.
        discounted = state.discounted_return * self.gamma * (1.0 - terminated) + reward
        batch = discounted if self.num_envs else discounted[None]
        stats = state.return_stats.update(batch)
        scaled = stats.scale(reward, epsilon=self.epsilon)
        new_state = ScaleRewardState(env_state, discounted, stats)
        return obs, new_state, scaled, terminated, truncated, info


class ClipAction(Wrapper):
    """Clips actions into a `Box` action space; the wrapper accepts any real action."""

    def __init__(self, env: Environment):
        super().__init__(env)
        if not isinstance(env.action_space(), spaces.Box):
            raise TypeError(f"ClipAction needs a Box action space, got {env.action_space()}")

    def step(self, key, state, action, params=None):
        space = self.env.action_space(params)
        action = jnp.clip(action, space.low, space.high)
        return self.env.step(key, state, action, params)

    def action_space(self, params=None):
        space = self.env.action_space(params)
        return spaces.Box(-np.inf, np.inf, space.shape, space.dtype)


class FlattenObservation(Wrapper):
    """Observations reshaped to rank 1 (rank 2 `[num_envs, -1]` when vectorized)."""

    def _flatten(self, obs):
        return obs.reshape((self.num_envs, -1) if self.num_envs else (-1,))

    def reset(self, key, params=None):
        obs, state = self.env.reset(key, params)
        return self._flatten(obs), state

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self.env.step(
            key, state, action, params
        )
        info = {**info, "final_obs": self._flatten(info["final_obs"])}
        return self._flatten(obs), state, reward, terminated, truncated, info

    def observation_space(self, params=None):
        space = self.env.observation_space(params)
        return spaces.Box(space.low.reshape(-1), space.high.reshape(-1), (space.size,), space.dtype)


class SelectObservation(Wrapper):
    """Keeps only the observation entries at `indices` (last axis), e.g. to hide velocities.

    `SelectObservation(CartPole(), (0, 2))` observes cart position and pole angle only:
    a partially observed task a memoryless policy cannot solve well.
    """

    def __init__(self, env: Environment, indices):
        super().__init__(env)
        self.indices = tuple(int(i) for i in indices)

    @property
    def name(self) -> str:
        return f"{self.env.name}[obs {list(self.indices)}]"

    def _select(self, obs):
        return obs[..., jnp.asarray(self.indices)]

    def reset(self, key, params=None):
        obs, state = self.env.reset(key, params)
        return self._select(obs), state

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self.env.step(
            key, state, action, params
        )
        info = {**info, "final_obs": self._select(info["final_obs"])}
        return self._select(obs), state, reward, terminated, truncated, info

    def observation_space(self, params=None):
        space = self.env.observation_space(params)
        idx = np.asarray(self.indices)
        return spaces.Box(np.asarray(space.low)[..., idx], np.asarray(space.high)[..., idx],
                          space.shape[:-1] + (len(idx),), space.dtype)


class WindowState(NamedTuple):
    inner: Any
    window: jax.Array


class ObservationWindow(Wrapper):
    """Observations become the last `size` observations of the episode, `[size, ...]`.

    Slots before the episode's first step are zeros; the window restarts at every reset.
    (For Transformer torsos, which attend over the window.) Works on a single env;
    vectorize the wrapped env, not the other way round.
    """

    def __init__(self, env: Environment, size: int):
        super().__init__(env)
        if int(size) < 1:
            raise ValueError(f"window size must be >= 1, got {size}")
        self.size = int(size)

    def _fresh(self, obs):
        return jnp.zeros((self.size,) + obs.shape, obs.dtype).at[-1].set(obs)

    def reset(self, key, params=None):
        obs, inner = self.env.reset(key, params)
        window = self._fresh(obs)
        return window, WindowState(inner, window)

    def step(self, key, state, action, params=None):
        obs, inner, reward, terminated, truncated, info = self.env.step(
            key, state.inner, action, params
        )
        final = jnp.concatenate([state.window[1:], info["final_obs"][None]])
        window = jnp.where(terminated | truncated, self._fresh(obs), final)
        info = {**info, "final_obs": final}
        return window, WindowState(inner, window), reward, terminated, truncated, info

    def observation_space(self, params=None):
        space = self.env.observation_space(params)
        low = np.broadcast_to(np.asarray(space.low), space.shape)
        high = np.broadcast_to(np.asarray(space.high), space.shape)
        # Zero padding must stay inside the space.
        low, high = np.minimum(low, 0), np.maximum(high, 0)
        return spaces.Box(np.stack([low] * self.size), np.stack([high] * self.size),
                          (self.size,) + tuple(space.shape), space.dtype)
