"""The public library paths (issue #12 item 10): user envs by id or import path,
`networks.make_apply` without its state, `--init_from`, one-call training."""

import os
import sys

import jax
import numpy as np
import pytest

from experiments import common
from experiments import ppo as ppo_script
from trax_rl import checkpoint
from trax_rl import envs
from trax_rl.agents import networks, ppo

TINY = ["--total_timesteps=256", "--num_envs=4", "--num_steps=32", "--eval_episodes=2",
        "--progress=False", "--compilation_cache="]

MY_ENV = '''
from trax_rl.envs.cartpole import CartPole

class ShortCartPole(CartPole):
    """A user's own JAX env (here: CartPole with a 20-step limit)."""

    @property
    def default_params(self):
        return super().default_params._replace(max_steps_in_episode=20)
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_envs.py").write_text(MY_ENV)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_envs:ShortCartPole"
    sys.modules.pop("my_envs", None)


def test_user_env_by_import_path_and_by_registered_id(user_module, tmp_path):
    env, params = envs.make(user_module)
    assert params.max_steps_in_episode == 20
    envs.register("MyShortCartPole-v0", user_module)
    try:
        assert "MyShortCartPole-v0" in envs.registered()
        summary = common.main(ppo, ppo_script.Args, {}, argv=TINY + [
            "--env=MyShortCartPole-v0", f"--output_dir={tmp_path / 'a'}"])
        assert 0 < summary["eval_return_mean"] <= 20
    finally:
        envs.registry._REGISTRY.pop("MyShortCartPole-v0")
    summary = common.main(ppo, ppo_script.Args, {}, argv=TINY + [
        f"--env={user_module}", f"--output_dir={tmp_path / 'b'}"])
    assert 0 < summary["eval_return_mean"] <= 20
    with pytest.raises(envs.UnknownEnvError, match="cannot import env 'nope.nope:X'"):
        envs.make("nope.nope:X")


def test_make_apply_needs_only_the_observation_space():
    env, params = envs.make("CartPole-v1")
    network = networks.network_for(env, params)
    space = env.observation_space(params)
    weights = networks.init_params(network, space, jax.random.PRNGKey(0))
    apply = networks.make_apply(network, env.action_space(params), space)
    dist, value = apply(weights, np.zeros((3, 4), np.float32))
    assert dist.logits.shape == (3, 2) and value.shape == (3,)
    with pytest.raises(TypeError, match="needs obs_space"):
        networks.make_apply(network, env.action_space(params))


# test_cli's runs: with the session's compilation cache these load its programs.
CLI_TINY = ["--env=CartPole-v1", "--total_timesteps=2048", "--num_envs=4", "--num_steps=32",
            "--eval_episodes=3", "--progress=False", "--compilation_cache="]


def test_init_from_starts_every_seed_from_the_given_weights(tmp_path, monkeypatch):
    first = str(tmp_path / "first")
    common.main(ppo, ppo_script.Args, ppo_script.TUNED,
                argv=CLI_TINY + [f"--output_dir={first}"])
    saved, _ = checkpoint.load_arrays(os.path.join(first, "checkpoint.ckpt"))
    seen = {}
    real = common._init_from

    def spy(path, state):
        state = real(path, state)
        seen.update(checkpoint_keys=jax.tree_util.tree_flatten_with_path(
            state.learner_state.params)[0])
        return state

    monkeypatch.setattr(common, "_init_from", spy)
    common.main(ppo, ppo_script.Args, ppo_script.TUNED, argv=CLI_TINY + [
        "--num_seeds=2", f"--init_from={first}", f"--output_dir={tmp_path / 'second'}"])
    for path, leaf in seen["checkpoint_keys"]:
        key = ".learner_state.params" + jax.tree_util.keystr(path)
        for seed in range(2):
            np.testing.assert_array_equal(leaf[seed], saved[key][0])
    with pytest.raises(SystemExit):  # A different network: one line, exit 2.
        common.main(ppo, ppo_script.Args, {}, argv=TINY + [
            "--env=Acrobot-v1", f"--init_from={first}", f"--output_dir={tmp_path / 'x'}"])


def test_train_in_one_call_on_a_jax_env_and_through_the_bridge():
    from trax_rl import agents

    result = agents.train("a2c", "CartPole-v1", total_timesteps=512, num_envs=4,
                          num_steps=32, num_seeds=2, seed=3)
    assert result.metrics["charts/env_steps"].shape == (2, 4)
    assert jax.tree.leaves(result.params)[0].shape[0] == 2
    # FrozenLake-v1 has no JAX port: the host bridge.
    bridged = agents.train(ppo, "FrozenLake-v1", config=ppo.PPOConfig(
        total_timesteps=256, num_envs=2, num_steps=32, num_minibatches=2))
    assert bridged.metrics["charts/env_steps"].tolist() == [64, 128, 192, 256]
    start = jax.tree.map(np.zeros_like, result.learner_state.params)
    start = jax.tree.map(lambda x: x[0], start)
    again = agents.train("a2c", "CartPole-v1", total_timesteps=128, num_envs=4, num_steps=32,
                         init_params=start, learning_rate=1e-9, anneal_lr=False)
    assert max(float(np.abs(x).max()) for x in jax.tree.leaves(again.params)) < 1e-6
    with pytest.raises(ValueError, match="algo must be one of"):
        agents.train("dqn", "CartPole-v1")
