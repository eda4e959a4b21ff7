"""The environment contract: pure `reset`/`step` over explicit state, auto-reset once.

An environment is an object without mutable state. Everything that changes lives in
the state pytree the caller threads through, and everything fixed (physics constants,
the time limit) lives in a params pytree, so `jax.jit`, `jax.vmap` and `lax.scan` see
pure functions:

    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

Subclasses implement one episode without auto-reset (`reset_env`, `step_env`) and the
spaces; `Environment.step` adds what every environment shares, written once here:

* the time limit, with Gymnasium's `TimeLimit` semantics: `truncated` is set when the
  episode's step count reaches `params.max_steps_in_episode`, whatever `terminated` is
  (both can be True on the same step);
* episode statistics, kept in the state;
* the auto-reset: where `terminated | truncated`, the returned observation and state
  are a fresh episode's, and `info["final_obs"]` keeps the observation the step
  reached, so agents can bootstrap truncated episodes from it.

`info` is a dict of arrays (the same keys on every step, so it can be scanned):

* `"final_obs"`: observation reached by this step before any reset (equals `obs` when
  the episode continues);
* `"episode_return"`, `"episode_length"`: undiscounted return and length of the
  episode so far, including this step; they describe the finished episode where
  `terminated | truncated`.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class EnvState(NamedTuple):
    """State threaded through `Environment.step`.

    Attributes:
        env_state: the subclass's own state pytree (physics), as `reset_env` made it.
        time: int32, steps taken in the current episode.
        episode_return: float32, sum of rewards in the current episode.
    """

    env_state: Any
    time: jax.Array
    episode_return: jax.Array


class Environment:
    """Base class of pure JAX environments; see the module docstring for the contract."""

    #: Id of the Gymnasium environment this one ports, if any. A port's `env_state`
    #: is then a NamedTuple of scalars in the order of Gymnasium's
    #: `env.unwrapped.state`, which parity tests and rendering rely on.
    gymnasium_id: str | None = None

    @property
    def name(self) -> str:
        return self.gymnasium_id or type(self).__name__

    @property
    def default_params(self) -> Any:
        """Frozen params pytree; must have a `max_steps_in_episode` field."""
        raise NotImplementedError

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        """Starts an episode: returns `(obs, env_state)`."""
        raise NotImplementedError

    def step_env(self, key: jax.Array, env_state: Any, action: jax.Array, params: Any):
        """One transition without time limit or reset.

        Returns `(obs, env_state, reward float32, terminated bool)`.
        """
        raise NotImplementedError

    def observation_space(self, params: Any = None):
        raise NotImplementedError

    def action_space(self, params: Any = None):
        raise NotImplementedError

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, EnvState]:
        params = self.default_params if params is None else params
        obs, env_state = self.reset_env(key, params)
        return obs, EnvState(env_state, jnp.int32(0), jnp.float32(0.0))

    def step(self, key: jax.Array, state: EnvState, action: jax.Array, params: Any = None):
        params = self.default_params if params is None else params
        self.check_action(action)
        # The reset draws from `key` itself and the transition from a derived key:
        # deterministic dynamics never read theirs, so XLA drops the derivation and a
        # step costs one PRNG call (the reset's) instead of a split plus one.
        transition = self.step_env(jax.random.fold_in(key, 1), state.env_state, action, params)
        return auto_reset(state, transition, self.reset_env(key, params), params)

    def check_action(self, action) -> None:
        """Raises TypeError (at trace time) for an action of the wrong shape or dtype."""
        space = self.action_space(self.default_params)
        space.check_action(action, env_name=self.name)

    def __repr__(self) -> str:
        return f"{self.name}()"


def _where(done, fresh, stepped):
    """`jnp.where` with `done` (shape `[]` or `[B]`) broadcast over trailing axes."""
    done = done.reshape(done.shape + (1,) * (jnp.ndim(stepped) - done.ndim))
    return jnp.where(done, fresh, stepped)


def auto_reset(state: EnvState, transition, reset, params):
    """The shared end of a step: time limit, episode statistics, auto-reset, info.

    `transition` is `step_env`'s `(obs, env_state, reward, terminated)` and `reset`
    is `reset_env`'s `(obs, env_state)`, either for one env or batched on axis 0
    (then `state` is batched too); `reset` is only used where the episode ended.
    """
    next_obs, next_env_state, reward, terminated = transition
    reset_obs, reset_env_state = reset
    reward = jnp.asarray(reward, jnp.float32)
    terminated = jnp.asarray(terminated, jnp.bool_)
    time = state.time + 1
    episode_return = state.episode_return + reward
    # Gymnasium's TimeLimit: truncated at the limit, whatever terminated says.
    truncated = time >= params.max_steps_in_episode
    done = terminated | truncated
    env_state = jax.tree.map(lambda a, b: _where(done, a, b), reset_env_state, next_env_state)
    new_state = EnvState(
        env_state,
        jnp.where(done, 0, time).astype(jnp.int32),
        jnp.where(done, 0.0, episode_return).astype(jnp.float32),
    )
    info = {
        "final_obs": next_obs,
        "episode_return": episode_return,
        "episode_length": time,
    }
    return _where(done, reset_obs, next_obs), new_state, reward, terminated, truncated, info
