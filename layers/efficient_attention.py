"""Locality-sensitive-hashing self-attention (Kitaev et al. 2020, "Reformer"), Trax's
`LSHSelfAttention`: memory linear in the sequence length instead of quadratic.

Queries and keys are shared (`k = q / |q|`). Each of `n_hashes` rounds hashes the vectors
with a random rotation R into `n_buckets` buckets (`argmax([xR; -xR])`), sorts positions by
(bucket, position), cuts the sorted sequence into chunks of `chunk_len`, and lets each
chunk attend to itself and `n_chunks_before` / `n_chunks_after` neighbours. A position
attends to itself only when nothing else is allowed (its score is -1e5, as in the paper,
since `q . q/|q|` would dominate). The rounds are combined with weights
`softmax_r(logsumexp of round r's scores)`, which equals attention over the union of
the rounds' keys, a key counted once per round that saw it.
"""

import jax
import numpy as np
from jax import numpy as jnp

from trax_rl.layers import base
from trax_rl.layers import initializers as init
from trax_rl.layers.core import check_mode

_MASKED = -1e9
_SELF = -1e5


def _look_around(x, before, after):
    """Concatenates each chunk with its neighbours: `(..., C, c, d) -> (..., C, (b+1+a)c, d)`."""
    shifted = [jnp.roll(x, shift, axis=-3) for shift in range(before, -after - 1, -1)]
    return jnp.concatenate(shifted, axis=-2)


def lsh_attention(qk, v, rng, n_hashes=1, n_buckets=64, chunk_len=128, n_chunks_before=1,
                  n_chunks_after=0, causal=False):
    """Shared-QK LSH attention `(..., T, d_qk), (..., T, d_v) -> (..., T, d_v)`."""
    length, d_qk = qk.shape[-2:]
    if length % chunk_len:
        raise ValueError(f"sequence length {length} must be a multiple of chunk_len={chunk_len}")
    if n_buckets % 2:
        raise ValueError(f"n_buckets must be even, got {n_buckets}")
    rotations = jax.random.normal(rng, (d_qk, n_hashes, n_buckets // 2), qk.dtype)
    rotated = jnp.einsum("...tk,knr->...ntr", jax.lax.stop_gradient(qk), rotations)
    buckets = jnp.argmax(jnp.concatenate([rotated, -rotated], axis=-1), axis=-1)  # (..., n, T)
    positions = jnp.arange(length)
    order = jnp.argsort(buckets * length + positions, axis=-1)                   # (..., n, T)
    undo = jnp.argsort(order, axis=-1)

    def sort(x):  # (..., T, d) -> (..., n, T, d) in each round's sorted order
        return jnp.take_along_axis(x[..., None, :, :], order[..., None], axis=-2)

    n_chunks = length // chunk_len
    chunk = lambda x: jnp.reshape(x, x.shape[:-2] + (n_chunks, chunk_len, x.shape[-1]))
    q = chunk(sort(qk))                                                     # (..., n, C, c, d)
    k = q / jnp.maximum(jnp.linalg.norm(q, axis=-1, keepdims=True), 1e-6)
    k = _look_around(k, n_chunks_before, n_chunks_after)                    # (..., n, C, w, d)
    values = _look_around(chunk(sort(v)), n_chunks_before, n_chunks_after)
    q_pos = chunk(order[..., None])[..., 0]                                 # (..., n, C, c)
    k_pos = _look_around(chunk(order[..., None]), n_chunks_before, n_chunks_after)[..., 0]
    scores = jnp.einsum("...qd,...kd->...qk", q, k) / np.sqrt(d_qk)         # (..., n, C, c, w)
    q_pos, k_pos = q_pos[..., :, None], k_pos[..., None, :]
    if causal:
        scores = jnp.where(k_pos <= q_pos, scores, _MASKED)
    scores = jnp.where(k_pos == q_pos, _SELF, scores)
    lse = jax.nn.logsumexp(scores, axis=-1, keepdims=True)
    out = jnp.einsum("...qk,...kd->...qd", jnp.exp(scores - lse), values)   # (..., n, C, c, d_v)
    unchunk = lambda x: jnp.reshape(x, x.shape[:-3] + (length, x.shape[-1]))
    out = jnp.take_along_axis(unchunk(out), undo[..., None], axis=-2)       # (..., n, T, d_v)
    lse = jnp.take_along_axis(unchunk(lse), undo[..., None], axis=-2)       # (..., n, T, 1)
    return jnp.sum(jax.nn.softmax(lse, axis=-3) * out, axis=-3)


class LSHSelfAttention(base.Layer):
    """Multi-head LSH self-attention `(B, T, D) -> (B, T, D)`, Trax's signature.

    Weights (no biases, as in Trax): `(w_qk (H, D, d_qk), w_v (H, D, d_v), w_o (H, d_v, D))`.
    The hash rotations are drawn from the layer's rng (a fixed key when none is given,
    e.g. in 'eval' mode). 'predict' mode is not supported.
    """

    def __init__(self, n_heads=2, d_qk=64, d_v=64, causal=False, chunk_len=128,
                 n_chunks_before=1, n_chunks_after=0, n_hashes=1, n_buckets=64,
                 mode="train"):
        super().__init__(name="LSHSelfAttention")
        if check_mode(mode) == "predict":
            raise ValueError("LSHSelfAttention has no 'predict' mode: decode with TransformerLM")
        self._n_heads, self._d_qk, self._d_v = n_heads, d_qk, d_v
        self._lsh = dict(n_hashes=n_hashes, n_buckets=n_buckets, chunk_len=chunk_len,
                         n_chunks_before=n_chunks_before, n_chunks_after=n_chunks_after,
                         causal=causal)

    def init_weights_and_state(self, input_signature, rng):
        d_model = input_signature.shape[-1]
        glorot = init.GlorotUniformInitializer()
        rngs = jax.random.split(rng, 3)
        h = self._n_heads
        return (glorot((h, d_model, self._d_qk), rngs[0], ),
                glorot((h, d_model, self._d_v), rngs[1]),
                glorot((h, self._d_v, d_model), rngs[2])), ()

    def forward_with_state(self, x, weights, state, rng):
        w_qk, w_v, w_o = weights
        qk = jnp.einsum("btd,hdk->bhtk", x, w_qk)  # (B, H, T, d_qk)
        v = jnp.einsum("btd,hdv->bhtv", x, w_v)    # (B, H, T, d_v)
        rng = jax.random.PRNGKey(0) if rng is None else rng
        out = lsh_attention(qk, v, rng, **self._lsh)
        return jnp.einsum("bhtv,hvd->btd", out, w_o), state
