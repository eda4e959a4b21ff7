"""Losses and metrics as layers, with Trax's names, arities and argument conventions.

Unweighted layers take `(model_output, targets)` (n_in=2); weighted ones take
`(model_output, targets, weights)` (n_in=3) and return `sum(weights * x) / sum(weights)`.
Every one outputs a scalar. Category layers read `model_output` as logits over the last
axis; since `log_softmax` of log-probabilities is the identity, log-probabilities work too.
`CrossEntropyLoss` and `CrossEntropySum` take log-probabilities, `BinaryCrossEntropyLoss`
probabilities, as in Trax. `Accuracy` / `SequenceAccuracy` take
`(model_output, targets, weights)` and a `classifier` layer (ArgMax by default).
"""

import jax
from jax import numpy as jnp

from trax_rl.layers import base
from trax_rl.layers import combinators as cb
from trax_rl.layers import core


def _check_same_shape(a, b, what):
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{what} must have the same shape, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")


def _weighted_mean(values, weights):
    return jnp.sum(values * weights) / jnp.sum(weights)


def _category_cross_entropy(model_output, targets, label_smoothing, cutoff=0.0):
    """Per-item `-sum_i p_i log softmax(model_output)_i`, p = (smoothed) one-hot(targets);
    with `cutoff > 0`, `max(ce, cutoff) - cutoff` (Trax)."""
    if tuple(model_output.shape[:-1]) != tuple(targets.shape):
        raise ValueError(f"targets must have model_output's shape without its last axis, "
                         f"got model_output {tuple(model_output.shape)} and targets "
                         f"{tuple(targets.shape)}")
    n_categories = model_output.shape[-1]
    target_distributions = jax.nn.one_hot(targets, n_categories, dtype=model_output.dtype)
    if label_smoothing:
        target_distributions = (target_distributions * (1.0 - label_smoothing)
                                + label_smoothing / n_categories)
    log_probs = jax.nn.log_softmax(model_output, axis=-1)
    cross_entropy = -jnp.sum(target_distributions * log_probs, axis=-1)
    return jnp.maximum(cross_entropy, cutoff) - cutoff if cutoff > 0.0 else cross_entropy


def _check_label_smoothing(label_smoothing):
    if label_smoothing is not None and not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")


def CategoryCrossEntropy(label_smoothing=None):  # pylint: disable=invalid-name
    """Mean over items of `-sum_i p_i log q_i`, `q = softmax(model_output)`.

    `p` is `one_hot(targets)`, or `(1 - eps) * one_hot(targets) + eps / N` with
    `eps = label_smoothing` over `N` categories.
    """
    _check_label_smoothing(label_smoothing)

    def f(model_output, targets):
        return jnp.mean(_category_cross_entropy(model_output, targets, label_smoothing))
    return base.Fn("CategoryCrossEntropy", f)


def WeightedCategoryCrossEntropy(label_smoothing=None, cutoff=0.0):  # pylint: disable=invalid-name
    """`CategoryCrossEntropy` averaged with `weights`: sum(w * ce) / sum(w).

    With `cutoff > 0` each item's cross-entropy is `max(ce, cutoff) - cutoff` (Trax).
    """
    _check_label_smoothing(label_smoothing)

    def f(model_output, targets, weights):
        return _weighted_mean(
            _category_cross_entropy(model_output, targets, label_smoothing, cutoff), weights)
    return base.Fn("WeightedCategoryCrossEntropy", f)


def _correct(model_output, targets):
    predictions = jnp.argmax(model_output, axis=-1)
    _check_same_shape(predictions, targets, "argmax(model_output) and targets")
    return jnp.equal(predictions, targets).astype(jnp.float32)


def CategoryAccuracy():  # pylint: disable=invalid-name
    """Fraction of items whose argmax over the last axis equals the target."""
    return base.Fn("CategoryAccuracy", lambda y, t: jnp.mean(_correct(y, t)))


def WeightedCategoryAccuracy():  # pylint: disable=invalid-name
    """Weighted fraction of correct argmax predictions: sum(w * correct) / sum(w)."""
    return base.Fn("WeightedCategoryAccuracy",
                   lambda y, t, w: _weighted_mean(_correct(y, t), w))


