"""Model zoo: parameter counts computed by hand from each paper's layout, and shapes.

Counts use `jax.eval_shape` on init (no arrays are made), so large layouts stay fast.
"""

import jax
import numpy as np
import pytest

from trax_rl import models
from trax_rl.shapes import ShapeDtype

V, D, D_FF, H, MAX_LEN = 10, 8, 16, 2, 12


def n_params(model, signature):
    weights, _ = jax.eval_shape(lambda: model.init_with_signature(signature,
                                                                  jax.random.PRNGKey(0)))
    return sum(int(np.prod(w.shape)) for w in jax.tree.leaves(weights))


def dense(n_in, n_out):
    return n_in * n_out + n_out


def layer_norm(d):
    return 2 * d


def attention(d):
    return 4 * dense(d, d)  # q, k, v and output projections


def feed_forward(d, d_ff):
    return dense(d, d_ff) + dense(d_ff, d)


def lstm(d_in, n):
    return dense(d_in + n, 4 * n)


def gru(d_in, n):
    return dense(d_in + n, 2 * n) + dense(d_in + n, n)


def tokens(batch=2, length=5):
    return ShapeDtype((batch, length), np.int32)


def test_transformer_lm_parameters():
    model = models.TransformerLM(V, d_model=D, d_ff=D_FF, n_layers=2, n_heads=H, max_len=MAX_LEN)
    block = 2 * layer_norm(D) + attention(D) + feed_forward(D, D_FF)
    expected = V * D + MAX_LEN * D + 2 * block + layer_norm(D) + dense(D, V)
    assert n_params(model, tokens()) == expected


def test_transformer_encoder_parameters():
    model = models.TransformerEncoder(V, n_classes=3, d_model=D, d_ff=D_FF, n_layers=2,
                                      n_heads=H, max_len=MAX_LEN)
    block = 2 * layer_norm(D) + attention(D) + feed_forward(D, D_FF)
    expected = V * D + MAX_LEN * D + 2 * block + layer_norm(D) + dense(D, 3)
    assert n_params(model, tokens()) == expected


def test_transformer_parameters_with_two_vocabularies():
    model = models.Transformer(V, output_vocab_size=V + 1, d_model=D, d_ff=D_FF,
                               n_encoder_layers=2, n_decoder_layers=1, n_heads=H,
                               max_len=MAX_LEN)
    encoder = (V * D + MAX_LEN * D + 2 * (2 * layer_norm(D) + attention(D)
                                          + feed_forward(D, D_FF)) + layer_norm(D))
    decoder = ((V + 1) * D + MAX_LEN * D
               + (3 * layer_norm(D) + 2 * attention(D) + feed_forward(D, D_FF))
               + layer_norm(D) + dense(D, V + 1))
    assert n_params(model, (tokens(), tokens(length=4))) == encoder + decoder


def test_transformer_with_one_vocabulary_shares_its_embedding():
    model = models.Transformer(V, d_model=D, d_ff=D_FF, n_encoder_layers=1, n_decoder_layers=1,
                               n_heads=H, max_len=MAX_LEN)
    encoder = (V * D + MAX_LEN * D + 2 * layer_norm(D) + attention(D) + feed_forward(D, D_FF)
               + layer_norm(D))
    decoder = (MAX_LEN * D + 3 * layer_norm(D) + 2 * attention(D) + feed_forward(D, D_FF)
               + layer_norm(D) + dense(D, V))  # no second V * D embedding
    assert n_params(model, (tokens(), tokens(length=4))) == encoder + decoder


def test_transformer_decoder_torso_parameters_and_shape():
    model = models.TransformerDecoder(None, d_model=D, d_ff=D_FF, n_layers=1, n_heads=H,
                                      max_len=MAX_LEN)
    signature = ShapeDtype((2, 5, 3))
    expected = (dense(3, D) + MAX_LEN * D + 2 * layer_norm(D) + attention(D)
                + feed_forward(D, D_FF) + layer_norm(D))
    assert n_params(model, signature) == expected
    assert model.output_signature(signature).shape == (2, 5, D)


