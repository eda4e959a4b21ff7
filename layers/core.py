"""Core layers: Dense, Embedding, Dropout, Weights, RandomUniform, LocallyConnected1d,
reshaping and reductions, softmaxes, and Trax's core math helpers (`one_hot`,
`log_softmax`, `log_gaussian_pdf`, `log_gaussian_diag_pdf`, `multigaussian_loss`,
`logsoftmax_sample`). Activation functions live in `activation_fns`."""

import logging

import jax
import numpy as np
from jax import numpy as jnp

from trax_rl import shapes
from trax_rl.layers import base
from trax_rl.layers import initializers as init
# Activations moved to activation_fns (Trax's module); core keeps the names it had.
from trax_rl.layers.activation_fns import Elu as Elu
from trax_rl.layers.activation_fns import FastGelu as FastGelu
from trax_rl.layers.activation_fns import Gelu as Gelu
from trax_rl.layers.activation_fns import LeakyRelu as LeakyRelu
from trax_rl.layers.activation_fns import Relu as Relu
from trax_rl.layers.activation_fns import Selu as Selu
from trax_rl.layers.activation_fns import Sigmoid as Sigmoid
from trax_rl.layers.activation_fns import Softplus as Softplus
from trax_rl.layers.activation_fns import Swish as Swish
from trax_rl.layers.activation_fns import Tanh as Tanh

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


class Weights(base.Layer):
    """A layer with no inputs whose output is its learned weights, `initializer(shape)`."""

    def __init__(self, initializer, shape=(), use_bfloat16=False):
        super().__init__(n_in=0, n_out=1, name=f"Weights_{tuple(shape)}")
        self._initializer = initializer
        self._shape = tuple(shape)
        self._use_bfloat16 = use_bfloat16

    def forward(self, inputs, weights):
        del inputs
        return weights

    def init_weights_and_state(self, input_signature, rng):
        del input_signature
        weights = self._initializer(self._shape, rng)
        return (weights.astype(jnp.bfloat16) if self._use_bfloat16 else weights), ()


class RandomUniform(base.Layer):
    """A layer with no inputs returning `U[min_val, max_val)` samples drawn from its rng."""

    def __init__(self, min_val=0.0, max_val=1.0, shape=(), dtype=jnp.float32, sync=False):
        super().__init__(n_in=0, n_out=1, name="RandomUniform")
        del sync  # Trax's cross-device key sync; keys are already identical across devices here.
        self._min_val, self._max_val = min_val, max_val
        self._shape, self._dtype = tuple(shape), dtype

    def forward_with_state(self, inputs, weights, state, rng):
        if rng is None:
            raise ValueError("RandomUniform needs an rng: pass rng= to pure_fn")
        return jax.random.uniform(rng, self._shape, self._dtype, self._min_val,
                                  self._max_val), state


class LocallyConnected1d(base.Layer):
    """Like `Conv1d` with stride 1, but with separate weights at every position.

    Inputs `(..., L, D)`; weights `(w, b)` (or `w`), `w` of shape `(L, kernel_size, D,
    filters)`, indexed by input position (Trax's algorithm, ported as it is). Padding
    'VALID' gives `L - kernel_size + 1` outputs, 'SAME' and 'WRAP' (circular) give `L`.
    `kernel_size` must be odd.
    """

    def __init__(self, filters, kernel_size, kernel_initializer=init.GlorotUniformInitializer(),
                 bias_initializer=init.RandomNormalInitializer(1e-6), use_bias=True,
                 padding="VALID"):
        if kernel_size % 2 != 1:
            raise ValueError(f"LocallyConnected1d kernel_size must be odd, got {kernel_size}")
        if padding not in ("VALID", "SAME", "WRAP"):
            raise ValueError(f"padding must be 'VALID', 'SAME' or 'WRAP', got {padding!r}")
        super().__init__(name=f"LocallyConnected1d_{filters}_{kernel_size}")
        self._filters, self._kernel_size = filters, kernel_size
        self._kernel_initializer, self._bias_initializer = kernel_initializer, bias_initializer
        self._use_bias, self._padding = use_bias, padding

    def forward(self, x, weights):
        w, b = weights if self._use_bias else (weights, None)
        k, half = self._kernel_size, (self._kernel_size - 1) // 2
        # r[..., l, i, :] = x[..., l, :] @ w[l, i]: weights belong to INPUT positions.
        r = jnp.einsum("...lp,lkpd->...lkd", x, w)
        pieces = []
        for i in range(k):  # Shift offset i's contributions into place, as Trax does.
            piece = r[..., i, :]  # (..., L, filters)
            if self._padding == "VALID":
                piece = piece[..., k - 1 - i:piece.shape[-2] - i, :]
            else:
                pad = [(0, 0)] * (piece.ndim - 2) + [(k - 1 - i, i), (0, 0)]
                piece = jnp.pad(piece, pad, mode="wrap" if self._padding == "WRAP" else "constant")
                piece = piece[..., half:piece.shape[-2] - half, :]
            pieces.append(piece)
        y = sum(pieces)
        return y if b is None else y + b

    def init_weights_and_state(self, input_signature, rng):
        length, depth = input_signature.shape[-2:]
        n_out = length - self._kernel_size + 1 if self._padding == "VALID" else length
        w_rng, b_rng = jax.random.split(rng)
        # Positions are not part of the receptive field (Trax passes the same).
        w = self._kernel_initializer((length, self._kernel_size, depth, self._filters), w_rng,
                                     nonreceptive_dims=[0])
        if not self._use_bias:
            return w, ()
        return (w, self._bias_initializer((n_out, self._filters), b_rng)), ()


