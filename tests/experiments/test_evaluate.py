"""Evaluating and watching trained agents: experiments.evaluate and load_policy (item 9)."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments import common
from experiments import evaluate
from experiments import ppo as ppo_script
from trax_rl import checkpoint
from trax_rl.agents import networks, ppo

# test_cli's configurations (a run of 2048 steps, one of a single update): with the
# session's compilation cache, whichever test compiles them first serves the others.
TINY = ["--env=CartPole-v1", "--total_timesteps=2048", "--num_envs=4", "--num_steps=32",
        "--eval_episodes=3", "--progress=False", "--compilation_cache="]
ONE_UPDATE = ["--env=CartPole-v1", "--num_envs=4", "--num_steps=32", "--total_timesteps=128",
              "--eval_episodes=2", "--progress=False", "--compilation_cache="]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run") / "ppo")
    common.main(ppo, ppo_script.Args, ppo_script.TUNED,
                argv=TINY + ["--num_seeds=2", "--seed=4", f"--output_dir={out}"])
    return out


def test_load_policy_acts_with_the_checkpointed_params(run_dir):
    policy = evaluate.load_policy(run_dir, seed_index=1)
    arrays, _ = checkpoint.load_arrays(os.path.join(run_dir, "checkpoint.ckpt"))
    leaves = jax.tree_util.tree_flatten_with_path(policy.params)[0]
    for path, leaf in leaves:
        key = ".learner_state.params" + jax.tree_util.keystr(path)
        np.testing.assert_array_equal(leaf, arrays[key][1], err_msg=key)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    from trax_rl import envs
    env, params = envs.make("CartPole-v1")
    apply = networks.make_apply(networks.network_for(env, params), env.action_space(params),
                                env.observation_space(params))
    logits = apply(policy.params, obs)[0].logits
    np.testing.assert_array_equal(policy(obs), np.argmax(logits, axis=-1))
    assert policy(obs[0]).shape == ()  # One observation in, one action out.


def test_evaluate_cli_prints_returns_and_writes_a_video(run_dir, tmp_path):
    gif = tmp_path / "episode.gif"
    result = subprocess.run(
        [sys.executable, "-m", "experiments.evaluate", f"--run_dir={run_dir}", "--episodes=2",
         "--stochastic", f"--video={gif}"],
        capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "SDL_AUDIODRIVER": "dummy"})
    assert result.returncode == 0, result.stderr
    assert "eval return:" in result.stdout and "over 2 episodes" in result.stdout
    from PIL import Image
    with Image.open(gif) as image:
        assert image.n_frames > 1 and image.size == (600, 400)


def test_evaluate_cli_bad_run_dir_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "experiments.evaluate",
                             f"--run_dir={tmp_path}"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --run_dir: no run in {tmp_path} (no config.json)"]


def test_load_policy_of_a_recurrent_run_keeps_and_resets_its_memory(tmp_path):
    out = str(tmp_path / "lstm")
    common.main(ppo, ppo_script.Args, ppo_script.TUNED,
                argv=ONE_UPDATE + ["--torso=lstm", "--num_minibatches=2",
                                   "--env=CartPoleNoVelocity-v1", f"--output_dir={out}"])
    policy = evaluate.load_policy(out)
    returns = evaluate.evaluate(policy, "CartPoleNoVelocity-v1", 1)
    assert returns.shape == (1,) and returns[0] >= 1
    policy.reset()
    assert policy._carry is None
    policy(np.zeros(2, np.float32))
    assert policy._carry.shape == (1, 128)


@pytest.mark.parametrize("flags", [["--num_seeds=2", "--seed=4"], ["--bridge"]],
                         ids=["jax", "bridge"])
def test_load_policy_applies_the_checkpointed_normalizer_frozen(tmp_path, flags):
    out = str(tmp_path / "normalized")
    common.main(ppo, ppo_script.Args, ppo_script.TUNED,
                argv=TINY + flags + ["--normalize_obs", "--normalize_reward",
                                     f"--output_dir={out}"])
    seed_index = 1 if "--num_seeds=2" in flags else 0
    policy = evaluate.load_policy(out, seed_index=seed_index)
    arrays, _ = checkpoint.load_arrays(os.path.join(out, "checkpoint.ckpt"))
    mean = arrays[".normalizer.obs.mean"]
    mean = mean[seed_index] if "--num_seeds=2" in flags else mean
    np.testing.assert_array_equal(policy.normalizer.obs.mean, mean)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32) * 3
    actions = policy(obs)
    evaluate.evaluate(policy, "CartPole-v1", 2)
    np.testing.assert_array_equal(policy.normalizer.obs.mean, mean)  # Frozen.
    dist, _, _ = policy.policy.apply(policy.params, policy.normalizer.obs.normalize(obs, 10.0),
                                     (), None)
    np.testing.assert_array_equal(actions, np.argmax(dist.logits, axis=-1))
