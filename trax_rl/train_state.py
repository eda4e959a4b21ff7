"""The training state and gradient step shared by the supervised Loop and the RL agents.

`TrainState` bundles parameters, layer state (e.g. BatchNorm statistics; empty for
stateless models), optimizer state, step counter and PRNG key as one pytree, so a whole
training step can be jitted, vmapped over seeds and checkpointed by tree path. The
optimizer (an optax `GradientTransformation`) is not part of the state: it is a static
function passed alongside.

`gradient_step` is the one optimizer step every trainer takes. It guards against
divergence: a step whose loss or gradient is not finite is skipped (the state keeps the
last finite parameters) and flagged in its metrics under `NONFINITE`; the host reads the
flag with `check_finite` and stops the run with a one-line error naming the step, before
it can overwrite a good checkpoint with NaNs.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = ["NONFINITE", "NonFiniteError", "TrainState", "apply_gradients", "check_finite",
           "create", "gradient_step"]

NONFINITE = "nonfinite"
"""Metrics key of `gradient_step`'s guard: int32 1 where the step was skipped, else 0."""


class TrainState(NamedTuple):
    """Everything a training run carries from one step to the next.

    Attributes:
      params: the model's parameter pytree.
      opt_state: the optax optimizer state for `params`.
      step: int32 scalar array, the number of updates applied so far.
      rng: PRNG key (typed `jax.random.key` or raw uint32) for the next step.
      layer_state: the model's non-trained state from `layer.init` (e.g. BatchNorm
        statistics); `()` for stateless models.
    """

    params: Any
    opt_state: Any
    step: jax.Array
    rng: jax.Array
    layer_state: Any = ()


def create(params, optimizer, rng, layer_state=()):
    """Returns a fresh `TrainState` at step 0 with `optimizer.init(params)`."""
    return TrainState(params=params,
                      opt_state=optimizer.init(params),
                      step=jnp.zeros((), jnp.int32),
                      rng=rng,
                      layer_state=layer_state)


def apply_gradients(state, grads, optimizer):
    """One optax update of `state.params` with `grads`; increments `step`.

    The rng is left as it is: splitting it is the caller's business, since
    only the caller knows how many keys a step consumes.
    """
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    return state._replace(params=optax.apply_updates(state.params, updates),
                          opt_state=opt_state,
                          step=state.step + 1)


def gradient_step(state, batch, loss_fn, optimizer, *, with_layer_state=False):
    """One optimizer step on `batch`; returns `(state, metrics)`. Pure; jit/vmap it.

    `loss_fn(params, batch) -> (loss, metrics)`, or with `with_layer_state=True`,
    `loss_fn(params, batch, layer_state, rng) -> (loss, (metrics, new_layer_state))`
    where `rng` is split off `state.rng` (which advances) for dropout and the like.
    `metrics` is a dict; the result's also holds `NONFINITE`: 1 when the loss or a
    gradient was NaN or inf, in which case params, optimizer and layer state stay as
    they were (`step` still counts the attempt).
    """
    if with_layer_state:
        rng, step_rng = jax.random.split(state.rng)
        fn = lambda p: loss_fn(p, batch, state.layer_state, step_rng)  # noqa: E731
        (loss, (metrics, layer_state)), grads = jax.value_and_grad(fn, has_aux=True)(
            state.params)
        stepped = state._replace(rng=rng, layer_state=layer_state)
    else:
        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params,
                                                                           batch)
        stepped = state
    finite = jnp.isfinite(loss) & jnp.all(jnp.stack(
        [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)] or [jnp.bool_(True)]))
    # A skipped step keeps params, optimizer and layer state; `step` and `rng` advance.
    # (`cond` runs one branch where `finite` is a scalar; under `vmap`, a select.)
    new = jax.lax.cond(
        finite, lambda s: apply_gradients(s, grads, optimizer),
        lambda s: s._replace(layer_state=state.layer_state, step=s.step + 1), stepped)
    return new, {**metrics, NONFINITE: (~finite).astype(jnp.int32)}


class NonFiniteError(FloatingPointError):
    """Training diverged: a loss or gradient was NaN or inf."""


def check_finite(metrics, step, what="step"):
    """Raises `NonFiniteError` naming `what step` if `metrics[NONFINITE]` is non-zero.

    Host side: `metrics` are fetched values (any reduction of the flags over steps,
    seeds or minibatches that keeps a non-zero count non-zero).
    """
    flags = np.asarray(metrics.get(NONFINITE, 0))
    if np.any(flags != 0):
        raise NonFiniteError(f"{what} {step}: the loss or a gradient is NaN or inf; "
                             f"training stopped (lower the learning rate?)")
