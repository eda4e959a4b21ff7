"""MinAtar Breakout (Young & Tian 2019), ported from the `minatar` package (1.0.15).

A paddle on the bottom row of a 10x10 grid bounces a ball that moves diagonally and
breaks three rows of bricks (+1 each; a new set appears when all are gone and the ball
comes down). The episode ends when the ball reaches the bottom row past the paddle.
Observations are minatar's `state()`: `[10, 10, 4]` booleans, channels paddle, ball,
trail (the ball's previous cell, which shows its direction) and brick.

Same transitions as `minatar.environments.breakout.Env.act` (tested from the same
states) with minatar's minimal action set, as its `MinAtar/Breakout-v1` Gymnasium id:
0 no-op, 1 left, 2 right. `minatar.Environment`'s sticky actions (with probability
`sticky_action_prob` the previous action repeats) are in `step_env`. MinAtar has no
time limit; `max_steps_in_episode` (gymnax's 1000) bounds episodes.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from trax_rl.envs import spaces
from trax_rl.envs.environment import Environment

# Direction d moves the ball by (DX[d], DY[d]): up-left, up-right, down-right, down-left.
# NumPy tables (read with `_at`): a jnp array made at import compiles and runs a program.
DX = np.array([-1, 1, 1, -1], np.int32)
DY = np.array([-1, -1, 1, 1], np.int32)
FLIP_X = np.array([1, 0, 3, 2], np.int32)      # off a side wall
FLIP_Y = np.array([3, 2, 1, 0], np.int32)      # off the ceiling, a brick, or the paddle's middle
PADDLE_EDGE = np.array([2, 3, 0, 1], np.int32)  # off the paddle's corner: straight back
PADDLE_MOVE = np.array([0, -1, 1], np.int32)    # minimal actions: no-op, left, right


def _at(table, index):
    """`table[index]` for a traced `index`."""
    return jnp.asarray(table)[index]


class BreakoutParams(NamedTuple):
    sticky_action_prob: float = 0.1
    max_steps_in_episode: int = 1000


class BreakoutState(NamedTuple):
    """minatar's `Env` attributes (`terminal` is the step's result, not state)."""

    ball_x: jax.Array
    ball_y: jax.Array
    ball_dir: jax.Array
    pos: jax.Array
    brick_map: jax.Array  # [10, 10] bool
    strike: jax.Array
    last_x: jax.Array
    last_y: jax.Array
    last_action: jax.Array  # minatar.Environment's, for sticky actions


def _bricks():
    return jnp.zeros((10, 10), jnp.bool_).at[1:4, :].set(True)


def move(state, action):
    """One `Env.act` of minatar: `(state, minimal action) -> (state, reward, terminal)`."""
    pos = jnp.clip(state.pos + _at(PADDLE_MOVE, action), 0, 9)
    new_x = state.ball_x + _at(DX, state.ball_dir)
    new_y = state.ball_y + _at(DY, state.ball_dir)
    wall = (new_x < 0) | (new_x > 9)
    new_x = jnp.clip(new_x, 0, 9)
    ball_dir = jnp.where(wall, _at(FLIP_X, state.ball_dir), state.ball_dir)
    ceiling = new_y < 0
    brick = ~ceiling & state.brick_map[jnp.clip(new_y, 0, 9), new_x]
    bottom = ~ceiling & ~brick & (new_y == 9)
    breaks = brick & ~state.strike
    # Bricks: the one hit goes; all come back when the ball reaches the bottom row empty.
    brick_map = state.brick_map.at[jnp.clip(new_y, 0, 9), new_x].set(
        state.brick_map[jnp.clip(new_y, 0, 9), new_x] & ~breaks)
    brick_map = jnp.where(bottom & ~brick_map.any(), _bricks(), brick_map)
    middle = bottom & (state.ball_x == pos)
    edge = bottom & ~middle & (new_x == pos)
    ball_dir = jnp.where(ceiling | breaks | middle, _at(FLIP_Y, ball_dir),
                         jnp.where(edge, _at(PADDLE_EDGE, ball_dir), ball_dir))
    new_y = jnp.where(ceiling, 0, jnp.where(breaks | middle | edge, state.ball_y, new_y))
    state = state._replace(ball_x=new_x, ball_y=new_y, ball_dir=ball_dir, pos=pos,
                           brick_map=brick_map, strike=brick, last_x=state.ball_x,
                           last_y=state.ball_y)
    return state, breaks.astype(jnp.float32), bottom & ~middle & ~edge


def observation(state):
    """minatar's `Env.state()`: `[10, 10, 4]` booleans (paddle, ball, trail, brick)."""
    obs = jnp.zeros((10, 10, 4), jnp.bool_)
    obs = obs.at[9, state.pos, 0].set(True)
    obs = obs.at[state.ball_y, state.ball_x, 1].set(True)
    obs = obs.at[state.last_y, state.last_x, 2].set(True)
    return obs.at[:, :, 3].set(state.brick_map)


class MinAtarBreakout(Environment):
    """Discrete(3): no-op, left, right; obs `[10, 10, 4]` bool."""

    @property
    def default_params(self) -> BreakoutParams:
        return BreakoutParams()

    def reset_env(self, key, params):
        start = jax.random.bernoulli(key)  # minatar: ball_start = randint(2)
        x = jnp.where(start, 9, 0).astype(jnp.int32)
        state = BreakoutState(
            ball_x=x, ball_y=jnp.int32(3), ball_dir=jnp.where(start, 3, 2).astype(jnp.int32),
            pos=jnp.int32(4), brick_map=_bricks(), strike=jnp.bool_(False), last_x=x,
            last_y=jnp.int32(3), last_action=jnp.int32(0))
        return observation(state), state

    def step_env(self, key, state, action, params):
        sticky = jax.random.uniform(key) < params.sticky_action_prob
        action = jnp.where(sticky, state.last_action, action).astype(jnp.int32)
        state, reward, terminal = move(state._replace(last_action=action), action)
        return observation(state), state, reward, terminal

    def observation_space(self, params=None):
        return spaces.Box(0, 1, (10, 10, 4), jnp.bool_)

    def action_space(self, params=None):
        return spaces.Discrete(3)
