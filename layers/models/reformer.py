"""Reformer (Kitaev et al. 2020): `ReformerLM` and the encoder-decoder `Reformer`, Trax's
layouts. Reversible residual blocks (activations recomputed in the backward pass, so
memory does not grow with depth), LSH self-attention (memory linear in length), and a
chunked feed-forward (memory of one chunk of positions at a time)."""

import jax
from jax import numpy as jnp

from trax_rl.layers import attention
from trax_rl.layers import base
from trax_rl.layers import combinators as cb
from trax_rl.layers import core
from trax_rl.layers import efficient_attention
from trax_rl.layers import normalization
from trax_rl.layers import reversible


class ChunkedFeedForward(base.Layer):
    """Applies `layer` to `(B, T, D)` in chunks of `chunk_size` positions (`lax.map`), so
    only one chunk's hidden activations `(chunk_size, d_ff)` exist at a time.

    Needs its own class because a loop over chunks is `lax.map`, not a composition of
    Serial/Parallel/Select. `chunk_size=0` applies `layer` at once.
    """

    def __init__(self, layer, chunk_size):
        super().__init__(name=f"ChunkedFeedForward_{chunk_size}")
        self._sublayers = (layer,)
        self._chunk_size = chunk_size

    def init_weights_and_state(self, input_signature, rng):
        weights, state = self._sublayers[0].init_with_signature(input_signature, rng)
        return (weights,), (state,)  # one entry per sublayer, as combinators have

    def forward_with_state(self, x, weights, state, rng):
        layer, (weights,), (layer_state,) = self._sublayers[0], weights, state
        if not self._chunk_size:
            y, layer_state = layer.pure_fn(x, weights, layer_state, rng)
            return y, (layer_state,)
        batch, length, depth = x.shape
        flat = jnp.reshape(x, (batch * length, depth))                  # (B*T, D)
        pad = -(batch * length) % self._chunk_size
        flat = jnp.pad(flat, ((0, pad), (0, 0)))
        chunks = jnp.reshape(flat, (-1, self._chunk_size, depth))      # (n, chunk, D)
        apply = jax.checkpoint(lambda c: layer.pure_fn(c, weights, layer_state, rng)[0])
        out = jax.lax.map(apply, chunks)
        out = jnp.reshape(out, (-1, out.shape[-1]))[:batch * length]
        return jnp.reshape(out, (batch, length, out.shape[-1])), state


def _feed_forward(d_model, d_ff, dropout, activation, chunk_size, mode):
    return ChunkedFeedForward(cb.Serial(
        normalization.LayerNorm(),
        core.Dense(d_ff),
        activation(),
        core.Dropout(rate=dropout, mode=mode),
        core.Dense(d_model),
        core.Dropout(rate=dropout, mode=mode)), chunk_size)


def DecoderBlock(d_model, d_ff, d_attention_key, d_attention_value, n_heads,  # pylint: disable=invalid-name
                 attention_type, dropout, ff_activation, ff_chunk_size, mode):
    """Reversible block on `(x1, x2)`: `x1 += attention(LN(x2))`, swap, `x1 += ff(x1')`, swap."""
    attn = attention_type(n_heads=n_heads, d_qk=d_attention_key, d_v=d_attention_value,
                          causal=True, mode=mode)
    return [
        reversible.ReversibleHalfResidual(normalization.LayerNorm(), attn,
                                          core.Dropout(rate=dropout, mode=mode)),
        reversible.ReversibleSwap(),
        reversible.ReversibleHalfResidual(
            _feed_forward(d_model, d_ff, dropout, ff_activation, ff_chunk_size, mode)),
        reversible.ReversibleSwap(),
    ]


def ReformerLM(vocab_size, d_model=512, d_ff=2048, d_attention_key=64,  # pylint: disable=invalid-name
               d_attention_value=64, n_layers=6, n_heads=8, dropout=0.1, max_len=2048,
               attention_type=efficient_attention.LSHSelfAttention,
               ff_activation=core.FastGelu, ff_chunk_size=0, mode="train"):
    """Token ids `(B, T)` -> logits `(B, T, vocab)`; T a multiple of the attention's chunk.

    `attention_type` builds the self-attention from `(n_heads, d_qk, d_v, causal, mode)`;
    pass e.g. `functools.partial(LSHSelfAttention, n_hashes=4, chunk_len=64)`.
    """
    if mode == "predict":
        raise ValueError("ReformerLM has no 'predict' mode yet: decode with TransformerLM")
    blocks = [DecoderBlock(d_model, d_ff, d_attention_key, d_attention_value, n_heads,
                           attention_type, dropout, ff_activation, ff_chunk_size, mode)
              for _ in range(n_layers)]
    return cb.Serial(
        attention.ShiftRight(mode=mode),
        core.Embedding(vocab_size, d_model),
        core.Dropout(rate=dropout, mode=mode),
        attention.PositionalEncoding(max_len=max_len, mode=mode),
        cb.Dup(),                                        # x1 x2
        reversible.ReversibleSerial(blocks),             # y1 y2
        cb.Concatenate(),                                # (B, T, 2 * d_model)
        normalization.LayerNorm(),
        core.Dropout(rate=dropout, shared_axes=[-2], mode=mode),
        core.Dense(vocab_size),
        name="ReformerLM")


