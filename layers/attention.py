"""Attention layers with Trax's names and semantics, and the state that fast decoding keeps.

Layers: `DotProductAttention` (the math), `PureAttention`, `AttentionQKV`, `Attention`,
`CausalAttention` / `DotProductCausalAttention`, `PaddingMask`, `EncoderDecoderMask`,
`ShiftRight`, `PositionalEncoding`, `SplitIntoHeads`, `MergeHeads`, and `CacheOnce`.

Masks are boolean and True where attention is allowed; they broadcast against the
`(..., T_queries, T_keys)` score matrix (`PaddingMask` gives `(B, 1, 1, T_k)`,
`EncoderDecoderMask` `(B, 1, T_q, T_k)`).

'predict' mode (decoding). Feeding a sequence one token, or one chunk, per call and
carrying the layer state along gives the same outputs as one 'eval' call on the whole
sequence. The state that makes this work:

- `KVCache(keys, values, index)` in `DotProductCausalAttention`: a `max_inference_length`
  buffer of keys and values and, per batch row, the next position to write (`index`, shape
  `(B,)`), so prompts of different lengths decode side by side.
- `Position(index)` in `PositionalEncoding`: per batch row, the next position to encode.
- `CacheOnce` around the encoder and the encoder-decoder attention's key/value projections
  (`AttentionQKV(..., cache_KV_in_predict=True)`): computed on the first call only.

Every state array of rank >= 1 is batch-leading, so `reorder_decoding_state` can reorder
(or repeat) batch rows for beam search, and `set_decoding_positions` moves each row's
position after a right-padded prompt. Writing past `max_inference_length` (or reading
past a `PositionalEncoding`'s `max_len`) is never a silent clamp: a `ValueError` when the
position is known on the host (eager calls, and `decoding`, which checks against
`decoding_capacity(model)` before every step), NaN outputs for those rows under `jit`.
"""

from typing import NamedTuple

import jax
import numpy as np
from jax import numpy as jnp

from trax_rl import shapes
from trax_rl.layers import base
from trax_rl.layers.combinators import Branch, Parallel, Select, Serial
from trax_rl.layers.core import Dense, check_mode

_MASKED_SCORE = -1e9  # Trax's fill; exp of it underflows to exactly 0 in float32.


class KVCache(NamedTuple):
    """Decoding state of causal attention: keys/values `(B, ..., max_len, d)`, index `(B,)`."""
    keys: jax.Array
    values: jax.Array
    index: jax.Array


class Position(NamedTuple):
    """Decoding state of `PositionalEncoding`: the next position of each batch row `(B,)`."""
    index: jax.Array


def check_capacity(index, length, max_len, what):
    """Raises if a batch row at `index` (`(B,)`) cannot take `length` more positions.

    Returns a `(B,)` mask of the rows that overflow. Under `jit` the positions are only
    known on the device, so nothing can be raised there: the caller turns those rows'
    outputs into NaN (never a silently clamped write), and `decoding` checks positions on
    the host before each step, where it raises this same error. (A `jax.debug.callback`
    could raise from the device, but costs a host round trip per layer per token.)
    """
    past_end = index + length > max_len
    if not isinstance(past_end, jax.core.Tracer) and np.any(past_end):
        raise ValueError(f"{what}: decoding past max_len={max_len}; build the model with a "
                         f"larger max_len / max_inference_length or decode fewer tokens")
    return past_end


def _poison(x, past_end):
    """NaN in the rows of `x` (batch-leading) that decoded past the end of a cache."""
    past_end = jnp.reshape(past_end, past_end.shape + (1,) * (x.ndim - 1))
    return jnp.where(past_end, jnp.nan, x)


def decoding_capacity(layer):
    """The most positions a 'predict'-mode model can decode: its smallest cache or table."""
    sizes = []

    def walk(layer):
        if isinstance(layer, (DotProductCausalAttention, PositionalEncoding)) and \
                layer._mode == "predict":  # pylint: disable=protected-access
            sizes.append(layer._max_len)  # pylint: disable=protected-access
        for sublayer in layer.sublayers:
            walk(sublayer)
    walk(layer)
    return min(sizes, default=None)


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


