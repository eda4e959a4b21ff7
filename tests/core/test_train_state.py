"""Tests for trax_rl.train_state: create / apply_gradients, under jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

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
