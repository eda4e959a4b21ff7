"""Tests for trax_rl.layers.normalization against numpy formulas."""

import jax
import jax.numpy as jnp
import numpy as np

from trax_rl.layers import normalization
from trax_rl.shapes import ShapeDtype

RNG = np.random.default_rng(0)
X = RNG.normal(2.0, 3.0, (2, 3, 4, 5)).astype(np.float32)


def _n_params(weights):
    return sum(int(np.prod(w.shape)) for w in jax.tree.leaves(weights))


def test_layer_norm_matches_numpy_with_nontrivial_weights():
    layer = normalization.LayerNorm()
    weights, _ = layer.init(ShapeDtype(X.shape))
    assert _n_params(weights) == 2 * 5
    scale, bias = RNG.normal(size=5).astype(np.float32), RNG.normal(size=5).astype(np.float32)
    y, _ = layer.pure_fn(X, (scale, bias))
    x64 = X.astype(np.float64)
    mean = x64.mean(-1, keepdims=True)
    var = ((x64 - mean) ** 2).mean(-1, keepdims=True)
    expected = (x64 - mean) / np.sqrt(var + 1e-6) * scale + bias
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_layer_norm_without_centering_uses_raw_second_moment():
    layer = normalization.LayerNorm(center=False, epsilon=1e-3)
    weights, _ = layer.init(ShapeDtype(X.shape))
    y, _ = layer.pure_fn(X, weights)
    expected = X / np.sqrt((X.astype(np.float64) ** 2).mean(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_batch_norm_train_normalizes_with_batch_stats_and_updates_running_stats():
    layer = normalization.BatchNorm(momentum=0.9)
    weights, state = layer.init(ShapeDtype(X.shape))
    assert _n_params(weights) == 2 * 5
    assert state[0].shape == state[1].shape == (1, 1, 1, 5)  # (mean, var, n_batches)
    gamma, beta = np.arange(1, 6, dtype=np.float32), -np.arange(5, dtype=np.float32)
    y, new_state = layer.pure_fn(X, (beta, gamma), state)
    x64 = X.astype(np.float64)
    mean = x64.mean((0, 1, 2), keepdims=True)
    var = x64.var((0, 1, 2), keepdims=True)
    np.testing.assert_allclose(y, (x64 - mean) / np.sqrt(var + 1e-5) * gamma + beta,
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(new_state[0], 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_state[1], 0.9 + 0.1 * var, rtol=1e-5)
    assert int(new_state[2]) == 1


def test_batch_norm_eval_uses_running_stats_and_keeps_them():
    train = normalization.BatchNorm(momentum=0.5)
    weights, state = train.init(ShapeDtype(X.shape))
    _, state = train.pure_fn(X, weights, state)
    evaluate = normalization.BatchNorm(momentum=0.5, mode="eval")
    y, eval_state = evaluate.pure_fn(X + 1.0, weights, state)
    expected = (X + 1.0 - state[0]) / np.sqrt(state[1] + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    jax.tree.map(np.testing.assert_array_equal, eval_state, state)


def test_batch_norm_other_axes_and_no_scale_or_center():
    layer = normalization.BatchNorm(axis=0, center=False, scale=False)
    x = X.reshape(6, 20)
    weights, state = layer.init(ShapeDtype(x.shape))
    assert weights == ((), ()) and state[0].shape == (1, 20)
    y, _ = layer.pure_fn(x, weights, state)
    expected = (x - x.mean(0)) / np.sqrt(x.astype(np.float64).var(0) + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_jit_and_grad_through_pure_fn():
    norm = normalization.LayerNorm()
    batch_norm = normalization.BatchNorm()
    ln_w, _ = norm.init(ShapeDtype(X.shape))
    bn_w, bn_s = batch_norm.init(ShapeDtype(X.shape))

    @jax.jit
    def loss(ln_w, bn_w, x):
        y, _ = norm.pure_fn(x, ln_w)
        y, _ = batch_norm.pure_fn(y, bn_w, bn_s)
        return jnp.sum(y * x)

    grads = jax.grad(loss, argnums=(0, 1))(ln_w, bn_w, X)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    # The bias of a normalized output gets d/d bias sum(y * x) = sum of x over the other axes.
    np.testing.assert_allclose(grads[1][0], X.sum((0, 1, 2)), rtol=1e-4)  # beta
