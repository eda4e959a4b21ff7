"""Tests for trax_rl.agents.awr: the replay ring buffer, its targets, the loss, CartPole."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trax_rl.agents import advantages as adv
from trax_rl.agents import awr
from trax_rl.agents import distributions

T, B = 3, 2


def fake_apply(params, obs):
    """Logits `params` for every obs; V(obs) = obs[..., 0]."""
    logits = jnp.broadcast_to(params, obs.shape[:-1] + params.shape)
    return distributions.Categorical(logits), obs[..., 0]


def _rollout(fill):
    """A `[T, B]` rollout whose obs and rewards are all `fill`."""
    obs = jnp.full((T, B, 1), fill, jnp.float32)
    return awr.Replay(obs, jnp.zeros((T, B), jnp.int32), obs[..., 0], obs[..., 0] > 99,
                      obs[..., 0] > 99, obs + 1.0, None)


def test_replay_is_a_ring_buffer():
    replay = awr.replay_init(2, _rollout(0.0))
    add = jax.jit(awr.replay_add)
    assert replay.obs.shape == (2, T, B, 1) and int(replay.num_valid) == 0
    replay = add(replay, _rollout(1.0))
    assert int(replay.num_valid) == T * B
    replay = add(add(replay, _rollout(2.0)), _rollout(3.0))
    # The third rollout overwrote the oldest slot; the replay stays full.
    np.testing.assert_array_equal(replay.reward[:, 0, 0], [3.0, 2.0])
    assert int(replay.count) == 3 and int(replay.num_valid) == 2 * T * B


def test_replay_targets_are_td_lambda_per_stream():
    key = jax.random.PRNGKey(0)
    replay = awr.replay_init(2, _rollout(0.0))
    rollout = _rollout(0.0)._replace(
        obs=jax.random.normal(key, (T, B, 1)), reward=jax.random.normal(key, (T, B)),
        terminated=jnp.array([[False, True], [True, False], [False, False]]),
        final_obs=jax.random.normal(jax.random.PRNGKey(1), (T, B, 1)))
    replay = awr.replay_add(replay, rollout)
    values, targets = jax.jit(awr.replay_targets, static_argnums=(0,))(
        fake_apply, jnp.zeros(2), replay, 0.9, 0.8)
    np.testing.assert_allclose(values[0], rollout.obs[..., 0])
    for b in range(B):
        term = rollout.terminated[:, b].astype(jnp.float32)
        expected = adv.td_lambda(rollout.reward[:, b], rollout.final_obs[:, b, 0],
                                 0.9 * (1 - term), 1 - term, 0.8)
        np.testing.assert_allclose(targets[0, :, b], expected, rtol=1e-5)


def test_normalize_valid_ignores_the_empty_rows():
    x = jnp.array([1.0, 3.0, 100.0, -50.0])
    np.testing.assert_allclose(awr.normalize_valid(x, 2)[:2], [-1.0, 1.0], rtol=1e-5)


def test_awr_loss_hand_computed():
    params = jnp.log(jnp.array([0.25, 0.75]))
    batch = (jnp.zeros((3, 1)), jnp.array([0, 1, 1]), jnp.array([0.0, 1.0, 10.0]))
    loss, metrics = awr.awr_loss(params, fake_apply, batch, beta=0.5, max_weight=20.0,
                                 ent_coef=0.0)
    weights = np.minimum(np.exp(np.array([0.0, 1.0, 10.0]) / 0.5), 20.0)
    log_probs = np.log([0.25, 0.75, 0.75])
    np.testing.assert_allclose(loss, -np.mean(weights * log_probs), rtol=1e-5)
    np.testing.assert_allclose(metrics["clipped_weight_fraction"], 1 / 3, rtol=1e-6)


def test_config_validates():
    with pytest.raises(ValueError, match="beta"):
        awr.AWRConfig(beta=0.0).validate()
    assert awr.AWRConfig(buffer_size=10).num_slots == 1
    assert awr.AWRConfig().num_slots == 50_000 // 2048


@pytest.mark.slow
def test_awr_learns_cartpole(final_returns):
    # 100k steps (~30 s on 2 CPU cores); random play scores ~22.
    assert final_returns(awr, awr.AWRConfig(total_timesteps=100_000)) > 250
