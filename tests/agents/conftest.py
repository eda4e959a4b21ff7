"""Fixtures shared by the agent tests."""

import jax
import jax.numpy as jnp
import pytest

from trax_rl import envs


@pytest.fixture
def final_returns():
    """`final_returns(algo, config, env_id, seed=0, fraction=0.1, num_seeds=1)`: a jitted
    run of `algo.make_train` (vmapped over seeds seed..seed+num_seeds-1); the mean episode
    return over the last `fraction` of its updates (the median over seeds)."""

    def run(algo, config, env_id="CartPole-v1", seed=0, fraction=0.1, num_seeds=1):
        env, env_params = envs.make(env_id)
        keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(seed, seed + num_seeds))
        one_seed = algo.make_train(config, env, env_params)
        if num_seeds == 1:  # Unbatched: a size-1 vmap would run both sides of every cond.
            _, metrics = jax.tree.map(lambda x: x[None], jax.jit(one_seed)(keys[0]))
        else:
            _, metrics = jax.jit(jax.vmap(one_seed))(keys)
        returns = metrics["charts/episode_return"]  # (num_seeds, num_updates), NaN: none ended
        tail = max(1, int(returns.shape[1] * fraction))
        return float(jnp.median(jnp.nanmean(returns[:, -tail:], axis=1)))

    return run
