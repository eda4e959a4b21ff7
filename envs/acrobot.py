"""Acrobot-v1: swing a two-link chain up, ported from Gymnasium's `AcrobotEnv`.

Same dynamics as Gymnasium 1.4's defaults: the book's equations
(`book_or_nips="book"`), no torque noise, one RK4 step of `dt`, angles wrapped to
[-pi, pi] and velocities clipped; reward -1 per step and 0 on the terminating one;
the 500-step time limit is `max_steps_in_episode`. Computed in float32.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from trax_rl.envs import spaces
from trax_rl.envs.environment import Environment


class AcrobotParams(NamedTuple):
    dt: float = 0.2
    link_length_1: float = 1.0
    link_mass_1: float = 1.0
    link_mass_2: float = 1.0
    link_com_pos_1: float = 0.5
    link_com_pos_2: float = 0.5
    link_moi: float = 1.0
    gravity: float = 9.8
    max_vel_1: float = 4 * math.pi
    max_vel_2: float = 9 * math.pi
    max_torque: float = 1.0  # actions 0, 1, 2 apply -max_torque, 0, +max_torque
    max_steps_in_episode: int = 500


class AcrobotState(NamedTuple):
    """Fields in the order of Gymnasium's `env.unwrapped.state`."""

    theta1: jax.Array
    theta2: jax.Array
    dtheta1: jax.Array
    dtheta2: jax.Array


def _dsdt(s, torque, p: AcrobotParams):
    """Time derivative of `[theta1, theta2, dtheta1, dtheta2]` (book dynamics)."""
    theta1, theta2, dtheta1, dtheta2 = s
    m1, m2, l1 = p.link_mass_1, p.link_mass_2, p.link_length_1
    lc1, lc2, i1, i2, g = p.link_com_pos_1, p.link_com_pos_2, p.link_moi, p.link_moi, p.gravity
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * jnp.cos(theta2)) + i1 + i2
    d2 = m2 * (lc2**2 + l1 * lc2 * jnp.cos(theta2)) + i2
    phi2 = m2 * lc2 * g * jnp.cos(theta1 + theta2 - math.pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * dtheta2**2 * jnp.sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * jnp.sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * jnp.cos(theta1 - math.pi / 2)
        + phi2
    )
    ddtheta2 = (
        torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * jnp.sin(theta2) - phi2
    ) / (m2 * lc2**2 + i2 - d2**2 / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return jnp.stack([dtheta1, dtheta2, ddtheta1, ddtheta2])


def _wrap(x, low, high):
    """Gymnasium's `wrap` without its while loops (equal except exactly at `high`)."""
    outside = (x < low) | (x > high)
    return jnp.where(outside, low + jnp.mod(x - low, high - low), x)


class Acrobot(Environment):
    """Discrete(3) torques; obs `[cos t1, sin t1, cos t2, sin t2, dt1, dt2]` float32."""

    gymnasium_id = "Acrobot-v1"

    @property
    def default_params(self) -> AcrobotParams:
        return AcrobotParams()

    def reset_env(self, key, params):
        state = AcrobotState(*jax.random.uniform(key, (4,), minval=-0.1, maxval=0.1))
        return self._obs(state), state

    def step_env(self, key, state, action, params):
        torque = (action.astype(jnp.float32) - 1.0) * params.max_torque
        s0 = jnp.stack(state)
        # One RK4 step over [0, dt], as Gymnasium's `rk4(derivs, y0, [0, dt])`.
        dt = params.dt
        k1 = _dsdt(s0, torque, params)
        k2 = _dsdt(s0 + dt / 2 * k1, torque, params)
        k3 = _dsdt(s0 + dt / 2 * k2, torque, params)
        k4 = _dsdt(s0 + dt * k3, torque, params)
        s1 = s0 + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        state = AcrobotState(
            theta1=_wrap(s1[0], -math.pi, math.pi),
            theta2=_wrap(s1[1], -math.pi, math.pi),
            dtheta1=jnp.clip(s1[2], -params.max_vel_1, params.max_vel_1),
            dtheta2=jnp.clip(s1[3], -params.max_vel_2, params.max_vel_2),
        )
        terminated = -jnp.cos(state.theta1) - jnp.cos(state.theta2 + state.theta1) > 1.0
        reward = jnp.where(terminated, 0.0, -1.0).astype(jnp.float32)
        return self._obs(state), state, reward, terminated

    @staticmethod
    def _obs(state):
        return jnp.stack([
            jnp.cos(state.theta1),
            jnp.sin(state.theta1),
            jnp.cos(state.theta2),
            jnp.sin(state.theta2),
            state.dtheta1,
            state.dtheta2,
        ])

    def observation_space(self, params=None):
        params = self.default_params if params is None else params
        high = np.array([1.0, 1.0, 1.0, 1.0, params.max_vel_1, params.max_vel_2])
        return spaces.Box(-high, high, (6,), jnp.float32)

    def action_space(self, params=None):
        return spaces.Discrete(3)
