"""The learning-step pieces the agents share: bootstrapped targets and gradient steps.

PPO, A2C, REINFORCE and AWR all turn a rollout `[T, B, ...]` into value targets with
an estimator from `advantages`, then take gradient steps on a loss over flat `[N, ...]`
batches. What they have in common lives here, once:

- `bootstrap_streams`: the `next_values`, `discounts`, `continues` streams every
  estimator reads (see the `advantages` module docstring for their meaning);
- `compute_targets`: GAE(λ) advantages and value targets (PPO, A2C);
- `gradient_step` (one step on one batch) and `update_epoch` (one shuffled pass in
  minibatches);
- `learn_metrics`: the namespaced loss diagnostics plus explained variance.
"""

import jax
from jax import numpy as jnp

from trax_rl import train_state as ts
from trax_rl.agents import advantages as adv
from trax_rl.agents import losses
from trax_rl.agents import minibatch


def bootstrap_streams(apply, params, transitions, gamma):
    """`(next_values, discounts, continues)`, each shaped like `transitions.reward`.

    `next_values` = V(final_obs) from the current `params`, so a truncated episode or a
    rollout cut mid-episode bootstraps from the critic; `discounts` = γ(1 - terminated);
    `continues` = 1 - (terminated | truncated).
    """
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


def gradient_step(state, batch, loss_fn, optimizer):
    """One optimizer step on `loss_fn(params, batch) -> (loss, metrics)`."""
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, batch)
    return ts.apply_gradients(state, grads, optimizer), metrics


def update_epoch(state, batch, key, loss_fn, optimizer, num_minibatches):
    """One pass over `batch` in shuffled minibatches; returns (state, mean metrics)."""
    minibatches = minibatch.shuffle_minibatches(key, batch, num_minibatches)
    state, metrics = jax.lax.scan(
        lambda s, b: gradient_step(s, b, loss_fn, optimizer), state, minibatches)
    return state, jax.tree.map(jnp.mean, metrics)


def learn_metrics(metrics, values, targets):
    """`losses/<name>` means of `metrics`, plus the critic's explained variance."""
    metrics = {f"losses/{k}": jnp.mean(v) for k, v in metrics.items()}
    metrics["losses/explained_variance"] = losses.explained_variance(
        values.reshape(-1), targets.reshape(-1))
    return metrics
