"""Tests for trax_rl.layers.attention against numpy softmax(QK^T / sqrt(d)) V."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trax_rl.layers import attention
from trax_rl.shapes import ShapeDtype

RNG = np.random.default_rng(0)
B, T, D, N_HEADS = 2, 5, 8, 2
X = RNG.normal(size=(B, T, D)).astype(np.float32)


def _np_attention(q, k, v, mask=None):
    scores = q.astype(np.float64) @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    return (probs / probs.sum(-1, keepdims=True)) @ v


def _np_multi_head(x_q, x_kv, dense, mask):
    """dense: the q, k, v and output `{"w", "b"}` weights, in that order."""
    q, k, v = (x @ np.asarray(d[0]) + np.asarray(d[1]) for d, x in
               zip(dense[:3], (x_q, x_kv, x_kv)))
    heads = [slice(h * D // N_HEADS, (h + 1) * D // N_HEADS) for h in range(N_HEADS)]
    out = np.concatenate([_np_attention(q[..., s], k[..., s], v[..., s], mask)
                          for s in heads], -1)
    return out @ np.asarray(dense[3][0]) + np.asarray(dense[3][1])


def _causal_dense(weights):
    """Serial(Branch(Serial(Dense, Split) x 3), DotProductCausalAttention, MergeHeads, Dense)."""
    return [branch[0] for branch in weights[0][1]] + [weights[3]]


def test_dot_product_attention_matches_numpy_with_mask():
    q, k, v = (RNG.normal(size=(B, 3, n, 4)).astype(np.float32) for n in (2, 6, 6))
    mask = RNG.uniform(size=(B, 1, 2, 6)) > 0.3
    mask[..., 0] = True  # Every query sees at least one key.
    out = attention.DotProductAttention(q, k, v, mask)
    np.testing.assert_allclose(out, _np_attention(q, k, v, mask), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(attention.DotProductAttention(q, k, v),
                               _np_attention(q, k, v), rtol=1e-5, atol=1e-6)


def test_causal_attention_matches_numpy_and_counts_parameters():
    layer = attention.CausalAttention(D, n_heads=N_HEADS)
    weights, state = layer.init(ShapeDtype(X.shape))
    assert sum(w.size for w in jax.tree.leaves(weights)) == 4 * (D * D + D)
    y, _ = layer.pure_fn(X, weights, state)
    causal = np.tril(np.ones((T, T), bool))
    np.testing.assert_allclose(y, _np_multi_head(X, X, _causal_dense(weights), causal),
                               rtol=1e-4, atol=1e-5)


def test_attention_with_padding_mask_matches_numpy():
    tokens = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]])
    mask, _ = attention.PaddingMask().pure_fn(tokens, ())
    assert mask.shape == (B, 1, 1, T)
    layer = attention.Attention(D, n_heads=N_HEADS)
    assert (layer.n_in, layer.n_out) == (2, 2)
    weights, state = layer.init((ShapeDtype(X.shape), ShapeDtype(mask.shape, bool)))
    (y, mask_out), _ = layer.pure_fn((X, mask), weights, state)
    np.testing.assert_array_equal(mask_out, mask)
    qkv = weights[1]  # Serial(Select, AttentionQKV(Parallel(Dense x 3), PureAttention, Dense))
    dense = list(qkv[0]) + [qkv[2]]
    np.testing.assert_allclose(y, _np_multi_head(X, X, dense, np.asarray(mask)[:, 0]),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("chunks", [[1] * T, [3, 1, 1]])
def test_causal_attention_predict_with_kv_cache_matches_full_sequence(chunks):
    train = attention.CausalAttention(D, n_heads=N_HEADS, mode="train")
    weights, state = train.init(ShapeDtype(X.shape))
    expected, _ = train.pure_fn(X, weights, state)
    predict = attention.CausalAttention(D, n_heads=N_HEADS, max_inference_length=8,
                                        mode="predict")
    predict_weights, state = predict.init(ShapeDtype((B, 1, D)))
    assert jax.tree.structure(predict_weights) == jax.tree.structure(weights)
    step = jax.jit(predict.pure_fn)
    outputs, start = [], 0
    for length in chunks:  # A prompt chunk first, then one token per call.
        y, state = step(X[:, start:start + length], weights, state)
        outputs.append(y)
        start += length
    np.testing.assert_allclose(np.concatenate(outputs, 1), expected, rtol=1e-5, atol=1e-5)


def test_positional_encoding_matches_formula_and_predict_mode():
    layer = attention.PositionalEncoding(max_len=16)
    weights, state = layer.init(ShapeDtype(X.shape))
    assert sum(w.size for w in jax.tree.leaves(weights)) == 16 * D
    y, _ = layer.pure_fn(X, weights, state)
    pos, i = np.arange(T)[:, None], np.arange(D)[None, :]
    angle = pos / 10000 ** ((i - i % 2) / D)
    expected = X + np.where(i % 2 == 0, np.sin(angle), np.cos(angle))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    predict = attention.PositionalEncoding(max_len=16, mode="predict")
    _, state = predict.init(ShapeDtype((B, 1, D)))
    outputs = []
    for t in range(T):
        out, state = predict.pure_fn(X[:, t:t + 1], weights, state)
        outputs.append(out)
    np.testing.assert_allclose(np.concatenate(outputs, 1), y, rtol=1e-6)
    assert int(state) == T


def test_shift_right_and_heads_round_trip():
    y, _ = attention.ShiftRight().pure_fn(X, ())
    np.testing.assert_array_equal(y[:, 1:], X[:, :-1])
    np.testing.assert_array_equal(y[:, 0], 0)
    np.testing.assert_array_equal(attention.ShiftRight(mode="predict").pure_fn(X, ())[0], X)
    split, _ = attention.SplitIntoHeads(N_HEADS).pure_fn(X, ())
    assert split.shape == (B * N_HEADS, T, D // N_HEADS)
    np.testing.assert_array_equal(split[1], X[0, :, D // N_HEADS:])
    np.testing.assert_array_equal(attention.MergeHeads(N_HEADS).pure_fn(split, ())[0], X)


def test_jit_and_grad_through_pure_fn_and_dropout_needs_rng():
    layer = attention.CausalAttention(D, n_heads=N_HEADS, dropout=0.1)
    weights, state = layer.init(ShapeDtype(X.shape))

    @jax.jit
    def loss(weights, x, rng):
        return jnp.sum(layer.pure_fn(x, weights, state, rng)[0] ** 2)

    grads = jax.grad(loss)(weights, X, jax.random.PRNGKey(1))
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    # Position 0 sees only itself, so its output cannot depend on later inputs.
    x_grad = jax.grad(lambda x: jnp.sum(layer.pure_fn(x, weights, state,
                                                       jax.random.PRNGKey(1))[0][:, 0]))(X)
    np.testing.assert_array_equal(x_grad[:, 1:], 0.0)
    with pytest.raises(Exception, match="rng"):
        layer.pure_fn(X, weights, state)
