"""`Accelerate`, `AssertShape` / `assert_shape` / `AssertFunction` and `SummaryImage`
(Trax's names): behaviour from Trax's docs and tests, with `trax` renamed."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from trax_rl import layers as tl
from trax_rl import shapes


def _mlp():
    model = tl.Serial(tl.Dense(8), tl.Relu(), tl.Dense(3))
    model.init(shapes.signature(np.zeros((4, 5), np.float32)))
    return model


def test_accelerate_equals_the_layer_and_needs_no_init():
    model = _mlp()
    fast = tl.Accelerate(model)
    for batch in (4, 3):  # 3 is padded when there is more than one device.
        x = np.random.RandomState(batch).randn(batch, 5).astype(np.float32)
        np.testing.assert_array_equal(np.asarray(fast(x)), np.asarray(model(x)))
    assert fast.weights[0][0] is model.weights[0]


def test_accelerate_replicate_weights_sets_the_sublayers():
    model, other = _mlp(), _mlp()
    fast = tl.Accelerate(model)
    other.init(shapes.signature(np.zeros((4, 5), np.float32)), rng=jax.random.PRNGKey(7))
    fast.replicate_weights(other.weights)
    x = np.ones((2, 5), np.float32)
    np.testing.assert_array_equal(np.asarray(fast(x)), np.asarray(other(x)))


def test_accelerate_inside_a_traced_model_and_grad():
    model = _mlp()
    outer = tl.Serial(tl.Accelerate(model), tl.Sum())
    x = np.ones((2, 5), np.float32)
    grads = jax.grad(lambda w: outer.pure_fn(x, w, outer.state)[0])(outer.weights)
    reference = jax.grad(lambda w: jnp.sum(model.pure_fn(x, w, model.state)[0]))(model.weights)
    jax.tree.map(np.testing.assert_allclose, grads[0][0], reference)


def test_accelerate_rejects_a_bad_device_count():
    with pytest.raises(ValueError, match=r"n_devices must be an int in 1\.\.1.*got 2"):
        tl.Accelerate(tl.Relu(), n_devices=2 * jax.local_device_count())


def test_accelerate_shards_the_batch_over_two_devices():
    script = textwrap.dedent("""
        import jax, numpy as np
        from trax_rl import layers as tl, shapes
        model = tl.Serial(tl.Dense(8), tl.Relu(), tl.Dense(3))
        model.init(shapes.signature(np.zeros((4, 5), np.float32)))
        fast = tl.Accelerate(model)
        assert fast.n_devices == 2, fast.n_devices
        for batch in (4, 3):
            x = np.random.RandomState(batch).randn(batch, 5).astype(np.float32)
            np.testing.assert_allclose(np.asarray(fast(x)), np.asarray(model(x)), rtol=1e-6)
        x = np.zeros((4, 5), np.float32)
        y, _ = fast.pure_fn(x, fast.weights, fast.state, None)
        assert len(y.sharding.device_set) == 2, y.sharding
        print("ok")
    """)
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]


# -- Shape asserts: Trax's test cases ------------------------------------------------------

@pytest.mark.parametrize("spec, shapes_in", [
    ("abc", [(2, 3, 5)]),
    ("...", [(2, 3, 5)]),
    ("a...", [(2,)]),
    ("...c", [(2, 3, 5)]),
    ("a...c", [(2, 3, 4, 5)]),
    ("abc,...c", [(2, 3, 5), (7, 5)]),
    ("a...,a...", [(2, 3), (2, 3)]),
    ("235", [(2, 3, 5)]),
])
def test_assert_shape_accepts(spec, shapes_in):
    xs = tuple(np.ones(s) for s in shapes_in)
    layer = tl.AssertShape(spec)
    out = layer(xs if len(xs) > 1 else xs[0])
    assert [np.shape(o) for o in (out if len(xs) > 1 else [out])] == shapes_in


@pytest.mark.parametrize("spec, shapes_in", [
    ("ab", [(2, 3, 5)]),                   # rank
    ("abc,abc", [(2, 3, 5), (2, 3, 4)]),   # c differs
    ("a...,a...", [(2, 3), (2, 4)]),       # ellipses differ
    ("a...c", [(2,)]),                     # too short for a...c
    ("234", [(2, 3, 5)]),                  # literal size
    ("a,a", [(2,)]),                       # number of tensors (n_in is 2)
])
def test_assert_shape_rejects_with_the_spec_and_shapes(spec, shapes_in):
    xs = tuple(np.ones(s) for s in shapes_in)
    with pytest.raises(Exception, match="AssertShape"):
        tl.AssertShape(spec)(xs if len(xs) > 1 else xs[0])


def test_assert_shape_rejects_a_bad_spec():
    with pytest.raises(ValueError, match="spec 'a-b'"):
        tl.AssertShape("a-b")
    with pytest.raises(ValueError, match="one '->'"):
        tl.assert_shape("ab")


def test_assert_function_links_inputs_to_outputs():
    layer = tl.AssertFunction("...a->...a", tl.Dense(4))
    layer.init(shapes.signature(np.zeros((2, 4), np.float32)))
    assert layer(np.ones((2, 4), np.float32)).shape == (2, 4)
    bad = tl.AssertFunction("...a->...a", tl.Dense(3))
    with pytest.raises(Exception, match=r"AssertShape: expected \.\.\.a"):
        bad.init(shapes.signature(np.zeros((2, 4), np.float32)))


def test_assert_shape_decorates_classes_and_functions():
    @tl.assert_shape("...a->...")
    class ReduceLast(tl.Layer):
        def forward(self, x):
            return jnp.sum(x, axis=-1)

    @tl.assert_shape("ab->ba")
    def Transpose():  # pylint: disable=invalid-name
        return tl.Fn("Transpose", lambda x: x.T)

    assert ReduceLast()(np.ones((2, 3))).shape == (2,)
    assert Transpose()(np.ones((2, 3))).shape == (3, 2)

    @tl.assert_shape("...a->...a")
    class Broken(tl.Layer):
        def forward(self, x):
            return jnp.sum(x, axis=-1)

    with pytest.raises(Exception, match="outputs"):
        Broken()(np.ones((2, 3)))
    # Under jit the check runs once, at trace time.
    assert jax.jit(lambda x: ReduceLast()(x))(np.ones((4, 3))).shape == (4,)


# -- SummaryImage ---------------------------------------------------------------------------

def test_summary_image_keeps_the_first_examples_stacked_along_height():
    layer = tl.SummaryImage("pics", n_in=2, num_summaries=2)
    a = np.random.RandomState(0).rand(3, 4, 5, 1).astype(np.float32)
    b = np.random.RandomState(1).rand(3, 4, 5, 1).astype(np.float32)
    layer.init(shapes.signature((a, b)))
    assert sorted(layer.state) == ["summary_pics0", "summary_pics1"]
    assert float(np.abs(layer.state["summary_pics0"]).sum()) == 0.0
    out = layer((a, b))
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(layer.state["summary_pics1"],
                                  np.concatenate([a[1], b[1]], axis=0))
    # The state keeps its structure, so it runs under jit with the same tree.
    _, new_state = jax.jit(layer.pure_fn)((a, b), layer.weights, layer.state, None)
    assert jax.tree.structure(new_state) == jax.tree.structure(layer.state)
