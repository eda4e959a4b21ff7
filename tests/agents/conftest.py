"""Fixtures shared by the agent tests."""

import jax
import jax.numpy as jnp
import pytest

from trax_rl import envs


@pytest.fixture
def final_returns():
    """`final_returns(algo, config, env_id, seed=0, fraction=0.1)`: one jitted run of
    `algo.make_train`; the mean episode return over the last `fraction` of its updates."""

    def run(algo, config, env_id="CartPole-v1", seed=0, fraction=0.1):
        env, env_params = envs.make(env_id)
        _, metrics = jax.jit(algo.make_train(config, env, env_params))(
            jax.random.PRNGKey(seed))
        returns = metrics["charts/episode_return"]  # (num_updates,), NaN where none ended
        tail = max(1, int(returns.shape[0] * fraction))
        return float(jnp.nanmean(returns[-tail:]))

    return run
