"""Core layers: Dense, Embedding, Dropout, reshaping and reductions, softmaxes."""

import jax
from jax import numpy as jnp

from trax_rl.layers import base
from trax_rl.layers import initializers as init

_MODES = ("train", "eval", "predict")


def check_mode(mode):
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    return mode


class Dense(base.Layer):
    """Affine map on the last axis: `y = x @ w + b`. Weights `(w, b)`, or `w` alone
    when `use_bias=False` (Trax's layout)."""

    def __init__(self, n_units, kernel_initializer=init.GlorotUniformInitializer(),
                 bias_initializer=init.RandomNormalInitializer(1e-6), use_bias=True):
        if not isinstance(n_units, int) or n_units < 1:
            raise ValueError(f"Dense n_units must be a positive int, got {n_units!r}")
        super().__init__(name=f"Dense_{n_units}")
        self._n_units = n_units
        self._kernel_initializer = kernel_initializer
        self._bias_initializer = bias_initializer
        self._use_bias = use_bias

    def forward(self, x, weights):
        if self._use_bias:
            if not isinstance(weights, (tuple, list)) or len(weights) != 2:
                raise ValueError(f"Dense with use_bias=True needs weights (w, b), got "
                                 f"{jax.tree.map(jnp.shape, weights)}")
            w, b = weights
        else:
            w, b = weights, None
        if x.shape[-1:] != w.shape[:1]:
            raise ValueError(f"expected input with last dimension {w.shape[0]}, "
                             f"got shape {tuple(x.shape)}")
        y = jnp.dot(x, w)
        return y if b is None else y + b

    def init_weights_and_state(self, input_signature, rng):
        if not input_signature.shape:
            raise ValueError("Dense needs inputs with at least one axis, got a scalar")
        w_rng, b_rng = jax.random.split(rng)
        w = self._kernel_initializer((input_signature.shape[-1], self._n_units), w_rng)
        if not self._use_bias:
            return w, ()
        return (w, self._bias_initializer((self._n_units,), b_rng)), ()


class Embedding(base.Layer):
    """Trainable layer that maps discrete tokens/IDs to vectors; weights: the
    `(vocab_size, d_feature)` array."""

    def __init__(self, vocab_size, d_feature, kernel_initializer=init.RandomNormalInitializer(1.0)):
        super().__init__(name=f"Embedding_{vocab_size}_{d_feature}")
        self._vocab_size = vocab_size
        self._d_feature = d_feature
        self._kernel_initializer = kernel_initializer

    def forward(self, x, weights):
        if not jnp.issubdtype(x.dtype, jnp.integer):
            raise ValueError(f"Embedding expects integer token ids, got dtype {x.dtype}")
        return jnp.take(weights, x, axis=0, mode="clip")

    def init_weights_and_state(self, input_signature, rng):
        del input_signature
        return self._kernel_initializer((self._vocab_size, self._d_feature), rng), ()


class Dropout(base.Layer):
    """Zeroes a `rate` fraction of activations in 'train' mode, scaling the rest by 1/(1-rate)."""

    def __init__(self, rate=0.0, shared_axes=None, mode="train"):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate}")
        super().__init__(name="Dropout")
        self._rate = rate
        self._shared_axes = tuple(shared_axes or ())
        self._mode = check_mode(mode)

    def forward_with_state(self, x, weights, state, rng):
        if self._mode != "train" or self._rate == 0.0:
            return x, state
        if rng is None:
            raise ValueError("Dropout in 'train' mode needs an rng: pass rng= to pure_fn")
        shape = tuple(1 if i in self._shared_axes else d for i, d in enumerate(x.shape))
        keep = jax.random.bernoulli(rng, 1.0 - self._rate, shape)
        return jnp.where(keep, x / (1.0 - self._rate), 0).astype(x.dtype), state


def Flatten(n_axes_to_keep=1):  # pylint: disable=invalid-name
    """Flattens all but the first `n_axes_to_keep` axes into one."""
    def f(x):
        if x.ndim < n_axes_to_keep:
            raise ValueError(f"Flatten needs at least {n_axes_to_keep} axes, got {x.shape}")
        return jnp.reshape(x, x.shape[:n_axes_to_keep] + (-1,))
    return base.Fn("Flatten", f)


def Mean(axis=-1, keepdims=False):  # pylint: disable=invalid-name
    return base.Fn("Mean", lambda x: jnp.mean(x, axis=axis, keepdims=keepdims))


def Sum(axis=None, keepdims=False):  # pylint: disable=invalid-name
    return base.Fn("Sum", lambda x: jnp.sum(x, axis=axis, keepdims=keepdims))


def LogSoftmax(axis=-1):  # pylint: disable=invalid-name
    return base.Fn("LogSoftmax", lambda x: jax.nn.log_softmax(x, axis=axis))


def Softmax(axis=-1):  # pylint: disable=invalid-name
    return base.Fn("Softmax", lambda x: jax.nn.softmax(x, axis=axis))


def Relu():  # pylint: disable=invalid-name
    return base.Fn("Relu", jax.nn.relu)


def Gelu(approximate=False):  # pylint: disable=invalid-name
    """GELU; exact (erf) by default, the tanh approximation with `approximate=True`."""
    return base.Fn("Gelu", lambda x: jax.nn.gelu(x, approximate=approximate))


def FastGelu():  # pylint: disable=invalid-name
    return base.Fn("FastGelu", lambda x: jax.nn.gelu(x, approximate=True))


def Tanh():  # pylint: disable=invalid-name
    return base.Fn("Tanh", jnp.tanh)


def Sigmoid():  # pylint: disable=invalid-name
    return base.Fn("Sigmoid", jax.nn.sigmoid)


def Elu(alpha=1.0):  # pylint: disable=invalid-name
    return base.Fn("Elu", lambda x: jax.nn.elu(x, alpha))


def Selu():  # pylint: disable=invalid-name
    return base.Fn("Selu", jax.nn.selu)


def LeakyRelu(a=0.01):  # pylint: disable=invalid-name
    return base.Fn("LeakyRelu", lambda x: jax.nn.leaky_relu(x, a))


def Softplus():  # pylint: disable=invalid-name
    return base.Fn("Softplus", jax.nn.softplus)


def Swish():  # pylint: disable=invalid-name
    return base.Fn("Swish", jax.nn.swish)
