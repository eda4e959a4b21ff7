"""The experiments' headline results, as (slow) learning tests of the command line.

Each runs the script with its tuned defaults and asserts the deterministic evaluation
the issue asks for; seeds are the scripts' defaults (seed 0).
"""

import importlib

import pytest

from experiments import common

pytestmark = pytest.mark.slow


def _run(tmp_path, script, *flags):
    module = importlib.import_module(f"experiments.{script}")
    algo = importlib.import_module(f"trax_rl.agents.{script}")
    argv = [*flags, "--progress=False", f"--output_dir={tmp_path / 'out'}"]
    return common.main(algo, module.Args, module.TUNED, argv=argv)


@pytest.mark.parametrize("script", ["ppo", "a2c", "reinforce", "awr"])
def test_cartpole_is_solved(tmp_path, script):
    assert _run(tmp_path, script, "--env=CartPole-v1")["eval_return_mean"] >= 475


def test_ppo_lstm_solves_cartpole_without_velocities(tmp_path):
    summary = _run(tmp_path, "ppo", "--env=CartPoleNoVelocity-v1", "--torso=lstm")
    assert summary["eval_return_mean"] >= 475


def test_ppo_acrobot(tmp_path):
    assert _run(tmp_path, "ppo", "--env=Acrobot-v1")["eval_return_mean"] >= -100


def test_ppo_pendulum(tmp_path):
    assert _run(tmp_path, "ppo", "--env=Pendulum-v1")["eval_return_mean"] >= -250


def test_ppo_through_the_gymnasium_bridge(tmp_path):
    summary = _run(tmp_path, "ppo", "--env=CartPole-v1", "--bridge")
    assert summary["eval_return_mean"] >= 475


def test_ppo_learns_frozen_lake_through_the_bridge(tmp_path):
    summary = _run(tmp_path, "ppo", "--env=FrozenLake-v1", "--eval_episodes=500")
    assert summary["eval_return_mean"] >= 0.6  # Success rate; random play gets ~0.015.


def test_ppo_mountain_car_continuous(tmp_path):
    summary = _run(tmp_path, "ppo", "--env=MountainCarContinuous-v0")
    assert summary["eval_return_mean"] >= 90  # rl-zoo's bar; doing nothing scores 0.


def test_ppo_mountain_car(tmp_path):
    assert _run(tmp_path, "ppo", "--env=MountainCar-v0")["eval_return_mean"] >= -110


def test_ppo_cnn_learns_minatar_breakout(tmp_path):
    # A uniform-random policy averages 0.38 (77k episodes); seeds 0 and 1 reached 3.23 and
    # 3.07 (experiments/README.md).
    summary = _run(tmp_path, "ppo", "--env=MinAtar/Breakout-v1", "--total_timesteps=150000")
    assert summary["eval_return_mean"] >= 2.0
