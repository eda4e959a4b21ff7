"""Tests for trax_rl.agents.losses: hand-computed values, numpy, and gradients."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trax_rl.agents import losses


def test_policy_gradient_loss_value_and_gradient():
    log_probs = jnp.array([-0.5, -1.0, -2.0])
    advantages = jnp.array([1.0, -2.0, 0.5])
    loss, metrics = losses.policy_gradient_loss(log_probs, advantages)
    # -mean([-0.5 * 1, -1 * -2, -2 * 0.5]) = -mean([-0.5, 2, -1]) = -1/6.
    np.testing.assert_allclose(loss, -1 / 6, rtol=1e-6)
    assert metrics["policy_loss"] == loss
    grad_lp, grad_adv = jax.grad(lambda lp, a: losses.policy_gradient_loss(lp, a)[0],
                                 argnums=(0, 1))(log_probs, advantages)
    np.testing.assert_allclose(grad_lp, -advantages / 3, rtol=1e-6)
    np.testing.assert_array_equal(grad_adv, 0.0)


# ratio = [1.5, 0.5, 1.1, 0.7] with eps = 0.2:
#   0: A > 0, ratio above 1 + eps -> clipped term 1.2 wins, no gradient
#   1: A < 0, ratio below 1 - eps -> clipped term -0.8 wins, no gradient
#   2: inside the trust region -> 2.2, gradient ratio * A
#   3: A > 0, ratio below 1 - eps -> pessimistic unclipped 0.7 wins, gradient flows
RATIOS = np.array([1.5, 0.5, 1.1, 0.7], np.float32)
PPO_ADVANTAGES = jnp.array([1.0, -1.0, 2.0, 1.0])
OLD_LOG_PROBS = jnp.array([-1.0, -0.3, -2.0, -0.7])
LOG_PROBS = OLD_LOG_PROBS + jnp.log(RATIOS)


def test_ppo_clip_loss_hand_computed():
    loss, metrics = jax.jit(losses.ppo_clip_loss)(LOG_PROBS, OLD_LOG_PROBS,
                                                 PPO_ADVANTAGES, 0.2)
    np.testing.assert_allclose(loss, -(1.2 - 0.8 + 2.2 + 0.7) / 4, rtol=1e-5)
    np.testing.assert_allclose(metrics["clip_fraction"], 0.75)
    np.testing.assert_allclose(metrics["approx_kl"],
                               np.mean(RATIOS - 1 - np.log(RATIOS)), rtol=1e-5)
    assert metrics["approx_kl"] >= 0


def test_ppo_clip_gradient_is_zero_where_clipping_binds():
    grad = jax.grad(lambda lp: losses.ppo_clip_loss(lp, OLD_LOG_PROBS, PPO_ADVANTAGES,
                                                     0.2)[0])(LOG_PROBS)
    # d(-ratio * A / N)/d log_prob = -ratio * A / N where the unclipped term is chosen.
    np.testing.assert_allclose(grad, [0.0, 0.0, -2.2 / 4, -0.7 / 4], rtol=1e-5, atol=1e-7)


def test_ppo_gradient_ignores_old_log_probs_and_advantages():
    grads = jax.grad(lambda old, adv: losses.ppo_clip_loss(LOG_PROBS, old, adv, 0.2)[0],
                     argnums=(0, 1))(OLD_LOG_PROBS, PPO_ADVANTAGES)
    for g in grads:
        np.testing.assert_array_equal(g, 0.0)


def test_value_loss_plain_and_clipped():
    values = jnp.array([1.0, 2.0, 3.0])
    targets = jnp.array([1.5, 1.0, 3.0])
    loss, metrics = losses.value_loss(values, targets)
    np.testing.assert_allclose(loss, 0.5 * (0.25 + 1.0 + 0.0) / 3, rtol=1e-6)
    assert metrics["value_loss"] == loss
    # V_clip = old + clip(V - old, ±0.2) = [0.2, 2.0, 3.3]; squared [1.69, 1, .09].
    old_values = jnp.array([0.0, 2.0, 3.5])
    clipped, _ = losses.value_loss(values, targets, old_values=old_values, clip_eps=0.2)
    np.testing.assert_allclose(clipped, 0.5 * (1.69 + 1.0 + 0.09) / 3, rtol=1e-5)
    grad = jax.grad(lambda v: losses.value_loss(v, targets, old_values, 0.2)[0])(values)
    # Sample 0: the clipped error dominates and is flat in V.
    assert grad[0] == 0.0
    grad_targets = jax.grad(lambda t: losses.value_loss(values, t)[0])(targets)
    np.testing.assert_array_equal(grad_targets, 0.0)


def test_value_loss_needs_both_clip_arguments():
    with pytest.raises(ValueError, match="both old_values and clip_eps"):
        losses.value_loss(jnp.zeros(2), jnp.zeros(2), clip_eps=0.2)
    with pytest.raises(ValueError, match="both old_values and clip_eps"):
        losses.value_loss(jnp.zeros(2), jnp.zeros(2), old_values=jnp.zeros(2))


def test_entropy_loss():
    loss, metrics = losses.entropy_loss(jnp.array([1.0, 2.0]))
    assert loss == -1.5 and metrics["entropy"] == 1.5


def test_awr_policy_loss_weights_and_clipping():
    log_probs = jnp.array([-1.0, -2.0, -3.0])
    advantages = jnp.array([0.0, 1.0, 10.0])
    loss, metrics = losses.awr_policy_loss(log_probs, advantages, beta=1.0, max_weight=20.0)
    weights = np.array([1.0, math.e, 20.0])  # exp(10) clipped to 20
    np.testing.assert_allclose(loss, (1.0 + 2 * math.e + 60.0) / 3, rtol=1e-5)
    np.testing.assert_allclose(metrics["mean_weight"], weights.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["clipped_weight_fraction"], 1 / 3)
    grad_lp, grad_adv = jax.grad(
        lambda lp, a: losses.awr_policy_loss(lp, a, 1.0, 20.0)[0], argnums=(0, 1)
    )(log_probs, advantages)
    np.testing.assert_allclose(grad_lp, -weights / 3, rtol=1e-5)
    np.testing.assert_array_equal(grad_adv, 0.0)


def test_awr_huge_advantages_stay_finite():
    loss, metrics = jax.jit(losses.awr_policy_loss)(
        jnp.array([-1.0, -1.0]), jnp.array([1e4, -1e4]), 0.01, 20.0)
    assert np.isfinite(loss) and np.isfinite(metrics["mean_weight"])
    np.testing.assert_allclose(metrics["mean_weight"], 10.0, rtol=1e-5)


def test_explained_variance():
    rng = np.random.default_rng(0)
    targets = rng.normal(size=64).astype(np.float32)
    values = (targets + 0.5 * rng.normal(size=64)).astype(np.float32)
    expected = 1 - np.var(targets - values) / np.var(targets)
    np.testing.assert_allclose(losses.explained_variance(values, targets), expected,
                               rtol=1e-5)
    np.testing.assert_allclose(losses.explained_variance(targets, targets), 1.0)
    np.testing.assert_allclose(
        losses.explained_variance(np.full(64, targets.mean()), targets), 0.0, atol=1e-6)
    # Constant targets: undefined, reported as 0 rather than nan.
    assert jax.jit(losses.explained_variance)(values, np.ones(64, np.float32)) == 0.0


def test_normalize():
    x = jnp.array([1.0, 2.0, 3.0, 10.0])
    z = losses.normalize(x)
    np.testing.assert_allclose(z, (x - x.mean()) / (np.std(np.asarray(x)) + 1e-8),
                               rtol=1e-6)
    np.testing.assert_allclose([z.mean(), z.std()], [0.0, 1.0], atol=1e-6)
    assert np.all(np.isfinite(losses.normalize(jnp.ones(4))))


def test_losses_vmap_over_seeds():
    # A stack of independent minibatches (e.g. one per seed) maps without change.
    stacked = jax.vmap(losses.ppo_clip_loss, in_axes=(0, 0, 0, None))(
        jnp.stack([LOG_PROBS] * 2), jnp.stack([OLD_LOG_PROBS] * 2),
        jnp.stack([PPO_ADVANTAGES] * 2), 0.2)
    np.testing.assert_allclose(stacked[0], [-0.825, -0.825], rtol=1e-5)
