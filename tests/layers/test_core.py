"""Core layers against numpy references, the seed's walkthrough, and LayerError."""

import jax
import numpy as np
import pytest

import trax_rl
from trax_rl import layers as tl
from trax_rl import shapes


def test_seed_embedding_and_sentiment_model(capsys):
    x = np.arange(15)
    embedding = tl.Embedding(vocab_size=20, d_feature=32)
    embedding.init(trax_rl.shapes.signature(x))
    y = embedding(x)
    assert y.shape == (15, 32)
    np.testing.assert_array_equal(y, np.asarray(embedding.weights)[x])
    model = tl.Serial(
        tl.Embedding(vocab_size=8192, d_feature=256),
        tl.Mean(axis=1),
        tl.Dense(2),
        tl.LogSoftmax(),
    )
    print(model)
    assert capsys.readouterr().out == (
        "Serial[\n  Embedding_8192_256\n  Mean\n  Dense_2\n  LogSoftmax\n]\n")
    weights, _ = model.init(shapes.ShapeDtype((3, 7), np.int32))
    assert sum(w.size for w in jax.tree.leaves(weights)) == 8192 * 256 + 256 * 2 + 2
    tokens = np.random.RandomState(0).randint(0, 8192, size=(3, 7))
    emb, dense = np.asarray(weights[0]), weights[2]
    logits = emb[tokens].mean(axis=1) @ np.asarray(dense[0]) + np.asarray(dense[1])
    expected = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(model(tokens), expected, rtol=1e-5, atol=1e-5)


def test_dense_matches_numpy():
    layer = tl.Dense(5)
    x = np.random.RandomState(0).randn(4, 3).astype(np.float32)
    weights, _ = layer.init(shapes.signature(x))
    w, b = weights
    assert w.shape == (3, 5) and b.shape == (5,)
    np.testing.assert_allclose(layer(x), x @ w + b, rtol=1e-5, atol=1e-6)


def test_orthogonal_initializer_gain():
    layer = tl.Dense(4, kernel_initializer=tl.OrthogonalInitializer(gain=np.sqrt(2)))
    weights, _ = layer.init(shapes.ShapeDtype((1, 4)))
    w = np.asarray(weights[0])
    np.testing.assert_allclose(w.T @ w, 2.0 * np.eye(4), atol=1e-5)


@pytest.mark.parametrize("layer, reference", [
    (tl.Relu(), lambda x: np.maximum(x, 0)),
    (tl.Tanh(), np.tanh),
    (tl.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (tl.Elu(), lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    (tl.LeakyRelu(0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    (tl.Softplus(), lambda x: np.log1p(np.exp(x))),
    (tl.Gelu(), lambda x: 0.5 * x * (1 + np.vectorize(__import__("math").erf)(x / np.sqrt(2)))),
    (tl.Softmax(), lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    (tl.LogSoftmax(), lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True))),
    (tl.Mean(axis=0), lambda x: x.mean(axis=0)),
    (tl.Sum(axis=1), lambda x: x.sum(axis=1)),
    (tl.Flatten(), lambda x: x.reshape(x.shape[0], -1)),
])
def test_weightless_layers_match_numpy(layer, reference):
    x = np.random.RandomState(1).randn(3, 4).astype(np.float32)
    layer.init(shapes.signature(x))
    np.testing.assert_allclose(layer(x), reference(x), rtol=1e-5, atol=1e-6)


def test_dropout_modes():
    x = np.ones((1000,), np.float32)
    train = tl.Dropout(rate=0.25, mode="train")
    y = train.pure_fn(x, (), (), jax.random.PRNGKey(0))[0]
    kept = np.asarray(y) != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(np.asarray(y)[kept], 1 / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(tl.Dropout(0.25, mode="eval").pure_fn(x, (), ())[0], x)
    with pytest.raises(ValueError, match="rate must be in"):
        tl.Dropout(1.5)
    with pytest.raises(ValueError, match="mode must be one of"):
        tl.Dropout(0.1, mode="training")


def test_layer_error_names_layer_site_and_shapes():
    layer = tl.Serial(tl.Dense(4), tl.Dense(2))
    layer.init(shapes.ShapeDtype((2, 3)))
    with pytest.raises(tl.LayerError) as info:
        layer(np.ones((2, 5), np.float32))
    message = str(info.value)
    assert "Dense_4" in message
    assert "test_core.py" in message
    assert "(2, 5)" in message and "last dimension 3" in message


def test_uninitialized_layer_says_how_to_fix():
    with pytest.raises(ValueError, match=r"call layer.init"):
        tl.Dense(2)(np.ones((1, 2), np.float32))


def test_output_signature_is_abstract():
    model = tl.Serial(tl.Embedding(100, 8), tl.Mean(axis=1), tl.Dense(3))
    out = model.output_signature(shapes.ShapeDtype((5, 9), np.int32))
    assert out == shapes.ShapeDtype((5, 3), np.float32)
