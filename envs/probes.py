"""Probe environments: tiny episodes whose right answers are known in closed form.

They isolate one piece of an agent at a time (after Andy Jones, "Debugging RL,
Without the Agonizing Pain"). Every probe has a `Box((1,))` float32 observation and
episodes of one or two steps; registered ids and what a correct agent learns:

| id | episode | learned answer |
|---|---|---|
| `Probe/ConstantReward-v0` | obs 0, any action, reward 1, ends | V(0) = 1 |
| `Probe/ObservationReward-v0` | obs +-1 at random, reward = obs, ends | V(obs) = obs |
| `Probe/TwoStepDiscount-v0` | obs 0, reward 0; obs 1, reward 1, ends | V(0) = gamma, V(1) = 1 |
| `Probe/ActionReward-v0` | obs +-1 at random; reward 1 if action == (obs > 0) else 0, ends | pi(1 given +1) = pi(0 given -1) = 1, V = 1 |
| `Probe/ContinuousActionReward-v0` | obs +-0.5 at random; Box(-1, 1, (1,)) action; reward -(action - obs)**2, ends | mean action = obs, V = 0 |

Discrete probes take `Discrete(2)` actions, which the first three ignore.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from trax_rl.envs import spaces
from trax_rl.envs.environment import Environment


class ProbeParams(NamedTuple):
    # Episodes end on their own after one or two steps; the limit only bounds them.
    max_steps_in_episode: int = 10


class ProbeState(NamedTuple):
    obs: jax.Array  # the (1,) observation shown to the agent


def _random_sign(key, magnitude=1.0):
    return jnp.where(jax.random.bernoulli(key), magnitude, -magnitude).astype(jnp.float32)


class _Probe(Environment):
    """Shared params and spaces; subclasses set `observation_high` and the dynamics."""

    observation_high = 1.0

    @property
    def name(self) -> str:
        return f"Probe/{type(self).__name__}-v0"

    @property
    def default_params(self) -> ProbeParams:
        return ProbeParams()

    def observation_space(self, params=None):
        return spaces.Box(-self.observation_high, self.observation_high, (1,), jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(2)

    @staticmethod
    def _start(obs_value):
        obs = jnp.reshape(jnp.asarray(obs_value, jnp.float32), (1,))
        return obs, ProbeState(obs)


class ConstantReward(_Probe):
    """One step, obs 0, reward 1: tests the value target of a terminal step."""

    def reset_env(self, key, params):
        return self._start(0.0)

    def step_env(self, key, state, action, params):
        return state.obs, state, jnp.float32(1.0), jnp.bool_(True)


class ObservationReward(_Probe):
    """One step, obs +-1, reward = obs: tests that values read the observation."""

    def reset_env(self, key, params):
        return self._start(_random_sign(key))

    def step_env(self, key, state, action, params):
        return state.obs, state, state.obs[0], jnp.bool_(True)


class TwoStepDiscount(_Probe):
    """Obs 0 then obs 1, reward 1 at the end: tests discounting (V(0) = gamma)."""

    def reset_env(self, key, params):
        return self._start(0.0)

    def step_env(self, key, state, action, params):
        final = state.obs[0] > 0.5
        obs = jnp.ones((1,), jnp.float32)
        return obs, ProbeState(obs), jnp.where(final, 1.0, 0.0).astype(jnp.float32), final


class ActionReward(_Probe):
    """One step, obs +-1, reward 1 iff action == (obs > 0): tests the policy gradient."""

    def reset_env(self, key, params):
        return self._start(_random_sign(key))

    def step_env(self, key, state, action, params):
        target = (state.obs[0] > 0).astype(jnp.int32)
        reward = jnp.where(action == target, 1.0, 0.0).astype(jnp.float32)
        return state.obs, state, reward, jnp.bool_(True)


class ContinuousActionReward(_Probe):
    """One step, obs +-0.5, reward -(action - obs)**2: a probe for Gaussian policies."""

    observation_high = 0.5

    def reset_env(self, key, params):
        return self._start(_random_sign(key, 0.5))

    def step_env(self, key, state, action, params):
        reward = -((action[0].astype(jnp.float32) - state.obs[0]) ** 2)
        return state.obs, state, reward, jnp.bool_(True)

    def action_space(self, params=None):
        return spaces.Box(np.float32(-1.0), np.float32(1.0), (1,), jnp.float32)
