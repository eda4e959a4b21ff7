"""Recurrent models with Trax's signatures: `RNNLM` (LSTM language model), `GRULM`, and
`LSTMSeq2SeqAttn` (Bahdanau-style encoder-decoder with attention, Trax's layout)."""

from jax import numpy as jnp

from trax_rl.layers import attention
from trax_rl.layers import base
from trax_rl.layers import combinators as cb
from trax_rl.layers import core
from trax_rl.layers import rnn


def RNNLM(vocab_size, d_model=512, n_layers=2, rnn_cell=rnn.LSTM,  # pylint: disable=invalid-name
          dropout=0.1, mode="train"):
    """Token ids `(B, T)` -> next-token logits `(B, T, vocab)` through stacked RNNs.

    `rnn_cell` builds one recurrent layer from `(n_units, mode=)` (`LSTM` or `GRU`). In
    'predict' mode each layer's carry persists across calls.
    """
    return cb.Serial(
        attention.ShiftRight(mode=mode),
        core.Embedding(vocab_size, d_model),
        [rnn_cell(d_model, mode=mode) for _ in range(n_layers)],
        core.Dropout(rate=dropout, mode=mode),
        core.Dense(vocab_size),
        name="RNNLM")


def GRULM(vocab_size=256, d_model=512, n_layers=1, mode="train"):  # pylint: disable=invalid-name
    """GRU language model: token ids `(B, T)` -> logits `(B, T, vocab)`."""
    return cb.Serial(
        attention.ShiftRight(mode=mode),
        core.Embedding(vocab_size, d_model),
        [rnn.GRU(d_model, mode=mode) for _ in range(n_layers)],
        core.Dense(vocab_size),
        name="GRULM")


def _prepare_attention_inputs(encoder_activations, decoder_activations, input_tokens):
    keys = values = encoder_activations
    queries = decoder_activations
    mask = (input_tokens != 0)[:, None, None, :]  # (B, 1, 1, T_e): False at padding
    mask = jnp.broadcast_to(mask, (mask.shape[0], 1, queries.shape[1], mask.shape[-1]))
    return queries, keys, values, mask


def LSTMSeq2SeqAttn(input_vocab_size=256, target_vocab_size=256, d_model=512,  # pylint: disable=invalid-name
                    n_encoder_layers=2, n_decoder_layers=2, n_attention_heads=1,
                    attention_dropout=0.0, mode="train"):
    """`(source ids, target ids) -> (log-probabilities (B, T_d, vocab), target ids)`.

    An LSTM encoder; a pre-attention LSTM over the shifted targets; multi-head attention
    from it to the encoder; then LSTMs and a `LogSoftmax` output.
    """
    input_encoder = cb.Serial(
        core.Embedding(input_vocab_size, d_model),
        [rnn.LSTM(d_model) for _ in range(n_encoder_layers)])
    pre_attention_decoder = cb.Serial(
        attention.ShiftRight(mode=mode),
        core.Embedding(target_vocab_size, d_model),
        rnn.LSTM(d_model, mode=mode))
    return cb.Serial(                                       # in_toks tgt_toks
        cb.Select([0, 1, 0, 1]),                            # in_toks tgt_toks in_toks tgt_toks
        cb.Parallel(input_encoder, pre_attention_decoder),  # vec_e vec_d in_toks tgt_toks
        base.Fn("PrepareAttentionInputs", _prepare_attention_inputs, n_out=4),
        cb.Residual(attention.AttentionQKV(d_model, n_heads=n_attention_heads,
                                           dropout=attention_dropout, mode=mode)),
        cb.Select([0, 2]),                                  # vec_d tgt_toks
        [rnn.LSTM(d_model, mode=mode) for _ in range(n_decoder_layers)],
        core.Dense(target_vocab_size),
        core.LogSoftmax(),                                  # log-probs tgt_toks
        name="LSTMSeq2SeqAttn")
