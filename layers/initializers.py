"""Weight initializers with Trax's names, called as `initializer(shape, rng)`.

Each is a thin adapter over `jax.nn.initializers` (which takes `(key, shape, dtype)`),
so the math is JAX's own.
"""

import jax
from jax import numpy as jnp


def _adapt(jax_initializer):
    def initializer(shape, rng, dtype=jnp.float32):
        return jax_initializer(rng, tuple(shape), dtype)
    return initializer


def RandomNormalInitializer(stddev=1e-2):  # pylint: disable=invalid-name
    """N(0, stddev^2) entries."""
    return _adapt(jax.nn.initializers.normal(stddev))


def RandomUniformInitializer(lim=1.0):  # pylint: disable=invalid-name
    """U(-lim, lim) entries."""
    def initializer(shape, rng, dtype=jnp.float32):
        return jax.random.uniform(rng, tuple(shape), dtype, -lim, lim)
    return initializer


def GlorotNormalInitializer(scale=1.0):  # pylint: disable=invalid-name
    """Glorot/Xavier normal: variance scale * 2 / (fan_in + fan_out), truncated normal."""
    return _adapt(jax.nn.initializers.variance_scaling(scale, "fan_avg", "truncated_normal"))


def GlorotUniformInitializer(scale=1.0):  # pylint: disable=invalid-name
    """Glorot/Xavier uniform: U(-a, a) with a = sqrt(3 * scale * 2 / (fan_in + fan_out))."""
    return _adapt(jax.nn.initializers.variance_scaling(scale, "fan_avg", "uniform"))


def HeNormalInitializer(scale=2.0):  # pylint: disable=invalid-name
    """He/Kaiming normal: variance scale / fan_in, truncated normal."""
    return _adapt(jax.nn.initializers.variance_scaling(scale, "fan_in", "truncated_normal"))


def HeUniformInitializer(scale=2.0):  # pylint: disable=invalid-name
    """He/Kaiming uniform: variance scale / fan_in."""
    return _adapt(jax.nn.initializers.variance_scaling(scale, "fan_in", "uniform"))


def LeCunNormalInitializer(scale=1.0):  # pylint: disable=invalid-name
    """LeCun normal: variance scale / fan_in, truncated normal."""
    return _adapt(jax.nn.initializers.variance_scaling(scale, "fan_in", "truncated_normal"))


def OrthogonalInitializer(gain=1.0):  # pylint: disable=invalid-name
    """Orthogonal matrices scaled by `gain` (Saxe et al. 2014); the PPO literature's choice."""
    return _adapt(jax.nn.initializers.orthogonal(gain))


def ZerosInitializer():  # pylint: disable=invalid-name
    return _adapt(jax.nn.initializers.zeros)


def OnesInitializer():  # pylint: disable=invalid-name
    return _adapt(jax.nn.initializers.ones)