def MaskedSequenceAccuracy():  # pylint: disable=invalid-name
    """Fraction of sequences (last target axis) right at every position of nonzero weight."""
    def f(model_output, targets, weights):
        predictions = jnp.argmax(model_output, axis=-1)
        _check_same_shape(predictions, targets, "argmax(model_output) and targets")
        ok = jnp.logical_or(jnp.equal(predictions, targets), jnp.equal(weights, 0))
        return jnp.mean(jnp.all(ok, axis=-1).astype(jnp.float32))
    return base.Fn("MaskedSequenceAccuracy", f)


def BinaryCrossEntropy():  # pylint: disable=invalid-name
    """Mean of `-(t log q + (1 - t) log(1 - q))`, `q = sigmoid(model_output)`."""
    def f(model_output, targets):
        # log_sigmoid(-x) = log(1 - sigmoid(x)), without Trax's overflow for large |x|.
        return -jnp.mean(targets * jax.nn.log_sigmoid(model_output)
                         + (1 - targets) * jax.nn.log_sigmoid(-model_output))
    return base.Fn("BinaryCrossEntropy", f)


def _elementwise_weighted_loss(name, elementwise):
    def f(model_output, targets, weights):
        _check_same_shape(model_output, targets, "model_output and targets")
        _check_same_shape(model_output, weights, "model_output and weights")
        return _weighted_mean(elementwise(model_output - targets), weights)
    return base.Fn(name, f)


def L2Loss():  # pylint: disable=invalid-name
    """Weighted mean squared error: sum(w * (y - t)^2) / sum(w)."""
    return _elementwise_weighted_loss("L2Loss", jnp.square)


def L1Loss():  # pylint: disable=invalid-name
    """Weighted mean absolute error: sum(w * |y - t|) / sum(w)."""
    return _elementwise_weighted_loss("L1Loss", jnp.abs)


def SmoothL1Loss():  # pylint: disable=invalid-name
    """Weighted Huber loss (delta 1): 0.5 d^2 where |d| < 1, else |d| - 0.5; d = y - t."""
    def huber(d):
        d = jnp.abs(d)
        return jnp.where(d < 1, 0.5 * d ** 2, d - 0.5)
    return _elementwise_weighted_loss("SmoothL1Loss", huber)


def _f_scores(model_output, targets, beta, initial_category_index):
    """Per-category F_beta and target counts, for categories from `initial_category_index`.

    F_beta = (1 + b^2) TP / (b^2 (TP + FN) + TP + FP); a category absent from both
    predictions and targets scores 0 (Trax's `_non_nan`).
    """
    predictions = jnp.argmax(model_output, axis=-1)
    _check_same_shape(predictions, targets, "argmax(model_output) and targets")
    categories = jnp.arange(initial_category_index, model_output.shape[-1])
    predicted = jnp.equal(predictions.reshape(-1, 1), categories)  # (items, categories)
    actual = jnp.equal(targets.reshape(-1, 1), categories)
    true_pos = jnp.sum(predicted & actual, axis=0)
    n_targets = jnp.sum(actual, axis=0)
    denominator = beta ** 2 * n_targets + jnp.sum(predicted, axis=0)
    scores = (1 + beta ** 2) * true_pos / jnp.where(denominator > 0, denominator, 1)
    return scores, n_targets


def MacroAveragedFScore(beta=1.0, initial_category_index=0):  # pylint: disable=invalid-name
    """Unweighted mean over categories of F_beta (see `_f_scores`).

    Categories below `initial_category_index` (e.g. padding) are skipped.
    """
    def f(model_output, targets):
        return jnp.mean(_f_scores(model_output, targets, beta, initial_category_index)[0])
    return base.Fn("MacroAveragedFScore", f)


def WeightedFScore(beta=1.0, initial_category_index=0):  # pylint: disable=invalid-name
    """Mean over categories of F_beta, weighted by each category's number of targets."""
    def f(model_output, targets):
        scores, n_targets = _f_scores(model_output, targets, beta, initial_category_index)
        return jnp.sum(scores * n_targets) / jnp.sum(n_targets)
    return base.Fn("WeightedFScore", f)


