"""The host runner: the same learners on a Gymnasium vector env stepped in Python.

Gymnasium ids without a JAX port run through `trax_rl.envs.make_gymnasium_vec`. Here
the rollout is a Python loop over `HostVectorEnv.step`, calling one jitted `act`
per step; the learning half is the algorithm's own jitted `learn`, unchanged. The
rollout it builds is the same `Transition [T, B, ...]` that `collect_rollout` makes,
with the same bootstrapping semantics (the bridge returns `final_obs` like our envs).
This is the one explicit host path of the agents (STYLE.md practice 14).
"""

from typing import Any, NamedTuple

import jax
import numpy as np

from trax_rl.agents import rollout
from trax_rl.envs import spaces


class HostState(NamedTuple):
    learner_state: Any
    obs: np.ndarray
    rng: jax.Array
    env_steps: int


def network_observation_space(space):
    """`(space the network sees, obs -> network input)`: Discrete obs become one-hot."""
    if isinstance(space, spaces.Discrete):
        eye = np.eye(space.n, dtype=np.float32)
        return spaces.Box(0.0, 1.0, (space.n,)), lambda obs: eye[np.asarray(obs) - space.start]
    if isinstance(space, spaces.Box):
        return space, lambda obs: np.asarray(obs, np.float32)
    raise ValueError(f"observations must be Discrete or Box, got {space!r}")


def make_act(apply):
    """`act(params, obs, key) -> (action, log_prob, value)`, jitted once per learner."""

    def act(params, obs, key):
        dist, value = apply(params, obs)
        action = dist.sample(key)
        return action, dist.log_prob(action), value

    return jax.jit(act)


def init(learner, vec_env, key, transform):
    init_key, rng = jax.random.split(key)
    return HostState(jax.jit(learner.init)(init_key), transform(vec_env.reset()), rng, 0)


def collect_rollout(act, params, vec_env, state, num_steps, transform):
    """`num_steps` host steps of all envs; returns `(obs, rng, transitions [T, B, ...])`."""
    obs, rng, steps = state.obs, state.rng, []
    for _ in range(num_steps):
        rng, key = jax.random.split(rng)
        action, log_prob, value = jax.device_get(act(params, obs, key))
        next_obs, reward, terminated, truncated, info = vec_env.step(action)
        steps.append(rollout.Transition(
            obs, action, log_prob, value, reward, terminated, truncated,
            transform(info["final_obs"]), info["episode_return"], info["episode_length"]))
        obs = transform(next_obs)
    return obs, rng, jax.tree.map(lambda *xs: np.stack(xs), *steps)


def make_update(learner, config, vec_env, transform):
    """`update(state) -> (state, metrics)`: one host rollout then one jitted `learn`."""
    act = make_act(learner.apply)
    learn = jax.jit(learner.learn)

    def update(state):
        params = learner.params(state.learner_state)
        obs, rng, transitions = collect_rollout(act, params, vec_env, state, config.num_steps,
                                                transform)
        rng, learn_key = jax.random.split(rng)
        learner_state, metrics = learn(state.learner_state, transitions, learn_key)
        env_steps = state.env_steps + config.batch_size
        metrics = {**jax.device_get(metrics), **rollout.episode_metrics(transitions),
                   "charts/env_steps": env_steps}
        return HostState(learner_state, obs, rng, env_steps), metrics

    return update


def episode_quota(num_episodes, num_envs):
    """Episodes each env contributes: `num_episodes` split as evenly as possible."""
    return np.full(num_envs, num_episodes // num_envs) + (
        np.arange(num_envs) < num_episodes % num_envs)


def evaluate(apply, params, vec_env, num_episodes, transform):
    """Deterministic (mode-action) returns of `num_episodes` episodes, `[num_episodes]`.

    Each env contributes its first episodes, a fixed quota (`episode_quota`): taking the
    first episodes to end anywhere would favour short episodes. Every episode ends
    within the bridge's step bound, so this returns.
    """
    act = jax.jit(lambda params, obs: apply(params, obs)[0].mode())
    quota = episode_quota(num_episodes, vec_env.num_envs)
    obs, returns = transform(vec_env.reset()), [[] for _ in range(vec_env.num_envs)]
    while any(len(r) < q for r, q in zip(returns, quota)):
        obs, _, terminated, truncated, info = vec_env.step(np.asarray(act(params, obs)))
        obs = transform(obs)
        for i in np.flatnonzero(terminated | truncated):
            if len(returns[i]) < quota[i]:
                returns[i].append(info["episode_return"][i])
    return np.asarray([r for env_returns in returns for r in env_returns], np.float32)
