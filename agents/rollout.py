"""Rollouts and evaluation: one `lax.scan` over a vector env, for any `networks.Policy`.

Axes: a rollout is time-major, every `Transition` field is `[T, B, ...]` (T steps of B
envs); learners flatten it to `[T*B, ...]` for minibatches, or keep env sequences
(recurrent PPO). Feed-forward and recurrent policies go through the same functions: the
policy's carry (empty for feed-forward networks) rides along with the env state.
"""

from typing import Any, NamedTuple

import jax
from jax import numpy as jnp


class Transition(NamedTuple):
    """One step of B envs (or, stacked by `collect_rollout`, T steps: `[T, B, ...]`).

    Attributes:
        obs: observation the action was chosen from.
        action, log_prob, value: the policy's choice, log pi(action | obs), V(obs).
        reward, terminated, truncated: the env's answer.
        final_obs: observation the step reached before any auto-reset; V(final_obs)
            bootstraps truncated episodes.
        episode_return, episode_length: statistics of the episode ending at this step
            (meaningful where `terminated | truncated`).
        reset: True where `obs` started an episode (recurrent policies reset there).
        carry: the policy's carry before the step (`()` for feed-forward policies).
        next_value: V(final_obs) computed in the step, from the carry that saw the
            episode (recurrent policies); None where learners compute it from final_obs.
    """

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array
    reset: Any = None
    carry: Any = ()
    next_value: Any = None


class EnvCarry(NamedTuple):
    """What a rollout carries from one step to the next, `[B, ...]`."""

    env_state: Any
    obs: jax.Array
    reset: jax.Array  # True where `obs` starts an episode.
    policy: Any = ()  # The policy's carry (`Policy.init_carry`).


def start(policy, env_state, obs):
    """The carry of a rollout whose envs were all just reset."""
    batch = jax.tree.leaves(obs)[0].shape[0]
    return EnvCarry(env_state, obs, jnp.ones(batch, bool), policy.init_carry(batch))


def collect_rollout(key, env, env_params, policy, params, carry, num_steps):
    """Steps the vectorized `env` `num_steps` times, acting with `policy` (a `Policy`).

    Returns `(carry, transitions)` with `transitions` fields `[num_steps, B, ...]`.
    """

    def step(carry, key):
        act_key, env_key = jax.random.split(key)
        dist, value, memory = policy.apply(params, carry.obs, carry.policy, carry.reset)
        action = dist.sample(act_key)
        obs, env_state, reward, terminated, truncated, info = env.step(
            env_key, carry.env_state, action, env_params)
        next_value = None
        if policy.recurrent:  # V(final_obs) needs the memory of the episode that ended.
            _, next_value, _ = policy.apply(params, info["final_obs"], memory,
                                            jnp.zeros_like(carry.reset))
        transition = Transition(carry.obs, action, dist.log_prob(action), value, reward,
                                terminated, truncated, info["final_obs"],
                                info["episode_return"], info["episode_length"],
                                carry.reset, carry.policy, next_value)
        return EnvCarry(env_state, obs, terminated | truncated, memory), transition

    return jax.lax.scan(step, carry, jax.random.split(key, num_steps))


def episode_metrics(transitions):
    """Mean return/length of the episodes that ended in `transitions` (NaN if none did)."""
    done = transitions.terminated | transitions.truncated
    count = jnp.sum(done)
    safe = jnp.maximum(count, 1)
    nan = jnp.float32(jnp.nan)
    return {
        "charts/episode_return": jnp.where(
            count > 0, jnp.sum(transitions.episode_return * done) / safe, nan),
        "charts/episode_length": jnp.where(
            count > 0, jnp.sum(transitions.episode_length * done) / safe, nan),
        "charts/episodes": count,
    }


def evaluate(key, env, env_params, policy, params, num_episodes, deterministic=True):
    """Returns `[num_episodes]`: one episode in each of `num_episodes` envs.

    `env` must be vectorized with `num_episodes` envs (`resets=False` spares it the
    resets this never uses); runs the time limit's number of steps
    (`env_params.max_steps_in_episode`, so it always ends) and counts each env's first
    episode only. Actions are the distribution's mode, or samples when
    `deterministic=False`.
    """
    reset_key, step_key = jax.random.split(key)
    obs, env_state = env.reset(reset_key, env_params)

    def step(carry, key):
        env_carry, returns, finished = carry
        act_key, env_key = jax.random.split(key)
        dist, _, memory = policy.apply(params, env_carry.obs, env_carry.policy,
                                       env_carry.reset)
        action = dist.mode() if deterministic else dist.sample(act_key)
        obs, env_state, reward, terminated, truncated, _ = env.step(
            env_key, env_carry.env_state, action, env_params)
        returns = returns + jnp.where(finished, 0.0, reward)
        done = terminated | truncated
        return (EnvCarry(env_state, obs, done, memory), returns, finished | done), None

    init = (start(policy, env_state, obs), jnp.zeros(num_episodes),
            jnp.zeros(num_episodes, bool))
    steps = jax.random.split(step_key, env_params.max_steps_in_episode)
    (_, returns, _), _ = jax.lax.scan(step, init, steps)
    return returns