def WeightedSum():  # pylint: disable=invalid-name
    """sum(values * weights)."""
    return base.Fn("WeightedSum", lambda values, weights: jnp.sum(values * weights))


def _picked_log_prob_loss(log_probs, targets, weights):
    picked = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    return _weighted_mean(-picked, weights)


def CrossEntropyLoss():  # pylint: disable=invalid-name
    """Trax's older loss on LOG-PROBABILITIES (no softmax inside), weighted mean over items.

    Prefer `WeightedCategoryCrossEntropy`, which takes logits or log-probabilities.
    """
    return base.Fn("CrossEntropyLoss", _picked_log_prob_loss)


def CrossEntropyLossWithLogSoftmax():  # pylint: disable=invalid-name
    """`CrossEntropyLoss` with a log-softmax in front: takes logits."""
    return base.Fn("CrossEntropyLossWithLogSoftmax",
                   lambda y, t, w: _picked_log_prob_loss(jax.nn.log_softmax(y, axis=-1), t, w))


def _Accuracy():  # pylint: disable=invalid-name
    return base.Fn("_Accuracy", lambda predicted, target: jnp.equal(predicted, target)
                   .astype(jnp.float32))


def _WeightedMean():  # pylint: disable=invalid-name
    return base.Fn("_WeightedMean", _weighted_mean)


def _WeightedSequenceMean():  # pylint: disable=invalid-name
    """Fraction of sequences (batch axis 0) with no weighted incorrect position."""
    def f(values, weights):
        not_correct = (1.0 - values) * weights
        per_sequence = jnp.sum(not_correct, axis=tuple(range(1, not_correct.ndim)))
        return jnp.mean(1.0 - jnp.minimum(1.0, per_sequence))
    return base.Fn("_WeightedSequenceMean", f)


def Accuracy(classifier=None):  # pylint: disable=invalid-name
    """`(model_output, targets, weights)` -> weighted fraction where
    `classifier(model_output) == targets` (classifier: `ArgMax()` by default)."""
    return cb.Serial(classifier or core.ArgMax(), _Accuracy(), _WeightedMean(),
                     name="Accuracy", sublayers_to_print=[])


def SequenceAccuracy(classifier=None):  # pylint: disable=invalid-name
    """`(model_output, targets, weights)` -> fraction of sequences right at every
    position of nonzero weight (classifier: `ArgMax()` by default)."""
    return cb.Serial(classifier or core.ArgMax(), _Accuracy(), _WeightedSequenceMean(),
                     name="SequenceAccuracy", sublayers_to_print=[])


def _BinaryCrossEntropy():  # pylint: disable=invalid-name
    """Trax's `-(t . log p + (1 - t) . log(1 - p)) / batch` on probabilities `p`."""
    def f(model_output, targets):
        _check_same_shape(model_output, targets, "model_output and targets")
        j = jnp.dot(jnp.transpose(targets), jnp.log(model_output))
        j += jnp.dot(jnp.transpose(1 - targets), jnp.log(1 - model_output))
        return -1.0 / model_output.shape[0] * jnp.squeeze(j)
    return base.Fn("_BinaryCrossEntropy", f)


def BinaryCrossEntropyLoss():  # pylint: disable=invalid-name
    """Trax's binary cross-entropy on PROBABILITIES, as a `(p, t, weights)` loss."""
    return cb.Serial(_BinaryCrossEntropy(), _WeightedMean(),
                     name="BinaryCrossEntropyLoss", sublayers_to_print=[])


def _CrossEntropy():  # pylint: disable=invalid-name
    return base.Fn("_CrossEntropy", lambda log_probs, targets: -jnp.sum(
        log_probs * core.one_hot(targets, log_probs.shape[-1]), axis=-1))


def CrossEntropySum():  # pylint: disable=invalid-name
    """`sum(weights * -log_probs[targets])` on log-probabilities."""
    return cb.Serial(_CrossEntropy(), WeightedSum(), name="CrossEntropySum",
                     sublayers_to_print=[])


def BinaryCrossEntropySum():  # pylint: disable=invalid-name
    """`_BinaryCrossEntropy` times the weights, summed (Trax)."""
    return cb.Serial(_BinaryCrossEntropy(), WeightedSum(), name="BinaryCrossEntropySum",
                     sublayers_to_print=[])
