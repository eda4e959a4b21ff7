"""Trax fidelity of the Layer base: both writing styles, sharing by identity, layouts."""

import jax
import numpy as np
import pytest

from trax_rl import checkpoint
from trax_rl import layers as tl
from trax_rl import shapes

# --- The seed's Embedding, verbatim but for the import names (shared/seed-trax-intro.md). ---
from trax_rl.layers import base
from trax_rl.layers import initializers as init
from trax_rl.fastmath import numpy as jnp


class Embedding(base.Layer):
  """Trainable layer that maps discrete tokens/IDs to vectors."""

  def __init__(self,
               vocab_size,
               d_feature,
               kernel_initializer=init.RandomNormalInitializer(1.0)):
    """Returns an embedding layer with given vocabulary size and vector size.

    Args:
      vocab_size: Size of the input vocabulary. The layer will assign a unique
          vector to each ID in `range(vocab_size)`.
      d_feature: Dimensionality/depth of the output vectors.
      kernel_initializer: Function that creates (random) initial vectors for
          the embedding.
    """
    super().__init__(name=f'Embedding_{vocab_size}_{d_feature}')
    self._d_feature = d_feature  # feature dimensionality
    self._vocab_size = vocab_size
    self._kernel_initializer = kernel_initializer

  def forward(self, x):
    """Returns embedding vectors corresponding to input token IDs.

    Args:
      x: Tensor of token IDs.

    Returns:
      Tensor of embedding vectors.
    """
    return jnp.take(self.weights, x, axis=0, mode='clip')

  def init_weights_and_state(self, input_signature):
    """Returns tensor of newly initialized embedding vectors."""
    del input_signature
    shape_w = (self._vocab_size, self._d_feature)
    w = self._kernel_initializer(shape_w, self.rng)
    self.weights = w
# --- End of the seed's code. ---



def _sentiment_model(embedding):
    return tl.Serial(embedding, tl.Mean(axis=1), tl.Dense(2), tl.LogSoftmax())


def test_seed_embedding_runs_as_in_the_seed():
    x = np.arange(15)
    embedding = Embedding(vocab_size=20, d_feature=32)
    embedding.init(shapes.signature(x))
    y = embedding(x)
    assert y.shape == (15, 32)
    np.testing.assert_array_equal(y, np.asarray(embedding.weights)[x])


def test_seed_embedding_trains_inside_the_sentiment_model():
    rs = np.random.RandomState(0)
    tokens = rs.randint(0, 50, size=(16, 6))
    labels = (tokens < 25).sum(axis=1) > 3  # Learnable from the token ids.
    model = _sentiment_model(Embedding(vocab_size=50, d_feature=8))
    assert str(model) == "Serial[\n  Embedding_50_8\n  Mean\n  Dense_2\n  LogSoftmax\n]"
    weights, state = model.init(shapes.signature(tokens))
    assert weights[0].shape == (50, 8)  # Trax's layout: the bare array.
    loss_layer = tl.CategoryCrossEntropy()

    def loss(w):
        log_probs, _ = model.pure_fn(tokens, w, state, None)
        return loss_layer((log_probs, labels.astype(np.int32)))

    step = jax.jit(lambda w: jax.tree.map(lambda p, g: p - 1.0 * g, w, jax.grad(loss)(w)))
    before = float(loss(weights))
    for _ in range(40):
        weights = step(weights)
    after = float(loss(weights))
    assert after < 0.7 * before
    # The embedding itself learned, not only the Dense head.
    assert not np.allclose(weights[0], model.init(shapes.signature(tokens))[0][0])


class Counter(tl.Layer):
    """Trax style with state and rng: adds noise scaled by a learned weight; counts calls."""

    def forward(self, x):
        noise = jax.random.normal(self.rng, x.shape)
        self.state = self.state + 1
        return x * self.weights + 0.0 * noise

    def init_weights_and_state(self, input_signature):
        self.weights = jnp.full(input_signature.shape[-1:], 2.0)
        self.state = jnp.zeros((), jnp.int32)


