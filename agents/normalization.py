"""Observation and reward normalization (`normalize_obs`, `normalize_reward`).

The math is SB3's `VecNormalize` (CleanRL and PureJaxRL wrap the same): observations
are standardized by the running mean/variance of the raw observations and clipped to
±clip_obs; rewards are divided by the running std of the discounted return
R_t = gamma * R_{t-1} + r_t (R restarts after every episode end; not re-centered) and
clipped to ±clip_reward. Logged and evaluated returns stay raw.

The statistics (`Normalizer`) ride in the runner state next to the learner, so the
checkpoint carries them and `--resume` is exact. They update once per rollout, from
all of its T*B steps (as Brax's PPO does), not after every step: the policy acts and the
learner learns on observations normalized with the same statistics, so the learner's
recomputed log-probabilities match the rollout's exactly. Acting elsewhere
(evaluation, `load_policy`) goes through `acting_policy`, which only reads them.
"""

from typing import NamedTuple

import jax
from jax import numpy as jnp

from trax_rl.running_stats import RunningMeanStd


class Normalizer(NamedTuple):
    """Statistics of one training run; a field is None when its normalization is off."""

    obs: RunningMeanStd | None               # Of raw observations, [*obs_shape].
    ret: RunningMeanStd | None               # Of the discounted return, scalar.
    discounted_return: jax.Array | None      # [B]: each env's running R_t.


def init(config, obs_shape, num_envs):
    """A fresh `Normalizer` for `config` (a `RolloutConfig`), or None when both are off."""
    if not (config.normalize_obs or config.normalize_reward):
        return None
    reward = config.normalize_reward
    return Normalizer(RunningMeanStd.create(tuple(obs_shape)) if config.normalize_obs else None,
                      RunningMeanStd.create() if reward else None,
                      jnp.zeros(num_envs, jnp.float32) if reward else None)


def acting_policy(policy, clip_obs):
    """`policy` acting on raw observations; its params are `(normalizer, network params)`.

    The normalizer is read, never updated: statistics stay frozen wherever this acts.
    """

    def apply(params, obs, carry, reset):
        normalizer, network_params = params
        if normalizer is not None and normalizer.obs is not None:
            obs = normalizer.obs.normalize(obs, clip_obs)
        return policy.apply(network_params, obs, carry, reset)

    return policy._replace(apply=apply)


def normalize_rollout(normalizer, transitions, gamma, clip_obs, clip_reward):
    """`(normalizer, transitions [T, B, ...])` -> both updated by one rollout.

    Observations (and `final_obs`) are normalized with the statistics the policy acted
    with, then the statistics take in the rollout's raw observations. Rewards are scaled
    by the return statistics after they take in the rollout's discounted returns.
    """
    if normalizer is None:
        return normalizer, transitions
    if normalizer.obs is not None:
        stats = normalizer.obs
        raw = transitions.obs.reshape((-1,) + stats.mean.shape)  # [T*B, *obs_shape]
        transitions = transitions._replace(obs=stats.normalize(transitions.obs, clip_obs),
                                           final_obs=stats.normalize(transitions.final_obs,
                                                                     clip_obs))
        normalizer = normalizer._replace(obs=stats.update(raw))
    if normalizer.ret is not None:
        done = transitions.terminated | transitions.truncated
        last, returns = jax.lax.scan(
            lambda ret, x: (jnp.where(x[1], 0.0, ret * gamma + x[0]), ret * gamma + x[0]),
            normalizer.discounted_return, (transitions.reward, done))
        stats = normalizer.ret.update(returns.reshape(-1))
        transitions = transitions._replace(reward=stats.scale(transitions.reward, clip_reward))
        normalizer = normalizer._replace(ret=stats, discounted_return=last)
    return normalizer, transitions