class CacheOnce(Serial):
    """`Serial(layers)` that runs on the first call and returns that first output on every
    later call (Trax's `Cache`).

    Decoding an encoder-decoder model feeds the same source every step; in 'predict' mode
    the encoder, and the projections of its output to keys and values, run once. Weights
    are those of `Serial(layers)` (of the one layer itself, when given one), so 'train'
    weights load into a 'predict' model. State: `{"filled", "output", "layers"}`, with
    `filled` a scalar so batch rows of `output` can be reordered. Needs its own class
    because the choice is a `lax.cond` on state, which Serial/Parallel/Select cannot express.
    """

    def __init__(self, *layers, name=None):
        super().__init__(*layers, name=name or "CacheOnce")
        self._single = len(self.sublayers) == 1

    def _run(self, inputs, weights, state, rng):
        return Serial.forward_with_state(self, inputs, weights, state, rng)

    def init_weights_and_state(self, input_signature, rng):
        weights, state = super().init_weights_and_state(input_signature, rng)
        out = jax.eval_shape(lambda w, s, x: self._run(x, w, s, None)[0], weights, state,
                             shapes.as_jax(input_signature))
        zeros = jax.tree.map(lambda o: jnp.zeros(o.shape, o.dtype), out)
        cache = {"filled": jnp.zeros((), bool), "output": zeros, "layers": state}
        return (weights[0] if self._single else weights), cache

    def forward_with_state(self, inputs, weights, state, rng):
        weights = (weights,) if self._single else weights

        def compute(layers_state):
            return self._run(inputs, weights, layers_state, rng)

        out, layers_state = jax.lax.cond(state["filled"], lambda s: (state["output"], s),
                                         compute, state["layers"])
        return out, {"filled": jnp.ones((), bool), "output": out, "layers": layers_state}


def AttentionQKV(d_feature, n_heads=1, dropout=0.0, mode="train",  # pylint: disable=invalid-name
                 cache_KV_in_predict=False):  # pylint: disable=invalid-name
    """`(q, k, v, mask) -> (activations, mask)`: dense projections around `PureAttention`.

    With `cache_KV_in_predict` (encoder-decoder attention) the key and value projections
    are computed on the first 'predict' call only: the encoder's output does not change
    while decoding.
    """
    k_dense, v_dense = Dense(d_feature), Dense(d_feature)
    if cache_KV_in_predict and check_mode(mode) == "predict":
        k_dense, v_dense = CacheOnce(k_dense), CacheOnce(v_dense)
    return Serial(
        Parallel(Dense(d_feature), k_dense, v_dense),                # (q', k', v', mask)
        PureAttention(n_heads=n_heads, dropout=dropout, mode=mode),  # (attended, mask)
        Dense(d_feature),                                            # (out, mask)
        name="AttentionQKV")


def Attention(d_feature, n_heads=1, dropout=0.0, mode="train"):  # pylint: disable=invalid-name
    """Self-attention: `(x, mask) -> (activations, mask)`."""
    return Serial(
        Select([0, 0, 0]),  # (x, x, x, mask)
        AttentionQKV(d_feature, n_heads=n_heads, dropout=dropout, mode=mode),
        name="Attention")


def PaddingMask(pad=0):  # pylint: disable=invalid-name
    """Token ids `(B, T)` -> boolean mask `(B, 1, 1, T)`, False at padding."""
    def f(x):
        if x.ndim != 2:
            raise ValueError(f"PaddingMask needs token ids (batch, length), got shape {x.shape}")
        return (x != pad)[:, None, None, :]
    return base.Fn(f"PaddingMask({pad})", f)


def EncoderDecoderMask():  # pylint: disable=invalid-name
    """`(decoder_activations (B, T_d, D), padding mask (B, 1, 1, T_e)) -> (B, 1, T_d, T_e)`."""
    def f(decoder_input, mask):
        if decoder_input.ndim != 3:
            raise ValueError(f"EncoderDecoderMask needs decoder activations (batch, length, "
                             f"d_model), got shape {decoder_input.shape}")
        batch, length = decoder_input.shape[:2]
        mask = jnp.reshape(mask, (mask.shape[0], 1, 1, mask.shape[-1]))
        return jnp.broadcast_to(mask, (batch, 1, length, mask.shape[-1]))
    return base.Fn("EncoderDecoderMask", f)


