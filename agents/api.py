"""Training from Python in one call, on a JAX env or any Gymnasium env.

    from trax_rl import agents
    result = agents.train("ppo", "CartPole-v1", total_timesteps=100_000, seed=0)
    result.policy.apply(result.params, obs, (), None)   # acting contract (networks.Policy)

`train` picks the runner: a JAX env (a registered id, a `module:Class` path, or an
`(env, env_params)` pair) trains as one jitted program, vmapped over `num_seeds`; any
other Gymnasium id goes through the host bridge (`host_loop`). The experiment scripts
add files, logging and resume on top of the same pieces.
"""

import dataclasses
import importlib
from typing import Any, NamedTuple

import jax
import numpy as np

from trax_rl.agents import host_loop
from trax_rl.agents import networks
from trax_rl.agents import training

ALGORITHMS = ("ppo", "a2c", "reinforce", "awr")


class TrainResult(NamedTuple):
    """What `train` returns.

    Attributes:
        params: the trained network params (leading `[num_seeds]` axis on the JAX path
            when `num_seeds > 1`).
        policy: the `networks.Policy` acting with them.
        metrics: per-update metrics, numpy, `[num_updates]` (or `[num_seeds, num_updates]`).
        learner_state: the learner's whole final state (optimizer state included).
        normalizer: the observation/reward statistics (`normalization.Normalizer`) when
            `normalize_obs`/`normalize_reward` is on, else None. Act on raw observations
            with `normalization.acting_policy(policy, clip_obs)` and `(normalizer, params)`.
    """

    params: Any
    policy: networks.Policy
    metrics: dict
    learner_state: Any
    normalizer: Any = None


def train(algo, env, *, config=None, seed=0, num_seeds=1, network=None, init_params=None,
          **config_overrides):
    """Trains `algo` ('ppo', 'a2c', 'reinforce', 'awr', or its module) on `env`.

    Args:
        env: a JAX env id (`envs.registered()` or `"my_pkg.mod:MyEnv"`), an
            `(env, env_params)` pair, or any other Gymnasium id (host bridge).
        config: the algorithm's `Config`; `config_overrides` replace its fields.
        seed, num_seeds: seeds `seed .. seed + num_seeds - 1` (JAX envs, vmapped).
        network: a policy/value network (default: `networks.PolicyAndValue`).
        init_params: start from these params (e.g. pretrained) instead of random ones.
    """
    from trax_rl import envs

    algo = _algorithm(algo)
    config = dataclasses.replace(config or algo.Config(), **config_overrides).validate()
    if isinstance(env, tuple):
        jax_env, env_params = env
    elif env in envs.registered() or envs.is_import_path(env):
        jax_env, env_params = envs.make(env)
    else:
        if num_seeds != 1:
            raise ValueError(f"{env} runs through the Gymnasium bridge: one seed at a time")
        return _train_bridge(algo, config, env, seed, network, init_params)
    action_space = jax_env.action_space(env_params)
    network = network or networks.PolicyAndValue(action_space)
    learner = _with_init_params(
        algo.make_learner(config, network, action_space, jax_env.observation_space(env_params)),
        init_params)
    run = training.make_train_fn(training.make_trainer(learner, config, jax_env, env_params))
    keys = jax.vmap(jax.random.PRNGKey)(np.arange(seed, seed + num_seeds))
    if num_seeds == 1:
        state, metrics = jax.jit(run)(keys[0])
    else:
        state, metrics = jax.jit(jax.vmap(run))(keys)
    learner_state = state.learner_state
    return TrainResult(learner.params(learner_state), learner.policy,
                       jax.device_get(metrics), learner_state, state.normalizer)


def _train_bridge(algo, config, env_id, seed, network, init_params):
    from trax_rl import envs

    vec_env = envs.make_gymnasium_vec(env_id, config.num_envs, seed=seed)
    obs_space, transform = host_loop.network_observation_space(vec_env.observation_space)
    network = network or networks.PolicyAndValue(vec_env.action_space)
    learner = _with_init_params(
        algo.make_learner(config, network, vec_env.action_space, obs_space), init_params)
    update = host_loop.make_update(learner, config, vec_env, transform)
    state = host_loop.init(learner, vec_env, jax.random.PRNGKey(seed), transform, config)
    metrics = []
    for _ in range(config.num_updates):
        state, m = update(state)
        metrics.append(m)
    vec_env.close()
    stacked = jax.tree.map(lambda *xs: np.stack(xs), *metrics)
    return TrainResult(learner.params(state.learner_state), learner.policy, stacked,
                       state.learner_state, state.normalizer)


def _algorithm(algo):
    if isinstance(algo, str):
        if algo not in ALGORITHMS:
            raise ValueError(f"algo must be one of {ALGORITHMS}, got {algo!r}")
        return importlib.import_module(f"trax_rl.agents.{algo}")
    return algo


def _with_init_params(learner, init_params):
    """`learner` whose fresh state holds `init_params`.

    The optimizer state made for the random params fits: Adam's moments start at zero
    whatever the params are.
    """
    if init_params is None:
        return learner

    def init(key):
        state = learner.init(key)
        given = jax.tree.map(lambda a, b: jax.numpy.asarray(b, a.dtype).reshape(a.shape),
                             state.params, init_params)
        return state._replace(params=given)

    return learner._replace(init=init)
