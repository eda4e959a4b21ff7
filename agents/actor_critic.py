"""The one-gradient-step actor-critic learner that A2C and REINFORCE share.

Both take one step per rollout on loss = policy gradient + vf_coef * value - ent_coef *
entropy; they differ only in their targets (`targets_fn`): GAE / n-step advantages for
A2C, Monte Carlo returns for REINFORCE.
"""

import functools
from typing import NamedTuple

import jax

from trax_rl import train_state as ts
from trax_rl.agents import losses
from trax_rl.agents import minibatch
from trax_rl.agents import networks
from trax_rl.agents import training
from trax_rl.agents import updates


class Batch(NamedTuple):
    """Flattened rollout for the update, `[N, ...]`."""

    obs: jax.Array
    action: jax.Array
    advantage: jax.Array
    target: jax.Array


def actor_critic_loss(params, apply, batch, vf_coef, ent_coef, norm_adv):
    """L = -mean(log π(a|s) Â) + vf_coef · ½ mean((V(s) - G)²) - ent_coef · mean(H[π(·|s)]).

    Â = `batch.advantage` (normalized over the batch when `norm_adv`), G = `batch.target`.
    Returns (loss, metrics).
    """
    dist, values = apply(params, batch.obs)
    advantages = losses.normalize(batch.advantage) if norm_adv else batch.advantage
    pg_loss, pg_metrics = losses.policy_gradient_loss(dist.log_prob(batch.action), advantages)
    v_loss, v_metrics = losses.value_loss(values, batch.target)
    ent_loss, ent_metrics = losses.entropy_loss(dist.entropy())
    loss = pg_loss + vf_coef * v_loss + ent_coef * ent_loss
    return loss, {**pg_metrics, **v_metrics, **ent_metrics}


def make_learner(config, network, action_space, obs_space, targets_fn):
    """A learner taking one step of `actor_critic_loss` per rollout.

    `targets_fn(apply, params, transitions) -> (advantages, targets)`, both `[T, B]`,
    is the only difference between A2C (GAE) and REINFORCE (Monte Carlo returns).
    Reads `config.vf_coef`, `ent_coef`, `norm_adv` and the optimizer fields.
    """
    config.validate()
    apply = networks.make_apply(network, action_space, obs_space)
    optimizer = training.make_optimizer(config, 1)
    loss_fn = functools.partial(actor_critic_loss, apply=apply, vf_coef=config.vf_coef,
                                ent_coef=config.ent_coef, norm_adv=config.norm_adv)

    def init(key):
        return ts.create(networks.init_params(network, obs_space, key), optimizer, key)

    def learn(state, transitions, key):
        del key  # One full-batch step: nothing to shuffle.
        advantages, targets = targets_fn(apply, state.params, transitions)
        batch = minibatch.flatten_time_batch(
            Batch(transitions.obs, transitions.action, advantages, targets))
        state, metrics = ts.gradient_step(
            state, batch, lambda p, b: loss_fn(p, batch=b), optimizer)
        return state, updates.learn_metrics(metrics, transitions.value, targets)

    return training.Learner(init, learn, lambda state: state.params,
                            networks.feed_forward_policy(apply))
