"""Running statistics shared by envs (observation/reward normalization) and trainers.

Lives in the core because both sides of the library need it (DESIGN.md: running
statistics belong to the core).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class RunningMeanStd(NamedTuple):
    """Running mean/variance, merged batch by batch (Chan et al.'s parallel update).

    Starts like Gymnasium's `RunningMeanStd`: mean 0, var 1, count 1e-4.
    """

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape=()):
        return cls(jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), jnp.float32(1e-4))

    def update(self, batch: jax.Array) -> "RunningMeanStd":
        """Merges a batch whose axis 0 indexes samples."""
        batch_mean, batch_var = jnp.mean(batch, axis=0), jnp.var(batch, axis=0)
        batch_count = batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        m2 = self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        return RunningMeanStd(self.mean + delta * batch_count / total, m2 / total, total)

    def normalize(self, x, clip=np.inf, epsilon=1e-8):
        """`(x - mean) / sqrt(var + epsilon)`, clipped to [-clip, clip] (float32)."""
        z = (x - self.mean) / jnp.sqrt(self.var + epsilon)
        return jnp.clip(z, -clip, clip).astype(jnp.float32)

    def scale(self, x, clip=np.inf, epsilon=1e-8):
        """`x / sqrt(var + epsilon)` (not re-centered), clipped to [-clip, clip] (float32)."""
        return jnp.clip(x / jnp.sqrt(self.var + epsilon), -clip, clip).astype(jnp.float32)
