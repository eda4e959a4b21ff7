"""Tests for trax_rl.layers.attention against numpy softmax(QK^T / sqrt(d)) V, and its
predict-mode state: per-row positions, reordering, cached encoder projections, overflow."""

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
    np.testing.assert_array_equal(state.index, [T] * B)


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


def test_predict_mode_rows_at_different_positions_match_their_own_full_sequences():
    train = attention.CausalAttention(D, n_heads=N_HEADS, mode="eval")
    weights, state = train.init(ShapeDtype(X.shape))
    expected, _ = train.pure_fn(X, weights, state)
    predict = attention.CausalAttention(D, n_heads=N_HEADS, max_inference_length=8,
                                        mode="predict")
    _, state = predict.init(ShapeDtype((B, 1, D)))
    # A right-padded prompt chunk of 3; row 0's prompt has length 1, row 1's length 3.
    lengths = np.array([1, 3])
    padded = np.where(np.arange(3)[None, :, None] < lengths[:, None, None], X[:, :3], 99.0)
    y, state = predict.pure_fn(padded.astype(np.float32), weights, state)
    np.testing.assert_allclose(y[1], expected[1, :3], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y[0, :1], expected[0, :1], rtol=1e-5, atol=1e-5)
    state = attention.set_decoding_positions(state, lengths)
    # Row b now takes its own next token, X[b, lengths[b]].
    y, state = predict.pure_fn(X[np.arange(B), lengths][:, None], weights, state)
    np.testing.assert_allclose(y[:, 0], expected[np.arange(B), lengths], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(state[1].index, lengths + 1)


def test_reorder_decoding_state_swaps_rows_and_keeps_flags():
    predict = attention.CausalAttention(D, n_heads=N_HEADS, max_inference_length=8,
                                        mode="predict")
    weights, state = predict.init(ShapeDtype((B, 1, D)))
    _, state = predict.pure_fn(X[:, :2], weights, state)
    state = attention.set_decoding_positions(state, [2, 1])
    flipped = attention.reorder_decoding_state((state, jnp.ones((), bool)), [1, 0])
    cache = flipped[0][1]  # Serial(Branch, DotProductCausalAttention, ...)'s state
    np.testing.assert_array_equal(cache.keys, state[1].keys[::-1])
    np.testing.assert_array_equal(cache.index, [1, 2])
    assert flipped[1].shape == ()
    # Rows repeated (beam search expands each example into beams).
    repeated = attention.reorder_decoding_state(state, [0, 0, 1, 1])
    assert repeated[1].keys.shape[0] == 4


def test_decoding_past_max_len_is_an_error_not_a_clamp():
    predict = attention.CausalAttention(D, n_heads=N_HEADS, max_inference_length=4,
                                        mode="predict")
    weights, state = predict.init(ShapeDtype((B, 1, D)))
    _, state = predict.pure_fn(X[:, :4], weights, state)
    with pytest.raises(Exception, match="past max_len=4"):
        predict.pure_fn(X[:, 4:5], weights, state)
    # Under jit nothing can be raised: the rows past the end come out NaN, not clamped.
    y, _ = jax.jit(predict.pure_fn)(X[:, 4:5], weights, state)
    assert np.all(np.isnan(y))
    assert attention.decoding_capacity(predict) == 4
    encoding = attention.PositionalEncoding(max_len=4, mode="predict")
    weights, state = encoding.init(ShapeDtype((B, 1, D)))
    with pytest.raises(Exception, match="past max_len=4"):
        encoding.pure_fn(X, weights, state)


def test_fixed_sinusoids_have_no_weights_and_equal_the_initial_table():
    fixed = attention.PositionalEncoding(max_len=16, trainable=False)
    weights, state = fixed.init(ShapeDtype(X.shape))
    assert jax.tree.leaves(weights) == []
    learned = attention.PositionalEncoding(max_len=16)
    learned_weights, _ = learned.init(ShapeDtype(X.shape))
    np.testing.assert_allclose(fixed.pure_fn(X, weights, state)[0],
                               learned.pure_fn(X, learned_weights, ())[0], rtol=1e-6)


def test_encoder_decoder_mask_and_cached_kv_projections():
    tokens = np.array([[3, 1, 0], [2, 7, 1]])
    pad, _ = attention.PaddingMask().pure_fn(tokens, ())
    mask, _ = attention.EncoderDecoderMask().pure_fn((X, pad), ())
    assert mask.shape == (B, 1, T, 3)
    np.testing.assert_array_equal(mask[0, 0], np.tile([True, True, False], (T, 1)))
    with pytest.raises(Exception, match="batch, length"):
        attention.PaddingMask().pure_fn(X, ())
    memory = RNG.normal(size=(B, 3, D)).astype(np.float32)
    layer = attention.AttentionQKV(D, n_heads=N_HEADS, mode="eval")
    weights, state = layer.init((ShapeDtype(X.shape),) + (ShapeDtype(memory.shape),) * 2
                                + (ShapeDtype(mask.shape, bool),))
    expected, _ = layer.pure_fn((X, memory, memory, mask), weights, state)
    cached = attention.AttentionQKV(D, n_heads=N_HEADS, mode="predict", cache_KV_in_predict=True)
    cached_weights, state = cached.init((ShapeDtype((B, 1, D)),) + (ShapeDtype(memory.shape),) * 2
                                        + (ShapeDtype((B, 1, 1, 3), bool),))
    assert jax.tree.structure(cached_weights) == jax.tree.structure(weights)
    step = jax.jit(cached.pure_fn)
    outputs = []
    for t in range(T):
        # After the first step the keys/values come from the cache, not from `memory`.
        kv = memory if t == 0 else np.zeros_like(memory)
        (y, _), state = step((X[:, t:t + 1], kv, kv, mask[:, :, t:t + 1]), weights, state)
        outputs.append(y)
    np.testing.assert_allclose(np.concatenate(outputs, 1), expected[0], rtol=1e-5, atol=1e-5)
