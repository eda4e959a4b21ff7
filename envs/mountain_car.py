"""MountainCar-v0: drive an underpowered car up a hill, ported from Gymnasium.

Same dynamics, reward (-1 per step), termination (position >= goal and velocity >=
goal velocity), observation bounds and initial state (position ~ U(-0.6, -0.4),
velocity 0) as Gymnasium 1.4's `MountainCarEnv`; the 200-step time limit is
`max_steps_in_episode`. Computed in float32.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from trax_rl.envs import spaces
from trax_rl.envs.environment import Environment


class MountainCarParams(NamedTuple):
    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.5
    goal_velocity: float = 0.0
    force: float = 0.001
    gravity: float = 0.0025
    max_steps_in_episode: int = 200


class MountainCarState(NamedTuple):
    """Fields in the order of Gymnasium's `env.unwrapped.state`."""

    position: jax.Array
    velocity: jax.Array


def reset_car(key):
    """Gymnasium's initial state for both MountainCar variants."""
    position = jax.random.uniform(key, (), minval=-0.6, maxval=-0.4)
    state = MountainCarState(position, jnp.zeros_like(position))
    return jnp.stack(state), state


def move_car(state, acceleration, params):
    """Shared kinematics: speed and position clipped, inelastic left wall."""
    velocity = state.velocity + acceleration - params.gravity * jnp.cos(3 * state.position)
    velocity = jnp.clip(velocity, -params.max_speed, params.max_speed)
    position = jnp.clip(state.position + velocity, params.min_position, params.max_position)
    velocity = jnp.where((position == params.min_position) & (velocity < 0), 0.0, velocity)
    state = MountainCarState(position, velocity)
    terminated = (position >= params.goal_position) & (velocity >= params.goal_velocity)
    return jnp.stack(state), state, terminated


def car_observation_space(params):
    low = np.array([params.min_position, -params.max_speed])
    high = np.array([params.max_position, params.max_speed])
    return spaces.Box(low, high, (2,), jnp.float32)


class MountainCar(Environment):
    """Discrete(3): push left, none, right; obs `[position, velocity]` float32."""

    gymnasium_id = "MountainCar-v0"

    @property
    def default_params(self) -> MountainCarParams:
        return MountainCarParams()

    def reset_env(self, key, params):
        return reset_car(key)

    def step_env(self, key, state, action, params):
        acceleration = (action.astype(jnp.float32) - 1.0) * params.force
        obs, state, terminated = move_car(state, acceleration, params)
        return obs, state, jnp.float32(-1.0), terminated

    def observation_space(self, params=None):
        return car_observation_space(self.default_params if params is None else params)

    def action_space(self, params=None):
        return spaces.Discrete(3)
