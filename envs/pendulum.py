"""Pendulum-v1: swing up and hold an inverted pendulum, ported from Gymnasium.

Same dynamics, reward (-(angle**2 + 0.1 * speed**2 + 0.001 * torque**2), angle
normalized to [-pi, pi)), initial state (angle ~ U(-pi, pi), speed ~ U(-1, 1)) and
bounds as Gymnasium 1.4's `PendulumEnv`. It never terminates; the 200-step time
limit is `max_steps_in_episode`. Computed in float32.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from trax_rl.envs import spaces
from trax_rl.envs.environment import Environment


class PendulumParams(NamedTuple):
    max_speed: float = 8.0
    max_torque: float = 2.0
    dt: float = 0.05
    g: float = 10.0
    m: float = 1.0
    l: float = 1.0  # noqa: E741 - Gymnasium's name
    max_steps_in_episode: int = 200


class PendulumState(NamedTuple):
    """Fields in the order of Gymnasium's `env.unwrapped.state`."""

    theta: jax.Array
    theta_dot: jax.Array


def angle_normalize(x):
    return ((x + math.pi) % (2 * math.pi)) - math.pi


class Pendulum(Environment):
    """Box(-2, 2, (1,)) torque; obs `[cos theta, sin theta, theta_dot]` float32."""

    gymnasium_id = "Pendulum-v1"

    @property
    def default_params(self) -> PendulumParams:
        return PendulumParams()

    def reset_env(self, key, params):
        high = jnp.array([math.pi, 1.0])
        state = PendulumState(*jax.random.uniform(key, (2,), minval=-high, maxval=high))
        return self._obs(state), state

    def step_env(self, key, state, action, params):
        u = jnp.clip(action[0].astype(jnp.float32), -params.max_torque, params.max_torque)
        th, thdot = state
        costs = angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * u**2
        g, m, l, dt = params.g, params.m, params.l, params.dt
        newthdot = thdot + (3 * g / (2 * l) * jnp.sin(th) + 3.0 / (m * l**2) * u) * dt
        newthdot = jnp.clip(newthdot, -params.max_speed, params.max_speed)
        state = PendulumState(th + newthdot * dt, newthdot)
        return self._obs(state), state, -costs, jnp.bool_(False)

    @staticmethod
    def _obs(state):
        return jnp.stack([jnp.cos(state.theta), jnp.sin(state.theta), state.theta_dot])

    def observation_space(self, params=None):
        params = self.default_params if params is None else params
        high = np.array([1.0, 1.0, params.max_speed])
        return spaces.Box(-high, high, (3,), jnp.float32)

    def action_space(self, params=None):
        params = self.default_params if params is None else params
        return spaces.Box(-params.max_torque, params.max_torque, (1,), jnp.float32)
