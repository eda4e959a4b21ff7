"""The training run shared by every agent: jitted rollouts feeding a learner.

An algorithm module (ppo, a2c, reinforce, awr) provides a `Learner`: how to start its
state and how to learn from one rollout. This module turns a learner and a JAX env
into a `Trainer` (`init(key)` and one `update`), and a Trainer into
`train(key) -> (runner_state, metrics)`, one XLA program that `jax.vmap` runs over
seeds. The experiments run the same `update` in jitted chunks to log in between;
`host_loop` runs the same `learn` on a Gymnasium vector env.
"""

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
from jax import numpy as jnp

from trax_rl import optimizers
from trax_rl.agents import networks
from trax_rl.agents import normalization
from trax_rl.agents import rollout
from trax_rl.envs import wrappers


@dataclasses.dataclass(frozen=True)
class RolloutConfig:
    """Hyperparameters every agent shares. Algorithm configs extend this one."""

    total_timesteps: int = 500_000
    """Environment steps over the whole run (all envs together)."""
    num_envs: int = 8
    """Parallel environments."""
    num_steps: int = 128
    """Steps per environment in each rollout."""
    learning_rate: float = 2.5e-4
    """Adam's learning rate."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run."""
    gamma: float = 0.99
    """Discount factor."""
    max_grad_norm: float = 0.5
    """Clip the global gradient norm to this value."""
    normalize_obs: bool = False
    """Standardize observations by the running mean/std of the raw ones (SB3's
    VecNormalize); the statistics update once per rollout, are saved in the checkpoint
    and stay frozen in evaluation."""
    normalize_reward: bool = False
    """Divide rewards by the running std of the discounted return (SB3's VecNormalize,
    not re-centered); logged and evaluated returns stay raw."""
    clip_obs: float = 10.0
    """With --normalize_obs: normalized observations are clipped to [-clip_obs, clip_obs]."""
    clip_reward: float = 10.0
    """With --normalize_reward: scaled rewards are clipped to [-clip_reward, clip_reward]."""

    @property
    def batch_size(self):
        return self.num_envs * self.num_steps

    @property
    def num_updates(self):
        return self.total_timesteps // self.batch_size

    def validate(self):
        """Raises ValueError naming the first nonsensical hyperparameter."""
        positive = ("total_timesteps", "num_envs", "num_steps", "learning_rate",
                    "max_grad_norm", "clip_obs", "clip_reward")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.num_updates < 1:
            raise ValueError(f"total_timesteps={self.total_timesteps} is less than one batch "
                             f"(num_envs * num_steps = {self.batch_size})")
        return self


class Learner(NamedTuple):
    """An algorithm's learning half.

    Attributes:
        init: `key -> learner_state`.
        learn: `(learner_state, transitions [T, B, ...], key) -> (learner_state, metrics)`.
        params: `learner_state -> network params` (what acting needs).
        policy: the `networks.Policy` that acts with those params.
    """

    init: Callable
    learn: Callable
    params: Callable
    policy: networks.Policy


class RunnerState(NamedTuple):
    learner_state: Any
    env: rollout.EnvCarry
    rng: jax.Array
    env_steps: jax.Array
    normalizer: Any = None  # `normalization.Normalizer`, None when normalization is off.


class Trainer(NamedTuple):
    init: Callable
    update: Callable
    num_updates: int


def make_optimizer(config, steps_per_update, learning_rate=None):
    """Adam (eps 1e-5, no weight decay) with gradient clipping and optional linear decay.

    `learning_rate` defaults to `config.learning_rate`; AWR passes its critic's own.
    """
    learning_rate = config.learning_rate if learning_rate is None else learning_rate
    if config.anneal_lr:
        learning_rate = optimizers.linear(
            learning_rate, 0.0, config.num_updates * steps_per_update)
    return optimizers.Adam(learning_rate, weight_decay_rate=0.0, eps=1e-5,
                           clip_grad_norm=config.max_grad_norm)


def make_trainer(learner, config, env, env_params):
    """Rollouts of `config.num_envs` copies of `env` feeding `learner`, as a `Trainer`."""
    venv = wrappers.vectorize(env, config.num_envs)
    policy = normalization.acting_policy(learner.policy, config.clip_obs)

    def init(key):
        env_key, learner_key, rng = jax.random.split(key, 3)
        obs, env_state = venv.reset(env_key, env_params)
        normalizer = normalization.init(config, env.observation_space(env_params).shape,
                                        config.num_envs)
        return RunnerState(learner.init(learner_key), rollout.start(learner.policy, env_state, obs),
                           rng, jnp.zeros((), jnp.int32), normalizer)

    def update(runner):
        rng, rollout_key, learn_key = jax.random.split(runner.rng, 3)
        carry, transitions = rollout.collect_rollout(
            rollout_key, venv, env_params, policy, acting_params(learner, runner),
            runner.env, config.num_steps)
        normalizer, learned = normalization.normalize_rollout(
            runner.normalizer, transitions, config.gamma, config.clip_obs, config.clip_reward)
        learner_state, metrics = learner.learn(runner.learner_state, learned, learn_key)
        env_steps = runner.env_steps + config.batch_size
        metrics = {**metrics, **rollout.episode_metrics(transitions),
                   "charts/env_steps": env_steps}
        return RunnerState(learner_state, carry, rng, env_steps, normalizer), metrics

    return Trainer(init, update, config.num_updates)


def acting_params(learner, state):
    """The params `normalization.acting_policy(learner.policy, ...)` acts with.

    `state` is a `RunnerState` or a `host_loop.HostState`.
    """
    return state.normalizer, learner.params(state.learner_state)


def run_updates(trainer, runner_state, num_updates):
    """`num_updates` updates in one `lax.scan`; metrics are stacked `[num_updates]`."""
    return jax.lax.scan(lambda state, _: trainer.update(state), runner_state, None,
                        num_updates)


def make_train_fn(trainer):
    """`train(key) -> (runner_state, metrics [num_updates])`: the whole run, pure."""

    def train(key):
        return run_updates(trainer, trainer.init(key), trainer.num_updates)

    return train


def make_train(make_learner, config, env, env_params, network=None):
    """`train(key)` for the learner `make_learner(config, network, action_space, obs_space)`.

    `network` defaults to `networks.network_for(env, env_params)`. Every algorithm module's own
    `make_train(config, env, env_params, network=None)` is this with its learner.
    """
    network = network or networks.network_for(env, env_params)
    learner = make_learner(config, network, env.action_space(env_params),
                           env.observation_space(env_params))
    return make_train_fn(make_trainer(learner, config, env, env_params))
