"""Proximal Policy Optimization (Schulman et al. 2017, arXiv:1707.06347).

Implementation details (numbered as in Huang et al. 2022, "The 37 Implementation
Details of Proximal Policy Optimization", which CleanRL's ppo.py follows):

1. Vectorized envs; rollouts of `num_steps` x `num_envs` in one `lax.scan`.
2. Orthogonal init, gain sqrt(2) torso / 0.01 policy / 1 value, zero biases (networks.py).
3. Adam with eps 1e-5; 4. learning rate annealed linearly to 0.
5. GAE(lambda) advantages; truncated episodes bootstrap from V(final_obs), which
   CleanRL and PureJaxRL skip (they treat truncation as termination).
6. `update_epochs` passes over shuffled minibatches; 7. advantages normalized per
   minibatch; 8. clipped surrogate objective; 9. clipped value loss;
10. loss = policy - ent_coef * entropy + vf_coef * value; 11. global grad-norm clipping.
Diagnostics: approx-KL, clip fraction, explained variance.
"""

import dataclasses
import functools
from typing import NamedTuple

import jax

from trax_rl import train_state as ts
from trax_rl.agents import losses
from trax_rl.agents import minibatch
from trax_rl.agents import networks
from trax_rl.agents import training
from trax_rl.agents import updates

NAME = "ppo"


@dataclasses.dataclass(frozen=True)
class PPOConfig(training.RolloutConfig):
    """PPO hyperparameters (defaults: CleanRL's classic-control PPO)."""

    gae_lambda: float = 0.95
    """GAE lambda."""
    num_minibatches: int = 4
    """Minibatches per epoch."""
    update_epochs: int = 4
    """Passes over each rollout."""
    norm_adv: bool = True
    """Normalize advantages within each minibatch."""
    clip_eps: float = 0.2
    """Surrogate clipping coefficient."""
    clip_vloss: bool = True
    """Clip the value loss around the rollout's values."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""

    def validate(self):
        super().validate()
        if self.num_minibatches < 1:
            raise ValueError(f"num_minibatches must be >= 1, got {self.num_minibatches}")
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"num_minibatches={self.num_minibatches} must divide the batch "
                f"num_envs * num_steps = {self.batch_size}")
        if not 0.0 <= self.gae_lambda <= 1.0:
            raise ValueError(f"gae_lambda must be in [0, 1], got {self.gae_lambda}")
        if self.update_epochs < 1 or self.clip_eps <= 0:
            raise ValueError(f"update_epochs must be >= 1 and clip_eps > 0, got "
                             f"{self.update_epochs} and {self.clip_eps}")
        return self


Config = PPOConfig


class Batch(NamedTuple):
    """Flattened rollout for the update, `[N, ...]`."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    advantage: jax.Array
    target: jax.Array


def ppo_loss(params, apply, batch, config):
    """Clipped surrogate + clipped value loss - entropy bonus; returns (loss, metrics)."""
    dist, values = apply(params, batch.obs)
    advantages = losses.normalize(batch.advantage) if config.norm_adv else batch.advantage
    pg_loss, pg_metrics = losses.ppo_clip_loss(dist.log_prob(batch.action), batch.log_prob,
                                               advantages, config.clip_eps)
    v_loss, v_metrics = losses.value_loss(
        values, batch.target, *((batch.value, config.clip_eps) if config.clip_vloss else ()))
    ent_loss, ent_metrics = losses.entropy_loss(dist.entropy())
    loss = pg_loss + config.ent_coef * ent_loss + config.vf_coef * v_loss
    return loss, {**pg_metrics, **v_metrics, **ent_metrics}


def make_learner(config, network, action_space, obs_space):
    config.validate()
    apply = networks.make_apply(network, action_space, obs_space)
    optimizer = training.make_optimizer(config, config.update_epochs * config.num_minibatches)
    loss_fn = functools.partial(ppo_loss, apply=apply, config=config)

    def init(key):
        return ts.create(networks.init_params(network, obs_space, key), optimizer, key)

    def learn(state, transitions, key):
        advantages, targets = updates.compute_targets(apply, state.params, transitions,
                                                      config.gamma, config.gae_lambda)
        batch = minibatch.flatten_time_batch(Batch(
            transitions.obs, transitions.action, transitions.log_prob, transitions.value,
            advantages, targets))
        state, metrics = jax.lax.scan(
            lambda s, k: updates.update_epoch(s, batch, k, lambda p, b: loss_fn(p, batch=b),
                                              optimizer, config.num_minibatches),
            state, jax.random.split(key, config.update_epochs))
        return state, updates.learn_metrics(metrics, transitions.value, targets)

    return training.Learner(init, learn, lambda state: state.params,
                            networks.feed_forward_policy(apply))


def make_train(config, env, env_params, network=None):
    """`train(key) -> (runner_state, metrics)`: a whole PPO run as one pure function."""
    return training.make_train(make_learner, config, env, env_params, network)
