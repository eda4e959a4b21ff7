"""MinAtar Breakout's JAX port against the `minatar` package: same state + action -> same
next state, reward, termination and observation (`pip install --no-deps minatar`)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trax_rl.envs as envs
from trax_rl.envs import minatar_breakout as mb

breakout = pytest.importorskip("minatar.environments.breakout")


FIELDS = ("ball_x", "ball_y", "ball_dir", "pos", "last_x", "last_y")


def _snapshot(game):
    """minatar's `Env` attributes as numpy values."""
    return {**{k: np.int32(getattr(game, k)) for k in FIELDS},
            "brick_map": game.brick_map == 1, "strike": np.bool_(game.strike)}


def _ours(game, last_action=0):
    """Our state from minatar's `Env` attributes."""
    snap = _snapshot(game)
    return mb.BreakoutState(**{k: jnp.asarray(v) for k, v in snap.items()},
                            last_action=jnp.int32(last_action))


class _Recorder:
    """minatar's transitions `(state, action) -> (state, reward, terminal, observation)`,
    replayed through ours in one vmapped call and compared field by field."""

    def __init__(self):
        self.before, self.actions, self.after, self.rewards, self.terminals = [], [], [], [], []

    def act(self, game, action):
        self.before.append(_snapshot(game))
        self.actions.append(action)
        reward, terminal = game.act(game.minimal_action_set()[action])
        self.after.append({**_snapshot(game), "observation": game.state()})
        self.rewards.append(reward)
        self.terminals.append(terminal)
        return reward, terminal

    def check_ours(self):
        stack = lambda rows, k: np.stack([row[k] for row in rows])
        states = mb.BreakoutState(**{k: stack(self.before, k) for k in self.before[0]},
                                  last_action=np.zeros(len(self.actions), np.int32))

        def step(state, action):
            state, reward, terminal = mb.move(state, action)
            return state, reward, terminal, mb.observation(state)

        state, reward, terminal, obs = jax.jit(jax.vmap(step))(
            states, np.asarray(self.actions, np.int32))
        np.testing.assert_array_equal(np.asarray(reward), np.asarray(self.rewards, np.float32))
        np.testing.assert_array_equal(np.asarray(terminal), np.asarray(self.terminals))
        for k in (*FIELDS, "strike", "brick_map"):
            np.testing.assert_array_equal(np.asarray(getattr(state, k)), stack(self.after, k),
                                          err_msg=k)
        np.testing.assert_array_equal(np.asarray(obs), stack(self.after, "observation"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_transitions_match_minatar(seed):
    rng = np.random.RandomState(seed)
    game = breakout.Env()
    game.random = np.random.RandomState(seed)
    recorder = _Recorder()
    n_terminal = n_reward = n_refill = 0
    for _ in range(3000):
        if game.terminal:
            game.reset()
        # Mostly follow the ball (long rallies clear the bricks and refill them).
        action = int(rng.randint(3)) if rng.rand() < 0.3 else (
            0 if game.ball_x == game.pos else 1 if game.ball_x < game.pos else 2)
        bricks_before = int(game.brick_map.sum())
        game_reward, game_terminal = recorder.act(game, action)
        n_terminal += game_terminal
        n_reward += game_reward
        n_refill += int(game.brick_map.sum()) > bricks_before
    recorder.check_ours()
    assert n_terminal > 5 and n_reward > 30  # the test saw both endings and bricks


def test_transitions_match_minatar_from_random_states():
    """Every branch (walls, ceiling, bricks with and without `strike`, paddle middle and
    corner, misses, the refill of an empty wall) from states a policy rarely reaches."""
    rng = np.random.RandomState(0)
    recorder = _Recorder()
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
        game_reward, game_terminal = recorder.act(game, int(rng.randint(3)))
        seen.add("terminal" if game_terminal else "reward" if game_reward else "step")
        seen.add("refill" if empty and game.brick_map.any() else "")
        seen.add("bounce" if game.ball_y == 8 and not game_terminal and game.ball_dir < 2
                 else "")
    recorder.check_ours()
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