def _write_rows(buffer, new, index):
    """Writes `new` `(B, ..., T, d)` into `buffer` `(B, ..., L, d)` at row b's `index[b]`."""
    write = lambda buf, x, i: jax.lax.dynamic_update_slice_in_dim(buf, x, i, axis=-2)
    return jax.vmap(write)(buffer, new, index)


class DotProductCausalAttention(base.Layer):
    """`(q, k, v) -> attention` where position t attends to positions <= t.

    Inputs are `(B, ..., T, d)` (e.g. `(B, H, T, Dh)`). In 'predict' mode state is a
    `KVCache`: each call writes its keys/values at each row's own position and attends
    over the buffer up to it.
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
        _, k, v = input_signature
        buffer = lambda x: jnp.zeros(tuple(x.shape[:-2]) + (self._max_len, x.shape[-1]), x.dtype)
        return (), KVCache(buffer(k), buffer(v), jnp.zeros((k.shape[0],), jnp.int32))

    def forward_with_state(self, inputs, weights, state, rng):
        q, k, v = inputs
        length = q.shape[-2]
        if self._mode != "predict":
            mask = jnp.tril(jnp.ones((length, length), dtype=bool))
            return DotProductAttention(q, k, v, mask, self._dropout, self._mode, rng), state
        past_end = check_capacity(state.index, length, self._max_len,
                                  "DotProductCausalAttention")
        keys = _write_rows(state.keys, k, state.index)
        values = _write_rows(state.values, v, state.index)
        # Query i of row b sits at position index[b] + i and sees buffer slots <= it.
        query_positions = state.index[:, None] + jnp.arange(length)  # (B, T)
        mask = jnp.arange(self._max_len) <= query_positions[..., None]  # (B, T, L)
        mask = jnp.reshape(mask, mask.shape[:1] + (1,) * (q.ndim - 3) + mask.shape[1:])
        out = DotProductAttention(q, keys, values, mask, self._dropout, self._mode, rng)
        return _poison(out, past_end), KVCache(keys, values, state.index + length)


def CausalAttention(d_feature, n_heads=1, dropout=0.0,  # pylint: disable=invalid-name
                    max_inference_length=2048, mode="train"):
    """Causal multi-head self-attention `(B, T, d_feature) -> (B, T, d_feature)`.

    Heads stay a separate axis `(B, H, T, Dh)` (Trax merges them into the batch) so that
    the 'predict' cache is batch-leading and beam search can reorder its rows.
    """
    if d_feature % n_heads:
        raise ValueError(f"d_feature={d_feature} is not divisible by n_heads={n_heads}")
    split = lambda: SplitIntoHeads(n_heads, merged_batch_and_head=False)
    return Serial(
        Branch([Dense(d_feature), split()],  # (q, k, v), each (B, H, T, Dh)
               [Dense(d_feature), split()],
               [Dense(d_feature), split()]),
        DotProductCausalAttention(dropout=dropout, max_inference_length=max_inference_length,
                                  mode=mode),                           # (B, H, T, Dh)
        MergeHeads(n_heads, merged_batch_and_head=False),               # (B, T, D)
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


def sinusoids(max_len, d_feature):
    """Vaswani et al.'s table `(max_len, d)`: `sin(pos / 10000^(2i/d))` on even features,
    `cos` on odd ones."""
    position = np.arange(max_len)[:, None]
    div_term = np.exp(np.arange(0, d_feature, 2) * -(np.log(10000.0) / d_feature))
    table = np.zeros((max_len, d_feature), np.float32)
    table[:, 0::2] = np.sin(position * div_term)
    table[:, 1::2] = np.cos(position * div_term[:d_feature // 2])
    return table


class PositionalEncoding(base.Layer):
    """Adds a position encoding to `(B, T, D)` inputs: learned, or fixed sinusoids.

    As in Trax the table is a weight (`(1, max_len, D)`) initialized to `sinusoids`, so an
    optimizer fine-tunes it (learned positions; BERT's position embeddings load into it).
    `trainable=False` gives Vaswani et al.'s fixed sinusoids with no weights. In 'train'
    mode `dropout` is applied to the encoding, shared over `dropout_broadcast_dims`. In
    'predict' mode state is a `Position`: per batch row, the next position to encode.
    """

    def __init__(self, max_len=2048, dropout=0.0, dropout_broadcast_dims=(-2,),
                 d_feature=None, mode="train", trainable=True):
        super().__init__(name="PositionalEncoding")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"PositionalEncoding dropout must be in [0, 1), got {dropout}")
        self._max_len = max_len
        self._dropout = dropout
        self._dropout_broadcast_dims = tuple(dropout_broadcast_dims)
        self._d_feature = d_feature
        self._mode = check_mode(mode)
        self._trainable = trainable

    def init_weights_and_state(self, input_signature, rng):
        del rng
        state = (Position(jnp.zeros(input_signature.shape[:1], jnp.int32))
                 if self._mode == "predict" else ())
        if not self._trainable:
            return (), state
        d_feature = self._d_feature or input_signature.shape[-1]
        return jnp.asarray(sinusoids(self._max_len, d_feature))[None], state  # (1, max_len, D)

    def _table(self, weights, d_feature):
        if self._trainable:
            return weights[0]  # (max_len, D)
        return jnp.asarray(sinusoids(self._max_len, d_feature))

    def forward_with_state(self, x, weights, state, rng):
        length = x.shape[1]
        table = self._table(weights, x.shape[-1]).astype(x.dtype)
        if self._mode == "predict":
            past_end = check_capacity(state.index, length, self._max_len, "PositionalEncoding")
            positions = state.index[:, None] + jnp.arange(length)  # (B, T)
            return _poison(x + table[positions], past_end), Position(state.index + length)
        if length > self._max_len:
            raise ValueError(f"sequence length {length} exceeds max_len={self._max_len}")
        encoding = table[None, :length]  # (1, T, D)
        if self._dropout > 0.0 and self._mode == "train":
            if rng is None:
                raise ValueError("PositionalEncoding dropout in 'train' mode needs an rng")
            noise_shape = list(encoding.shape)
            for axis in self._dropout_broadcast_dims:
                noise_shape[axis] = 1
            keep = jax.random.bernoulli(rng, 1.0 - self._dropout, tuple(noise_shape))
            encoding = encoding * keep.astype(x.dtype) / (1.0 - self._dropout)
        return x + encoding, state


def _is_position_state(x):
    return isinstance(x, (KVCache, Position))


def set_decoding_positions(state, positions):
    """Sets every row's next decoding position (`(B,)` ints) in a predict-mode state tree.

    After a right-padded prompt chunk, row b's cache holds padding past its own length;
    moving its position back to that length makes the next token overwrite the padding,
    which the causal mask has kept out of every real position.
    """
    positions = jnp.asarray(positions, jnp.int32)
    return jax.tree.map(
        lambda s: s._replace(index=jnp.broadcast_to(positions, s.index.shape))
        if _is_position_state(s) else s, state, is_leaf=_is_position_state)


def reorder_decoding_state(state, indices):
    """Gathers batch rows `indices` of every batch-leading array in a predict-mode state.

    Arrays of rank 0 (flags) and those whose leading axis is not the batch (e.g. running
    statistics of shape `(1, ...)`) are left as they are.
    """
    indices = jnp.asarray(indices)
    leaves = jax.tree.leaves(state, is_leaf=_is_position_state)
    batch = next((s.index.shape[0] for s in leaves if _is_position_state(s)), None)

    def gather(x):
        if getattr(x, "ndim", 0) >= 1 and (batch is None or x.shape[0] == batch):
            return jnp.take(x, indices, axis=0)
        return x
    return jax.tree.map(gather, state)
