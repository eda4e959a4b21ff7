"""Rollouts: the trajectory type and `collect_rollout`, one `lax.scan` over a vector env.

Axes: a rollout is time-major, every `Transition` field is `[T, B, ...]` (T steps of B
envs); learners flatten it to `[T*B, ...]` for minibatches.
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


class EnvCarry(NamedTuple):
    """What a rollout carries from one step to the next: env state and current obs."""

    env_state: Any
    obs: jax.Array


def collect_rollout(key, env, env_params, apply, params, carry, num_steps):
    """Steps the vectorized `env` `num_steps` times with the policy `apply(params, obs)`.

    Returns `(carry, transitions)` with `transitions` fields `[num_steps, B, ...]`.
    """

    def step(carry, key):
        act_key, env_key = jax.random.split(key)
        dist, value = apply(params, carry.obs)
        action = dist.sample(act_key)
        obs, env_state, reward, terminated, truncated, info = env.step(
            env_key, carry.env_state, action, env_params)
        transition = Transition(carry.obs, action, dist.log_prob(action), value, reward,
                                terminated, truncated, info["final_obs"],
                                info["episode_return"], info["episode_length"])
        return EnvCarry(env_state, obs), transition

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


def evaluate(key, env, env_params, apply, params, num_episodes):
    """Mean deterministic (mode-action) return: one episode in each of `num_episodes` envs.

    `env` must be vectorized with `num_episodes` envs; runs the time limit's number of
    steps and counts each env's first episode only. Returns `[num_episodes]` returns.
    """
    reset_key, step_key = jax.random.split(key)
    obs, env_state = env.reset(reset_key, env_params)

    def step(carry, key):
        env_state, obs, returns, finished = carry
        dist, _ = apply(params, obs)
        obs, env_state, reward, terminated, truncated, _ = env.step(
            key, env_state, dist.mode(), env_params)
        returns = returns + jnp.where(finished, 0.0, reward)
        finished = finished | terminated | truncated
        return (env_state, obs, returns, finished), None

    init = (env_state, obs, jnp.zeros(num_episodes), jnp.zeros(num_episodes, bool))
    steps = jax.random.split(step_key, env_params.max_steps_in_episode)
    (_, _, returns, _), _ = jax.lax.scan(step, init, steps)
    return returns
