"""Normalization layers: `LayerNorm` and `BatchNorm` (with running statistics in state)."""

import jax
from jax import numpy as jnp

from trax_rl.layers import base
from trax_rl.layers.core import check_mode


class LayerNorm(base.Layer):
    """Normalizes the last axis to zero mean, unit variance, then scales and shifts.

    `y = (x - mean) / sqrt(var + epsilon) * scale + bias` (Ba et al. 2016), statistics
    over the last axis. Weights `(scale, bias)` (Trax's layout). With `center=False` the
    mean is not subtracted (as in Trax, the `bias` weight is still there).
    """

    def __init__(self, center=True, epsilon=1e-6):
        super().__init__(name="LayerNorm")
        self._center = center
        self._epsilon = epsilon

    def forward(self, x, weights):
        mean = jnp.mean(x, axis=-1, keepdims=True)
        centered = x - mean if self._center else x
        variance = jnp.mean(centered * centered, axis=-1, keepdims=True)
        normed = centered * jax.lax.rsqrt(variance + self._epsilon)
        scale, bias = weights
        return normed * scale + bias

    def init_weights_and_state(self, input_signature, rng):
        del rng
        if not input_signature.shape:
            raise ValueError("LayerNorm needs inputs with at least one axis, got a scalar")
        features = input_signature.shape[-1]
        dtype = input_signature.dtype
        return (jnp.ones((features,), dtype), jnp.zeros((features,), dtype)), ()


class BatchNorm(base.Layer):
    """Batch normalization (Ioffe & Szegedy 2015) over `axis`, Trax's semantics.

    In 'train' mode the batch's own mean and variance normalize it, and the running
    statistics in state move towards them:
    `running = momentum * running + (1 - momentum) * batch_stat`.
    In 'eval' and 'predict' modes the running statistics normalize and are not updated.

    Weights `(beta, gamma)` (bias and scale), shaped like the input without `axis`
    (`()` when `center` / `scale` is False). State `(running_mean, running_var,
    n_batches)`: the statistics shaped like the input with `axis` set to 1, and the
    number of train-mode updates (Trax's layouts).
    """

    def __init__(self, axis=(0, 1, 2), epsilon=1e-5, center=True, scale=True,
                 momentum=0.999, mode="train"):
        super().__init__(name="BatchNorm")
        self._axis = (axis,) if isinstance(axis, int) else tuple(axis)
        self._epsilon = epsilon
        self._center = center
        self._scale = scale
        self._momentum = momentum
        self._mode = check_mode(mode)

    def _normalized_axes(self, ndim):
        if any(not -ndim <= a < ndim for a in self._axis):
            raise ValueError(f"BatchNorm axis {self._axis} out of range for rank-{ndim} inputs")
        return tuple(sorted(a % ndim for a in self._axis))

    def init_weights_and_state(self, input_signature, rng):
        del rng
        shape = tuple(input_signature.shape)
        axes = self._normalized_axes(len(shape))
        param_shape = tuple(d for i, d in enumerate(shape) if i not in axes)
        beta = jnp.zeros(param_shape, jnp.float32) if self._center else ()
        gamma = jnp.ones(param_shape, jnp.float32) if self._scale else ()
        stats_shape = tuple(1 if i in axes else d for i, d in enumerate(shape))
        state = (jnp.zeros(stats_shape, jnp.float32), jnp.ones(stats_shape, jnp.float32),
                 jnp.zeros((), jnp.int32))
        return (beta, gamma), state

    def forward_with_state(self, x, weights, state, rng):
        del rng
        axes = self._normalized_axes(x.ndim)
        running_mean, running_var, n_batches = state
        if self._mode == "train":
            mean = jnp.mean(x, axis=axes, keepdims=True)
            var = jnp.var(x, axis=axes, keepdims=True)
            m = self._momentum
            state = ((m * running_mean + (1 - m) * mean).astype(running_mean.dtype),
                     (m * running_var + (1 - m) * var).astype(running_var.dtype),
                     n_batches + 1)
        else:
            mean, var = running_mean, running_var
        y = (x - mean) * jax.lax.rsqrt(var + self._epsilon)
        # Weights lack the normalized axes; re-insert them so they broadcast against x.
        expand = tuple(None if i in axes else slice(None) for i in range(x.ndim))
        beta, gamma = weights
        if self._scale:
            y = y * gamma[expand]
        if self._center:
            y = y + beta[expand]
        return y.astype(x.dtype), state