def EncoderBlock(d_model, d_ff, n_heads, dropout, ff_activation, ff_chunk_size, mode):  # pylint: disable=invalid-name
    """Reversible block on `(x1, x2, masks)`: padding-masked self-attention, feed-forward."""
    return [
        reversible.ReversibleHalfResidual(                     # x1 x2 masks
            normalization.LayerNorm(),
            attention.Attention(d_model, n_heads=n_heads, dropout=dropout, mode=mode),
            core.Dropout(rate=dropout, mode=mode)),
        reversible.ReversibleSwap(),
        reversible.ReversibleHalfResidual(
            _feed_forward(d_model, d_ff, dropout, ff_activation, ff_chunk_size, mode)),
        reversible.ReversibleSwap(),
    ]


def EncoderDecoderBlock(d_model, d_ff, n_heads, dropout, ff_activation, ff_chunk_size,  # pylint: disable=invalid-name
                        mode):
    """Reversible block on `(x1, x2, masks, vec_e)`: causal self-attention, attention to
    the encoder, feed-forward."""
    return [
        reversible.ReversibleHalfResidual(                     # x1 x2 masks vec_e
            normalization.LayerNorm(),
            attention.CausalAttention(d_model, n_heads=n_heads, dropout=dropout, mode=mode),
            core.Dropout(rate=dropout, mode=mode)),
        reversible.ReversibleSwap(),
        reversible.ReversibleHalfResidual(
            normalization.LayerNorm(),
            cb.Select([0, 2, 2, 1, 2]),                        # x vec_e vec_e masks vec_e
            attention.AttentionQKV(d_model, n_heads=n_heads, dropout=dropout, mode=mode),
            core.Dropout(rate=dropout, mode=mode)),
        reversible.ReversibleSwap(),
        reversible.ReversibleHalfResidual(
            _feed_forward(d_model, d_ff, dropout, ff_activation, ff_chunk_size, mode)),
        reversible.ReversibleSwap(),
    ]


def _average():
    return base.Fn("XYAvg", lambda x, y: (x + y) / 2.0)


def Reformer(input_vocab_size, output_vocab_size=None, d_model=512, d_ff=2048,  # pylint: disable=invalid-name
             n_encoder_layers=6, n_decoder_layers=6, n_heads=8, dropout=0.1, max_len=2048,
             ff_activation=core.Relu, ff_chunk_size=0, mode="train"):
    """Reversible encoder-decoder: `(source ids, target ids) -> (logits, target ids)`.

    Encoder and decoder are `ReversibleSerial`s over two copies of the activations, which
    are averaged at the end (Trax's layout); attention is full (padding-masked in the
    encoder, causal in the decoder). 'predict' mode is not supported.
    """
    if mode == "predict":
        raise ValueError("Reformer has no 'predict' mode yet: decode with Transformer")
    in_embedder = core.Embedding(input_vocab_size, d_model)
    if output_vocab_size is None:
        out_embedder, output_vocab_size = in_embedder, input_vocab_size
    else:
        out_embedder = core.Embedding(output_vocab_size, d_model)
    encoder_blocks = [EncoderBlock(d_model, d_ff, n_heads, dropout, ff_activation,
                                   ff_chunk_size, mode) for _ in range(n_encoder_layers)]
    decoder_blocks = [EncoderDecoderBlock(d_model, d_ff, n_heads, dropout, ff_activation,
                                          ff_chunk_size, mode) for _ in range(n_decoder_layers)]
    return cb.Serial(
        cb.Select([0, 1, 1]),                                     # tok_e tok_d tok_d
        cb.Branch([], attention.PaddingMask()),                   # tok_e masks tok_d tok_d
        in_embedder,                                              # vec_e masks tok_d tok_d
        core.Dropout(rate=dropout, mode=mode),
        attention.PositionalEncoding(max_len=max_len, mode=mode),
        cb.Dup(),                                                 # vec_e vec_e masks ...
        reversible.ReversibleSerial(encoder_blocks),
        _average(),                                               # vec_e masks tok_d tok_d
        normalization.LayerNorm(),
        cb.Select([2, 1, 0]),                                     # tok_d masks vec_e tok_d
        attention.ShiftRight(mode=mode),
        out_embedder,                                             # vec_d masks vec_e tok_d
        core.Dropout(rate=dropout, mode=mode),
        attention.PositionalEncoding(max_len=max_len, mode=mode),
        cb.Branch([], attention.EncoderDecoderMask()),            # vec_d masks vec_e tok_d
        cb.Dup(),                                                 # vec_d vec_d masks vec_e tok_d
        reversible.ReversibleSerial(decoder_blocks),
        _average(),                                               # vec_d masks vec_e tok_d
        normalization.LayerNorm(),
        cb.Select([0], n_in=3),                                   # vec_d tok_d
        core.Dense(output_vocab_size),                            # logits tok_d
        name="Reformer")