def test_trax_style_layer_under_jit_grad_and_in_combinators():
    counter = Counter()
    model = tl.Serial(tl.Dense(3), counter, tl.Relu())
    x = np.random.RandomState(1).randn(4, 3).astype(np.float32)
    weights, state = model.init(shapes.signature(x))
    np.testing.assert_array_equal(weights[1], [2.0, 2.0, 2.0])
    f = jax.jit(model.pure_fn)
    y, new_state = f(x, weights, state, jax.random.PRNGKey(0))
    (w, b) = weights[0]
    np.testing.assert_allclose(y, np.maximum((x @ w + b) * 2.0, 0), rtol=1e-5, atol=1e-6)
    assert int(new_state[1]) == 1

    def loss(ws):
        return jnp.sum(model.pure_fn(x, ws, state, jax.random.PRNGKey(0))[0])

    grads = jax.grad(loss)(weights)
    assert jax.tree.structure(grads) == jax.tree.structure(weights)
    h = x @ w + b
    np.testing.assert_allclose(grads[1], np.sum(np.where(h * 2 > 0, h, 0), axis=0),
                               rtol=1e-5)
    # The call left nothing traced behind on the layer.
    np.testing.assert_array_equal(counter.weights, [2.0, 2.0, 2.0])
    model(x)
    assert int(counter.state) == 1


def test_explicit_style_still_works_next_to_trax_style():
    class Scale(tl.Layer):
        def forward(self, x, weights):
            return x * weights

        def init_weights_and_state(self, input_signature, rng):
            del rng
            return jnp.full(input_signature.shape, 3.0), ()

    model = tl.Serial(Scale(), Counter())
    x = np.ones((2,), np.float32)
    model.init(shapes.signature(x))
    np.testing.assert_allclose(model(x), [6.0, 6.0])


# --- Layers without weights need no init (issue item 2). ---


def test_weightless_layers_run_without_init():
    x = np.array([[-1.0, 2.0], [3.0, -4.0]], np.float32)
    np.testing.assert_array_equal(tl.Relu()(x), np.maximum(x, 0))
    np.testing.assert_array_equal(tl.Serial(tl.Dup(), tl.Add())(x), 2 * x)
    a, b = tl.Select([0, 0])((x, x + 1))
    np.testing.assert_array_equal(b, x)
    np.testing.assert_array_equal(tl.Flatten()(x[None]), x.reshape(1, -1))
    np.testing.assert_array_equal(tl.Concatenate()((x, x)), np.concatenate([x, x], -1))
    np.testing.assert_array_equal(tl.Dropout(0.5, mode="eval")(x), x)
    assert float(tl.L2Loss()((x, x, np.ones_like(x)))) == 0.0
    step = tl.Serial(tl.Add(), tl.Dup())
    ys, total = tl.Scan(step)((np.arange(1.0, 4.0, dtype=np.float32), np.float32(0)))
    np.testing.assert_array_equal(ys, [1.0, 3.0, 6.0])


def test_layer_with_weights_needs_init_with_a_clear_error():
    with pytest.raises(ValueError, match=r"Dense_3 has no weights yet: call layer.init"):
        tl.Serial(tl.Relu(), tl.Dense(3))(np.ones((1, 2), np.float32))


# --- Weight sharing by identity across the whole tree (issue item 3). ---


def _n_params(weights):
    return sum(int(np.size(w)) for w in jax.tree.leaves(weights))


X = np.random.RandomState(2).randn(5, 4).astype(np.float32)


@pytest.mark.parametrize("build, expected", [
    (lambda d: tl.Serial(d, tl.Serial(d)), lambda f, x: f(f(x))),
    (lambda d: tl.Serial(d, tl.Residual(d)), lambda f, x: f(x) + f(f(x))),
    (lambda d: tl.Serial(tl.Branch(d, tl.Serial(d, d)), tl.Add()),
     lambda f, x: f(x) + f(f(x))),
    (lambda d: tl.Parallel(tl.Serial(d), tl.Serial(tl.Relu(), d)),
     lambda f, x: (f(x), f(np.maximum(x, 0)))),
])
def test_nested_reuse_shares_one_set_of_weights(build, expected):
    dense = tl.Dense(4)
    model = build(dense)
    sig = shapes.signature(X) if model.n_in == 1 else (shapes.signature(X),) * 2
    weights, state = model.init(sig)
    assert _n_params(weights) == 4 * 4 + 4
    assert _n_params(model.weights) == 4 * 4 + 4
    w, b = dense.weights  # The shared layer shows its one set of weights.

    def f(x):
        return x @ np.asarray(w) + np.asarray(b)

    inputs = X if model.n_in == 1 else (X, X)
    want = expected(f, X)
    got = jax.jit(model.pure_fn)(inputs, weights, state, None)[0]
    jax.tree.map(lambda g, e: np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5), got, want)


