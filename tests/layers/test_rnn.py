"""Tests for trax_rl.layers.rnn against numpy LSTM/GRU equations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trax_rl.layers import rnn
from trax_rl.shapes import ShapeDtype

RNG = np.random.default_rng(0)
B, T, D, H = 2, 5, 3, 4
XS = RNG.normal(size=(B, T, D)).astype(np.float32)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_lstm_step(x, carry, w, b):
    c, h = carry[:, :H], carry[:, H:]
    gates = np.concatenate([x, h], -1) @ w + b
    i, j, f, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(j)
    h = _sigmoid(o) * np.tanh(c)
    return h, np.concatenate([c, h], -1)


def _np_gru_step(x, h, weights):
    w1, b1, w2, b2 = (np.asarray(v, np.float64) for v in weights)  # Trax's layout.
    gates = _sigmoid(np.concatenate([x, h], -1) @ w1 + b1)
    u, r = gates[:, :H], gates[:, H:]
    candidate = np.tanh(np.concatenate([x, r * h], -1) @ w2 + b2)
    h = u * h + (1 - u) * candidate
    return h, h


def _np_scan(step, xs, carry, resets=None):
    ys = []
    for t in range(xs.shape[1]):
        if resets is not None:
            carry = np.where(resets[:, t, None], 0.0, carry)
        y, carry = step(xs[:, t], carry)
        ys.append(y)
    return np.stack(ys, 1), carry


def _lstm_weights(n_in=D):
    weights, _ = rnn.LSTMCell(H).init((ShapeDtype((B, n_in)), ShapeDtype((B, 2 * H))))
    return weights


def test_lstm_cell_matches_numpy_and_puts_forget_bias_on_forget_gate():
    cell = rnn.LSTMCell(H, forget_bias=1.0)
    weights, _ = cell.init((ShapeDtype((B, D)), ShapeDtype((B, 2 * H))))
    w, b = weights
    assert w.shape == (D + H, 4 * H)
    np.testing.assert_allclose(b[2 * H:3 * H], 1.0, atol=1e-4)
    np.testing.assert_allclose(b[:2 * H], 0.0, atol=1e-4)
    carry = RNG.normal(size=(B, 2 * H)).astype(np.float32)
    (y, new_carry), _ = cell.pure_fn((XS[:, 0], carry), weights)
    expected_y, expected_carry = _np_lstm_step(XS[:, 0], carry, np.asarray(w), np.asarray(b))
    np.testing.assert_allclose(y, expected_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_carry, expected_carry, rtol=1e-5, atol=1e-6)


def test_gru_cell_matches_numpy():
    cell = rnn.GRUCell(H)
    weights, _ = cell.init((ShapeDtype((B, D)), ShapeDtype((B, H))))
    h = RNG.normal(size=(B, H)).astype(np.float32)
    (y, new_h), _ = cell.pure_fn((XS[:, 0], h), weights)
    expected, _ = _np_gru_step(XS[:, 0], h, weights)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(y, new_h)


def test_lstm_and_gru_sequences_match_numpy_and_count_parameters():
    lstm = rnn.LSTM(H)
    weights, state = lstm.init(ShapeDtype(XS.shape))
    assert sum(w.size for w in jax.tree.leaves(weights)) == (D + H) * 4 * H + 4 * H
    assert str(lstm) == "LSTM_4"
    cell_w = weights[1][0]
    ys, _ = lstm.pure_fn(XS, weights, state)
    expected, _ = _np_scan(lambda x, c: _np_lstm_step(x, c, np.asarray(cell_w[0]),
                                                      np.asarray(cell_w[1])),
                           XS, np.zeros((B, 2 * H)))
    np.testing.assert_allclose(ys, expected, rtol=1e-5, atol=1e-5)

    gru = rnn.GRU(H)
    weights, state = gru.init(ShapeDtype(XS.shape))
    assert sum(w.size for w in jax.tree.leaves(weights)) == (D + H) * 3 * H + 3 * H
    ys, _ = gru.pure_fn(XS, weights, state)
    expected, _ = _np_scan(lambda x, h: _np_gru_step(x, h, weights[1][0]), XS,
                           np.zeros((B, H)))
    np.testing.assert_allclose(ys, expected, rtol=1e-5, atol=1e-5)


def test_lstm_initial_and_returned_state():
    layer = rnn.LSTM(H, initial_state=True, return_state=True)
    assert (layer.n_in, layer.n_out) == (2, 2)
    carry0 = RNG.normal(size=(B, 2 * H)).astype(np.float32)
    weights, state = layer.init((ShapeDtype(XS.shape), ShapeDtype(carry0.shape)))
    (ys, carry), _ = layer.pure_fn((XS, carry0), weights, state)
    cell_w = weights[0][0]  # Serial(Scan(cell)): no zero-state branch, no Select.
    expected_ys, expected_carry = _np_scan(
        lambda x, c: _np_lstm_step(x, c, np.asarray(cell_w[0]), np.asarray(cell_w[1])),
        XS, carry0)
    np.testing.assert_allclose(ys, expected_ys, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(carry, expected_carry, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [rnn.LSTM, rnn.GRU])
def test_predict_mode_one_step_per_call_matches_full_sequence(make):
    train = make(H)
    weights, train_state = train.init(ShapeDtype(XS.shape))
    expected, _ = train.pure_fn(XS, weights, train_state)
    predict = make(H, mode="predict")
    predict_weights, state = predict.init(ShapeDtype((B, 1, D)))
    # Weights trained in 'train' mode load into a 'predict' model as they are.
    assert jax.tree.structure(predict_weights) == jax.tree.structure(weights)
    step = jax.jit(predict.pure_fn)
    outputs = []
    for t in range(T):
        y, state = step(XS[:, t:t + 1], weights, state)
        outputs.append(y)
    np.testing.assert_allclose(np.concatenate(outputs, 1), expected, rtol=1e-5, atol=1e-6)


def test_resettable_lstm_matches_numpy_with_resets():
    layer = rnn.ResettableLSTM(H)
    resets = np.array([[False, False, True, False, True], [True, False, False, False, False]])
    carry0 = RNG.normal(size=(B, 2 * H)).astype(np.float32)
    weights, _ = layer.init((ShapeDtype(XS.shape), ShapeDtype(resets.shape, bool),
                             ShapeDtype(carry0.shape)))
    assert sum(w.size for w in jax.tree.leaves(weights)) == (D + H) * 4 * H + 4 * H
    (ys, carry), _ = layer.pure_fn((XS, resets, carry0), weights)
    w, b = (np.asarray(a) for a in weights[0])
    expected_ys, expected_carry = _np_scan(lambda x, c: _np_lstm_step(x, c, w, b), XS, carry0,
                                           resets)
    np.testing.assert_allclose(ys, expected_ys, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(carry, expected_carry, rtol=1e-5, atol=1e-5)
    # Row 0's episode running over steps 2-3 is the same as one started fresh there.
    (ys_fresh, _), _ = layer.pure_fn((XS[:, 2:4], np.zeros((B, 2), bool), 0 * carry0), weights)
    np.testing.assert_allclose(ys[0, 2:4], ys_fresh[0], rtol=1e-6, atol=1e-6)


def test_resettable_lstm_stepwise_rollout_reproduces_sequence_and_time_major():
    layer = rnn.ResettableLSTM(H)
    resets = np.array([[True, False, False, True, False], [True, True, False, False, False]])
    weights, _ = layer.init((ShapeDtype(XS.shape), ShapeDtype(resets.shape, bool),
                             ShapeDtype((B, 2 * H))))
    carry0 = np.zeros((B, 2 * H), np.float32)
    (ys, final), _ = layer.pure_fn((XS, resets, carry0), weights)
    step = jax.jit(layer.pure_fn)
    carry, outputs = carry0, []
    for t in range(T):  # Acting: one env step per call, carrying the carry by hand.
        (y, carry), _ = step((XS[:, t:t + 1], resets[:, t:t + 1], carry), weights)
        outputs.append(y)
    np.testing.assert_allclose(np.concatenate(outputs, 1), ys, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(carry, final, rtol=1e-6, atol=1e-6)
    time_major = rnn.ResettableLSTM(H, axis=0)
    (ys_tm, final_tm), _ = time_major.pure_fn(
        (XS.transpose(1, 0, 2), resets.T, carry0), weights)
    np.testing.assert_allclose(ys_tm.transpose(1, 0, 2), ys, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(final_tm, final, rtol=1e-6, atol=1e-6)
    # The one-step recipe without the layer: reset_carry, then the cell.
    (y0, _), _ = rnn.LSTMCell(H).pure_fn((XS[:, 0], rnn.reset_carry(carry, resets[:, 0])),
                                         weights[0])
    np.testing.assert_allclose(y0, ys[:, 0], rtol=1e-6, atol=1e-6)


def test_jit_and_grad_through_pure_fn():
    layer = rnn.ResettableLSTM(H)
    resets = np.zeros((B, T), bool)
    weights, _ = layer.init((ShapeDtype(XS.shape), ShapeDtype(resets.shape, bool),
                             ShapeDtype((B, 2 * H))))
    lstm = rnn.LSTM(H)
    lstm_weights, lstm_state = lstm.init(ShapeDtype(XS.shape))

    @jax.jit
    def losses(weights, lstm_weights):
        (ys, _), _ = layer.pure_fn((XS, resets, jnp.zeros((B, 2 * H))), weights)
        return jnp.sum(ys ** 2) + jnp.sum(lstm.pure_fn(XS, lstm_weights, lstm_state)[0] ** 2)

    grads = jax.grad(losses, argnums=(0, 1))(weights, lstm_weights)
    # Same weights, same inputs, no resets: both paths give the same gradient.
    lstm_grads = jax.grad(losses, argnums=(0, 1))(lstm_weights[1], lstm_weights)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                 lstm_grads[0], lstm_grads[1][1])
    assert all(np.all(np.isfinite(g)) and np.any(g != 0) for g in jax.tree.leaves(grads))
