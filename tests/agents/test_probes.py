"""Agents on probe environments: learned values and policies match closed forms.

Each probe isolates one part of an agent (see `trax_rl.envs.probes`): value targets of
a terminal step, values that read the observation, discounting, the policy gradient,
and the Gaussian policy. A failure names the broken part.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trax_rl import envs
from trax_rl.agents import a2c
from trax_rl.agents import awr
from trax_rl.agents import ppo
from trax_rl.agents import reinforce
from trax_rl.agents import networks
from trax_rl.agents import training

GAMMA = 0.9

# Small runs: 8 envs, 16k steps, a constant learning rate; the runs cost little next
# to their compilation.
CONFIGS = {
    "ppo": ppo.PPOConfig(total_timesteps=8192, num_envs=8, num_steps=16, learning_rate=3e-3,
                         anneal_lr=False, gamma=GAMMA),
    "a2c": a2c.A2CConfig(total_timesteps=16384, num_envs=8, num_steps=4, learning_rate=3e-3,
                         anneal_lr=False, gamma=GAMMA),
    "reinforce": reinforce.ReinforceConfig(total_timesteps=16384, num_envs=8, num_steps=4,
                                           learning_rate=3e-3, anneal_lr=False, gamma=GAMMA),
    "awr": awr.AWRConfig(total_timesteps=4096, num_envs=8, num_steps=16, learning_rate=1e-3,
                         value_learning_rate=3e-3, buffer_size=1024, value_steps=20,
                         policy_steps=20, minibatch_size=64, gamma=GAMMA),
}
SEEDS = 2
# The runs take ~0.1 s; compiling them takes seconds, ~40% less without LLVM's
# optimizations.
FAST_COMPILE = {"xla_backend_optimization_level": 0}
MODULES = {"ppo": ppo, "a2c": a2c, "reinforce": reinforce, "awr": awr}
# PPO and A2C run every probe in the fast suite; REINFORCE and AWR run ConstantReward
# there (which also checks that `jax.vmap(train)` runs) and the rest as `slow`: each
# probe is a fresh XLA compilation, seconds on a 2-core CPU.
ALGOS = ["ppo", "a2c", pytest.param("reinforce", marks=pytest.mark.slow),
         pytest.param("awr", marks=pytest.mark.slow)]


def _train(algo, env_id):
    """Trains `algo` on `env_id` for `SEEDS` seeds under `jax.vmap`.

    Returns `(apply, params)`; `params` leaves have a leading `[SEEDS]` axis.
    """
    env, env_params = envs.make(env_id)
    config = CONFIGS[algo]
    network = networks.network_for(env, env_params)
    learner = MODULES[algo].make_learner(config, network, env.action_space(env_params),
                                         env.observation_space(env_params))
    train = training.make_train_fn(training.make_trainer(learner, config, env, env_params))
    keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
    runner_state, _ = jax.jit(jax.vmap(train), compiler_options=FAST_COMPILE)(keys)
    apply = lambda params, obs: learner.policy.apply(params, obs, (), None)[:2]  # noqa: E731
    return jax.vmap(apply, in_axes=(0, None)), jax.vmap(learner.params)(
        runner_state.learner_state)


def _obs(*values):
    return jnp.array(values, jnp.float32)[:, None]  # (N, 1)


@pytest.mark.parametrize("algo", list(MODULES))
def test_constant_reward_value(algo):
    apply, params = _train(algo, "Probe/ConstantReward-v0")
    _, value = apply(params, _obs(0.0))
    np.testing.assert_allclose(value, [[1.0]] * SEEDS, atol=0.1)


@pytest.mark.parametrize("algo", ALGOS)
def test_observation_reward_value(algo):
    apply, params = _train(algo, "Probe/ObservationReward-v0")
    _, values = apply(params, _obs(-1.0, 1.0))
    np.testing.assert_allclose(values, [[-1.0, 1.0]] * SEEDS, atol=0.1)


@pytest.mark.parametrize("algo", ALGOS)
def test_two_step_discount_value(algo):
    apply, params = _train(algo, "Probe/TwoStepDiscount-v0")
    _, values = apply(params, _obs(0.0, 1.0))
    np.testing.assert_allclose(values, [[GAMMA, 1.0]] * SEEDS, atol=0.1)


@pytest.mark.parametrize("algo", ALGOS)
def test_action_reward_policy(algo):
    apply, params = _train(algo, "Probe/ActionReward-v0")
    dist, _ = apply(params, _obs(-1.0, 1.0))
    right = jnp.exp(dist.log_prob(jnp.array([[0, 1]] * SEEDS)))  # (SEEDS, 2)
    assert np.all(right > 0.9), f"pi(right action) = {right}"


@pytest.mark.parametrize("algo", ALGOS)
def test_continuous_action_reward_mean(algo):
    apply, params = _train(algo, "Probe/ContinuousActionReward-v0")
    dist, _ = apply(params, _obs(-0.5, 0.5))
    np.testing.assert_allclose(dist.mode()[..., 0], [[-0.5, 0.5]] * SEEDS, atol=0.1)
