"""Item: no program the project builds issues a batched LAPACK call (they can deadlock).

jax 0.10.2 on a 2-core CPU hung in a batched `lapack_sgeqrf_ffi` (the orthogonal
initializer's QR under `vmap` over seeds). The multi-seed programs must keep every
LAPACK custom call unbatched (`num_batch_dims = "0"`) and compute the same weights.
"""

import re

import jax
import numpy as np
import pytest

from trax_rl import envs
from trax_rl.agents import a2c, awr, networks, ppo, recurrent, reinforce, training

LAPACK = re.compile(r'custom_call @(lapack_\w+).*?num_batch_dims = "(\d+)"')


def _lapack_calls(fn, *args):
    return LAPACK.findall(jax.jit(fn).lower(*args).as_text())


def _keys(n):
    return jax.vmap(jax.random.PRNGKey)(np.arange(n))


@pytest.mark.parametrize("algo", [ppo, a2c, reinforce, awr])
def test_vmapped_init_has_only_unbatched_lapack_calls(algo):
    env, params = envs.make("CartPole-v1")
    config = algo.Config(total_timesteps=1024, num_envs=4, num_steps=16)
    learner = algo.make_learner(config, networks.network_for(env, params),
                                env.action_space(params), env.observation_space(params))
    trainer = training.make_trainer(learner, config, env, params)
    calls = _lapack_calls(jax.vmap(trainer.init), _keys(8))
    assert calls, "the orthogonal init should call LAPACK's QR (else this test is moot)"
    assert all(batch == "0" for _, batch in calls), calls


def test_recurrent_init_has_only_unbatched_lapack_calls():
    env, params = envs.make("CartPoleNoVelocity-v1")
    config = ppo.PPOConfig(total_timesteps=1024, num_envs=4, num_steps=16, num_minibatches=2)
    learner = recurrent.make_learner(config, env.action_space(params),
                                     env.observation_space(params))
    trainer = training.make_trainer(learner, config, env, params)
    calls = _lapack_calls(jax.vmap(trainer.init), _keys(4))
    assert calls and all(batch == "0" for _, batch in calls), calls


def test_whole_vmapped_train_has_only_unbatched_lapack_calls():
    env, params = envs.make("CartPole-v1")
    train = ppo.make_train(ppo.PPOConfig(total_timesteps=512, num_envs=4, num_steps=16),
                           env, params)
    calls = _lapack_calls(jax.vmap(train), _keys(8))
    assert calls and all(batch == "0" for _, batch in calls), calls


def test_mapped_init_computes_the_vmapped_values():
    env, params = envs.make("CartPole-v1")
    network = networks.network_for(env, params)
    space = env.observation_space(params)
    keys = _keys(3)
    mapped = jax.jit(jax.vmap(lambda k: networks.init_network(network, space, k)[0]))(keys)
    for i in range(3):
        single = networks.init_network(network, space, keys[i])[0]
        for a, b in zip(jax.tree.leaves(mapped), jax.tree.leaves(single)):
            np.testing.assert_allclose(a[i], b, rtol=1e-6, atol=1e-6)


def test_map_when_vmapped_maps_only_the_batched_arguments():
    fn = networks.map_when_vmapped(lambda x, y: x * 2 + y)
    out = jax.vmap(fn, in_axes=(0, None))(np.arange(3.0), 10.0)
    np.testing.assert_allclose(out, [10.0, 12.0, 14.0])
    assert float(fn(1.0, 1.0)) == 3.0
