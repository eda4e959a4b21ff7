"""Tests for trax_rl.agents.minibatch: shapes, shared permutation, errors, jit."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trax_rl.agents.minibatch import flatten_time_batch, shuffle_minibatches


def _batch(n=12):
    return {"obs": jnp.arange(n * 2, dtype=jnp.float32).reshape(n, 2),  # (N, 2)
            "action": jnp.arange(n)}


def test_shuffle_minibatches_shapes_and_shared_permutation():
    out = shuffle_minibatches(jax.random.key(0), _batch(), 3)
    assert out["obs"].shape == (3, 4, 2) and out["action"].shape == (3, 4)
    # Every leaf went through the same permutation: obs row i is [2i, 2i + 1].
    np.testing.assert_array_equal(out["obs"][..., 0], 2 * out["action"])
    np.testing.assert_array_equal(np.sort(np.ravel(out["action"])), np.arange(12))
    assert not np.array_equal(np.ravel(out["action"]), np.arange(12))


def test_shuffle_minibatches_jits_and_depends_on_key():
    shuffle = jax.jit(functools.partial(shuffle_minibatches, num_minibatches=4))
    a = shuffle(jax.random.key(1), _batch())["action"]
    b = shuffle(jax.random.key(2), _batch())["action"]
    assert a.shape == (4, 3) and not np.array_equal(a, b)
    np.testing.assert_array_equal(
        a, shuffle_minibatches(jax.random.key(1), _batch(), 4)["action"])


def test_one_minibatch_is_the_whole_batch_in_order():
    out = shuffle_minibatches(jax.random.key(0), _batch(), 1)
    for name, leaf in _batch().items():
        np.testing.assert_array_equal(out[name], leaf[None])


def test_shuffle_minibatches_rejects_indivisible_batch():
    with pytest.raises(ValueError, match=r"N=12 .*num_minibatches=5"):
        shuffle_minibatches(jax.random.key(0), _batch(), 5)
    with pytest.raises(ValueError, match=r"num_minibatches=0"):
        shuffle_minibatches(jax.random.key(0), _batch(), 0)


def test_shuffle_minibatches_rejects_mismatched_leaves():
    with pytest.raises(ValueError, match=r"share a leading axis"):
        shuffle_minibatches(jax.random.key(0), {"a": jnp.zeros(4), "b": jnp.zeros(6)}, 2)


def test_flatten_time_batch_order():
    T, B = 3, 2
    tree = {"reward": jnp.arange(T * B).reshape(T, B),           # (T, B)
            "obs": jnp.zeros((T, B, 5))}                           # (T, B, 5)
    flat = flatten_time_batch(tree)
    assert flat["obs"].shape == (6, 5)
    # Row t * B + b holds step t of env b.
    np.testing.assert_array_equal(flat["reward"], np.arange(6))
    with pytest.raises(ValueError, match=r"rank >= 2"):
        flatten_time_batch({"x": jnp.zeros(3)})
