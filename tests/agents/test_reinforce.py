"""Tests for trax_rl.agents.reinforce: Monte Carlo targets by hand, learning CartPole."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trax_rl.agents import distributions
from trax_rl.agents import reinforce
from trax_rl.agents import rollout
from trax_rl.agents import updates


def fake_apply(params, obs):
    """Uniform logits; V(obs) = obs[..., 0]."""
    return distributions.Categorical(jnp.zeros(obs.shape[:-1] + (2,)) + params), obs[..., 0]


def _rollout(obs, reward, terminated, truncated, final_obs):
    """A one-env rollout `[T, 1]` from `[T]` lists; values are V(obs) = obs."""
    col = lambda x, dtype=jnp.float32: jnp.asarray(x, dtype)[:, None]  # noqa: E731 (T, 1)
    zeros = col(np.zeros(len(obs)))
    return rollout.Transition(col(obs)[..., None], zeros.astype(jnp.int32), zeros, col(obs),
                              col(reward), col(terminated, bool), col(truncated, bool),
                              col(final_obs)[..., None], zeros, zeros)


# Steps 0-2: an episode terminated at step 2; step 3: truncated (bootstraps from
# V(final_obs) = 10); step 4: cut by the rollout's end (bootstraps from V = 20).
TRANSITIONS = _rollout(obs=[1.0, 2.0, 3.0, 4.0, 5.0], reward=[1.0, 1.0, 1.0, 2.0, 3.0],
                       terminated=[0, 0, 1, 0, 0], truncated=[0, 0, 0, 1, 0],
                       final_obs=[2.0, 3.0, 99.0, 10.0, 20.0])


def test_monte_carlo_targets_hand_computed():
    gamma = 0.9
    advantages, returns = jax.jit(reinforce.monte_carlo_targets, static_argnums=(0,))(
        fake_apply, jnp.zeros(()), TRANSITIONS, gamma)
    expected = [1 + gamma + gamma**2, 1 + gamma, 1.0, 2 + gamma * 10, 3 + gamma * 20]
    np.testing.assert_allclose(returns[:, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(advantages[:, 0], np.array(expected) - [1, 2, 3, 4, 5],
                               rtol=1e-6)


def test_monte_carlo_targets_equal_gae_with_lambda_one():
    mc = reinforce.monte_carlo_targets(fake_apply, jnp.zeros(()), TRANSITIONS, 0.9)
    gae = updates.compute_targets(fake_apply, jnp.zeros(()), TRANSITIONS, 0.9, 1.0)
    np.testing.assert_allclose(mc, gae, atol=1e-5)


@pytest.mark.slow
def test_reinforce_learns_cartpole(final_returns):
    # Defaults, 500k steps (~15 s on 2 CPU cores); random play scores ~22.
    assert final_returns(reinforce, reinforce.ReinforceConfig()) > 300
