"""MountainCarContinuous-v0: MountainCar with a continuous force, ported from Gymnasium.

Same dynamics as Gymnasium 1.4's `Continuous_MountainCarEnv`: force = clip(action,
-1, 1) * power; reward 100 on reaching the goal (position >= 0.45) minus 0.1 *
action**2 of the unclipped action; the 999-step time limit is `max_steps_in_episode`.
Kinematics and initial state are shared with `mountain_car`.
"""

from typing import NamedTuple

import jax.numpy as jnp

from trax_rl.envs import spaces
from trax_rl.envs.environment import Environment
from trax_rl.envs.mountain_car import car_observation_space, move_car, reset_car


class MountainCarContinuousParams(NamedTuple):
    min_action: float = -1.0
    max_action: float = 1.0
    min_position: float = -1.2
    max_position: float = 0.6
    max_speed: float = 0.07
    goal_position: float = 0.45
    goal_velocity: float = 0.0
    power: float = 0.0015
    gravity: float = 0.0025
    max_steps_in_episode: int = 999


class MountainCarContinuous(Environment):
    """Box(-1, 1, (1,)) force; obs `[position, velocity]` float32."""

    gymnasium_id = "MountainCarContinuous-v0"

    @property
    def default_params(self) -> MountainCarContinuousParams:
        return MountainCarContinuousParams()

    def reset_env(self, key, params):
        return reset_car(key)

    def step_env(self, key, state, action, params):
        action = action[0].astype(jnp.float32)
        force = jnp.clip(action, params.min_action, params.max_action)
        obs, state, terminated = move_car(state, force * params.power, params)
        reward = jnp.where(terminated, 100.0, 0.0) - 0.1 * action**2
        return obs, state, reward, terminated

    def observation_space(self, params=None):
        return car_observation_space(self.default_params if params is None else params)

    def action_space(self, params=None):
        params = self.default_params if params is None else params
        return spaces.Box(params.min_action, params.max_action, (1,), jnp.float32)
