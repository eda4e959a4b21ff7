"""Tests for trax_rl.train_state: create / apply_gradients, under jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from trax_rl import train_state
from trax_rl.optimizers import Adam

PARAMS = {"w": jnp.array([1.0, -2.0, 3.0]), "b": jnp.array(0.5)}
GRADS = {"w": jnp.array([0.1, 0.2, -0.3]), "b": jnp.array(1.0)}


def test_create_starts_at_step_zero():
    opt = optax.adam(1e-2)
    key = jax.random.key(0)
    state = train_state.create(PARAMS, opt, key)
    assert isinstance(state, train_state.TrainState)
    assert state.step.dtype == jnp.int32 and state.step.shape == () and int(state.step) == 0
    assert state.rng is key
    expected = opt.init(PARAMS)
    jax.tree_util.tree_map(np.testing.assert_array_equal, state.opt_state, expected)


def test_apply_gradients_is_one_optax_step_and_counts():
    opt = Adam(0.01)
    state = train_state.create(PARAMS, opt, jax.random.key(1))
    step = jax.jit(train_state.apply_gradients, static_argnums=2)
    new = step(state, GRADS, opt)
    new = step(new, GRADS, opt)

    params, opt_state = PARAMS, opt.init(PARAMS)
    for _ in range(2):
        updates, opt_state = opt.update(GRADS, opt_state, params)
        params = optax.apply_updates(params, updates)
    jax.tree_util.tree_map(np.testing.assert_allclose, new.params, params)
    assert int(new.step) == 2 and new.step.dtype == jnp.int32
    np.testing.assert_array_equal(jax.random.key_data(new.rng),
                                  jax.random.key_data(state.rng))


def test_vmap_over_seeds():
    opt = optax.sgd(0.5)

    def init_and_step(key):
        params = {"w": jax.random.normal(key, (3,))}
        state = train_state.create(params, opt, key)
        grads = jax.grad(lambda p: jnp.sum(p["w"] ** 2))(state.params)
        return state.params["w"], train_state.apply_gradients(state, grads, opt)

    keys = jax.random.split(jax.random.key(0), 4)
    initial, states = jax.vmap(init_and_step)(keys)
    # w - 0.5 * 2w = 0 for every seed.
    np.testing.assert_allclose(states.params["w"], np.zeros((4, 3)), atol=1e-7)
    assert not np.allclose(initial[0], initial[1])
    np.testing.assert_array_equal(states.step, [1, 1, 1, 1])


def _quadratic(params, batch):
    loss = jnp.sum((params["w"] - batch) ** 2)
    return loss, {"loss": loss}


def test_gradient_step_matches_a_hand_computed_sgd_step():
    opt = optax.sgd(0.1)
    state = train_state.create({"w": jnp.array([1.0, 2.0])}, opt, jax.random.key(0))
    new, metrics = jax.jit(train_state.gradient_step, static_argnums=(2, 3))(
        state, jnp.array([0.0, 0.0]), _quadratic, opt)
    # grad = 2 (w - batch) = [2, 4]; w - 0.1 grad = [0.8, 1.6].
    np.testing.assert_allclose(new.params["w"], [0.8, 1.6], rtol=1e-6)
    assert float(metrics["loss"]) == 5.0 and int(metrics[train_state.NONFINITE]) == 0
    assert int(new.step) == 1


def test_gradient_step_skips_a_nonfinite_step_and_flags_it():
    opt = Adam(0.01)
    state = train_state.create({"w": jnp.array([1.0, 2.0])}, opt, jax.random.key(0))
    for bad in (jnp.nan, jnp.inf):
        new, metrics = jax.jit(train_state.gradient_step, static_argnums=(2, 3))(
            state, jnp.array([bad, 0.0]), _quadratic, opt)
        assert int(metrics[train_state.NONFINITE]) == 1
        np.testing.assert_array_equal(new.params["w"], [1.0, 2.0])
        jax.tree.map(np.testing.assert_array_equal, new.opt_state, state.opt_state)
    with pytest.raises(train_state.NonFiniteError, match="update 7: the loss or a gradient"):
        train_state.check_finite(jax.device_get(metrics), 7, what="update")
    train_state.check_finite({train_state.NONFINITE: np.zeros(3)}, 1)  # All finite: passes.


def test_gradient_step_with_layer_state_threads_state_and_rng():
    opt = optax.sgd(1.0)

    def loss_fn(params, batch, layer_state, rng):
        noise = jax.random.uniform(rng)
        loss = jnp.sum(params["w"] * batch) + 0.0 * noise
        return loss, ({"noise": noise}, layer_state + 1)

    state = train_state.create({"w": jnp.ones(2)}, opt, jax.random.key(3),
                               layer_state=jnp.zeros((), jnp.int32))
    new, metrics = train_state.gradient_step(state, jnp.array([1.0, 2.0]), loss_fn, opt,
                                             with_layer_state=True)
    np.testing.assert_allclose(new.params["w"], [0.0, -1.0])
    assert int(new.layer_state) == 1
    rng, step_rng = jax.random.split(state.rng)
    np.testing.assert_array_equal(jax.random.key_data(new.rng), jax.random.key_data(rng))
    assert float(metrics["noise"]) == float(jax.random.uniform(step_rng))
