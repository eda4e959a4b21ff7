"""Transformer models (Vaswani et al. 2017, "Attention Is All You Need"), as in Trax:
`TransformerEncoder` (a classifier), `TransformerDecoder` (continuous-input torso),
`TransformerLM` (decoder-only language model) and `Transformer` (encoder-decoder).

Blocks are pre-LayerNorm (Trax's choice): each sub-block is
`Residual(LayerNorm, sublayer, Dropout)`. In 'predict' mode the models keep what fast
decoding needs in layer state (see `trax_rl.layers.attention`); their weights have the
same tree as in 'train' mode, so trained weights load into a decoding model.
"""

from trax_rl.layers import attention
from trax_rl.layers import combinators as cb
from trax_rl.layers import core
from trax_rl.layers import normalization


def _dropout(dropout, dropout_shared_axes, mode):
    return core.Dropout(rate=dropout, shared_axes=dropout_shared_axes, mode=mode)


def FeedForwardBlock(d_model, d_ff, dropout, dropout_shared_axes, mode,  # pylint: disable=invalid-name
                     activation):
    """Position-wise `Dense(d_ff), activation, Dropout, Dense(d_model)` on `(B, T, d_model)`."""
    return [
        core.Dense(d_ff),
        activation(),
        _dropout(dropout, dropout_shared_axes, mode),
        core.Dense(d_model),
    ]


def _pre_norm_residual(dropout, dropout_shared_axes, mode):
    """`residual(*layers)`: `x + Dropout(layers(LayerNorm(x)))`, the blocks' one shape."""
    return lambda *layers: cb.Residual(normalization.LayerNorm(), *layers,
                                       _dropout(dropout, dropout_shared_axes, mode))


def EncoderBlock(d_model, d_ff, n_heads, dropout, dropout_shared_axes,  # pylint: disable=invalid-name
                 mode, ff_activation):
    """`(vecs, masks) -> (vecs, masks)`: padding-masked self-attention, then feed-forward."""
    residual = _pre_norm_residual(dropout, dropout_shared_axes, mode)
    return [
        residual(attention.Attention(d_model, n_heads=n_heads, dropout=dropout, mode=mode)),
        residual(FeedForwardBlock(d_model, d_ff, dropout, dropout_shared_axes, mode,
                                  ff_activation)),
    ]


def DecoderBlock(d_model, d_ff, n_heads, dropout, dropout_shared_axes,  # pylint: disable=invalid-name
                 mode, ff_activation, max_len=2048):
    """`vecs -> vecs`: causal self-attention, then feed-forward."""
    residual = _pre_norm_residual(dropout, dropout_shared_axes, mode)
    return [
        residual(attention.CausalAttention(d_model, n_heads=n_heads, dropout=dropout,
                                           max_inference_length=max_len, mode=mode)),
        residual(FeedForwardBlock(d_model, d_ff, dropout, dropout_shared_axes, mode,
                                  ff_activation)),
    ]


def EncoderDecoderBlock(d_model, d_ff, n_heads, dropout, dropout_shared_axes,  # pylint: disable=invalid-name
                        mode, ff_activation, max_len=2048):
    """`(vec_d, masks, vec_e) -> (vec_d, masks, vec_e)`: causal self-attention,
    attention to the encoder (its keys/values cached once in 'predict'), feed-forward."""
    residual = _pre_norm_residual(dropout, dropout_shared_axes, mode)
    return [                                                      # vec_d masks vec_e
        residual(attention.CausalAttention(d_model, n_heads=n_heads, dropout=dropout,
                                           max_inference_length=max_len, mode=mode)),
        residual(cb.Select([0, 2, 2, 1, 2]),                      # vec_d vec_e vec_e masks vec_e
                 attention.AttentionQKV(d_model, n_heads=n_heads, dropout=dropout, mode=mode,
                                        cache_KV_in_predict=True)),  # vec_d masks vec_e
        residual(FeedForwardBlock(d_model, d_ff, dropout, dropout_shared_axes, mode,
                                  ff_activation)),                # vec_d masks vec_e
    ]


def TransformerEncoder(vocab_size, n_classes=10, d_model=512, d_ff=2048,  # pylint: disable=invalid-name
                       n_layers=6, n_heads=8, max_len=2048, dropout=0.1,
                       dropout_shared_axes=None, mode="train", ff_activation=core.Relu):
    """Token ids `(B, T)` -> class logits `(B, n_classes)`; padding (id 0) is masked."""
    positional_encoder = [
        core.Embedding(vocab_size, d_model),
        _dropout(dropout, dropout_shared_axes, mode),
        attention.PositionalEncoding(max_len=max_len, mode=mode),
    ]
    encoder_blocks = [EncoderBlock(d_model, d_ff, n_heads, dropout, dropout_shared_axes, mode,
                                   ff_activation) for _ in range(n_layers)]
    return cb.Serial(
        cb.Branch([], attention.PaddingMask()),  # tokens masks
        positional_encoder,                      # vecs masks
        encoder_blocks,                          # vecs masks
        cb.Select([0], n_in=2),                  # vecs
        normalization.LayerNorm(),               # vecs
        core.Mean(axis=1),                       # (B, d_model)
        core.Dense(n_classes),                   # (B, n_classes)
        name="TransformerEncoder")