def test_gradient_lands_on_the_one_shared_copy():
    dense = tl.Dense(4)
    model = tl.Serial(dense, tl.Serial(tl.Tanh(), dense))
    weights, state = model.init(shapes.signature(X))
    assert weights[1][1] == tl.GET_WEIGHTS_FROM_CACHE

    def loss(ws):
        return jnp.sum(model.pure_fn(X, ws, state, None)[0] ** 2)

    grads = jax.grad(loss)(weights)
    w, b = weights[0]

    def loss_by_hand(w, b):
        return jnp.sum((jnp.tanh(X @ w + b) @ w + b) ** 2)

    gw, gb = jax.grad(loss_by_hand, argnums=(0, 1))(w, b)
    np.testing.assert_allclose(grads[0][0], gw, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grads[0][1], gb, rtol=1e-4, atol=1e-5)
    assert _n_params(grads) == 4 * 4 + 4


def test_sharing_inside_scan():
    dense = tl.Dense(3)
    cell = tl.Serial(tl.Parallel(dense, None), tl.Add(), tl.Tanh(), tl.Dup())
    model = tl.Serial(tl.Parallel(None, dense), tl.Scan(cell, axis=1))
    xs = np.random.RandomState(3).randn(2, 4, 3).astype(np.float32)
    h0 = np.random.RandomState(4).randn(2, 3).astype(np.float32)
    weights, state = model.init(shapes.signature((xs, h0)))
    assert _n_params(weights) == 3 * 3 + 3
    (ys, h), _ = model.pure_fn((xs, h0), weights, state)
    w, b = (np.asarray(a) for a in dense.weights)
    hh = h0 @ w + b
    for t in range(4):
        hh = np.tanh(xs[:, t] @ w + b + hh)
    np.testing.assert_allclose(h, hh, rtol=1e-5, atol=1e-5)


def test_markers_are_trax_markers():
    dense = tl.Dense(2)
    model = tl.Serial(dense, dense)
    weights, state = model.init(shapes.ShapeDtype((1, 2)))
    assert weights[1] == {"__marker_for_cached_weights_": ()}
    assert state[1] == {"__marker_for_cached_state_": ()}
    assert model.weights[1] == tl.GET_WEIGHTS_FROM_CACHE


# --- Trax's layouts and checkpoints (issue item 4). ---


def test_trax_weight_layouts():
    x = shapes.ShapeDtype((2, 3))
    w, b = tl.Dense(4).init(x)[0]
    assert (w.shape, b.shape) == ((3, 4), (4,))
    assert tl.Dense(4, use_bias=False).init(x)[0].shape == (3, 4)
    scale, bias = tl.LayerNorm().init(x)[0]
    assert scale.shape == bias.shape == (3,)
    assert tl.Embedding(10, 5).init(shapes.ShapeDtype((2,), np.int32))[0].shape == (10, 5)
    (beta, gamma), (mean, var, n) = tl.BatchNorm(axis=(0,)).init(x)
    assert beta.shape == gamma.shape == (3,) and mean.shape == (1, 3) and n.shape == ()
    w, b = tl.LSTMCell(2).init((x, shapes.ShapeDtype((2, 4))))[0]
    assert (w.shape, b.shape) == ((5, 8), (8,))
    assert len(tl.GRUCell(2).init((x, shapes.ShapeDtype((2, 2))))[0]) == 4
    assert tl.Serial(tl.Dense(2), tl.Relu()).init(x)[0][1] == ()


def test_old_layout_checkpoint_is_a_clear_error(tmp_path):
    path = str(tmp_path / "old.ckpt")
    # What save_to_file wrote before Trax's layouts: dict weights, no "layout" metadata.
    checkpoint.save(path, {"weights": ({"w": np.ones((3, 2)), "b": np.ones(2)},)},
                    metadata={"layer": "Serial[Dense_2]", "weights_only": True})
    model = tl.Serial(tl.Dense(2))
    with pytest.raises(checkpoint.CheckpointError, match="old weight layout"):
        model.init_from_file(path, weights_only=True, input_signature=shapes.ShapeDtype((1, 3)))


# --- LayerError as Trax gives it (issue item 6). ---