def PrintShape(n_in=1, msg=""):  # pylint: disable=invalid-name
    """Prints (and logs) the shapes and dtypes of its `n_in` inputs; returns them unchanged."""
    def f(*xs):
        shapes_and_dtypes = ", ".join(f"{tuple(x.shape)}[{x.dtype}]" for x in xs)
        info = f"PrintShape: {msg}: [{shapes_and_dtypes}]"
        print(info)
        logging.info(info)
        return xs[0] if n_in == 1 else xs
    return base.Fn(f"PrintShape_{n_in}", f, n_out=n_in, n_in=n_in)


class SummaryScalar(base.Layer):
    """Identity that keeps `aggregation_fun(x)` in its state under `'summary_' + name`."""

    def __init__(self, name, aggregation_fun=jnp.mean):
        super().__init__(name=f"Summary_{name}")
        self._key = "summary_" + name
        self._aggregation_fun = aggregation_fun

    def init_weights_and_state(self, input_signature, rng):
        del input_signature, rng
        return (), {self._key: jnp.array(0.0)}

    def forward_with_state(self, x, weights, state, rng):
        return x, {self._key: self._aggregation_fun(x)}


class SummaryImage(base.Layer):
    """Identity on `n_in` image batches `[batch, height, width, channels]` that keeps the
    first `num_summaries` examples in its state, under `'summary_' + name + str(i)`: the
    `n_in` images of example `i` (passed through `recover_fn` if given) stacked along
    height, as Trax does, for TensorBoard.

    Unlike Trax's, the state has its final structure from `init` on (zeros), so a model
    holding it keeps one state tree under `jit` and `lax.scan`.
    """

    def __init__(self, name, n_in, num_summaries=5, recover_fn=None):
        super().__init__(n_in=n_in, n_out=n_in, name=f"Summary_{name}")
        self._key = "summary_" + name
        self._num_summaries = num_summaries
        self._recover_fn = recover_fn

    def _images(self, xs):
        xs = list(xs) if self.n_in > 1 else [xs]
        recover = self._recover_fn or (lambda image: image)
        n_images = min(self._num_summaries, xs[0].shape[0])
        return {f"{self._key}{i}": jnp.concatenate([recover(x[i]) for x in xs], axis=0)
                for i in range(n_images)}

    def init_weights_and_state(self, input_signature, rng):
        del rng
        images = jax.eval_shape(self._images, shapes.as_jax(input_signature))
        return (), {k: jnp.zeros(v.shape, v.dtype) for k, v in images.items()}

    def forward_with_state(self, xs, weights, state, rng):
        return xs, self._images(xs)


def Flatten(n_axes_to_keep=1):  # pylint: disable=invalid-name
    """Flattens all but the first `n_axes_to_keep` axes into one."""
    def f(x):
        if x.ndim <= n_axes_to_keep:
            raise ValueError(f"Input rank ({x.ndim}) must exceed the number of axes to keep "
                             f"({n_axes_to_keep}) after flattening.")
        return jnp.reshape(x, x.shape[:n_axes_to_keep] + (-1,))
    return base.Fn(f"Flatten_keep{n_axes_to_keep}", f)


def Mean(axis=-1, keepdims=False):  # pylint: disable=invalid-name
    return base.Fn("Mean", lambda x: jnp.mean(x, axis=axis, keepdims=keepdims))


def Min(axis=-1, keepdims=False):  # pylint: disable=invalid-name
    return base.Fn("Min", lambda x: jnp.min(x, axis, keepdims=keepdims))


def Max(axis=-1, keepdims=False):  # pylint: disable=invalid-name
    return base.Fn("Max", lambda x: jnp.max(x, axis, keepdims=keepdims))


def Sum(axis=None, keepdims=False):  # pylint: disable=invalid-name
    return base.Fn("Sum", lambda x: jnp.sum(x, axis=axis, keepdims=keepdims))


