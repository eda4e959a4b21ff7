"""Observation and action spaces (`Discrete`, `Box`) and their Gymnasium converters.

They mirror Gymnasium's spaces of the same names, but `sample` takes a JAX key and
`sample`/`contains` are jittable. Bounds are host (numpy) arrays fixed at
construction, so spaces are built from concrete params, never traced ones.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np


class Discrete:
    """Integers `start, ..., start + n - 1` (a scalar; dtype int32)."""

    def __init__(self, n: int, start: int = 0, dtype=jnp.int32):
        if int(n) <= 0:
            raise ValueError(f"Discrete space needs n > 0, got n={n}")
        self.n = int(n)
        self.start = int(start)
        self.dtype = jnp.dtype(dtype)
        self.shape = ()

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(
            key, (), self.start, self.start + self.n, dtype=self.dtype
        )

    def contains(self, x) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != () or not jnp.issubdtype(x.dtype, jnp.integer):
            return jnp.asarray(False)
        return (x >= self.start) & (x < self.start + self.n)

    def check_action(self, action, env_name: str = "environment") -> None:
        shape, dtype = jnp.shape(action), jnp.result_type(action)
        if shape != () or not jnp.issubdtype(dtype, jnp.integer):
            raise TypeError(
                f"{env_name}: action must be an integer scalar in "
                f"{self} (shape=(), integer dtype), got shape={shape} dtype={dtype}; "
                "batch actions through trax_rl.envs.vectorize"
            )

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Discrete)
            and (other.n, other.start) == (self.n, self.start)
        )

    def __repr__(self) -> str:
        start = f", start={self.start}" if self.start else ""
        return f"Discrete({self.n}{start})"


class Box:
    """Arrays of `shape` and `dtype` with elementwise bounds `low <= x <= high`."""

    def __init__(self, low, high, shape=None, dtype=jnp.float32):
        self.dtype = jnp.dtype(dtype)
        if shape is None:
            shape = np.broadcast_shapes(np.shape(low), np.shape(high))
        self.shape = tuple(int(d) for d in shape)
        self.low = np.broadcast_to(np.asarray(low, self.dtype), self.shape).copy()
        self.high = np.broadcast_to(np.asarray(high, self.dtype), self.shape).copy()
        if np.any(self.low > self.high):
            raise ValueError(f"Box needs low <= high, got low={low} high={high}")

    def sample(self, key: jax.Array) -> jax.Array:
        """Uniform where bounded, else like Gymnasium: normal or shifted exponential."""
        low, high = jnp.asarray(self.low), jnp.asarray(self.high)
        if jnp.issubdtype(self.dtype, jnp.integer):
            return jax.random.randint(key, self.shape, low, high + 1, dtype=self.dtype)
        low_ok, high_ok = jnp.isfinite(low), jnp.isfinite(high)
        k_uniform, k_normal, k_exp = jax.random.split(key, 3)
        uniform = jax.random.uniform(
            k_uniform,
            self.shape,
            minval=jnp.where(low_ok, low, 0.0),
            maxval=jnp.where(high_ok, high, 1.0),
        )
        normal = jax.random.normal(k_normal, self.shape)
        exponential = jax.random.exponential(k_exp, self.shape)
        sample = jnp.where(
            low_ok & high_ok,
            uniform,
            jnp.where(low_ok, low + exponential, jnp.where(high_ok, high - exponential, normal)),
        )
        return sample.astype(self.dtype)

    def contains(self, x) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        return jnp.all((x >= self.low) & (x <= self.high))

    def check_action(self, action, env_name: str = "environment") -> None:
        shape, dtype = jnp.shape(action), jnp.result_type(action)
        kind_ok = jnp.issubdtype(dtype, jnp.floating) == jnp.issubdtype(
            self.dtype, jnp.floating
        )
        if shape != self.shape or not kind_ok:
            raise TypeError(
                f"{env_name}: action must have shape={self.shape} and dtype "
                f"{self.dtype} for {self}, got shape={shape} dtype={dtype}; "
                "batch actions through trax_rl.envs.vectorize"
            )

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Box)
            and other.shape == self.shape
            and other.dtype == self.dtype
            and np.array_equal(other.low, self.low)
            and np.array_equal(other.high, self.high)
        )

    def __repr__(self) -> str:
        def bound(b):
            return str(b.flat[0]) if b.size and np.all(b == b.flat[0]) else str(b.tolist())

        return f"Box({bound(self.low)}, {bound(self.high)}, {self.shape}, {self.dtype})"


def from_gymnasium(space):
    """Our space for a `gymnasium.spaces.Discrete` or `Box`."""
    import gymnasium

    if isinstance(space, gymnasium.spaces.Discrete):
        return Discrete(int(space.n), start=int(space.start))
    if isinstance(space, gymnasium.spaces.Box):
        dtype = space.dtype
        # JAX runs 32-bit by default; 64-bit Gymnasium dtypes would be cast silently.
        if dtype == np.float64:
            dtype = np.float32
        elif dtype == np.int64:
            dtype = np.int32
        return Box(space.low, space.high, space.shape, dtype)
    raise TypeError(
        f"Unsupported Gymnasium space {space!r}: trax_rl.envs.spaces supports "
        "Discrete and Box (flatten others with gymnasium.wrappers.FlattenObservation)"
    )


def to_gymnasium(space):
    """The `gymnasium.spaces` equivalent of one of our spaces."""
    import gymnasium

    if isinstance(space, Discrete):
        return gymnasium.spaces.Discrete(space.n, start=space.start, dtype=np.int64)
    if isinstance(space, Box):
        return gymnasium.spaces.Box(space.low, space.high, space.shape, np.dtype(space.dtype))
    raise TypeError(f"Expected a trax_rl.envs.spaces Discrete or Box, got {space!r}")
