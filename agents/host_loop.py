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

from trax_rl.agents import normalization
from trax_rl.agents import rollout
from trax_rl.envs import spaces


class HostState(NamedTuple):
    learner_state: Any
    obs: np.ndarray
    reset: np.ndarray  # True where `obs` starts an episode.
    carry: Any         # The policy's carry (`Policy.init_carry`).
    rng: jax.Array
    env_steps: int
    normalizer: Any = None  # `normalization.Normalizer`, None when normalization is off.


def network_observation_space(space):
    """`(space the network sees, obs -> network input)`: Discrete obs become one-hot."""
    if isinstance(space, spaces.Discrete):
        eye = np.eye(space.n, dtype=np.float32)
        return spaces.Box(0.0, 1.0, (space.n,)), lambda obs: eye[np.asarray(obs) - space.start]
    if isinstance(space, spaces.Box):
        return space, lambda obs: np.asarray(obs, np.float32)
    raise ValueError(f"observations must be Discrete or Box, got {space!r}")


def make_act(policy):
    """`act(params, obs, carry, reset, key) -> (action, log_prob, value, carry)`, jitted."""

    def act(params, obs, carry, reset, key):
        dist, value, carry = policy.apply(params, obs, carry, reset)
        action = dist.sample(key)
        return action, dist.log_prob(action), value, carry

    return jax.jit(act)


def make_value(policy):
    """`value(params, obs, carry) -> V(obs)` continuing an episode (recurrent bootstraps)."""
    return jax.jit(lambda params, obs, carry: policy.apply(
        params, obs, carry, np.zeros(obs.shape[0], bool))[1])


def init(learner, vec_env, key, transform, config=None):
    """The host runner's first state; `config` (a `RolloutConfig`) says what to normalize."""
    init_key, rng = jax.random.split(key)
    n, obs = vec_env.num_envs, transform(vec_env.reset())
    normalizer = None if config is None else normalization.init(config, obs.shape[1:], n)
    return HostState(jax.jit(learner.init)(init_key), obs, np.ones(n, bool),
                     learner.policy.init_carry(n), rng, 0, normalizer)


def collect_rollout(act, value_fn, params, vec_env, state, num_steps, transform):
    """`num_steps` host steps of all envs; returns `(state, transitions [T, B, ...])`.

    `value_fn` is None for feed-forward policies (learners bootstrap from final_obs).
    """
    obs, reset, carry, rng, steps = state.obs, state.reset, state.carry, state.rng, []
    for _ in range(num_steps):
        rng, key = jax.random.split(rng)
        action, log_prob, value, next_carry = act(params, obs, carry, reset, key)
        action, log_prob, value = jax.device_get((action, log_prob, value))
        next_obs, reward, terminated, truncated, info = vec_env.step(action)
        final_obs = transform(info["final_obs"])
        next_value = (None if value_fn is None
                      else np.asarray(value_fn(params, final_obs, next_carry)))
        steps.append(rollout.Transition(
            obs, action, log_prob, value, reward, terminated, truncated, final_obs,
            info["episode_return"], info["episode_length"], reset,
            jax.device_get(carry), next_value))
        obs, reset, carry = transform(next_obs), terminated | truncated, next_carry
    transitions = jax.tree.map(lambda *xs: np.stack(xs), *steps)
    return state._replace(obs=obs, reset=reset, carry=carry, rng=rng), transitions


def make_update(learner, config, vec_env, transform):
    """`update(state) -> (state, metrics)`: one host rollout then one jitted `learn`."""
    policy = normalization.acting_policy(learner.policy, config.clip_obs)
    act = make_act(policy)
    value_fn = make_value(policy) if policy.recurrent else None
    learn = jax.jit(learner.learn)
    normalize = jax.jit(lambda normalizer, transitions: normalization.normalize_rollout(
        normalizer, transitions, config.gamma, config.clip_obs, config.clip_reward))

    def update(state):
        params = (state.normalizer, learner.params(state.learner_state))
        state, transitions = collect_rollout(act, value_fn, params, vec_env, state,
                                             config.num_steps, transform)
        normalizer, learned = normalize(state.normalizer, transitions)
        rng, learn_key = jax.random.split(state.rng)
        learner_state, metrics = learn(state.learner_state, learned, learn_key)
        env_steps = state.env_steps + config.batch_size
        metrics = {**jax.device_get(metrics), **rollout.episode_metrics(transitions),
                   "charts/env_steps": env_steps}
        return state._replace(learner_state=learner_state, rng=rng, env_steps=env_steps,
                              normalizer=normalizer), metrics

    return update


def episode_quota(num_episodes, num_envs):
    """Episodes each env contributes: `num_episodes` split as evenly as possible."""
    return np.full(num_envs, num_episodes // num_envs) + (
        np.arange(num_envs) < num_episodes % num_envs)


def evaluate(policy, params, vec_env, num_episodes, transform, key=None):
    """Returns of `num_episodes` episodes, `[num_episodes]`: mode actions, or sampled
    ones when a PRNG `key` is given.

    Each env contributes its first episodes, a fixed quota (`episode_quota`): taking the
    first episodes to end anywhere would favour short episodes. Every episode ends
    within the bridge's step bound, so this returns.
    """
    def choose(params, obs, carry, reset, key):
        dist, _, carry = policy.apply(params, obs, carry, reset)
        return (dist.mode() if key is None else dist.sample(key)), carry

    act = jax.jit(choose)
    n = vec_env.num_envs
    quota = episode_quota(num_episodes, n)
    obs, returns = transform(vec_env.reset()), [[] for _ in range(n)]
    reset, carry = np.ones(n, bool), policy.init_carry(n)
    while any(len(r) < q for r, q in zip(returns, quota)):
        step_key = None
        if key is not None:
            key, step_key = jax.random.split(key)
        action, carry = act(params, obs, carry, reset, step_key)
        obs, _, terminated, truncated, info = vec_env.step(np.asarray(action))
        obs, reset = transform(obs), terminated | truncated
        for i in np.flatnonzero(terminated | truncated):
            if len(returns[i]) < quota[i]:
                returns[i].append(info["episode_return"][i])
    return np.asarray([r for env_returns in returns for r in env_returns], np.float32)
