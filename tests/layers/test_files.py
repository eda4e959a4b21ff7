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


def test_weights_only_into_a_fresh_stateful_model_starts_from_its_initial_state(tmp_path):
    sig = shapes.ShapeDtype((4, 3), np.float32)
    model = tl.Serial(tl.Dense(5), tl.BatchNorm(axis=(0,)), tl.Dense(2))
    model.init(sig, rng=jax.random.PRNGKey(1))
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    _, model.state = model.pure_fn(x, model.weights, model.state)  # Moves the statistics ...
    path = str(tmp_path / "model.ckpt")
    model.save_to_file(path, weights_only=True)  # ... which this file leaves out.
    fresh = tl.Serial(tl.Dense(5), tl.BatchNorm(axis=(0,)), tl.Dense(2))
    fresh.init_from_file(path, weights_only=True, input_signature=sig)
    initial = tl.Serial(tl.Dense(5), tl.BatchNorm(axis=(0,)), tl.Dense(2))
    initial.init(sig)
    for a, b in zip(jax.tree.leaves(fresh.weights), jax.tree.leaves(model.weights)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(jax.tree.leaves(model.state)[0], jax.tree.leaves(initial.state)[0])
    for a, b in zip(jax.tree.leaves(fresh.state), jax.tree.leaves(initial.state), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(checkpoint.CheckpointError, match="weights only"):
        tl.Serial(tl.Dense(5), tl.BatchNorm(axis=(0,)), tl.Dense(2)).init_from_file(
            path, input_signature=sig)


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


def test_old_dict_layout_params_never_restore_into_traxs_layout(tmp_path):
    # Agents checkpoint params with trax_rl.checkpoint directly; a file from before
    # Trax's layouts ({'w', 'b'} dicts) must be refused by key path, not restored wrongly.
    model = tl.Serial(tl.Dense(3), tl.Relu(), tl.Dense(2))
    params, _ = model.init(shapes.ShapeDtype((1, 4)))
    old = ({"w": np.zeros((4, 3)), "b": np.zeros(3)}, (), {"w": np.zeros((3, 2)),
                                                         "b": np.zeros(2)})
    path = str(tmp_path / "agent.ckpt")
    checkpoint.save(path, {"params": old})
    with pytest.raises(checkpoint.CheckpointError,
                       match=r"different model.*\['params'\]\[0\]\[0\].*\['params'\]\[0\]\['b'\]"):
        checkpoint.restore(path, {"params": params})
