"""`rollout.evaluate`: each env's first episode, with or without the env's resets."""

import jax
import numpy as np
import pytest

import trax_rl.envs as envs
from trax_rl.agents import networks
from trax_rl.agents import rollout


@pytest.mark.parametrize("deterministic", [True, False])
def test_evaluation_without_resets_returns_the_same_first_episodes(deterministic):
    env, params = envs.make("CartPole-v1", max_steps_in_episode=60)
    network = networks.PolicyAndValue(env.action_space(params))
    policy = networks.feed_forward_policy(networks.make_apply(
        network, env.action_space(params), env.observation_space(params)))
    weights = networks.init_params(network, env.observation_space(params), jax.random.key(0))

    def evaluate(resets):
        venv = envs.vectorize(env, 32, resets=resets)
        return jax.jit(lambda k: rollout.evaluate(k, venv, params, policy, weights, 32,
                                                  deterministic))(jax.random.key(1))

    with_resets, without = evaluate(True), evaluate(False)
    np.testing.assert_array_equal(with_resets, without)
    if not deterministic:  # Sampled actions: episodes end at different steps.
        assert 1 < len(np.unique(np.asarray(without))) and np.min(without) < 60
