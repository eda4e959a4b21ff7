"""Action distributions: Categorical (discrete) and diagonal Gaussian (continuous).

Both are NamedTuples of arrays, so they are pytrees: a policy head can return one
from inside `jit`, and `vmap` maps over its fields. The last axis is the action axis
(`[..., num_actions]` logits, `[..., action_dim]` means); every method reduces over it
and keeps the leading batch axes.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class Categorical(NamedTuple):
    """Categorical distribution over `num_actions` from unnormalized `logits[..., A]`."""

    logits: jax.Array

    def log_probs_all(self):
        """`[..., A]` log-probabilities of every action."""
        return jax.nn.log_softmax(self.logits, axis=-1)

    def _probs_and_safe_log_probs(self):
        # Masked actions (logit -inf) have p = 0 and log p = -inf; 0 * -inf is nan in
        # the forward pass and, even behind a jnp.where, in the gradient. Zeroing log p
        # where p = 0 keeps both finite and drops those actions from the sums.
        logp = self.log_probs_all()
        p = jnp.exp(logp)
        return p, jnp.where(p > 0, logp, 0.0)

    def sample(self, key):
        """`[...]` int32 actions."""
        return jax.random.categorical(key, self.logits, axis=-1).astype(jnp.int32)

    def log_prob(self, x):
        """`[...]` log π(x) for integer actions `x[...]`."""
        x = jnp.asarray(x).astype(jnp.int32)
        logp = self.log_probs_all()
        return jnp.take_along_axis(logp, x[..., None], axis=-1)[..., 0]

    def entropy(self):
        """H = -Σ_a p_a log p_a; actions with p_a = 0 (logit -inf) contribute 0."""
        p, logp = self._probs_and_safe_log_probs()
        return -jnp.sum(p * logp, axis=-1)

    def mode(self):
        """`[...]` most likely action."""
        return jnp.argmax(self.logits, axis=-1).astype(jnp.int32)

    def kl(self, other):
        """KL(self || other) = Σ_a p_a (log p_a - log q_a)."""
        p, logp = self._probs_and_safe_log_probs()
        other_logp = jnp.where(p > 0, other.log_probs_all(), 0.0)
        return jnp.sum(p * (logp - other_logp), axis=-1)


class Gaussian(NamedTuple):
    """Diagonal Gaussian N(mean, exp(log_std)²) over `action_dim` independent dims.

    `log_std` broadcasts against `mean[..., D]`: pass a `[D]` state-independent
    parameter or a `[..., D]` state-dependent head output. (When vmapping over a
    Gaussian whose `log_std` is shared, give that field `in_axes=None`.)
    """

    mean: jax.Array
    log_std: jax.Array

    def _log_std(self):
        return jnp.broadcast_to(self.log_std, jnp.shape(self.mean))

    def sample(self, key):
        """`[..., D]` actions mean + σ·ε, ε ~ N(0, I)."""
        noise = jax.random.normal(key, jnp.shape(self.mean), jnp.result_type(self.mean))
        return self.mean + jnp.exp(self._log_std()) * noise

    def log_prob(self, x):
        """log N(x) = Σ_d [-½((x_d - μ_d)/σ_d)² - log σ_d - ½ log 2π]."""
        log_std = self._log_std()
        z = (x - self.mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * z**2 - log_std - _HALF_LOG_2PI, axis=-1)

    def entropy(self):
        """H = Σ_d (½ + ½ log 2π + log σ_d).

        Trax's Gaussian entropy dropped the constant; it matters when entropy is
        logged or compared across action dimensions.
        """
        return jnp.sum(0.5 + _HALF_LOG_2PI + self._log_std(), axis=-1)

    def mode(self):
        """`[..., D]` the mean."""
        return self.mean

    def kl(self, other):
        """KL(self || other) = Σ_d [log σ₂/σ₁ + (σ₁² + (μ₁ - μ₂)²) / (2σ₂²) - ½]."""
        log_std, other_log_std = self._log_std(), other._log_std()
        var_ratio = jnp.exp(2.0 * (log_std - other_log_std))
        mean_term = ((self.mean - other.mean) * jnp.exp(-other_log_std)) ** 2
        return jnp.sum(
            other_log_std - log_std + 0.5 * (var_ratio + mean_term) - 0.5, axis=-1
        )
