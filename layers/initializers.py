"""Weight initializers with Trax's names and arguments, called as `initializer(shape, rng)`.

`ScaledInitializer(out_dim, in_dim, scale, mode, distribution)` is Trax's variance-scaling
family (Glorot, LeCun, Kaiming); the fans are read off the `in_dim` / `out_dim` axes times
the receptive field (every other axis, minus `nonreceptive_dims`). Trax's own `_GetFans`
drops the receptive field for shapes of rank >= 2, so its convolution kernels are scaled
as if 1x1; here they get the textbook fans (Glorot & Bengio 2010; He et al. 2015).
"""

import math

import jax
import numpy as np
from jax import numpy as jnp


def _fans(shape, out_dim, in_dim, nonreceptive_dims):
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    out_dim, in_dim = out_dim % len(shape), in_dim % len(shape)
    skip = {out_dim, in_dim} | {d % len(shape) for d in (nonreceptive_dims or ())}
    receptive = math.prod(d for i, d in enumerate(shape) if i not in skip)
    return shape[in_dim] * receptive, shape[out_dim] * receptive


def ScaledInitializer(out_dim, in_dim, scale, mode, distribution):  # pylint: disable=invalid-name
    """Variance scaling: variance `scale / fan` with `fan` per `mode` ('fan_in', 'fan_out',
    'fan_avg'), from a 'truncated_normal', 'normal' or 'uniform' `distribution`."""
    if scale <= 0.0:
        raise ValueError(f"scale must be a positive float, got {scale}")
    if mode not in ("fan_in", "fan_out", "fan_avg"):
        raise ValueError(f"mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
    if distribution not in ("truncated_normal", "normal", "uniform"):
        raise ValueError(f"distribution must be 'truncated_normal', 'normal' or 'uniform', "
                         f"got {distribution!r}")

    def initializer(shape, rng, nonreceptive_dims=None):
        shape = tuple(int(d) for d in shape)
        fan_in, fan_out = _fans(shape, out_dim, in_dim, nonreceptive_dims)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / fan
        if distribution == "truncated_normal":
            # Divide by the std of a standard normal truncated to [-2, 2].
            stddev = np.sqrt(variance) / .87962566103423978
            return (jax.random.truncated_normal(rng, -2, 2, shape) * stddev).astype(jnp.float32)
        if distribution == "normal":
            return (jax.random.normal(rng, shape) * np.sqrt(variance)).astype(jnp.float32)
        limit = np.sqrt(3.0 * variance)
        return jax.random.uniform(rng, shape, jnp.float32, -limit, limit)
    return initializer


def RandomNormalInitializer(stddev=1e-2):  # pylint: disable=invalid-name
    """N(0, stddev^2) entries."""
    def initializer(shape, rng):
        return (stddev * jax.random.normal(rng, tuple(int(d) for d in shape))).astype(
            jnp.float32)
    return initializer


def RandomUniformInitializer(lim=1.0):  # pylint: disable=invalid-name
    """U(-lim, lim) entries."""
    def initializer(shape, rng):
        return jax.random.uniform(rng, tuple(int(d) for d in shape), jnp.float32, -lim, lim)
    return initializer


def GlorotNormalInitializer(out_dim=-1, in_dim=-2, scale=1.0):  # pylint: disable=invalid-name
    """Glorot/Xavier normal: variance scale * 2 / (fan_in + fan_out)."""
    return ScaledInitializer(out_dim, in_dim, scale, "fan_avg", "normal")


def GlorotUniformInitializer(out_dim=-1, in_dim=-2, scale=1.0):  # pylint: disable=invalid-name
    """Glorot/Xavier uniform: U(-a, a) with a = sqrt(3 * scale * 2 / (fan_in + fan_out))."""
    return ScaledInitializer(out_dim, in_dim, scale, "fan_avg", "uniform")


def LeCunNormalInitializer(out_dim=-1, in_dim=-2, scale=1.0):  # pylint: disable=invalid-name
    """LeCun normal: variance scale / fan_in."""
    return ScaledInitializer(out_dim, in_dim, scale, "fan_in", "normal")


def LeCunUniformInitializer(out_dim=-1, in_dim=-2, scale=1.0):  # pylint: disable=invalid-name
    """LeCun uniform: variance scale / fan_in."""
    return ScaledInitializer(out_dim, in_dim, scale, "fan_in", "uniform")


def KaimingNormalInitializer(out_dim=-1, in_dim=-2, param=0.0):  # pylint: disable=invalid-name
    """Kaiming/He normal for a leaky ReLU of slope `param`: variance 2/sqrt(1+param^2)/fan_in
    (Trax's formula)."""
    return ScaledInitializer(out_dim, in_dim, 2.0 / np.sqrt(1 + param ** 2), "fan_in", "normal")


def KaimingUniformInitializer(out_dim=-1, in_dim=-2, param=0.0):  # pylint: disable=invalid-name
    """Kaiming/He uniform, scaled as `KaimingNormalInitializer`."""
    return ScaledInitializer(out_dim, in_dim, 2.0 / np.sqrt(1 + param ** 2), "fan_in",
                             "uniform")


def HeNormalInitializer(scale=2.0):  # pylint: disable=invalid-name
    """He normal, variance scale / fan_in, truncated (trax_rl's; Trax has `Kaiming*`)."""
    return ScaledInitializer(-1, -2, scale, "fan_in", "truncated_normal")


def HeUniformInitializer(scale=2.0):  # pylint: disable=invalid-name
    """He uniform, variance scale / fan_in (trax_rl's; Trax has `Kaiming*`)."""
    return ScaledInitializer(-1, -2, scale, "fan_in", "uniform")


def OrthogonalInitializer(stddev=1.0):  # pylint: disable=invalid-name
    """Orthogonal matrices (Saxe et al. 2014) times `stddev` (a gain); the PPO literature's
    choice. The shape is flattened to (prod of leading axes, last axis)."""
    orthogonal = jax.nn.initializers.orthogonal(stddev)

    def initializer(shape, rng):
        return orthogonal(rng, tuple(int(d) for d in shape), jnp.float32)
    return initializer


def ZerosInitializer():  # pylint: disable=invalid-name
    return lambda shape, rng: jnp.zeros(tuple(shape), jnp.float32)


def OnesInitializer():  # pylint: disable=invalid-name
    return lambda shape, rng: jnp.ones(tuple(shape), jnp.float32)


def InitializerFromFile(path):  # pylint: disable=invalid-name
    """Loads the weights from a `.npy` file (never pickled); its shape must match."""
    def initializer(shape, rng):
        del rng
        parameters = np.load(path, allow_pickle=False)
        if tuple(parameters.shape) != tuple(shape):
            raise ValueError(f"{path} holds shape {parameters.shape}, expected {tuple(shape)}")
        return jnp.asarray(parameters)
    return initializer


def AtariConvInit(kernel_shape, rng, dtype=jnp.float32):  # pylint: disable=invalid-name
    """U(-s, s) with s = 1 / sqrt(fan_in * height * width), for `(H, W, I, O)` kernels."""
    height, width, fan_in, _ = kernel_shape
    std = 1 / np.sqrt(fan_in * height * width)
    return jax.random.uniform(rng, tuple(kernel_shape), dtype, minval=-std, maxval=std)
