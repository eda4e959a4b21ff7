"""save_to_file / init_from_file: exact round trips and clear errors for the wrong model."""

import jax
import numpy as np
import pytest

from trax_rl import checkpoint
from trax_rl import layers as tl
from trax_rl import shapes


def _model():
    return tl.Serial(tl.Embedding(50, 8), tl.Mean(axis=1), tl.Dense(3), tl.LogSoftmax())


def test_round_trip_is_bit_exact(tmp_path):
    sig = shapes.ShapeDtype((2, 5), np.int32)
    model = _model()
    model.init(sig, rng=jax.random.PRNGKey(3))
    path = str(tmp_path / "model.ckpt")
    model.save_to_file(path)
    fresh = _model()
    fresh.init_from_file(path, input_signature=sig)
    for a, b in zip(jax.tree.leaves(model.weights), jax.tree.leaves(fresh.weights)):
        np.testing.assert_array_equal(a, b)
    tokens = np.arange(10).reshape(2, 5)
    np.testing.assert_array_equal(model(tokens), fresh(tokens))


def test_weights_only_from_a_full_file(tmp_path):
    sig = shapes.ShapeDtype((2, 5), np.int32)
    model = _model()
    model.init(sig)
    path = str(tmp_path / "model.ckpt")
    model.save_to_file(path)
    other = _model()
    other.init(sig, rng=jax.random.PRNGKey(9))
    other.init_from_file(path, weights_only=True)
    np.testing.assert_array_equal(other.weights[2][0], model.weights[2][0])


def test_file_for_another_model_names_the_mismatch(tmp_path):
    model = _model()
    model.init(shapes.ShapeDtype((2, 5), np.int32))
    path = str(tmp_path / "model.ckpt")
    model.save_to_file(path)
    wider = tl.Serial(tl.Embedding(50, 8), tl.Mean(axis=1), tl.Dense(4), tl.LogSoftmax())
    with pytest.raises(checkpoint.CheckpointError, match=r"different model.*\[2\]\[0\].*\(8, 3\) in the file but \(8, 4\) in the model"):
        wider.init_from_file(path, input_signature=shapes.ShapeDtype((2, 5), np.int32))


def test_init_from_file_needs_a_structure(tmp_path):
    with pytest.raises(ValueError, match="input_signature"):
        tl.Dense(2).init_from_file(str(tmp_path / "missing.ckpt"))
