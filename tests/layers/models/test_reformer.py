"""Reformer parts: reversible layers give the gradients of their ordinary twins (and keep
fewer activations), LSH attention approaches full attention as hash rounds grow, the
chunked feed-forward equals the unchunked one, and ReformerLM's parameter count."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trax_rl.layers as tl
from trax_rl import models
from trax_rl.layers import efficient_attention, reversible
from trax_rl.layers.models import reformer
from trax_rl.shapes import ShapeDtype

RNG = np.random.default_rng(0)
LSH = functools.partial(efficient_attention.LSHSelfAttention, chunk_len=4, n_buckets=4,
                        n_hashes=2)


def _blocks(n_layers, d=8, dropout=0.1):
    return [reformer.DecoderBlock(d, 16, 4, 4, 2, LSH, dropout, tl.FastGelu, 3, "train")
            for _ in range(n_layers)]


def test_reversible_serial_gradients_equal_the_ordinary_serials():
    blocks = _blocks(1)  # four reversible layers: two half-residuals, two swaps
    rev, plain = reversible.ReversibleSerial(blocks), tl.Serial(blocks)
    x = RNG.normal(size=(2, 8, 8)).astype(np.float32)
    weights, state = rev.init((ShapeDtype(x.shape), ShapeDtype(x.shape)))
    rng = jax.random.PRNGKey(7)  # dropout and hashing are replayed in the backward pass

    def loss(layer, weights, x1, x2):
        y1, y2 = layer.pure_fn((x1, x2), weights, state, rng)[0]
        return jnp.sum(y1 ** 2) + jnp.sum(jnp.sin(y2))

    grad = lambda layer: jax.jit(jax.grad(functools.partial(loss, layer), argnums=(0, 1, 2)))(
        weights, x, 2 * x)
    got, expected = grad(rev), grad(plain)
    for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)
    y = rev.pure_fn((x, 2 * x), weights, state, rng)[0]
    np.testing.assert_allclose(rev.reverse(y, weights, state, rng)[1], 2 * x, atol=1e-5)


def test_reversible_backward_keeps_fewer_activations():
    d, length = 16, 32
    blocks = _blocks(4, d=d, dropout=0.0)
    signature = (ShapeDtype((2, length, d)),) * 2
    rev, plain = reversible.ReversibleSerial(blocks), tl.Serial(blocks)
    weights, state = rev.init(signature)

    def temp_bytes(layer):
        loss = lambda w, x: jnp.sum(layer.pure_fn((x, x), w, state)[0][0])
        compiled = jax.jit(jax.grad(loss)).lower(weights, jnp.zeros((2, length, d))).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    assert temp_bytes(rev) < 0.6 * temp_bytes(plain)


def _full_shared_qk_attention(qk, v):
    """numpy: causal attention with keys q/|q|, and self-attention only as a last resort."""
    k = qk / np.linalg.norm(qk, axis=-1, keepdims=True)
    scores = qk @ np.swapaxes(k, -1, -2) / np.sqrt(qk.shape[-1])
    t = np.arange(qk.shape[-2])
    scores = np.where(t[None, :] <= t[:, None], scores, -1e9)
    scores = np.where(t[None, :] == t[:, None], -1e5, scores)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    return (probs / probs.sum(-1, keepdims=True)) @ v


def test_lsh_attention_approaches_full_attention_with_more_hash_rounds():
    qk = 3.0 * RNG.normal(size=(2, 64, 8)).astype(np.float32)  # sharp attention
    v = RNG.normal(size=(2, 64, 8)).astype(np.float32)
    expected = _full_shared_qk_attention(qk.astype(np.float64), v)
    errors = {}
    for n_hashes in (1, 16):
        out = efficient_attention.lsh_attention(qk, v, jax.random.PRNGKey(0), n_hashes=n_hashes,
                                                n_buckets=4, chunk_len=16, causal=True)
        errors[n_hashes] = float(np.mean(np.abs(np.asarray(out) - expected)))
    assert errors[16] < 0.4 * errors[1]
    # One bucket and one chunk holding the whole sequence is exact full attention.
    exact = efficient_attention.lsh_attention(qk, v, jax.random.PRNGKey(0), n_buckets=2,
                                              chunk_len=64, n_chunks_before=0, causal=True)
    np.testing.assert_allclose(exact, expected, rtol=1e-4, atol=1e-5)


def test_chunked_feed_forward_equals_unchunked():
    x = RNG.normal(size=(2, 7, 8)).astype(np.float32)
    ff = tl.Serial(tl.Dense(16), tl.Relu(), tl.Dense(8))
    weights, state = ff.init(ShapeDtype(x.shape))
    chunked = reformer.ChunkedFeedForward(ff, chunk_size=3)  # 14 positions: 4 chunks, padded
    np.testing.assert_allclose(chunked.pure_fn(x, (weights,), (state,))[0],
                               ff.pure_fn(x, weights, state)[0], rtol=1e-6)


def test_reformer_lm_parameters_and_no_predict_mode():
    v, d, d_ff, dk, dv, h, max_len = 10, 8, 16, 4, 6, 2, 32
    model = models.ReformerLM(v, d_model=d, d_ff=d_ff, d_attention_key=dk,
                              d_attention_value=dv, n_layers=2, n_heads=h, max_len=max_len,
                              attention_type=LSH)
    block = (2 * d + h * d * dk + h * d * dv + h * dv * d            # LN, attention
             + 2 * d + d * d_ff + d_ff + d_ff * d + d)              # LN, feed-forward
    expected = v * d + max_len * d + 2 * block + 4 * d + (2 * d * v + v)
    weights, _ = jax.eval_shape(lambda: model.init_with_signature(
        ShapeDtype((2, 16), np.int32), jax.random.PRNGKey(0)))
    assert sum(int(np.prod(w.shape)) for w in jax.tree.leaves(weights)) == expected
    with pytest.raises(ValueError, match="predict"):
        models.ReformerLM(v, mode="predict")


def _small_reformer():
    return models.Reformer(10, output_vocab_size=11, d_model=8, d_ff=16, n_encoder_layers=1,
                           n_decoder_layers=1, n_heads=2, max_len=12, dropout=0.0)


def test_reformer_encoder_decoder_parameters():
    v, d, d_ff, max_len = 10, 8, 16, 12
    dense = lambda i, o: i * o + o
    ff = 2 * d + dense(d, d_ff) + dense(d_ff, d)
    encoder = v * d + max_len * d + (2 * d + 4 * dense(d, d)) + ff + 2 * d
    decoder = ((v + 1) * d + max_len * d + 2 * (2 * d + 4 * dense(d, d)) + ff + 2 * d
               + dense(d, v + 1))
    signature = (ShapeDtype((2, 5), np.int32), ShapeDtype((2, 4), np.int32))
    weights, _ = jax.eval_shape(lambda: _small_reformer().init_with_signature(
        signature, jax.random.PRNGKey(0)))
    assert sum(int(np.prod(w.shape)) for w in jax.tree.leaves(weights)) == encoder + decoder


@pytest.mark.slow  # compiles two reversible stacks' custom gradients (~15 s on 2 cores)
def test_reformer_encoder_decoder_gradients_flow_through_masks_and_encoder():
    v, model = 10, _small_reformer()
    weights, state = model.init((ShapeDtype((2, 5), np.int32), ShapeDtype((2, 4), np.int32)))
    source = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 1]])
    target = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])

    def loss(weights):
        (logits, targets), _ = model.pure_fn((source, target), weights, state)
        return jnp.sum(logits ** 2), (logits, targets)

    (_, (logits, targets)), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(weights)
    assert logits.shape == (2, 4, v + 1)
    np.testing.assert_array_equal(targets, target)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
