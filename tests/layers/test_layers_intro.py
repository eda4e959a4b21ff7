"""Trax's layers intro notebook (trax/layers/intro.ipynb), cell by cell with `trax`
renamed to `trax_rl`; outputs checked against numpy."""

import numpy as np

from trax_rl import layers as tl
from trax_rl import shapes
from trax_rl.fastmath import numpy as jnp  # For use in defining new layer types.


def show_layer_properties(layer_obj, layer_name):
    template = ("{}.n_in:  {}\n{}.n_out: {}\n{}.sublayers: {}\n{}.weights:    {}\n")
    return template.format(layer_name, layer_obj.n_in, layer_name, layer_obj.n_out,
                           layer_name, layer_obj.sublayers, layer_name, layer_obj.weights)


def test_relu_and_concatenate_need_no_init():
    relu = tl.Relu()
    x = np.array([[-2, -1, 0, 1, 2], [-20, -10, 0, 10, 20]])
    np.testing.assert_array_equal(relu(x), np.maximum(x, 0))
    assert (relu.n_in, relu.n_out) == (1, 1)
    assert show_layer_properties(relu, "relu").endswith("relu.weights:    ()\n")
    x0, x1 = np.array([[1, 2, 3], [4, 5, 6]]), np.array([[10, 20, 30], [40, 50, 60]])
    concat = tl.Concatenate()
    np.testing.assert_array_equal(concat([x0, x1]), np.concatenate([x0, x1], -1))
    assert (concat.n_in, concat.n_out) == (2, 1)
    concat3 = tl.Concatenate(n_items=3, axis=0)
    np.testing.assert_array_equal(concat3([x0, x1, x1 * 10]), np.concatenate([x0, x1, x1 * 10]))


def test_layer_norm_and_serial_block():
    layer_norm = tl.LayerNorm()
    x = np.array([[-2, -1, 0, 1, 2], [1, 2, 3, 4, 5], [10, 20, 30, 40, 50]]).astype(np.float32)
    layer_norm.init(shapes.signature(x))
    y = layer_norm(x)
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    scale, bias = layer_norm.weights
    np.testing.assert_array_equal(scale, np.ones(5))
    layer_block = tl.Serial(tl.Relu(), tl.LayerNorm())
    x = np.array([[-2, -1, 0, 1, 2], [-20, -10, 0, 10, 20]]).astype(np.float32)
    layer_block.init(shapes.signature(x))
    relu = np.maximum(x, 0)
    np.testing.assert_allclose(
        layer_block(x), (relu - relu.mean(-1, keepdims=True))
        / np.sqrt(relu.var(-1, keepdims=True) + 1e-6), rtol=1e-4, atol=1e-5)
    assert str(layer_block) == "Serial[\n  Relu\n  LayerNorm\n]"
    assert layer_block.weights[0] == () and len(layer_block.weights[1]) == 2


def test_branch_and_new_fn_layers():
    branch_relu_t100 = tl.Branch(tl.Relu(), tl.Fn("Times100", lambda x: x * 100.0))
    x = np.array([[-2, -1, 0, 1, 2], [-20, -10, 0, 10, 20]])
    branch_relu_t100.init(shapes.signature(x))
    y0, y1 = branch_relu_t100(x)
    np.testing.assert_array_equal(y0, np.maximum(x, 0))
    np.testing.assert_array_equal(y1, x * 100.0)

    def Gcd():  # pylint: disable=invalid-name
        return tl.Fn("Gcd", lambda x0, x1: jnp.gcd(x0, x1))
    x0, x1 = np.arange(1, 11), np.arange(11, 21)
    np.testing.assert_array_equal(Gcd()((x0, x1)), np.gcd(x0, x1))

    def SumAndMax():  # pylint: disable=invalid-name
        return tl.Fn("SumAndMax", lambda x0, x1: (x0 + x1, jnp.maximum(x0, x1)), n_out=2)
    x0, x1 = np.array([1, 2, 3, 4, 5]), np.array([10, -20, 30, -40, 50])
    y0, y1 = SumAndMax()([x0, x1])
    np.testing.assert_array_equal(y0, x0 + x1)
    np.testing.assert_array_equal(y1, np.maximum(x0, x1))


def test_flatten_as_written_in_the_notebook_and_the_library_one():
    x = np.arange(18).reshape(2, 3, 3)
    for flatten in (tl.Flatten, _notebook_flatten):
        assert flatten(n_axes_to_keep=1)(x).shape == (2, 9)
        assert flatten(n_axes_to_keep=2)(x).shape == (2, 3, 3)
        assert str(flatten(n_axes_to_keep=2)) == "Flatten_keep2"


def _notebook_flatten(n_axes_to_keep=1):
    layer_name = f"Flatten_keep{n_axes_to_keep}"

    def f(x):
        in_rank = len(x.shape)
        if in_rank <= n_axes_to_keep:
            raise ValueError(f"Input rank ({in_rank}) must exceed the number of "
                             f"axes to keep ({n_axes_to_keep}) after flattening.")
        return jnp.reshape(x, (x.shape[:n_axes_to_keep] + (-1,)))
    return tl.Fn(layer_name, f)