class Broken(tl.Layer):
    """Trax style; fails in forward on inputs wider than those it was initialized for."""

    def forward(self, x):
        return x @ self.weights

    def init_weights_and_state(self, input_signature):
        self.weights = jnp.ones((input_signature.shape[-1], input_signature.shape[-1]))


def test_layer_error_names_trax_style_layer_site_and_shapes_inside_nested_combinators():
    broken = Broken()  # This line is the creation site the error must name.
    line = __import__("inspect").currentframe().f_lineno - 1
    model = tl.Serial(tl.Relu(), tl.Branch(tl.Serial(tl.Dup(), tl.Parallel(broken, None)),
                                           None))
    model.init(shapes.ShapeDtype((4, 2)))
    x = np.ones((4, 3), np.float32)
    with pytest.raises(tl.LayerError) as info:
        jax.jit(model.pure_fn)(x, model.weights, model.state, None)
    message = str(info.value)
    assert "Exception passing through layer Broken (in pure_fn)" in message
    assert f"test_base.py, line {line}" in message
    assert "(4, 3)" in message and "float32" in message
    with pytest.raises(tl.LayerError, match=r"layer Dense_2 \(in init\)"):
        tl.Serial(tl.Dense(2)).init(shapes.ShapeDtype(()))


class ScaledGradient(tl.Layer):
    """Trax's custom-backward API: identity forward, gradient times 10 for the inputs."""

    def forward(self, x):
        return x * self.weights

    def init_weights_and_state(self, input_signature):
        self.weights = jnp.ones(input_signature.shape[-1:])

    @property
    def has_backward(self):
        return True

    def backward(self, inputs, output, grad, weights, state, new_state, rng):
        return 10.0 * grad * weights, jnp.sum(grad * inputs, axis=0) * 0.0


def test_custom_backward_as_in_trax():
    layer = ScaledGradient()
    model = tl.Serial(tl.Dense(3), layer)
    x = np.ones((2, 3), np.float32)
    weights, state = model.init(shapes.signature(x))

    def loss(ws, x):
        return jnp.sum(model.pure_fn(x, ws, state, None)[0])

    grads_w, grads_x = jax.jit(jax.grad(loss, argnums=(0, 1)))(weights, x)
    np.testing.assert_array_equal(grads_w[1], np.zeros(3))
    w, _ = weights[0]
    np.testing.assert_allclose(grads_x, np.tile(10.0 * w.sum(1), (2, 1)), rtol=1e-5)


class TraxStyleBranch(tl.Layer):
    """A combinator written Trax's way: sublayers run via pure_fn on self.weights[i]."""

    def __init__(self, a, b):
        super().__init__(n_in=1, n_out=2)
        self._sublayers = (a, b)

    def forward(self, x):
        rngs = jax.random.split(self.rng, 2)
        ya, sa = self.sublayers[0].pure_fn(x, self.weights[0], self.state[0], rngs[0],
                                           use_cache=True)
        yb, sb = self.sublayers[1].pure_fn(x, self.weights[1], self.state[1], rngs[1],
                                           use_cache=True)
        self.state = (sa, sb)
        return ya, yb

    def init_weights_and_state(self, input_signature):
        wa, sa = self.sublayers[0].init(input_signature, use_cache=True)
        wb, sb = self.sublayers[1].init(input_signature, use_cache=True)
        self.weights = (wa, wb)
        self.state = (sa, sb)


def test_trax_style_combinator_with_use_cache_shares_by_identity():
    dense = tl.Dense(3)
    model = tl.Serial(TraxStyleBranch(dense, tl.Serial(dense, tl.Relu())), tl.Add())
    weights, state = model.init(shapes.signature(X[:, :3]))
    assert weights[0][1][0] == tl.GET_WEIGHTS_FROM_CACHE  # Trax's init(use_cache=True).
    w, b = dense.weights
    x = X[:, :3]
    y = jax.jit(model.pure_fn)(x, weights, state, None)[0]
    np.testing.assert_allclose(y, x @ w + b + np.maximum(x @ w + b, 0), rtol=1e-5, atol=1e-6)
    grads = jax.grad(lambda ws: jnp.sum(model.pure_fn(x, ws, state, None)[0]))(weights)
    assert _n_params(grads) == 3 * 3 + 3
    np.testing.assert_allclose(model(x), y, rtol=1e-6)
