"""Tests for trax_rl.layers.convolution against direct numpy loops."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trax_rl.layers import convolution
from trax_rl.shapes import ShapeDtype

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 5, 4, 3)).astype(np.float32)  # (N, H, W, C)


def _np_conv(x, w, b, strides=(1, 1)):
    """VALID NHWC x HWIO convolution as a loop over output positions."""
    kh, kw, _, n_out = w.shape
    sh, sw = strides
    out_h = (x.shape[1] - kh) // sh + 1
    out_w = (x.shape[2] - kw) // sw + 1
    y = np.zeros((x.shape[0], out_h, out_w, n_out))
    for i in range(out_h):
        for j in range(out_w):
            patch = x[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]  # (N, kh, kw, C)
            y[:, i, j, :] = np.einsum("nhwc,hwco->no", patch, w)
    return y + b


def _np_pool(x, size, strides, reduce):
    out_h = (x.shape[1] - size[0]) // strides[0] + 1
    out_w = (x.shape[2] - size[1]) // strides[1] + 1
    y = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * strides[0]:i * strides[0] + size[0],
                       j * strides[1]:j * strides[1] + size[1], :]
            y[:, i, j, :] = reduce(window, axis=(1, 2))
    return y


@pytest.mark.parametrize("strides", [None, (2, 1)])
def test_conv_matches_numpy_loop(strides):
    layer = convolution.Conv(4, (3, 2), strides=strides)
    weights, _ = layer.init(ShapeDtype(X.shape))
    w, _ = weights
    assert w.shape == (3, 2, 3, 4) and weights[1].shape == (4,)
    b = RNG.normal(size=4).astype(np.float32)
    y, _ = layer.pure_fn(X, (w, b))
    expected = _np_conv(X, np.asarray(w), b, strides or (1, 1))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_conv_same_padding_equals_numpy_on_padded_input():
    layer = convolution.Conv(2, (3, 2), padding="SAME", use_bias=False)
    weights, _ = layer.init(ShapeDtype(X.shape))
    assert weights.shape == (3, 2, 3, 2)  # Trax's layout without bias: w alone.
    y, _ = layer.pure_fn(X, weights)
    # XLA's SAME puts the odd padding element after: kernel 3 pads (1, 1), kernel 2 (0, 1).
    padded = np.pad(X, [(0, 0), (1, 1), (0, 1), (0, 0)])
    np.testing.assert_allclose(y, _np_conv(padded, np.asarray(weights), 0.0),
                               rtol=1e-5, atol=1e-5)
    assert y.shape == X.shape[:3] + (2,)


def test_conv_nchw_layout_and_extra_batch_axes():
    nhwc = convolution.Conv(4, (2, 2))
    weights, _ = nhwc.init(ShapeDtype(X.shape))
    expected, _ = nhwc.pure_fn(X, weights)
    nchw = convolution.Conv(4, (2, 2), dimension_numbers=("NCHW", "OIHW", "NCHW"))
    nchw_weights, _ = nchw.init(ShapeDtype((2, 3, 5, 4)))
    assert nchw_weights[0].shape == (4, 3, 2, 2) and nchw_weights[1].shape == (4, 1, 1)
    y, _ = nchw.pure_fn(X.transpose(0, 3, 1, 2), (
        weights[0].transpose(3, 2, 0, 1), weights[1][:, None, None]))
    np.testing.assert_allclose(y.transpose(0, 2, 3, 1), expected, rtol=1e-5, atol=1e-5)
    # (B, T, H, W, C) is a batch of B * T images.
    y5, _ = nhwc.pure_fn(X.reshape(1, 2, 5, 4, 3), weights)
    np.testing.assert_allclose(y5.reshape(expected.shape), expected, rtol=1e-6)


def test_conv1d_matches_numpy():
    x = RNG.normal(size=(2, 7, 3)).astype(np.float32)
    layer = convolution.Conv1d(5, 3, stride=2)
    weights, _ = layer.init(ShapeDtype(x.shape))
    y, _ = layer.pure_fn(x, weights)
    expected = _np_conv(x[:, :, None, :], np.asarray(weights[0])[:, None], weights[1], (2, 1))
    np.testing.assert_allclose(y, expected[:, :, 0], rtol=1e-5, atol=1e-5)


def test_conv_parameter_count():
    weights, _ = convolution.Conv(8, (3, 3)).init(ShapeDtype((1, 6, 6, 3)))
    assert sum(w.size for w in jax.tree.leaves(weights)) == 3 * 3 * 3 * 8 + 8


@pytest.mark.parametrize("strides", [None, (2, 2)])
def test_max_and_avg_pool_match_numpy(strides):
    for layer_fn, reduce in [(convolution.MaxPool, np.max), (convolution.AvgPool, np.mean),
                             (convolution.SumPool, np.sum)]:
        layer = layer_fn(pool_size=(2, 3), strides=strides)
        y, _ = layer.pure_fn(X, ())
        # Trax's default stride is 1 along each window axis.
        np.testing.assert_allclose(y, _np_pool(X, (2, 3), strides or (1, 1), reduce),
                                   rtol=1e-5, atol=1e-6)


def test_avg_pool_same_padding_averages_only_real_elements():
    y, _ = convolution.AvgPool(pool_size=(2, 2), padding="SAME").pure_fn(X, ())
    padded = np.pad(X, [(0, 0), (0, 1), (0, 1), (0, 0)], constant_values=np.nan)
    np.testing.assert_allclose(y, _np_pool(padded, (2, 2), (1, 1), np.nanmean),
                               rtol=1e-5, atol=1e-6)
    assert str(convolution.AvgPool(pool_size=(2, 2))) == "AvgPool(2,2)"
    assert str(convolution.MaxPool()) == "MaxPool(2,2)"


def test_jit_and_grad_through_pure_fn():
    conv = convolution.Conv(2, (2, 2))
    pool = convolution.MaxPool(strides=(2, 2))
    weights, _ = conv.init(ShapeDtype(X.shape))

    @jax.jit
    def loss(weights, x):
        y, _ = conv.pure_fn(x, weights)
        y, _ = pool.pure_fn(y, ())
        return jnp.sum(y)

    grads = jax.grad(loss)(weights, X)
    # Each pooled max picks one conv output, so the bias gradient counts the windows.
    np.testing.assert_allclose(grads[1], [2 * 2 * 1] * 2)
    assert np.all(np.isfinite(grads[0]))
