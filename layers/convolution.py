"""Convolution and pooling layers: `Conv`, `Conv1d`, `CausalConv`, `CausalDepthwiseConv`,
`ConvTranspose`, `MaxPool`, `AvgPool`, `SumPool`.

Convolutions run on `jax.lax.conv_general_dilated`, pooling on `jax.lax.reduce_window`.
Layouts follow Trax: NHWC inputs and HWIO kernels by default.
"""

import math

import jax
from jax import numpy as jnp

from trax_rl.layers import base
from trax_rl.layers import initializers as init


def _glorot_normal_for(rhs_spec):
    """Glorot-normal kernels with fans read off the kernel layout (Trax's default)."""
    return init.GlorotNormalInitializer(rhs_spec.index("O"), rhs_spec.index("I"))


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


class CausalConv(Conv):
    """Causal convolution over `(B, T, D)` sequences: output t sees inputs <= t only.

    Left-pads time with `kernel_width - 1` zeros before a 'VALID' `Conv1d` (Trax).
    """

    def __init__(self, filters, kernel_width=3, kernel_initializer=None,
                 bias_initializer=init.RandomNormalInitializer(1e-6), use_bias=True):
        super().__init__(filters, (kernel_width,), padding="VALID",
                         dimension_numbers=("NWC", "WIO", "NWC"),
                         kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, use_bias=use_bias)
        self._name = "CausalConv"

    def forward(self, x, weights):
        pad = self._kernel_size[0] - 1
        return super().forward(jnp.pad(x, [(0, 0), (pad, 0), (0, 0)]), weights)


class CausalDepthwiseConv(base.Layer):
    """Per-channel causal convolution over `(B, T, D)`: `y_t = sum_i w[i] * x_{t-i}`.

    Weights: `w` of shape `(kernel_size, D)`.
    """

    def __init__(self, kernel_size=3, kernel_initializer=init.GlorotUniformInitializer(),
                 use_bfloat16=False):
        super().__init__(name="CausalDepthwiseConv")
        self._kernel_size = kernel_size
        self._kernel_initializer = kernel_initializer
        self._use_bfloat16 = use_bfloat16

    def forward(self, x, weights):
        y = x * weights[0]
        for i in range(1, self._kernel_size):
            shifted = jnp.pad(x, [(0, 0), (i, 0), (0, 0)])[:, :x.shape[1]]  # x_{t-i}
            y = y + shifted * weights[i]
        return y

    def init_weights_and_state(self, input_signature, rng):
        w_rng, _ = jax.random.split(rng)  # Trax's split, so keys match its layout.
        w = self._kernel_initializer((self._kernel_size, input_signature.shape[-1]), w_rng)
        return (w.astype(jnp.bfloat16) if self._use_bfloat16 else w), ()


class ConvTranspose(base.Layer):
    """Transposed ("de-") convolution via `lax.conv_transpose`; weights `(w, b)`.

    Inputs with more than 4 axes (NHWC only) are a batch of images, as in `Conv`.
    (`kernel_initialzer` is Trax's spelling of the argument.)
    """

    def __init__(self, filters, kernel_size, strides=None, padding="VALID",
                 rhs_dilation=None, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                 kernel_initialzer=None, bias_initializer=init.RandomNormalInitializer(1e-6)):
        super().__init__(name="ConvTranspose")
        self._filters = filters
        self._kernel_size = tuple(kernel_size)
        self._strides = tuple(strides) if strides else (1,) * len(self._kernel_size)
        self._padding = padding
        self._rhs_dilation = rhs_dilation
        self._dimension_numbers = tuple(dimension_numbers)
        self._kernel_initializer = kernel_initialzer or _glorot_normal_for(dimension_numbers[1])
        self._bias_initializer = bias_initializer

    def _flat_shape(self, shape):
        if len(shape) <= 4:
            return tuple(shape)
        if self._dimension_numbers[0] != "NHWC" or self._dimension_numbers[2] != "NHWC":
            raise ValueError("ConvTranspose takes inputs of rank > 4 only in NHWC layout")
        return (math.prod(shape[:-3]),) + tuple(shape[-3:])

    def forward(self, x, weights):
        w, b = weights
        y = jax.lax.conv_transpose(jnp.reshape(x, self._flat_shape(x.shape)), w, self._strides,
                                   self._padding, self._rhs_dilation, self._dimension_numbers)
        y = y + b
        return jnp.reshape(y, tuple(x.shape[:-3]) + y.shape[-3:]) if x.ndim > 4 else y

    def init_weights_and_state(self, input_signature, rng):
        lhs_spec, rhs_spec, out_spec = self._dimension_numbers
        shape = self._flat_shape(input_signature.shape)
        spatial = iter(self._kernel_size)
        kernel_shape = tuple(self._filters if c == "O" else shape[lhs_spec.index("C")]
                             if c == "I" else next(spatial) for c in rhs_spec)
        bias_shape = [self._filters if c == "C" else 1 for c in out_spec]
        bias_shape = tuple(bias_shape[out_spec.index("C"):])  # Leading 1s dropped (Trax).
        w_rng, b_rng = jax.random.split(rng)
        return (self._kernel_initializer(kernel_shape, w_rng),
                self._bias_initializer(bias_shape, b_rng)), ()


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
