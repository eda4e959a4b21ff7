"""Stack semantics of the combinators, weight sharing, and jit/grad through pure_fn."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from trax_rl import layers as tl
from trax_rl import shapes


def _sig(*shape, dtype=np.float32):
    return shapes.ShapeDtype(shape, dtype)


def _run(layer, inputs):
    sig = shapes.signature(inputs)
    weights, state = layer.init(sig, rng=jax.random.PRNGKey(0))
    return layer.pure_fn(inputs, weights, state, jax.random.PRNGKey(1))[0]


def test_serial_arity_follows_the_stack():
    assert (tl.Serial(tl.Dense(2)).n_in, tl.Serial(tl.Dense(2)).n_out) == (1, 1)
    layer = tl.Serial(tl.Add(), tl.Add())
    assert (layer.n_in, layer.n_out) == (3, 1)
    layer = tl.Serial(tl.Dup(), tl.Dup())
    assert (layer.n_in, layer.n_out) == (1, 3)
    layer = tl.Serial(tl.Drop())
    assert (layer.n_in, layer.n_out) == (1, 0)
    assert (tl.Serial().n_in, tl.Serial().n_out) == (1, 1)


def test_lists_in_branch_are_serial_chains():
    layer = tl.Branch([], tl.Fn("Double", lambda x: 2 * x))
    assert (layer.n_in, layer.n_out) == (1, 2)
    out = _run(layer, np.float32(3.0))
    np.testing.assert_allclose(np.stack(out), [3.0, 6.0])
    chains = tl.Branch([tl.Fn("Inc", lambda x: x + 1), tl.Fn("Double", lambda x: 2 * x)], None)
    np.testing.assert_allclose(np.stack(_run(chains, np.float32(1.0))), [4.0, 1.0])


def test_missing_state_is_a_clear_error():
    model = tl.Serial(tl.Dense(2), tl.Relu())
    weights, _ = model.init(_sig(1, 3))
    with pytest.raises(tl.LayerError, match="one entry per sublayer"):
        model.pure_fn(np.ones((1, 3), np.float32), weights)


def test_serial_passes_untouched_items_through():
    x, y, z = np.float32(1.0), np.float32(2.0), np.float32(10.0)
    layer = tl.Serial(tl.Add(), tl.Multiply())  # (x + y) * z
    assert (layer.n_in, layer.n_out) == (3, 1)
    np.testing.assert_allclose(_run(layer, (x, y, z)), 30.0)


def test_select_dup_swap_drop():
    a, b, c = (np.full((2,), v, np.float32) for v in (1.0, 2.0, 3.0))
    out = _run(tl.Select([2, 0, 0], n_in=3), (a, b, c))
    np.testing.assert_array_equal(np.stack(out), np.stack([c, a, a]))
    out = _run(tl.Swap(), (a, b))
    np.testing.assert_array_equal(np.stack(out), np.stack([b, a]))
    out = _run(tl.Serial(tl.Dup(), tl.Add()), a)
    np.testing.assert_array_equal(out, 2 * a)
    out = _run(tl.Serial(tl.Drop(), tl.Dup()), (a, b))
    np.testing.assert_array_equal(np.stack(out), np.stack([b, b]))


def test_parallel_splits_the_stack():
    layer = tl.Parallel(tl.Fn("Double", lambda x: 2 * x), tl.Add(), None)
    assert (layer.n_in, layer.n_out) == (4, 3)
    out = _run(layer, tuple(np.float32(v) for v in (1, 2, 3, 4)))
    np.testing.assert_allclose(np.stack(out), [2.0, 5.0, 4.0])


def test_branch_feeds_copies_of_the_top():
    layer = tl.Branch(tl.Fn("Neg", lambda x: -x), None, tl.Add())
    assert (layer.n_in, layer.n_out) == (2, 3)
    out = _run(layer, (np.float32(3.0), np.float32(4.0)))
    np.testing.assert_allclose(np.stack(out), [-3.0, 3.0, 7.0])


def test_residual_adds_the_shortcut():
    dense = tl.Dense(4)
    layer = tl.Residual(dense, tl.Tanh())
    x = np.random.RandomState(0).randn(3, 4).astype(np.float32)
    weights, state = layer.init(shapes.signature(x))
    y = layer(x)
    w = dense.weights
    np.testing.assert_allclose(y, x + np.tanh(x @ w[0] + w[1]), rtol=1e-5, atol=1e-6)


def test_concatenate():
    out = _run(tl.Concatenate(n_items=3, axis=0), tuple(np.ones((1, 2), np.float32) * i for i in range(3)))
    np.testing.assert_array_equal(out, [[0, 0], [1, 1], [2, 2]])


def test_weight_sharing_in_serial_and_parallel():
    dense = tl.Dense(3)
    tied = tl.Serial(dense, dense)
    weights, _ = tied.init(_sig(2, 3))
    assert weights[1] == tl.GET_WEIGHTS_FROM_CACHE  # The second occurrence reuses the first's.
    x = np.random.RandomState(1).randn(2, 3).astype(np.float32)
    w, b = weights[0]
    np.testing.assert_allclose(tied(x), (x @ w + b) @ w + b, rtol=1e-5, atol=1e-6)
    siamese = tl.Parallel(dense, dense)
    weights, _ = siamese.init((_sig(2, 3), _sig(2, 3)))
    y0, y1 = siamese((x, x))
    np.testing.assert_array_equal(y0, y1)
    n_params = sum(p.size for p in jax.tree.leaves(weights))
    assert n_params == 3 * 3 + 3


def test_jit_and_grad_through_pure_fn():
    model = tl.Serial(tl.Dense(8), tl.Relu(), tl.Dense(1))
    x = np.random.RandomState(2).randn(5, 3).astype(np.float32)
    weights, state = model.init(shapes.signature(x))

    def loss(w):
        y, _ = model.pure_fn(x, w, state, None)
        return jnp.mean(y ** 2)

    value, grads = jax.jit(jax.value_and_grad(loss))(weights)
    # Independent check: finite differences on one weight.
    eps = 1e-3
    bumped = jax.tree.map(lambda a: a, weights)
    bumped = (bumped[0], bumped[1], (bumped[2][0], weights[2][1] + eps))
    numeric = (loss(bumped) - value) / eps
    np.testing.assert_allclose(grads[2][1][0], numeric, rtol=2e-2)
    assert jax.tree.structure(grads) == jax.tree.structure(weights)


def test_pure_fn_ignores_stored_weights():
    layer = tl.Dense(2)
    x = np.ones((1, 3), np.float32)
    w1, s = layer.init(shapes.signature(x), rng=jax.random.PRNGKey(1))
    w2, _ = layer.init(shapes.signature(x), rng=jax.random.PRNGKey(2))
    y1 = layer.pure_fn(x, w1, s)[0]
    np.testing.assert_allclose(y1, x @ w1[0] + w1[1], rtol=1e-6)
    assert not np.allclose(y1, layer(x))


def test_scan_cumulative_sum():
    step = tl.Serial(tl.Add(), tl.Dup())  # (x_t, carry) -> (carry + x_t, carry + x_t)
    layer = tl.Scan(step, axis=0)
    xs = np.arange(1, 6, dtype=np.float32)
    ys, carry = _run(layer, (xs, np.float32(0.0)))
    np.testing.assert_allclose(ys, np.cumsum(xs))
    np.testing.assert_allclose(carry, 15.0)


def test_scan_with_weights_over_axis_1():
    cell = tl.Serial(tl.Parallel(tl.Dense(2), None), tl.Add(), tl.Tanh(), tl.Dup())
    layer = tl.Scan(cell, axis=1)
    xs = np.random.RandomState(3).randn(4, 6, 3).astype(np.float32)
    h0 = np.zeros((4, 2), np.float32)
    weights, state = layer.init(shapes.signature((xs, h0)))
    ys, h = layer.pure_fn((xs, h0), weights, state)[0]
    w = weights[0][0][0]
    expected, hh = [], h0
    for t in range(6):
        hh = np.tanh(xs[:, t] @ w[0] + w[1] + hh)
        expected.append(hh)
    np.testing.assert_allclose(ys, np.stack(expected, axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, hh, rtol=1e-5, atol=1e-6)


def test_cond_picks_a_branch_under_jit():
    layer = tl.Cond(tl.Fn("Positive", lambda x: jnp.sum(x) > 0), tl.Fn("Double", lambda x: 2 * x))
    weights, state = layer.init(_sig(3))
    f = jax.jit(lambda x: layer.pure_fn(x, weights, state)[0])
    np.testing.assert_allclose(f(np.ones(3, np.float32)), 2 * np.ones(3))
    np.testing.assert_allclose(f(-np.ones(3, np.float32)), -np.ones(3))


def test_wrong_number_of_inputs_is_a_layer_error():
    layer = tl.Add()
    with pytest.raises(tl.LayerError, match="expected 2 inputs, got 1"):
        layer.pure_fn(np.ones(3), (), ())


def test_non_layer_in_serial_is_rejected():
    with pytest.raises(TypeError, match="expected a Layer"):
        tl.Serial(tl.Dense(2), "relu")


def test_print_nested_tree():
    model = tl.Serial(tl.Dense(4), tl.Branch(tl.Dense(1), tl.Dense(2)))
    assert str(model) == (
        "Serial_out2[\n  Dense_4\n  Branch_out2[\n    Dense_1\n    Dense_2\n  ]\n]")
