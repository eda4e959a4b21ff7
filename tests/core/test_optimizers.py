"""Tests for trax_rl.optimizers against optax and Trax's formulas in numpy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from trax_rl import optimizers

PARAMS = {"w": jnp.array([[0.5, -1.0], [2.0, 0.25]]), "b": jnp.array([0.1, -0.3])}
GRADS = [
    {"w": jnp.array([[0.1, -0.2], [0.3, 0.4]]), "b": jnp.array([1.0, -2.0])},
    {"w": jnp.array([[-0.5, 0.2], [0.0, 0.1]]), "b": jnp.array([0.3, 0.7])},
    {"w": jnp.array([[0.2, 0.2], [-0.1, 0.6]]), "b": jnp.array([-1.0, 0.5])},
]


def run(opt, n_steps=3):
    """Applies GRADS in turn under jit; returns the final params as numpy."""
    params, state = PARAMS, opt.init(PARAMS)
    update = jax.jit(opt.update)
    for grads in GRADS[:n_steps]:
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return jax.tree_util.tree_map(np.asarray, params)


def assert_trees_close(a, b, rtol=1e-6, atol=1e-7):
    jax.tree_util.tree_map(
        lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol), a, b)


def numpy_trax(update_fn, init_fn):
    """Runs a per-leaf numpy update `(g, w, slots, t) -> (w, slots)` over GRADS."""
    out = {}
    for name in PARAMS:
        w = np.asarray(PARAMS[name], np.float64)
        slots = init_fn(w)
        for t, grads in enumerate(GRADS, start=1):
            w, slots = update_fn(np.asarray(grads[name], np.float64), w, slots, t)
        out[name] = w
    return out


def test_adam_without_decay_is_optax_adam():
    assert_trees_close(run(optimizers.Adam(0.01, weight_decay_rate=0.0)),
                       run(optax.adam(0.01, b1=0.9, b2=0.999, eps=1e-5)))


def test_adam_with_trax_weight_decay_matches_trax_formula():
    lr, wd, b1, b2, eps = 0.01, 0.05, 0.8, 0.99, 1e-5

    def update(g, w, slots, t):
        m, v = slots
        m = (1 - b1) * g + b1 * m
        v = (1 - b2) * g * g + b2 * v
        mhat, vhat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        return (1 - wd) * w - lr * mhat / (np.sqrt(vhat) + eps), (m, v)

    expected = numpy_trax(update, lambda w: (np.zeros_like(w), np.zeros_like(w)))
    got = run(optimizers.Adam(lr, weight_decay_rate=wd, b1=b1, b2=b2, eps=eps))
    assert_trees_close(got, expected, rtol=1e-5)


def test_adam_defaults_are_trax_defaults():
    assert_trees_close(run(optimizers.Adam()),
                       run(optax.chain(optax.adam(1e-4, b1=0.9, b2=0.999, eps=1e-5),
                                       optax.add_decayed_weights(-1e-5))))


def test_clip_grad_norm_clips_first():
    reference = optax.chain(optax.clip_by_global_norm(0.5),
                            optax.adam(0.01, eps=1e-5))
    assert_trees_close(run(optimizers.Adam(0.01, weight_decay_rate=0.0,
                                           clip_grad_norm=0.5)), run(reference))
    assert_trees_close(run(optimizers.RMSProp(0.01, clip_grad_norm=0.5)),
                       run(optax.chain(optax.clip_by_global_norm(0.5),
                                       optax.rmsprop(0.01, initial_scale=1.0,
                                                     eps_in_sqrt=False))))


def test_sgd_is_optax_sgd():
    assert_trees_close(run(optimizers.SGD(0.1)), run(optax.sgd(0.1)))


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_without_decay_is_optax_sgd_momentum(nesterov):
    assert_trees_close(
        run(optimizers.Momentum(0.1, mass=0.8, weight_decay_rate=0.0, nesterov=nesterov)),
        run(optax.sgd(0.1, momentum=0.8, nesterov=nesterov)))


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_matches_trax_formula(nesterov):
    lr, mass, wd = 0.1, 0.9, 0.01

    def update(g, w, v, t):
        v = mass * v + g
        step = mass * v + g if nesterov else v
        return (1 - wd) * w - lr * step, v

    expected = numpy_trax(update, np.zeros_like)
    got = run(optimizers.Momentum(lr, mass=mass, weight_decay_rate=wd, nesterov=nesterov))
    assert_trees_close(got, expected, rtol=1e-5)


def test_rmsprop_matches_trax_formula():
    lr, gamma, eps = 0.01, 0.9, 1e-8

    def update(g, w, s, t):
        s = gamma * s + (1 - gamma) * g * g
        return w - lr * g / (np.sqrt(s) + eps), s

    expected = numpy_trax(update, np.ones_like)  # Trax starts the mean at ones.
    assert_trees_close(run(optimizers.RMSProp(lr, gamma=gamma, eps=eps)), expected,
                       rtol=1e-5)


def test_adafactor_is_optax_adafactor_with_trax_arguments():
    assert_trees_close(
        run(optimizers.Adafactor()),
        run(optax.adafactor(0.05, decay_rate=0.8, clipping_threshold=1.0,
                            weight_decay_rate=1e-5, eps=1e-30)))
    assert_trees_close(
        run(optimizers.Adafactor(0.01, do_momentum=True, beta1=0.9, do_clipping=False,
                                 weight_decay_rate=0.0, min_dim_size_to_factor=1)),
        run(optax.adafactor(0.01, min_dim_size_to_factor=1, momentum=0.9,
                            clipping_threshold=None)))


def test_learning_rate_may_be_a_schedule():
    schedule = optimizers.linear(0.1, 0.0, 3)
    assert_trees_close(run(optimizers.Adam(schedule, weight_decay_rate=0.0)),
                       run(optax.adam(optax.linear_schedule(0.1, 0.0, 3), eps=1e-5)))
    assert_trees_close(run(optimizers.SGD(optimizers.constant(0.1))), run(optax.sgd(0.1)))


def test_with_schedule_replaces_the_learning_rate_but_not_trax_weight_decay():
    # Trax's lr_schedule sets opt_params['learning_rate']: the rate the optimizer was
    # built with is ignored, and the decay (1 - rate) * w is not scaled by it.
    schedule = optimizers.linear(0.1, 0.0, 3)
    for make in (lambda lr: optimizers.Adam(lr, weight_decay_rate=0.05),
                 lambda lr: optimizers.Momentum(lr, weight_decay_rate=0.05), optimizers.SGD,
                 optimizers.RMSProp, optimizers.Adafactor):
        assert_trees_close(run(optimizers.with_schedule(make(0.5), schedule)),
                           run(make(schedule)))
    scheduled = run(optimizers.with_schedule(optimizers.Adam(0.5, weight_decay_rate=0.05),
                                             optimizers.constant(0.0)))
    assert_trees_close(scheduled, jax.tree.map(lambda w: w * 0.95 ** 3, PARAMS))


def test_with_schedule_needs_a_learning_rate_it_can_set():
    with pytest.raises(TypeError, match="only the optimizers of trax_rl.optimizers"):
        optimizers.with_schedule(optax.adam(0.1), optimizers.constant(0.1)).init(PARAMS)
    with pytest.raises(ValueError, match="already follows a learning-rate schedule"):
        optimizers.with_schedule(optimizers.Adam(optimizers.constant(0.1)),
                                 optimizers.constant(0.1)).init(PARAMS)


@pytest.mark.parametrize("make, pattern", [
    (lambda: optimizers.Adam(-0.1), r"learning_rate=-0\.1.*>= 0"),
    (lambda: optimizers.Adam(float("nan")), r"learning_rate=nan"),
    (lambda: optimizers.Adam(0.1, b1=1.0), r"b1=1\.0.*\[0\.0, 1\.0\)"),
    (lambda: optimizers.Adam(0.1, b2=-0.5), r"b2=-0\.5.*\[0\.0, 1\.0\)"),
    (lambda: optimizers.Adam(0.1, clip_grad_norm=0), r"clip_grad_norm=0.*> 0"),
    (lambda: optimizers.Momentum(0.1, mass=1.5), r"mass=1\.5"),
    (lambda: optimizers.RMSProp(0.1, gamma=1.0), r"gamma=1\.0"),
    (lambda: optimizers.SGD("fast"), r"learning_rate='fast'"),
    (lambda: optimizers.Adafactor(clipping_threshold=0.5), r"clipping_threshold=0\.5"),
    (lambda: optimizers.warmup_and_rsqrt_decay(0, 0.1), r"n_warmup_steps=0"),
    (lambda: optimizers.warmup_cosine(0.0, 1.0, 10, 5), r"decay_steps=5"),
])
def test_bad_hyperparameters_name_value_and_range(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def values(schedule, counts):
    return [float(schedule(jnp.asarray(c))) for c in counts]


def test_warmup_and_rsqrt_decay_values():
    # Trax's step t = count + 1: max * t / n up to n, then max * sqrt(n / t).
    got = values(optimizers.warmup_and_rsqrt_decay(4, 0.1), range(8))
    expected = [0.025, 0.05, 0.075, 0.1, 0.1 * math.sqrt(4 / 5),
                0.1 * math.sqrt(4 / 6), 0.1 * math.sqrt(4 / 7), 0.1 * math.sqrt(4 / 8)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    jitted = jax.jit(optimizers.warmup_and_rsqrt_decay(4, 0.1))
    np.testing.assert_allclose(float(jitted(15)), 0.05, rtol=1e-6)


def test_optax_backed_schedules_values():
    np.testing.assert_allclose(values(optimizers.constant(0.3), [0, 100]), [0.3, 0.3])
    np.testing.assert_allclose(values(optimizers.linear(1.0, 0.0, 10), [0, 5, 10, 20]),
                               [1.0, 0.5, 0.0, 0.0], atol=1e-7)
    # alpha + (1 - alpha) * 0.5 * (1 + cos(pi * count / decay_steps)).
    np.testing.assert_allclose(values(optimizers.cosine(1.0, 10, alpha=0.1), [0, 5, 10]),
                               [1.0, 0.55, 0.1], rtol=1e-6)
    # Warmup 0 -> 1 over 2 steps, then cosine over the remaining 8 to 0.
    np.testing.assert_allclose(
        values(optimizers.warmup_cosine(0.0, 1.0, 2, 10), [0, 1, 2, 6, 10]),
        [0.0, 0.5, 1.0, 0.5, 0.0], atol=1e-6)
