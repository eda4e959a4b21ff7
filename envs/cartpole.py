"""CartPole-v1: a pole balanced on a cart, ported from Gymnasium's `CartPoleEnv`.

Same dynamics (Euler), reward (+1 every step, including the terminating one),
termination, observation bounds and initial-state distribution as Gymnasium 1.4;
the 500-step time limit is `max_steps_in_episode`. Computed in float32.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from trax_rl.envs import spaces
from trax_rl.envs.environment import Environment


class CartPoleParams(NamedTuple):
    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length, as in Gymnasium
    force_mag: float = 10.0
    tau: float = 0.02  # seconds between state updates
    theta_threshold_radians: float = 12 * 2 * math.pi / 360
    x_threshold: float = 2.4
    max_steps_in_episode: int = 500

    @property
    def total_mass(self):
        return self.masspole + self.masscart

    @property
    def polemass_length(self):
        # A product: Gymnasium's phys2d JAX port ships `masspole + length` here.
        return self.masspole * self.length


class CartPoleState(NamedTuple):
    """Fields in the order of Gymnasium's `env.unwrapped.state`."""

    x: jax.Array
    x_dot: jax.Array
    theta: jax.Array
    theta_dot: jax.Array


class CartPole(Environment):
    """Discrete(2) pushes left/right; obs `[x, x_dot, theta, theta_dot]` float32."""

    gymnasium_id = "CartPole-v1"

    @property
    def default_params(self) -> CartPoleParams:
        return CartPoleParams()

    def reset_env(self, key, params):
        obs = jax.random.uniform(key, (4,), minval=-0.05, maxval=0.05)
        return obs, CartPoleState(*obs)

    def step_env(self, key, state, action, params):
        force = jnp.where(action == 1, params.force_mag, -params.force_mag)
        costheta, sintheta = jnp.cos(state.theta), jnp.sin(state.theta)
        temp = (
            force + params.polemass_length * state.theta_dot**2 * sintheta
        ) / params.total_mass
        thetaacc = (params.gravity * sintheta - costheta * temp) / (
            params.length
            * (4.0 / 3.0 - params.masspole * costheta**2 / params.total_mass)
        )
        xacc = temp - params.polemass_length * thetaacc * costheta / params.total_mass
        state = CartPoleState(
            x=state.x + params.tau * state.x_dot,
            x_dot=state.x_dot + params.tau * xacc,
            theta=state.theta + params.tau * state.theta_dot,
            theta_dot=state.theta_dot + params.tau * thetaacc,
        )
        terminated = (
            (state.x < -params.x_threshold)
            | (state.x > params.x_threshold)
            | (state.theta < -params.theta_threshold_radians)
            | (state.theta > params.theta_threshold_radians)
        )
        return jnp.stack(state), state, jnp.float32(1.0), terminated

    def observation_space(self, params=None):
        params = self.default_params if params is None else params
        high = np.array(
            [params.x_threshold * 2, np.inf, params.theta_threshold_radians * 2, np.inf]
        )
        return spaces.Box(-high, high, (4,), jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(2)
