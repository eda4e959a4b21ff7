"""Convolution and pooling layers: `Conv`, `Conv1d`, `MaxPool`, `AvgPool`, `SumPool`.

Convolutions run on `jax.lax.conv_general_dilated`, pooling on `jax.lax.reduce_window`.
Layouts follow Trax: NHWC inputs and HWIO kernels by default.
"""

import jax
from jax import numpy as jnp

from trax_rl.layers import base
from trax_rl.layers import initializers as init


def _glorot_normal_for(rhs_spec):
    """Glorot-normal kernels whose fans are read off the kernel layout (Trax's default)."""
    jax_init = jax.nn.initializers.variance_scaling(
        1.0, "fan_avg", "truncated_normal",
        in_axis=rhs_spec.index("I"), out_axis=rhs_spec.index("O"))

    def initializer(shape, rng, dtype=jnp.float32):
        return jax_init(rng, tuple(shape), dtype)
    return initializer


class Conv(base.Layer):
    """N-d convolution with `filters` output channels and a bias per channel.

    Weights `(w, b)`, or `w` alone when `use_bias=False` (Trax's layout).
    `kernel_size` is a tuple, one entry per spatial axis. Inputs with more leading
    axes than the layout names (e.g. `(B, T, H, W, C)` for NHWC) are treated as a
    batch of images, as in Trax. `padding` is 'VALID', 'SAME' or explicit pairs.
    """

    def __init__(self, filters, kernel_size, strides=None, padding="VALID",
                 dimension_numbers=("NHWC", "HWIO", "NHWC"), kernel_initializer=None,
                 bias_initializer=init.RandomNormalInitializer(1e-6), use_bias=True):
        kernel_size = tuple(kernel_size)
        lhs_spec, rhs_spec, out_spec = dimension_numbers
        if not len(lhs_spec) == len(rhs_spec) == len(out_spec) == len(kernel_size) + 2:
            raise ValueError(f"Conv kernel_size {kernel_size} needs dimension_numbers with "
                             f"{len(kernel_size) + 2} letters each, got {dimension_numbers}")
        super().__init__(name=f"Conv_{filters}")
        self._filters = filters
        self._kernel_size = kernel_size
        self._strides = tuple(strides) if strides is not None else (1,) * len(kernel_size)
        self._padding = padding
        self._dimension_numbers = tuple(dimension_numbers)
        self._kernel_initializer = kernel_initializer or _glorot_normal_for(rhs_spec)
        self._bias_initializer = bias_initializer
        self._use_bias = use_bias

    def _fold_batch(self, shape):
        """Returns the shape with extra leading axes folded into the batch axis."""
        lhs_spec, _, out_spec = self._dimension_numbers
        extra = len(shape) - len(lhs_spec)
        if extra < 0:
            raise ValueError(f"Conv with layout {lhs_spec} needs rank >= {len(lhs_spec)} "
                             f"inputs, got shape {tuple(shape)}")
        if extra and not lhs_spec[0] == out_spec[0] == "N":
            raise ValueError(f"Conv folds extra leading axes into the batch only when the "
                             f"layouts start with N, got {self._dimension_numbers}")
        batch = 1
        for d in shape[:extra + 1]:
            batch *= d
        return (batch,) + tuple(shape[extra + 1:])

    def forward(self, x, weights):
        lhs_spec, _, _ = self._dimension_numbers
        leading = x.shape[:x.ndim - len(lhs_spec) + 1]
        x = jnp.reshape(x, self._fold_batch(x.shape))  # (N, spatial and C in lhs_spec order)
        w, b = weights if self._use_bias else (weights, None)
        y = jax.lax.conv_general_dilated(
            x, w, self._strides, self._padding, dimension_numbers=self._dimension_numbers)
        if b is not None:
            y = y + b
        return jnp.reshape(y, tuple(leading) + y.shape[1:])  # (leading..., rest of out_spec)

    def init_weights_and_state(self, input_signature, rng):
        lhs_spec, rhs_spec, out_spec = self._dimension_numbers
        shape = self._fold_batch(input_signature.shape)
        spatial = iter(self._kernel_size)
        kernel_shape = tuple(self._filters if c == "O" else
                             shape[lhs_spec.index("C")] if c == "I" else
                             next(spatial) for c in rhs_spec)
        # The bias broadcasts against the output: (filters,) for NHWC, (filters, 1, 1) for NCHW.
        bias_shape = [self._filters if c == "C" else 1 for c in out_spec]
        bias_shape = tuple(bias_shape[out_spec.index("C"):])
        w_rng, b_rng = jax.random.split(rng)
        w = self._kernel_initializer(kernel_shape, w_rng)
        if not self._use_bias:
            return w, ()
        return (w, self._bias_initializer(bias_shape, b_rng)), ()


def Conv1d(filters, kernel_size, stride=1, padding="VALID",  # pylint: disable=invalid-name
           kernel_initializer=None, bias_initializer=init.RandomNormalInitializer(1e-6),
           use_bias=True):
    """1-d convolution over `(B, W, C)` inputs (Trax's `Conv1d`)."""
    return Conv(filters, (kernel_size,), strides=(stride,), padding=padding,
                dimension_numbers=("NWC", "WIO", "NWC"),
                kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                use_bias=use_bias)


def _pool(x, reducer, init_value, pool_size, strides, padding):
    """Reduces windows over every axis but the first and last (of the last `len+2`)."""
    pool_size = tuple(pool_size)
    # Trax's default stride is 1 along every window axis, not the window size.
    strides = tuple(strides) if strides is not None else (1,) * len(pool_size)
    n_leading = x.ndim - len(pool_size) - 1
    if n_leading < 1:
        raise ValueError(f"pool_size {pool_size} needs inputs of rank >= {len(pool_size) + 2}, "
                         f"got shape {tuple(x.shape)}")
    dims = (1,) * n_leading + pool_size + (1,)
    window_strides = (1,) * n_leading + strides + (1,)
    return jax.lax.reduce_window(x, init_value, reducer, dims, window_strides, padding), \
        dims, window_strides


def _pool_name(kind, pool_size):
    return f"{kind}{tuple(pool_size)}".replace(" ", "")


def MaxPool(pool_size=(2, 2), strides=None, padding="VALID"):  # pylint: disable=invalid-name
    """Max over each window of the spatial axes (strides default to 1, as in Trax)."""
    def f(x):
        return _pool(x, jax.lax.max, -jnp.inf, pool_size, strides, padding)[0]
    return base.Fn(_pool_name("MaxPool", pool_size), f)


def SumPool(pool_size=(2, 2), strides=None, padding="VALID"):  # pylint: disable=invalid-name
    """Sum over each window of the spatial axes (strides default to 1, as in Trax)."""
    def f(x):
        return _pool(x, jax.lax.add, 0.0, pool_size, strides, padding)[0]
    return base.Fn(_pool_name("SumPool", pool_size), f)


def AvgPool(pool_size=(2, 2), strides=None, padding="VALID"):  # pylint: disable=invalid-name
    """Mean over each window of the spatial axes; 'SAME' padding is not counted."""
    def f(x):
        sums, dims, window_strides = _pool(x, jax.lax.add, 0.0, pool_size, strides, padding)
        # Windows clipped by 'SAME' padding hold fewer elements; divide by their true count.
        n_leading = x.ndim - len(pool_size) - 1
        ones = jnp.ones((1,) * n_leading + x.shape[n_leading:-1] + (1,), x.dtype)
        counts = jax.lax.reduce_window(ones, 0.0, jax.lax.add, dims, window_strides, padding)
        return sums / counts
    return base.Fn(_pool_name("AvgPool", pool_size), f)
