"""The training state shared by the supervised Loop and the RL agents.

`TrainState` bundles parameters, optimizer state, step counter and PRNG key as
one pytree, so a whole training step can be jitted, vmapped over seeds and
checkpointed by tree path. The optimizer (an optax `GradientTransformation`) is
not part of the state: it is a static function passed alongside.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = ["TrainState", "apply_gradients", "create"]


class TrainState(NamedTuple):
    """Everything a training run carries from one step to the next.

    Attributes:
      params: the model's parameter pytree.
      opt_state: the optax optimizer state for `params`.
      step: int32 scalar array, the number of updates applied so far.
      rng: PRNG key (typed `jax.random.key` or raw uint32) for the next step.
    """

    params: Any
    opt_state: Any
    step: jax.Array
    rng: jax.Array


def create(params, optimizer, rng):
    """Returns a fresh `TrainState` at step 0 with `optimizer.init(params)`."""
    return TrainState(params=params,
                      opt_state=optimizer.init(params),
                      step=jnp.zeros((), jnp.int32),
                      rng=rng)


def apply_gradients(state, grads, optimizer):
    """One optax update of `state.params` with `grads`; increments `step`.

    The rng is left as it is: splitting it is the caller's business, since
    only the caller knows how many keys a step consumes.
    """
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    return state._replace(params=optax.apply_updates(state.params, updates),
                          opt_state=opt_state,
                          step=state.step + 1)
