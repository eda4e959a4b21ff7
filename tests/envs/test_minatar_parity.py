"""MinAtar Breakout's JAX port against the `minatar` package: same state + action -> same
next state, reward, termination and observation (`pip install --no-deps minatar`)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trax_rl.envs as envs
from trax_rl.envs import minatar_breakout as mb

breakout = pytest.importorskip("minatar.environments.breakout")


def _ours(game, last_action=0):
    """Our state from minatar's `Env` attributes."""
    return mb.BreakoutState(
        *(jnp.int32(getattr(game, k)) for k in ("ball_x", "ball_y", "ball_dir", "pos")),
        brick_map=jnp.asarray(game.brick_map == 1), strike=jnp.bool_(game.strike),
        last_x=jnp.int32(game.last_x), last_y=jnp.int32(game.last_y),
        last_action=jnp.int32(last_action))


def _check_same(state, game):
    for k in ("ball_x", "ball_y", "ball_dir", "pos", "last_x", "last_y"):
        assert int(getattr(state, k)) == getattr(game, k), k
    assert bool(state.strike) == game.strike
    np.testing.assert_array_equal(np.asarray(state.brick_map), game.brick_map == 1)
    np.testing.assert_array_equal(np.asarray(mb.observation(state)), game.state())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_transitions_match_minatar(seed):
    rng = np.random.RandomState(seed)
    game = breakout.Env()
    game.random = np.random.RandomState(seed)
    minimal = game.minimal_action_set()
    move = jax.jit(mb.move)
    n_terminal = n_reward = n_refill = 0
    for _ in range(3000):
        if game.terminal:
            game.reset()
        # Mostly follow the ball (long rallies clear the bricks and refill them).
        action = int(rng.randint(3)) if rng.rand() < 0.3 else (
            0 if game.ball_x == game.pos else 1 if game.ball_x < game.pos else 2)
        bricks_before = int(game.brick_map.sum())
        state, reward, terminal = move(_ours(game), jnp.int32(action))
        game_reward, game_terminal = game.act(minimal[action])
        assert float(reward) == game_reward and bool(terminal) == game_terminal
        _check_same(state, game)
        n_terminal += game_terminal
        n_reward += game_reward
        n_refill += int(game.brick_map.sum()) > bricks_before
    assert n_terminal > 5 and n_reward > 30  # the test saw both endings and bricks


def test_transitions_match_minatar_from_random_states():
    """Every branch (walls, ceiling, bricks with and without `strike`, paddle middle and
    corner, misses, the refill of an empty wall) from states a policy rarely reaches."""
    rng = np.random.RandomState(0)
    move = jax.jit(mb.move)
    seen = set()
    for _ in range(1500):
        game = breakout.Env()
        game.ball_x, game.ball_y = rng.randint(10), rng.randint(9)
        game.ball_dir, game.pos = rng.randint(4), rng.randint(10)
        game.brick_map = (rng.rand(10, 10) < rng.choice([0.0, 0.3, 0.9])).astype(float)
        game.strike = bool(rng.randint(2))
        game.last_x, game.last_y = rng.randint(10), rng.randint(10)
        if rng.rand() < 0.5:  # Near the paddle, where its branches are.
            game.ball_y, game.pos = 8, int(np.clip(game.ball_x + rng.randint(-1, 2), 0, 9))
            game.ball_dir = rng.choice([2, 3])
        empty = not game.brick_map.any()
        action = int(rng.randint(3))
        state, reward, terminal = move(_ours(game), jnp.int32(action))
        game_reward, game_terminal = game.act(game.minimal_action_set()[action])
        assert float(reward) == game_reward and bool(terminal) == game_terminal
        _check_same(state, game)
        seen.add("terminal" if game_terminal else "reward" if game_reward else "step")
        seen.add("refill" if empty and game.brick_map.any() else "")
        seen.add("bounce" if game.ball_y == 8 and not game_terminal and game.ball_dir < 2
                 else "")
    assert {"terminal", "reward", "step", "refill", "bounce"} <= seen


def test_reset_covers_both_of_minatars_starts():
    env = mb.MinAtarBreakout()
    starts = {}
    for i in range(16):
        obs, state = env.reset_env(jax.random.PRNGKey(i), env.default_params)
        starts[int(state.ball_x)] = np.asarray(obs)
    game = breakout.Env()
    for ball_start in (0, 1):
        game.random = type("R", (), {"randint": lambda self, n, b=ball_start: b})()
        game.reset()
        np.testing.assert_array_equal(starts[game.ball_x], game.state())


def test_sticky_actions_repeat_the_previous_action():
    env = mb.MinAtarBreakout()
    _, state = env.reset_env(jax.random.PRNGKey(0), env.default_params)
    always = mb.BreakoutParams(sticky_action_prob=1.0)
    _, moved, _, _ = env.step_env(jax.random.PRNGKey(1), state._replace(last_action=jnp.int32(2)),
                                  jnp.int32(1), always)
    assert int(moved.pos) == 5 and int(moved.last_action) == 2  # right, not left
    never = mb.BreakoutParams(sticky_action_prob=0.0)
    _, moved, _, _ = env.step_env(jax.random.PRNGKey(1), state, jnp.int32(1), never)
    assert int(moved.pos) == 3


def test_registered_with_pixel_spaces():
    env, params = envs.make("MinAtar/Breakout-v1")
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    assert env.observation_space(params).contains(obs)
    assert env.action_space(params).n == 3
    obs, *_ = jax.jit(env.step)(jax.random.PRNGKey(1), state, jnp.int32(0), params)
    assert obs.shape == (10, 10, 4) and obs.dtype == jnp.bool_
