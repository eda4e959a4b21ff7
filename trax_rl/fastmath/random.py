"""`trax_rl.fastmath.random`: Trax's random helpers over `jax.random`.

Trax code draws randomness through `fastmath.random` (`get_prng`, `split`, `fold_in`,
`uniform`, `randint`, `normal`, `bernoulli`); the same calls work here, with JAX's
threefry keys underneath. Trax's defaults are kept where they differ from JAX's:
`randint` returns int32 and takes `minval`/`maxval` positionally after the shape. Any
other `jax.random` function is available under its JAX name (e.g. `categorical`).
"""

import jax
import numpy as np


def get_prng(seed):
    """Returns a PRNG key for the integer `seed` (Trax's name for `jax.random.PRNGKey`)."""
    if not isinstance(seed, (int, np.integer)) and not hasattr(seed, "dtype"):
        raise TypeError(f"get_prng needs an integer seed, got {seed!r}")
    return jax.random.PRNGKey(seed)


def split(prng, num=2):
    """Splits `prng` into `num` new keys (an array of keys)."""
    return jax.random.split(prng, num)


def fold_in(rng, data):
    """Returns a new key derived from `rng` and the integer `data`."""
    return jax.random.fold_in(rng, data)


def uniform(key, shape=(), dtype=np.float32, minval=0.0, maxval=1.0):
    """Samples uniformly from `[minval, maxval)`."""
    return jax.random.uniform(key, shape, dtype, minval, maxval)


def randint(key, shape, minval, maxval, dtype=np.int32):
    """Samples integers uniformly from `[minval, maxval)`; int32 by default (Trax)."""
    return jax.random.randint(key, shape, minval=minval, maxval=maxval, dtype=dtype)


def normal(key, shape=(), dtype=np.float32):
    """Samples standard normal values."""
    return jax.random.normal(key, shape, dtype)


def bernoulli(key, p=0.5, shape=None):
    """Samples booleans that are True with probability `p`."""
    return jax.random.bernoulli(key, p, shape)


def __getattr__(name):
    # Everything else jax.random offers, under the same name.
    try:
        return getattr(jax.random, name)
    except AttributeError:
        raise AttributeError(f"module 'trax_rl.fastmath.random' has no attribute {name!r}; "
                             f"it offers Trax's helpers and jax.random's functions") from None
