"""Tests for trax_rl.layers.metrics against numpy / scipy formulas."""

import jax
import numpy as np
import pytest
import scipy.special

from trax_rl.layers import metrics
from trax_rl.shapes import ShapeDtype

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(2, 3, 4)).astype(np.float32)
TARGETS = np.array([[0, 3, 1], [2, 2, 0]])
WEIGHTS = np.array([[1.0, 0.0, 2.0], [0.5, 1.0, 0.0]], np.float32)


def _apply(layer, *inputs):
    return float(layer.pure_fn(tuple(inputs), ())[0])


def _np_cross_entropy(logits, targets, smoothing=0.0):
    log_probs = logits - scipy.special.logsumexp(logits.astype(np.float64), -1, keepdims=True)
    n = logits.shape[-1]
    p = np.eye(n)[targets] * (1 - smoothing) + smoothing / n
    return -(p * log_probs).sum(-1)


@pytest.mark.parametrize("smoothing", [None, 0.1])
def test_cross_entropies_match_numpy(smoothing):
    ce = _np_cross_entropy(LOGITS, TARGETS, smoothing or 0.0)
    np.testing.assert_allclose(
        _apply(metrics.CategoryCrossEntropy(smoothing), LOGITS, TARGETS), ce.mean(), rtol=1e-5)
    np.testing.assert_allclose(
        _apply(metrics.WeightedCategoryCrossEntropy(smoothing), LOGITS, TARGETS, WEIGHTS),
        (ce * WEIGHTS).sum() / WEIGHTS.sum(), rtol=1e-5)


def test_weighted_cross_entropy_accepts_log_probs_and_old_trax_losses_agree():
    log_probs = np.asarray(jax.nn.log_softmax(LOGITS))
    from_logits = _apply(metrics.WeightedCategoryCrossEntropy(), LOGITS, TARGETS, WEIGHTS)
    assert from_logits == pytest.approx(
        _apply(metrics.WeightedCategoryCrossEntropy(), log_probs, TARGETS, WEIGHTS), rel=1e-6)
    assert from_logits == pytest.approx(
        _apply(metrics.CrossEntropyLoss(), log_probs, TARGETS, WEIGHTS), rel=1e-6)
    assert from_logits == pytest.approx(
        _apply(metrics.CrossEntropyLossWithLogSoftmax(), LOGITS, TARGETS, WEIGHTS), rel=1e-6)


def test_accuracies_match_numpy():
    correct = (LOGITS.argmax(-1) == TARGETS).astype(np.float64)
    assert _apply(metrics.CategoryAccuracy(), LOGITS, TARGETS) == pytest.approx(correct.mean())
    assert _apply(metrics.WeightedCategoryAccuracy(), LOGITS, TARGETS, WEIGHTS) == \
        pytest.approx((correct * WEIGHTS).sum() / WEIGHTS.sum())
    sequence_ok = np.all((correct == 1) | (WEIGHTS == 0), axis=-1)
    assert _apply(metrics.MaskedSequenceAccuracy(), LOGITS, TARGETS, WEIGHTS) == \
        pytest.approx(sequence_ok.mean())


def test_regression_losses_match_numpy():
    y = RNG.normal(size=(3, 4)).astype(np.float32) * 2
    t = RNG.normal(size=(3, 4)).astype(np.float32)
    w = RNG.uniform(size=(3, 4)).astype(np.float32)
    d = y - t
    huber = np.where(np.abs(d) < 1, 0.5 * d ** 2, np.abs(d) - 0.5)
    for layer, elementwise in [(metrics.L2Loss(), d ** 2), (metrics.L1Loss(), np.abs(d)),
                               (metrics.SmoothL1Loss(), huber)]:
        assert _apply(layer, y, t, w) == pytest.approx((w * elementwise).sum() / w.sum(),
                                                       rel=1e-5)
    with pytest.raises(Exception, match="same shape"):
        metrics.L2Loss().pure_fn((y, t, w[0]), ())


def test_binary_cross_entropy_matches_numpy_and_stays_finite():
    x = np.array([-3.0, 0.5, 2.0, 40.0], np.float32)
    t = np.array([0.0, 1.0, 1.0, 0.0], np.float32)
    q = scipy.special.expit(x[:3].astype(np.float64))
    naive = -(t[:3] * np.log(q) + (1 - t[:3]) * np.log(1 - q))
    # -log(1 - sigmoid(40)) = log(1 + e^40), where the naive formula overflows to inf.
    expected = (naive.sum() + np.logaddexp(0.0, 40.0)) / 4
    assert _apply(metrics.BinaryCrossEntropy(), x, t) == pytest.approx(expected, rel=1e-5)


def test_macro_averaged_f_score_matches_per_class_formula():
    logits = np.eye(4, dtype=np.float32)[[0, 1, 1, 2, 0, 1]]
    predictions = logits.argmax(-1)
    targets = np.array([0, 1, 2, 2, 1, 1])
    scores = []
    for k in range(4):  # Category 3 is in neither: F = 0/0 counts as 0, as in Trax.
        tp = np.sum((predictions == k) & (targets == k))
        denominator = np.sum(targets == k) + np.sum(predictions == k)
        scores.append(2 * tp / denominator if denominator else 0.0)
    assert _apply(metrics.MacroAveragedFScore(), logits, targets) == \
        pytest.approx(np.mean(scores))


def test_names_arities_and_no_parameters():
    layer = metrics.WeightedCategoryCrossEntropy()
    assert str(layer) == "WeightedCategoryCrossEntropy_in3"
    assert (layer.n_in, layer.n_out) == (3, 1)
    assert metrics.CategoryCrossEntropy().n_in == 2 and metrics.L2Loss().n_in == 3
    assert str(metrics.CategoryAccuracy()) == "CategoryAccuracy_in2"
    weights, state = layer.init((ShapeDtype(LOGITS.shape), ShapeDtype(TARGETS.shape, np.int32),
                                 ShapeDtype(WEIGHTS.shape)))
    assert jax.tree.leaves(weights) == [] and jax.tree.leaves(state) == []
    with pytest.raises(ValueError, match="label_smoothing"):
        metrics.CategoryCrossEntropy(label_smoothing=1.5)


def test_jit_and_grad_through_pure_fn():
    layer = metrics.WeightedCategoryCrossEntropy()

    @jax.jit
    def loss(logits):
        return layer.pure_fn((logits, TARGETS, WEIGHTS), ())[0]

    grad = jax.grad(loss)(LOGITS)
    expected = (scipy.special.softmax(LOGITS, -1) - np.eye(4)[TARGETS]) * \
        WEIGHTS[..., None] / WEIGHTS.sum()
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)
