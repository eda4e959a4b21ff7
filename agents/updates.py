"""The learning-step pieces the agents share: bootstrapped targets and gradient steps.

PPO, A2C, REINFORCE and AWR all turn a rollout `[T, B, ...]` into value targets with
an estimator from `advantages`, then take gradient steps on a loss over flat `[N, ...]`
batches. What they have in common lives here, once:

- `bootstrap_streams`: the `next_values`, `discounts`, `continues` streams every
  estimator reads (see the `advantages` module docstring for their meaning);
- `compute_targets`: GAE(λ) advantages and value targets (PPO, A2C);
- `update_epoch` (one shuffled pass in minibatches of `train_state.gradient_step`, the
  core's guarded optimizer step) and `reduce_metrics` (means over steps);
- `learn_metrics`: the namespaced loss diagnostics plus explained variance, and
  `guard/nonfinite_steps`, the count of steps the NaN/inf guard skipped.
"""

import jax
from jax import numpy as jnp

from trax_rl import train_state as ts
from trax_rl.agents import advantages as adv
from trax_rl.agents import losses
from trax_rl.agents import minibatch


NONFINITE_STEPS = "guard/nonfinite_steps"
"""Metrics key: gradient steps of this update skipped for a NaN/inf loss or gradient."""


def bootstrap_streams(apply, params, transitions, gamma):
    """`(next_values, discounts, continues)`, each shaped like `transitions.reward`.

    `next_values` = V(final_obs) from the current `params`, so a truncated episode or a
    rollout cut mid-episode bootstraps from the critic (or the rollout's own
    `next_value`, where a recurrent policy computed it from its memory); `discounts` =
    γ(1 - terminated); `continues` = 1 - (terminated | truncated).
    """
    next_values = getattr(transitions, "next_value", None)
    if next_values is None:
        _, next_values = apply(params, transitions.final_obs)
    return (next_values, *episode_masks(transitions, gamma))


def episode_masks(transitions, gamma):
    """`(discounts, continues)`: γ(1 - terminated) and 1 - (terminated | truncated)."""
    discounts = gamma * (1.0 - transitions.terminated.astype(jnp.float32))
    continues = 1.0 - (transitions.terminated | transitions.truncated).astype(jnp.float32)
    return discounts, continues


def compute_targets(apply, params, transitions, gamma, gae_lambda):
    """GAE advantages and value targets `[T, B]` for a rollout."""
    next_values, discounts, continues = bootstrap_streams(apply, params, transitions, gamma)
    advantages = adv.batched(adv.gae)(transitions.reward, transitions.value, next_values,
                                      discounts, continues, gae_lambda)
    return advantages, advantages + transitions.value


def update_epoch(state, batch, key, loss_fn, optimizer, num_minibatches):
    """One pass over `batch` in shuffled minibatches; returns (state, reduced metrics)."""
    minibatches = minibatch.shuffle_minibatches(key, batch, num_minibatches)
    state, metrics = jax.lax.scan(
        lambda s, b: ts.gradient_step(s, b, loss_fn, optimizer), state, minibatches)
    return state, reduce_metrics(metrics)


def reduce_metrics(metrics):
    """Stacked step metrics to one value each: means, but the guard's flags are counted."""
    return {k: jnp.sum(v) if k == ts.NONFINITE else jnp.mean(v) for k, v in metrics.items()}


def learn_metrics(metrics, values, targets):
    """`losses/<name>` means of `metrics`, plus the critic's explained variance and
    `guard/nonfinite_steps` (steps skipped for a NaN/inf loss or gradient)."""
    metrics = reduce_metrics(metrics)
    skipped = metrics.pop(ts.NONFINITE, jnp.zeros((), jnp.int32))
    metrics = {f"losses/{k}": v for k, v in metrics.items()}
    metrics[NONFINITE_STEPS] = skipped
    metrics["losses/explained_variance"] = losses.explained_variance(
        values.reshape(-1), targets.reshape(-1))
    return metrics