def LogSoftmax(axis=-1):  # pylint: disable=invalid-name
    return base.Fn("LogSoftmax", lambda x: log_softmax(x, axis=axis))


def LogSumExp(axis=-1):  # pylint: disable=invalid-name
    """`log(sum(exp(x)))` along `axis`, keeping the axis (Trax)."""
    return base.Fn("LogSumExp", lambda x: jax.nn.logsumexp(x, axis=axis, keepdims=True))


def Softmax(axis=-1):  # pylint: disable=invalid-name
    return base.Fn("Softmax", lambda x: jax.nn.softmax(x, axis=axis))


def ToFloat():  # pylint: disable=invalid-name
    return base.Fn("ToFloat", lambda x: x.astype(np.float32))


def ThresholdToBinary(threshold=0.5):  # pylint: disable=invalid-name
    """`1` where the input exceeds `threshold`, else `0` (int32)."""
    return base.Fn("ThresholdToBinary", lambda x: (x > threshold).astype(jnp.int32))


def ArgMax(axis=-1):  # pylint: disable=invalid-name
    return base.Fn("ArgMax", lambda x: jnp.argmax(x, axis=axis))


def Negate():  # pylint: disable=invalid-name
    return base.Fn("Negate", lambda x: -x)


def StopGradient():  # pylint: disable=invalid-name
    return base.Fn("StopGradient", jax.lax.stop_gradient)


# -- Trax's core math helpers ----------------------------------------------------------


def one_hot(x, n_categories, dtype=jnp.float32):
    """`(...)` int categories -> `(..., n_categories)` one-hot vectors."""
    return jnp.array(x[..., None] == jnp.arange(n_categories), dtype)


def log_softmax(x, axis=-1):
    """`x - logsumexp(x)` along `axis`."""
    return x - jax.nn.logsumexp(x, axis=axis, keepdims=True)


def log_gaussian_pdf(x, mu, sigma):
    """`log N(x | mu, sigma)` for a full covariance `sigma` over the last axis."""
    a = mu.shape[-1] * jnp.log(2 * jnp.pi)
    _, b = jnp.linalg.slogdet(sigma)
    y = jnp.linalg.solve(sigma, (x - mu)[..., None])
    c = jnp.matmul(jnp.expand_dims(x - mu, axis=-2), y)[..., 0, 0]
    return -0.5 * (a + b + c)


def log_gaussian_diag_pdf(x, mu, diag_sigma):
    """`log N(x | mu, diag(diag_sigma))`, `diag_sigma` the variances.

    (Trax computes `x - mu / diag_sigma` here, an operator-precedence slip; this is the
    density's formula, `(x - mu)^2 / diag_sigma`.)
    """
    a = mu.shape[-1] * jnp.log(2 * jnp.pi)
    b = jnp.sum(jnp.log(diag_sigma), axis=-1)
    c = jnp.sum((x - mu) ** 2 / diag_sigma, axis=-1)
    return -0.5 * (a + b + c)


def multigaussian_loss(preds, targets, ngauss=1):
    """Log-likelihood of `targets (B, D)` under a mixture of `ngauss` diagonal Gaussians.

    `preds (B, ngauss * (2D + 1))` holds the mixture logits, then the means, then square
    roots of the variances (Trax's layout).
    """
    ndims = targets.shape[-1]
    logits = preds[:, :ngauss]
    mus = preds[:, ngauss:ngauss * (ndims + 1)]
    sigmas = preds[:, ngauss * (ndims + 1):]
    sigmas = sigmas * sigmas + 1e-6  # Positive variances.
    log_weights = logits - jax.nn.logsumexp(logits, axis=-1, keepdims=True)
    mus = jnp.reshape(mus, (-1, ngauss, ndims))
    sigmas = jnp.reshape(sigmas, (-1, ngauss, ndims))
    targets = jnp.reshape(targets, (-1, 1, ndims))
    return jax.nn.logsumexp(log_weights + log_gaussian_diag_pdf(targets, mus, sigmas), axis=-1)


def logsoftmax_sample(log_probs, temperature=1.0, rng=None):
    """Samples from `softmax(log_probs / temperature)` by the Gumbel-max trick.

    `temperature=0` picks the argmax. Trax draws from numpy's global generator; here
    `rng` (a JAX key) makes it reproducible, and numpy's generator is used without one.
    """
    if rng is None:
        u = np.random.uniform(low=1e-6, high=1.0 - 1e-6, size=np.shape(log_probs))
    else:
        u = jax.random.uniform(rng, jnp.shape(log_probs), minval=1e-6, maxval=1.0 - 1e-6)
    gumbel = -jnp.log(-jnp.log(u))
    return jnp.argmax(log_probs + gumbel * temperature, axis=-1)
