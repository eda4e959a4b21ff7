"""Tests for trax_rl.agents.a2c: the loss by hand, n-step targets, learning CartPole."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trax_rl.agents import a2c
from trax_rl.agents import actor_critic
from trax_rl.agents import distributions
from trax_rl.agents import rollout
from trax_rl.agents import updates


def fake_apply(params, obs):
    """Logits `params` for every obs; V(obs) = obs[..., 0]."""
    logits = jnp.broadcast_to(params, obs.shape[:-1] + params.shape)
    return distributions.Categorical(logits), obs[..., 0]


def test_actor_critic_loss_hand_computed():
    params = jnp.log(jnp.array([0.25, 0.75]))
    batch = actor_critic.Batch(obs=jnp.array([[0.5], [1.0]]), action=jnp.array([0, 1]),
                      advantage=jnp.array([2.0, -1.0]), target=jnp.array([1.5, 0.0]))
    loss, metrics = jax.jit(actor_critic.actor_critic_loss, static_argnums=(1, 5))(
        params, fake_apply, batch, 0.5, 0.01, False)
    policy = -np.mean([np.log(0.25) * 2.0, np.log(0.75) * -1.0])
    value = 0.5 * np.mean([(0.5 - 1.5) ** 2, (1.0 - 0.0) ** 2])
    entropy = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
    np.testing.assert_allclose(loss, policy + 0.5 * value - 0.01 * entropy, rtol=1e-5)
    np.testing.assert_allclose(metrics["entropy"], entropy, rtol=1e-5)


def test_actor_critic_loss_normalizes_advantages():
    params = jnp.zeros(2)
    batch = actor_critic.Batch(jnp.zeros((2, 1)), jnp.array([0, 1]), jnp.array([3.0, 1.0]),
                      jnp.zeros(2))
    loss, _ = actor_critic.actor_critic_loss(params, fake_apply, batch, 0.0, 0.0, True)
    # Normalized advantages are +-1 and both log-probs log(1/2): the loss is 0.
    np.testing.assert_allclose(loss, 0.0, atol=1e-6)


def _rollout(obs, reward, terminated, truncated, final_obs):
    """A one-env rollout `[T, 1]` from `[T]` lists; values are V(obs) = obs."""
    col = lambda x, dtype=jnp.float32: jnp.asarray(x, dtype)[:, None]  # noqa: E731 (T, 1)
    obs_ = col(obs)[..., None]  # (T, 1, 1)
    zeros = col(np.zeros(len(obs)))
    return rollout.Transition(obs_, zeros.astype(jnp.int32), zeros, col(obs), col(reward),
                              col(terminated, bool), col(truncated, bool),
                              col(final_obs)[..., None], zeros, zeros)


def test_gae_lambda_one_gives_n_step_returns():
    # Steps 0-1: an episode that terminates; steps 2-3: one cut by the rollout's end,
    # bootstrapped from V(final_obs[3]) = 4.
    transitions = _rollout(obs=[1.0, 2.0, 3.0, 3.5], reward=[1.0, 2.0, 3.0, 4.0],
                           terminated=[0, 1, 0, 0], truncated=[0, 0, 0, 0],
                           final_obs=[2.0, 9.0, 3.5, 4.0])
    gamma = 0.5
    advantages, targets = jax.jit(updates.compute_targets, static_argnums=(0,))(
        fake_apply, jnp.zeros(2), transitions, gamma, 1.0)
    expected = [1.0 + gamma * 2.0, 2.0, 3.0 + gamma * (4.0 + gamma * 4.0), 4.0 + gamma * 4.0]
    np.testing.assert_allclose(targets[:, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(advantages[:, 0], np.array(expected) - [1.0, 2.0, 3.0, 3.5],
                               rtol=1e-6)


def test_config_rejects_bad_gae_lambda():
    with pytest.raises(ValueError, match="gae_lambda"):
        a2c.A2CConfig(gae_lambda=1.5).validate()


@pytest.mark.slow
def test_a2c_learns_cartpole(final_returns):
    # Defaults, 500k steps; random play scores ~22. Without advantage normalization A2C's
    # training return dips for tens of updates now and then (seeds 0-3, last tenth:
    # 480, 500, 423, 500, with dips to 238 and 366 on the way), so one seed's tail can
    # land in a dip (269.7 once): judge the median of four seeds.
    assert final_returns(a2c, a2c.A2CConfig(), num_seeds=4) > 300
