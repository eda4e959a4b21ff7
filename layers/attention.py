"""Attention layers with Trax's semantics: `DotProductAttention` (the math), `AttentionQKV`,
`Attention`, `CausalAttention` (with a KV cache in 'predict' mode), `PaddingMask`,
`ShiftRight` and sinusoidal `PositionalEncoding`.

Masks are boolean and True where attention is allowed; they broadcast against the
`(..., T_queries, T_keys)` score matrix (e.g. `PaddingMask` gives `(B, 1, 1, T)`).

In 'predict' mode `CausalAttention` and `PositionalEncoding` keep what they need in
layer state (keys/values seen so far, the position reached), so feeding a sequence one
token (or one chunk) per call, carrying the state along, gives the same outputs as one
'train'/'eval' call on the whole sequence.
"""

import jax
import numpy as np
from jax import numpy as jnp

from trax_rl.layers import base
from trax_rl.layers.combinators import Branch, Parallel, Select, Serial
from trax_rl.layers.core import Dense, check_mode

_MASKED_SCORE = -1e9  # Trax's fill; exp of it underflows to exactly 0 in float32.


def DotProductAttention(queries, keys, values, mask=None,  # pylint: disable=invalid-name
                        dropout=0.0, mode="train", rng=None):
    """`softmax(Q K^T / sqrt(d) + masked) V` (Vaswani et al. 2017) over the last two axes.

    Args:
      queries, keys, values: `(..., T_q, d)`, `(..., T_k, d)`, `(..., T_k, d_v)`.
      mask: boolean, broadcastable to `(..., T_q, T_k)`, True where a query may attend.
      dropout: rate applied to the attention weights in 'train' mode (needs `rng`).
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"attention dropout must be in [0, 1), got {dropout}")
    scores = jnp.matmul(queries, jnp.swapaxes(keys, -1, -2)) / np.sqrt(queries.shape[-1])
    if mask is not None:
        scores = jnp.where(mask, scores, jnp.full_like(scores, _MASKED_SCORE))
    probs = jax.nn.softmax(scores, axis=-1)
    if dropout > 0.0 and mode == "train":
        if rng is None:
            raise ValueError("attention dropout in 'train' mode needs an rng")
        keep = jax.random.bernoulli(rng, 1.0 - dropout, probs.shape)
        probs = jnp.where(keep, probs / (1.0 - dropout), 0.0)
    return jnp.matmul(probs, values)


def _split_heads(x, n_heads, merged_batch_and_head):
    batch, length, depth = x.shape
    if depth % n_heads:
        raise ValueError(f"depth {depth} is not divisible by n_heads={n_heads}")
    x = jnp.reshape(x, (batch, length, n_heads, depth // n_heads))  # (B, T, H, Dh)
    x = jnp.transpose(x, (0, 2, 1, 3))                              # (B, H, T, Dh)
    if merged_batch_and_head:
        x = jnp.reshape(x, (batch * n_heads, length, depth // n_heads))  # (B*H, T, Dh)
    return x


def _merge_heads(x, n_heads, merged_batch_and_head):
    if merged_batch_and_head:
        batch_heads, length, head_depth = x.shape
        x = jnp.reshape(x, (batch_heads // n_heads, n_heads, length, head_depth))  # (B, H, T, Dh)
    batch, _, length, head_depth = x.shape
    x = jnp.transpose(x, (0, 2, 1, 3))                            # (B, T, H, Dh)
    return jnp.reshape(x, (batch, length, n_heads * head_depth))  # (B, T, D)


def SplitIntoHeads(n_heads, merged_batch_and_head=True):  # pylint: disable=invalid-name
    """`(B, T, D) -> (B * H, T, D / H)`, or `(B, H, T, D / H)` when not merged."""
    return base.Fn("SplitIntoHeads", lambda x: _split_heads(x, n_heads, merged_batch_and_head))


def MergeHeads(n_heads, merged_batch_and_head=True):  # pylint: disable=invalid-name
    """Inverse of `SplitIntoHeads`: back to `(B, T, D)`."""
    return base.Fn("MergeHeads", lambda x: _merge_heads(x, n_heads, merged_batch_and_head))


class PureAttention(base.Layer):
    """`(q, k, v, mask) -> (multi-head attention(q, k, v), mask)`, no weights."""

    def __init__(self, n_heads=1, dropout=0.0, mode="train"):
        super().__init__(n_in=4, n_out=2, name="PureAttention")
        self._n_heads = n_heads
        self._dropout = dropout
        self._mode = check_mode(mode)

    def forward_with_state(self, inputs, weights, state, rng):
        q, k, v, mask = inputs
        q, k, v = (_split_heads(a, self._n_heads, False) for a in (q, k, v))  # (B, H, T, Dh)
        out = DotProductAttention(q, k, v, mask, self._dropout, self._mode, rng)
        return (_merge_heads(out, self._n_heads, False), mask), state


def AttentionQKV(d_feature, n_heads=1, dropout=0.0, mode="train"):  # pylint: disable=invalid-name
    """`(q, k, v, mask) -> (activations, mask)`: dense projections around `PureAttention`."""
    return Serial(
        Parallel(Dense(d_feature), Dense(d_feature), Dense(d_feature)),  # (q', k', v', mask)
        PureAttention(n_heads=n_heads, dropout=dropout, mode=mode),      # (attended, mask)
        Dense(d_feature),                                                # (out, mask)
        name="AttentionQKV")


def Attention(d_feature, n_heads=1, dropout=0.0, mode="train"):  # pylint: disable=invalid-name
    """Self-attention: `(x, mask) -> (activations, mask)`."""
    return Serial(
        Select([0, 0, 0]),  # (x, x, x, mask)
        AttentionQKV(d_feature, n_heads=n_heads, dropout=dropout, mode=mode),
        name="Attention")


def PaddingMask(pad=0):  # pylint: disable=invalid-name
    """Token ids `(B, T)` -> boolean mask `(B, 1, 1, T)`, False at padding."""
    return base.Fn("PaddingMask", lambda x: (x != pad)[:, None, None, :])


class DotProductCausalAttention(base.Layer):
    """`(q, k, v) -> attention` where position t attends to positions <= t.

    'predict' mode keeps a `max_inference_length` buffer of keys and values in state;
    each call appends its `(B, T_chunk, d)` keys/values and attends over the buffer.
    Decoding past `max_inference_length` positions is not detected under `jit` (the
    buffer write is clamped), so size the buffer for the longest decode.
    """

    def __init__(self, dropout=0.0, max_inference_length=2048, mode="train"):
        super().__init__(n_in=3, n_out=1, name="DotProductCausalAttention")
        self._dropout = dropout
        self._max_len = max_inference_length
        self._mode = check_mode(mode)

    def init_weights_and_state(self, input_signature, rng):
        del rng
        if self._mode != "predict":
            return (), ()
        q, k, v = input_signature
        batch = q.shape[0]
        return (), {"keys": jnp.zeros((batch, self._max_len, k.shape[-1]), k.dtype),
                    "values": jnp.zeros((batch, self._max_len, v.shape[-1]), v.dtype),
                    "index": jnp.zeros((), jnp.int32)}

    def forward_with_state(self, inputs, weights, state, rng):
        q, k, v = inputs
        length = q.shape[-2]
        if self._mode != "predict":
            mask = jnp.tril(jnp.ones((length, length), dtype=bool))
            return DotProductAttention(q, k, v, mask, self._dropout, self._mode, rng), state
        index = state["index"]
        keys = jax.lax.dynamic_update_slice_in_dim(state["keys"], k, index, axis=1)
        values = jax.lax.dynamic_update_slice_in_dim(state["values"], v, index, axis=1)
        # Query i of this chunk sits at position index + i and sees buffer slots <= it.
        query_positions = index + jnp.arange(length)[:, None]
        mask = jnp.arange(self._max_len)[None, :] <= query_positions  # (T_chunk, max_len)
        out = DotProductAttention(q, keys, values, mask, self._dropout, self._mode, rng)
        return out, {"keys": keys, "values": values, "index": index + length}


def CausalAttention(d_feature, n_heads=1, dropout=0.0,  # pylint: disable=invalid-name
                    max_inference_length=2048, mode="train"):
    """Causal multi-head self-attention `(B, T, d_feature) -> (B, T, d_feature)`."""
    if d_feature % n_heads:
        raise ValueError(f"d_feature={d_feature} is not divisible by n_heads={n_heads}")
    return Serial(
        Branch(Serial(Dense(d_feature), SplitIntoHeads(n_heads)),  # (q, k, v), each (B*H, T, Dh)
               Serial(Dense(d_feature), SplitIntoHeads(n_heads)),
               Serial(Dense(d_feature), SplitIntoHeads(n_heads))),
        DotProductCausalAttention(dropout=dropout, max_inference_length=max_inference_length,
                                  mode=mode),                 # (B*H, T, Dh)
        MergeHeads(n_heads),                                  # (B, T, D)
        Dense(d_feature),
        name="CausalAttention")


def ShiftRight(n_positions=1, mode="train"):  # pylint: disable=invalid-name
    """Shifts axis 1 right by `n_positions`, padding with zeros; identity in 'predict'."""
    check_mode(mode)

    def f(x):
        if mode == "predict":
            return x  # Decoding feeds the already-shifted token one step at a time.
        pad = [(0, 0)] * x.ndim
        pad[1] = (n_positions, 0)
        return jnp.pad(x, pad)[:, :x.shape[1]]
    return base.Fn(f"ShiftRight({n_positions})", f)


class PositionalEncoding(base.Layer):
    """Adds Vaswani et al.'s sinusoids to `(B, T, D)` inputs.

    As in Trax the table is a weight (`(1, max_len, D)`, initialized to
    `sin(pos / 10000^(2i/D))` on even features and `cos` on odd ones), so it counts
    as parameters and an optimizer may fine-tune it. In 'train' mode `dropout` is
    applied to the encoding, shared over `dropout_broadcast_dims`. In 'predict' mode
    state holds the next position, so per-token calls get consecutive encodings.
    """

    def __init__(self, max_len=2048, dropout=0.0, dropout_broadcast_dims=(-2,),
                 d_feature=None, mode="train"):
        super().__init__(name="PositionalEncoding")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"PositionalEncoding dropout must be in [0, 1), got {dropout}")
        self._max_len = max_len
        self._dropout = dropout
        self._dropout_broadcast_dims = tuple(dropout_broadcast_dims)
        self._d_feature = d_feature
        self._mode = check_mode(mode)

    def init_weights_and_state(self, input_signature, rng):
        del rng
        d_feature = self._d_feature or input_signature.shape[-1]
        position = np.arange(self._max_len)[:, None]
        div_term = np.exp(np.arange(0, d_feature, 2) * -(np.log(10000.0) / d_feature))
        table = np.zeros((self._max_len, d_feature), np.float32)
        table[:, 0::2] = np.sin(position * div_term)
        table[:, 1::2] = np.cos(position * div_term[:d_feature // 2])
        state = jnp.zeros((), jnp.int32) if self._mode == "predict" else ()
        return {"encoding": jnp.asarray(table)[None]}, state  # (1, max_len, D)

    def forward_with_state(self, x, weights, state, rng):
        length = x.shape[1]
        if self._mode == "predict":
            encoding = jax.lax.dynamic_slice_in_dim(weights["encoding"], state, length, axis=1)
            return x + encoding.astype(x.dtype), state + length
        if length > self._max_len:
            raise ValueError(f"sequence length {length} exceeds max_len={self._max_len}")
        encoding = weights["encoding"][:, :length].astype(x.dtype)  # (1, T, D)
        if self._dropout > 0.0 and self._mode == "train":
            if rng is None:
                raise ValueError("PositionalEncoding dropout in 'train' mode needs an rng")
            noise_shape = list(encoding.shape)
            for axis in self._dropout_broadcast_dims:
                noise_shape[axis] = 1
            keep = jax.random.bernoulli(rng, 1.0 - self._dropout, tuple(noise_shape))
            encoding = encoding * keep.astype(x.dtype) / (1.0 - self._dropout)
        return x + encoding, state
