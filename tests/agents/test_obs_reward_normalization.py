"""Observation and reward normalization (issue 12 item 11) against numpy references."""

import dataclasses

import jax
import numpy as np
from jax import numpy as jnp

from trax_rl import envs
from trax_rl.agents import networks, normalization, ppo, rollout, training

T, B, GAMMA = 5, 3, 0.9
CONFIG = ppo.PPOConfig(normalize_obs=True, normalize_reward=True, gamma=GAMMA)


def _rollouts(n, seed=0):
    """`n` random rollouts `[T, B, ...]` with obs of shape [2] and random episode ends."""
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(n):
        obs = (rng.randn(T, B, 2) * [1.0, 50.0] + [3.0, -7.0]).astype(np.float32)
        done = rng.rand(T, B) < 0.3
        out.append(rollout.Transition(
            obs=obs, action=np.zeros((T, B), np.int32), log_prob=np.zeros((T, B)),
            value=np.zeros((T, B)), reward=rng.randn(T, B).astype(np.float32) + 1.0,
            terminated=done & (rng.rand(T, B) < 0.5), truncated=done, final_obs=obs,
            episode_return=np.zeros((T, B)), episode_length=np.zeros((T, B))))
    return out


def _discounted_returns(rollouts):
    """SB3's VecNormalize return, written as a plain loop: R = gamma * R + r, 0 after a done."""
    ret, out = np.zeros(B), []
    for tr in rollouts:
        for t in range(T):
            ret = GAMMA * ret + tr.reward[t]
            out.append(ret.copy())
            ret[tr.terminated[t] | tr.truncated[t]] = 0.0
    return np.concatenate(out)


def test_statistics_equal_numpy_moments_of_the_stream():
    rollouts = _rollouts(4)
    norm = normalization.init(CONFIG, (2,), B)
    update = jax.jit(lambda n, tr: normalization.normalize_rollout(n, tr, GAMMA, np.inf, np.inf))
    for tr in rollouts:
        norm, _ = update(norm, tr)
    all_obs = np.concatenate([tr.obs.reshape(-1, 2) for tr in rollouts])
    returns = _discounted_returns(rollouts)
    # The prior (mean 0, var 1) weighs 1e-4 of a sample.
    np.testing.assert_allclose(norm.obs.mean, all_obs.mean(0), rtol=1e-4)
    np.testing.assert_allclose(norm.obs.var, all_obs.var(0), rtol=1e-3)
    np.testing.assert_allclose(norm.ret.mean, returns.mean(), rtol=1e-4)
    np.testing.assert_allclose(norm.ret.var, returns.var(), rtol=1e-3)


def test_learner_sees_observations_normalized_as_the_policy_saw_them_and_clipped():
    first, second = _rollouts(2, seed=1)
    norm, _ = normalization.normalize_rollout(
        normalization.init(CONFIG, (2,), B), first, GAMMA, 10.0, 10.0)
    new, learned = normalization.normalize_rollout(norm, second, GAMMA, 0.5, 0.3)
    z = (second.obs - norm.obs.mean) / np.sqrt(norm.obs.var + 1e-8)  # The acting statistics.
    np.testing.assert_allclose(learned.obs, np.clip(z, -0.5, 0.5), rtol=1e-4, atol=1e-6)
    scaled = second.reward / np.sqrt(new.ret.var + 1e-8)
    np.testing.assert_allclose(learned.reward, np.clip(scaled, -0.3, 0.3), rtol=1e-4, atol=1e-6)
    assert np.abs(z).max() > 0.5 and np.abs(scaled).max() > 0.3  # Clipping did something.


def test_off_means_no_statistics_and_untouched_rollouts():
    tr = _rollouts(1)[0]
    assert normalization.init(ppo.PPOConfig(), (2,), B) is None
    norm, same = normalization.normalize_rollout(None, tr, GAMMA, 10.0, 10.0)
    assert norm is None and same is tr
    obs_only = normalization.init(dataclasses.replace(CONFIG, normalize_reward=False), (2,), B)
    _, learned = normalization.normalize_rollout(obs_only, tr, GAMMA, 10.0, 10.0)
    np.testing.assert_array_equal(learned.reward, tr.reward)


def test_acting_policy_applies_frozen_statistics():
    env, params = envs.make("CartPole-v1")
    network = networks.network_for(env, params)
    space = env.observation_space(params)
    learner = ppo.make_learner(CONFIG, network, env.action_space(params), space)
    net_params = learner.params(learner.init(jax.random.PRNGKey(0)))
    norm = normalization.init(CONFIG, space.shape, 2)._replace(
        obs=normalization.init(CONFIG, space.shape, 2).obs.update(
            jnp.asarray(np.random.RandomState(0).randn(10, 4), jnp.float32)))
    acting = normalization.acting_policy(learner.policy, 10.0)
    obs = jnp.ones((2, 4))
    dist, _, _ = jax.jit(acting.apply)((norm, net_params), obs, (), None)
    expected, _, _ = learner.policy.apply(net_params, norm.obs.normalize(obs, 10.0), (), None)
    np.testing.assert_allclose(dist.logits, expected.logits, rtol=1e-6)


def test_trainer_counts_every_rollout_step_once():
    env, params = envs.make("CartPole-v1")
    config = dataclasses.replace(CONFIG, num_envs=4, num_steps=8, total_timesteps=64)
    learner = ppo.make_learner(config, networks.network_for(env, params),
                               env.action_space(params), env.observation_space(params))
    trainer = training.make_trainer(learner, config, env, params)
    state, _ = jax.jit(training.make_train_fn(trainer))(jax.random.PRNGKey(0))
    np.testing.assert_allclose(state.normalizer.obs.count, 64 + 1e-4, rtol=1e-6)
    np.testing.assert_allclose(state.normalizer.ret.count, 64 + 1e-4, rtol=1e-6)
