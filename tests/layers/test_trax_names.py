"""Trax's public layer names, ported from Trax's own tests and docs (issue item 5).

Most cases are Trax's test cases with `trax` renamed; numerics are checked against
numpy written here.
"""

import numpy as np
import pytest
import scipy.special
import scipy.stats

from trax_rl import fastmath
from trax_rl import layers as tl
from trax_rl import shapes

RNG = np.random.RandomState(0)
X = RNG.randn(3, 4).astype(np.float32)


@pytest.mark.parametrize("layer, reference", [
    (tl.Relu(), lambda x: np.maximum(x, 0)),
    (tl.ParametricRelu(2.0), lambda x: np.maximum(2.0 * x, 0)),
    (tl.LeakyRelu(0.1), lambda x: np.where(x >= 0, x, 0.1 * x)),
    (tl.Elu(0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    (tl.Selu(), lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772
                                                          * np.expm1(x))),
    (tl.Gelu(), lambda x: x * 0.5 * (1 + scipy.special.erf(x / np.sqrt(2)))),
    (tl.FastGelu(), lambda x: 0.5 * x * (1 + np.tanh(x * 0.7978845608 * (1 + 0.044715 * x * x)))),
    (tl.Sigmoid(), scipy.special.expit),
    (tl.HardSigmoid(), lambda x: np.maximum(0, np.minimum(1, 1 + x))),
    (tl.HardTanh(), lambda x: np.clip(x, -1, 1)),
    (tl.Softplus(), lambda x: np.logaddexp(x, 0)),
    (tl.Exp(), np.exp),
    (tl.Log(), lambda x: np.log(np.abs(x))),
    (tl.Swish(), lambda x: x * scipy.special.expit(x)),
    (tl.Glu(), lambda x: x[:, :2] * scipy.special.expit(x[:, 2:])),
    (tl.Negate(), np.negative),
    (tl.ToFloat(), lambda x: x),
    (tl.LogSumExp(), lambda x: scipy.special.logsumexp(x, axis=-1, keepdims=True)),
    (tl.Min(), lambda x: x.min(-1)),
    (tl.Max(axis=0, keepdims=True), lambda x: x.max(0, keepdims=True)),
    (tl.ArgMax(), lambda x: x.argmax(-1)),
    (tl.ThresholdToBinary(0.1), lambda x: (x > 0.1).astype(np.int32)),
    (tl.StopGradient(), lambda x: x),
])
def test_weightless_layers_match_numpy_without_init(layer, reference):
    x = np.abs(X) if layer.name == "Log" else X
    np.testing.assert_allclose(layer(x), reference(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_thresholded_linear_unit_learns_a_threshold():
    layer = tl.ThresholdedLinearUnit()
    weights, _ = layer.init(shapes.signature(X))
    assert weights.shape == () and float(weights) == 0.0
    np.testing.assert_array_equal(layer(X), np.maximum(X, 0))
    grad = fastmath.grad(lambda w: layer.pure_fn(X, w, ())[0].sum())(np.float32(0.5))
    assert float(grad) == np.sum(X < 0.5)


def test_weights_and_random_uniform_take_no_inputs():
    layer = tl.Weights(tl.OnesInitializer(), shape=(2, 3))
    assert layer.n_in == 0
    weights, _ = layer.init(())
    np.testing.assert_array_equal(layer(()), np.ones((2, 3)))
    sample = tl.RandomUniform(2.0, 3.0, shape=(100,))(())
    assert sample.shape == (100,) and 2.0 <= float(sample.min()) and float(sample.max()) < 3.0
    assert weights.shape == (2, 3)


def test_core_math_helpers():
    np.testing.assert_array_equal(tl.one_hot(np.array([0, 2]), 3), [[1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(tl.log_softmax(X), scipy.special.log_softmax(X, -1), rtol=1e-5)
    mu, var = np.zeros(2, np.float32), np.array([1.0, 4.0], np.float32)
    x = np.array([1.0, 1.0], np.float32)
    expected = scipy.stats.multivariate_normal(mu, np.diag(var)).logpdf(x)
    np.testing.assert_allclose(tl.log_gaussian_diag_pdf(x, mu, var), expected, rtol=1e-5)
    np.testing.assert_allclose(tl.log_gaussian_pdf(x, mu, np.diag(var)), expected, rtol=1e-5)
    # One Gaussian with sigma = 1: the mixture loss is its log-density.
    preds = np.array([[0.0, 0.0, 0.0, 1.0, 1.0]], np.float32)  # logit, mu(2), sqrt var(2)
    np.testing.assert_allclose(tl.multigaussian_loss(preds, x[None]),
                               [scipy.stats.multivariate_normal(mu, np.eye(2) * (1 + 1e-6))
                                .logpdf(x)], rtol=1e-4)
    assert int(tl.logsoftmax_sample(np.log([[0.1, 0.9]]), 0.0)[0]) == 1


def test_locally_connected_1d_matches_traxs_algorithm_in_numpy():
    x = RNG.randn(2, 5, 3).astype(np.float32)
    for padding, n_out in [("VALID", 3), ("SAME", 5), ("WRAP", 5)]:
        layer = tl.LocallyConnected1d(4, 3, padding=padding)
        (w, b), _ = layer.init(shapes.signature(x))
        r = np.einsum("blp,lkpd->blkd", x, w)  # Per input position and kernel offset.
        expected = np.zeros((2, n_out, 4))
        for j in range(n_out):
            for i in range(3):
                # Trax's shifts: VALID reads position j + 2 - i, SAME/WRAP j - 1 + i.
                l = j + 2 - i if padding == "VALID" else j - 1 + i
                if padding == "WRAP":
                    l %= 5
                if 0 <= l < 5:
                    expected[:, j] += r[:, l, i]
        np.testing.assert_allclose(layer(x), expected + b, rtol=1e-4, atol=1e-5)


# --- Combinators (Trax's combinators_test.py). ---


def test_chunk_equals_the_unchunked_layer():
    layer = tl.Dense(4)
    x = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    layer.init(x)  # Trax accepts an array as its own signature.
    y = layer(x)
    np.testing.assert_allclose(tl.Chunk(layer, 1)(x), y, rtol=1e-5)
    np.testing.assert_allclose(tl.Chunk(layer, 3)(x), y, rtol=1e-5)  # Passes unchunkable.
    with pytest.raises(tl.LayerError, match="must divide"):
        tl.Chunk(layer, 3, pass_unchunkable=False)(x)


def test_serial_with_side_outputs():
    def some_layer():
        return tl.Parallel(tl.Fn("DivideBy", lambda x: x / 2.0),
                           tl.Fn("DivideBy", lambda x: x / 5.0))
    layer = tl.SerialWithSideOutputs([some_layer(), some_layer()])
    xs = (np.array([1.0, 2, 3]), np.array([10.0, 20, 30, 40, 50]), np.array([100.0, 200]))
    ys = layer(xs)
    assert [y.shape for y in ys] == [(3,), (5,), (2,)]
    np.testing.assert_allclose(ys[0], xs[0] / 4)
    np.testing.assert_allclose(ys[1], xs[1] / 5)  # First layer's side output, moved back.
    np.testing.assert_allclose(ys[2], xs[2] / 5)


def test_split_gate_subtract_flatten_list():
    a, b = tl.Split()(np.arange(4.0))
    np.testing.assert_array_equal(b, [2.0, 3.0])
    np.testing.assert_array_equal(tl.SubtractTop()((a, b)), b - a)
    m, g, c = np.ones(2), np.array([0.25, 1.0]), np.zeros(2)
    np.testing.assert_allclose(tl.Gate()((m, g, c)), [0.25, 1.0])
    assert len(tl.FlattenList()(((a, (b,)), [a]))) == 3


def test_batch_leading_axes():
    def f(x):
        assert len(x.shape) == 3
        return x
    layer = tl.BatchLeadingAxes(tl.Fn("Id3Dim", f), n_last_axes_to_keep=2)
    for shape in [(3, 4, 5), (2, 3, 4, 5), (1, 2, 3, 4, 5)]:
        assert layer(np.zeros(shape)).shape == shape
    dense = tl.BatchLeadingAxes(tl.Dense(2))
    weights, state = dense.init(shapes.ShapeDtype((2, 3, 4)))
    w, b = weights[0]
    x = RNG.randn(2, 3, 4).astype(np.float32)
    np.testing.assert_allclose(dense(x), x @ w + b, rtol=1e-5, atol=1e-6)


def test_bidirectional_gru_has_two_sets_of_weights():
    x = np.ones((2, 3, 8), np.float32)
    layer = tl.Bidirectional(tl.GRU(n_units=8))
    weights, _ = layer.init(shapes.signature(x))
    assert layer(x).shape == (2, 3, 16)
    n_gru = (8 + 8) * 3 * 8 + 3 * 8
    assert sum(w.size for w in __import__("jax").tree.leaves(weights)) == 2 * n_gru


def test_cache_runs_once():
    calls = []
    layer = tl.Cache(tl.Fn("Count", lambda x: (calls.append(1), x + 1)[1]))
    layer.init(shapes.ShapeDtype((2,)))
    np.testing.assert_array_equal(layer(np.zeros(2)), [1, 1])
    np.testing.assert_array_equal(layer(np.ones(2) * 5), [1, 1])  # The cached outputs.


# --- Metrics (Trax's metrics_test.py). ---


def test_accuracy_and_sequence_accuracy_as_in_trax():
    layer = tl.Accuracy()
    assert str(layer) == "Accuracy_in3"
    targets, weights = np.array([0, 1, 2]), np.array([1.0, 5.0, 2.0])
    outputs = np.array([[.2, .7, .1, 0.]] * 3)
    assert float(layer([outputs, targets, weights])) == pytest.approx(.625)
    binary = tl.Accuracy(classifier=tl.ThresholdToBinary())
    targets = np.array([[0, 0, 1, 1], [1, 1, 1, 0]])
    outputs = np.array([[.498, .499, .500, .501], [.502, .501, .500, .499]])
    assert float(binary([outputs, targets, np.ones_like(targets)])) == pytest.approx(.75)
    sequence = tl.SequenceAccuracy()
    targets = np.array([[0, 1, 0, 0], [1, 0, 1, 0]])
    weights = np.array([[1., 1., 1., 0.], [1., 1., 1., 0.]])
    outputs = np.array([[[.45, .55], [.2, .8], [.7, .3], [.6, .4]],
                        [[.3, .7], [.8, .2], [.1, .9], [.6, .4]]])
    assert float(sequence([outputs, targets, weights])) == pytest.approx(.5)


def test_f_scores_as_in_trax():
    outputs = np.eye(4)[[1, 1, 2, 1, 1]]  # predictions = [1, 1, 2, 1, 1]
    targets = np.array([1, 2, 2, 3, 1])
    assert float(tl.MacroAveragedFScore()([outputs, targets])) == pytest.approx(.333, abs=1e-3)
    assert float(tl.MacroAveragedFScore(initial_category_index=1)([outputs, targets])) == \
        pytest.approx(.444, abs=1e-3)
    assert float(tl.WeightedFScore()([outputs, targets])) == pytest.approx(.533, abs=1e-3)
    assert float(tl.WeightedFScore(initial_category_index=1)([outputs, targets])) == \
        pytest.approx(.533, abs=1e-3)


def test_loss_names_and_shapes_as_in_trax():
    for make, name in [(tl.L2Loss, "L2Loss_in3"), (tl.BinaryCrossEntropyLoss,
                                                   "BinaryCrossEntropyLoss_in3"),
                       (tl.CrossEntropyLoss, "CrossEntropyLoss_in3"),
                       (tl.BinaryCrossEntropySum, "BinaryCrossEntropySum_in3"),
                       (tl.CrossEntropySum, "CrossEntropySum_in3")]:
        assert str(make()) == name
    assert tl.BinaryCrossEntropyLoss()([np.ones((9, 1)) * 0.5] * 3).shape == ()
    log_probs = np.log(np.full((2, 3), 1 / 3))
    assert float(tl.CrossEntropySum()([log_probs, np.array([0, 1]), np.array([1.0, 2.0])])) \
        == pytest.approx(3 * np.log(3), rel=1e-5)


def test_weighted_category_cross_entropy_cutoff():
    logits = np.array([[0.0, 0.0], [10.0, 0.0]], np.float32)
    targets, weights = np.array([0, 0]), np.ones(2)
    ce = -scipy.special.log_softmax(logits, -1)[[0, 1], [0, 0]]
    got = tl.WeightedCategoryCrossEntropy(cutoff=0.1)([logits, targets, weights])
    np.testing.assert_allclose(got, np.mean(np.maximum(ce, 0.1) - 0.1), rtol=1e-5)


# --- Normalization, convolution, rnn, initializers. ---


def test_filter_response_norm():
    x = RNG.randn(2, 3, 3, 4).astype(np.float32)
    layer = tl.FilterResponseNorm(learn_epsilon=True)
    (gamma, beta, (eps,)), _ = layer.init(shapes.signature(x))
    expected = x / np.sqrt((x ** 2).mean((1, 2), keepdims=True) + 1e-6 + 1e-4)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-4)
    assert tl.FilterResponseNorm().init(shapes.signature(x))[0][2] == ()


def test_causal_conv_sees_only_the_past():
    x = RNG.randn(1, 6, 2).astype(np.float32)
    layer = tl.CausalConv(3, kernel_width=3)
    layer.init(shapes.signature(x))
    y = layer(x)
    x2 = x.copy()
    x2[:, 4:] += 1.0  # Changing the future leaves earlier outputs alone.
    np.testing.assert_allclose(layer(x2)[:, :4], y[:, :4], rtol=1e-6)
    assert y.shape == (1, 6, 3)
    depthwise = tl.CausalDepthwiseConv(kernel_size=2)
    w, _ = depthwise.init(shapes.signature(x))
    expected = x * w[0] + np.concatenate([np.zeros((1, 1, 2)), x[:, :-1]], 1) * w[1]
    np.testing.assert_allclose(depthwise(x), expected, rtol=1e-5, atol=1e-6)


def test_conv_transpose_undoes_a_stride_2_shape():
    x = np.ones((1, 3, 3, 2), np.float32)
    layer = tl.ConvTranspose(4, (2, 2), strides=(2, 2))
    (w, b), _ = layer.init(shapes.signature(x))
    y = layer(x)
    assert y.shape == (1, 6, 6, 4) and w.shape == (2, 2, 2, 4) and b.shape == (4,)
    # Stride 2 with a 2x2 kernel: each of the 9 ones-pixels spreads the whole kernel once.
    np.testing.assert_allclose(y.sum(), w.sum() * 9 + b.sum() * 36, rtol=1e-4)


def test_trax_rnn_blocks():
    x = np.ones((8, 1, 7, 9), np.float32)
    layer = tl.ConvGRUCell(9, kernel_size=(3, 3))
    layer.init(shapes.signature(x))
    assert layer(x).shape == x.shape
    sru = tl.SRU(7)
    assert str(sru) == "SRU_7"
    x = RNG.randn(8, 9, 7).astype(np.float32)
    sru.init(shapes.signature(x))
    assert sru(x).shape == x.shape
    c, c_last = tl.InnerSRUCell()((np.ones(2), np.full(2, 0.5), np.ones(2) * 4))
    np.testing.assert_allclose(c, [3.0, 3.0])


def test_sru_matches_numpy_recurrence():
    x = RNG.randn(2, 4, 3).astype(np.float32)
    sru = tl.SRU(3)
    weights, _ = sru.init(shapes.signature(x))
    w, b = weights[0][1][0]  # Serial -> Branch(Select, Parallel) -> Dense.
    r, f, y = np.split(x @ w + b, 3, axis=-1)
    r, f = scipy.special.expit(r), scipy.special.expit(f)
    c, hs = np.zeros((2, 3)), []
    for t in range(4):
        c = f[:, t] * c + (1 - f[:, t]) * y[:, t]
        hs.append(c * r[:, t] + x[:, t] * (1 - r[:, t]) * np.sqrt(3))
    np.testing.assert_allclose(sru(x), np.stack(hs, 1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make, variance", [
    (lambda: tl.GlorotNormalInitializer(), 2 / (300 + 200)),
    (lambda: tl.GlorotUniformInitializer(), 2 / (300 + 200)),
    (lambda: tl.LeCunNormalInitializer(), 1 / 300),
    (lambda: tl.LeCunUniformInitializer(), 1 / 300),
    (lambda: tl.KaimingNormalInitializer(), 2 / 300),
    (lambda: tl.KaimingUniformInitializer(), 2 / 300),
    (lambda: tl.ScaledInitializer(-1, -2, 3.0, "fan_out", "truncated_normal"), 3 / 200),
])
def test_scaled_initializers_have_traxs_variance(make, variance):
    w = np.asarray(make()((300, 200), fastmath.random.get_prng(0)))
    assert w.shape == (300, 200) and w.dtype == np.float32
    assert np.var(w) == pytest.approx(variance, rel=0.05)


def test_initializer_from_file_and_atari(tmp_path):
    path = str(tmp_path / "emb.npy")
    np.save(path, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(tl.InitializerFromFile(path)((2, 3), None),
                                  np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match="expected"):
        tl.InitializerFromFile(path)((3, 2), None)
    w = tl.AtariConvInit((8, 8, 4, 32), fastmath.random.get_prng(0))
    assert float(np.abs(w).max()) <= 1 / np.sqrt(4 * 8 * 8)