def TransformerDecoder(vocab_size=None, d_model=512, d_ff=2048, n_layers=6,  # pylint: disable=invalid-name
                       n_heads=8, dropout=0.1, dropout_shared_axes=None, max_len=2048,
                       mode="train", ff_activation=core.Relu):
    """Causal Transformer `(B, T) ids or (B, T, D) vectors -> (B, T, d_model)`.

    With `vocab_size=None` the input is continuous and a `Dense(d_model)` embeds it, which
    makes this the sequence torso of a policy network.
    """
    embed = core.Embedding(vocab_size, d_model) if vocab_size else core.Dense(d_model)
    return cb.Serial(
        embed,                                                  # (B, T, d_model)
        _dropout(dropout, dropout_shared_axes, mode),
        attention.PositionalEncoding(max_len=max_len, mode=mode),
        [DecoderBlock(d_model, d_ff, n_heads, dropout, dropout_shared_axes, mode,
                      ff_activation, max_len) for _ in range(n_layers)],
        normalization.LayerNorm(),
        name="TransformerDecoder")


def TransformerLM(vocab_size, d_model=512, d_ff=2048, n_layers=6, n_heads=8,  # pylint: disable=invalid-name
                  max_len=2048, dropout=0.1, dropout_shared_axes=None, mode="train",
                  ff_activation=core.Relu):
    """Decoder-only language model: token ids `(B, T)` -> next-token logits `(B, T, vocab)`.

    In 'train'/'eval' mode the input is shifted right by one (position t predicts token t
    from tokens < t); in 'predict' mode the caller feeds the previous token(s).
    """
    return cb.Serial(
        attention.ShiftRight(mode=mode),                        # tokens
        core.Embedding(vocab_size, d_model),                    # vecs
        _dropout(dropout, dropout_shared_axes, mode),
        attention.PositionalEncoding(max_len=max_len, mode=mode),
        [DecoderBlock(d_model, d_ff, n_heads, dropout, dropout_shared_axes, mode,
                      ff_activation, max_len) for _ in range(n_layers)],
        normalization.LayerNorm(),                              # vecs
        core.Dense(vocab_size),                                 # logits
        name="TransformerLM")


def Transformer(input_vocab_size, output_vocab_size=None, d_model=512,  # pylint: disable=invalid-name
                d_ff=2048, n_encoder_layers=6, n_decoder_layers=6, n_heads=8,
                max_len=2048, dropout=0.1, dropout_shared_axes=None, mode="train",
                ff_activation=core.Relu):
    """Encoder-decoder: `(source ids, target ids) -> (logits (B, T_d, vocab), target ids)`.

    The target ids are passed through for the loss (Trax's convention). With
    `output_vocab_size=None` source and target share one vocabulary and one embedding.
    In 'predict' mode the encoder runs once, on the first call (`CacheOnce`), and every
    decoder layer projects its output to keys and values once.
    """
    in_embedder = core.Embedding(input_vocab_size, d_model)
    if output_vocab_size is None:
        out_embedder, output_vocab_size = in_embedder, input_vocab_size
    else:
        out_embedder = core.Embedding(output_vocab_size, d_model)
    # The encoder sees the whole source at once even while decoding.
    encoder_mode = "eval" if mode == "predict" else mode
    # In 'predict' mode the same layers form a CacheOnce, whose weights are the Serial's.
    encoder = (attention.CacheOnce if mode == "predict" else cb.Serial)(
        in_embedder,
        _dropout(dropout, dropout_shared_axes, encoder_mode),
        attention.PositionalEncoding(max_len=max_len, mode=encoder_mode),
        [EncoderBlock(d_model, d_ff, n_heads, dropout, dropout_shared_axes, encoder_mode,
                      ff_activation) for _ in range(n_encoder_layers)],
        normalization.LayerNorm(),
        name="Encoder")
    encoder_decoder_blocks = [
        EncoderDecoderBlock(d_model, d_ff, n_heads, dropout, dropout_shared_axes, mode,
                            ff_activation, max_len) for _ in range(n_decoder_layers)]
    return cb.Serial(
        cb.Select([0, 1, 1]),                           # tok_e tok_d tok_d
        cb.Branch([], attention.PaddingMask()),         # tok_e masks tok_d tok_d
        encoder,                                        # vec_e masks tok_d tok_d
        cb.Select([2, 1, 0]),                           # tok_d masks vec_e tok_d
        attention.ShiftRight(mode=mode),                # tok_d masks vec_e tok_d
        out_embedder,                                   # vec_d masks vec_e tok_d
        _dropout(dropout, dropout_shared_axes, mode),
        attention.PositionalEncoding(max_len=max_len, mode=mode),
        cb.Branch([], attention.EncoderDecoderMask()),  # vec_d masks vec_e tok_d
        encoder_decoder_blocks,                         # vec_d masks vec_e tok_d
        normalization.LayerNorm(),                      # vec_d masks vec_e tok_d
        cb.Select([0], n_in=3),                         # vec_d tok_d
        core.Dense(output_vocab_size),                  # logits tok_d
        name="Transformer")