def test_mlp_and_atari_cnn_parameters():
    mlp = models.MLP(layer_widths=(8, 4))
    assert n_params(mlp, ShapeDtype((2, 3, 2))) == dense(6, 8) + dense(8, 4)
    assert mlp.output_signature(ShapeDtype((2, 3, 2))).shape == (2, 4)
    cnn = models.AtariCnn(n_frames=2, hidden_sizes=(4, 5, 6), output_size=8)
    frames = ShapeDtype((2, 3, 16, 16, 3), np.uint8)
    conv = lambda c_in, c_out: 5 * 5 * c_in * c_out + c_out
    # 16x16 -> 8x8 -> 4x4 -> 2x2 with 'SAME' stride-2 convolutions.
    expected = conv(6, 4) + conv(4, 5) + conv(5, 6) + dense(2 * 2 * 6, 8)
    assert n_params(cnn, frames) == expected
    assert cnn.output_signature(frames).shape == (2, 3, 8)


def test_resnet50_parameters():
    d, n_classes = 4, 7
    conv = lambda k, c_in, c_out: k * k * c_in * c_out + c_out
    batch_norm = lambda c: 2 * c  # scale and bias; running statistics are state
    expected = conv(7, 3, d) + batch_norm(d)
    c_in = d
    for n_blocks, width in ((3, d), (4, 2 * d), (6, 4 * d), (3, 8 * d)):
        main = lambda c: (conv(1, c, width) + batch_norm(width) + conv(3, width, width)
                          + batch_norm(width) + conv(1, width, 4 * width) + batch_norm(4 * width))
        expected += main(c_in) + conv(1, c_in, 4 * width) + batch_norm(4 * width)
        expected += (n_blocks - 1) * main(4 * width)
        c_in = 4 * width
    expected += dense(32 * d, n_classes)
    model = models.Resnet50(d_hidden=d, n_output_classes=n_classes)
    images = ShapeDtype((1, 224, 224, 3))
    assert n_params(model, images) == expected
    assert model.output_signature(images).shape == (1, n_classes)


def test_wide_resnet_parameters():
    conv = lambda c_in, c_out: 9 * c_in * c_out + c_out
    block = lambda c_in, c: 2 * c_in + conv(c_in, c) + 2 * c + conv(c, c)
    expected, c_in = conv(3, 16), 16
    for c in (32, 64, 128):  # widen_factor 2
        expected += block(c_in, c) + conv(c_in, c) + block(c, c)  # n_blocks 2
        c_in = c
    expected += 2 * 128 + dense(128, 10)
    model = models.WideResnet(n_blocks=2, widen_factor=2, n_output_classes=10)
    images = ShapeDtype((2, 32, 32, 3))
    assert n_params(model, images) == expected
    assert model.output_signature(images).shape == (2, 10)


def test_recurrent_model_parameters():
    rnnlm = models.RNNLM(V, d_model=D, n_layers=2)
    assert n_params(rnnlm, tokens()) == V * D + 2 * lstm(D, D) + dense(D, V)
    grulm = models.GRULM(V, d_model=D, n_layers=2)
    assert n_params(grulm, tokens()) == V * D + 2 * gru(D, D) + dense(D, V)
    assert grulm.output_signature(tokens()).shape == (2, 5, V)
    seq2seq = models.LSTMSeq2SeqAttn(V, V + 1, d_model=D, n_encoder_layers=2,
                                     n_decoder_layers=1, n_attention_heads=H)
    expected = (V * D + 2 * lstm(D, D)                  # encoder
                + (V + 1) * D + lstm(D, D)              # pre-attention decoder
                + attention(D) + lstm(D, D) + dense(D, V + 1))
    signature = (tokens(), tokens(length=4))
    assert n_params(seq2seq, signature) == expected
    log_probs, targets = seq2seq.output_signature(signature)
    assert (log_probs.shape, targets.shape) == ((2, 4, V + 1), (2, 4))


@pytest.mark.parametrize("name", ["TransformerLM", "RNNLM", "GRULM"])
def test_language_models_are_causal(name):
    model = getattr(models, name)(V, d_model=D, n_layers=1, mode="eval",
                                  **({"d_ff": D_FF, "n_heads": H, "max_len": MAX_LEN}
                                     if name == "TransformerLM" else {}))
    x = np.random.default_rng(0).integers(1, V, size=(2, 6))
    weights, state = model.init(ShapeDtype(x.shape, np.int32))
    # Logits at t depend on tokens < t only (the input is shifted right).
    logits = jax.jit(lambda x: model.pure_fn(x, weights, state)[0])
    changed = x.copy()
    changed[:, 3] = (x[:, 3] % (V - 1)) + 1
    np.testing.assert_allclose(logits(changed)[:, :4], logits(x)[:, :4], rtol=1e-6, atol=1e-6)
    assert not np.allclose(logits(changed)[:, 4:], logits(x)[:, 4:])
