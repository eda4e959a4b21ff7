"""The experiments command line: files, summary, bad input, exact resume."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments import common
from experiments import ppo as ppo_script
from trax_rl import checkpoint
from trax_rl.agents import ppo

TINY = ["--env=CartPole-v1", "--total_timesteps=2048", "--num_envs=4", "--num_steps=32",
        "--eval_episodes=3", "--progress=False", "--compilation_cache="]


def _run(tmp_path, *extra, name="run"):
    out = str(tmp_path / name)
    summary = common.main(ppo, ppo_script.Args, ppo_script.TUNED,
                          argv=TINY + [f"--output_dir={out}", *extra])
    return out, summary


def test_run_writes_every_file(tmp_path, capsys, monkeypatch):
    real_save, saves = checkpoint.save, []
    monkeypatch.setattr(checkpoint, "save",
                        lambda *a, **k: (saves.append(1), real_save(*a, **k)))
    out, summary = _run(tmp_path, "--checkpoint_every=1e9")
    assert len(saves) == 1  # The last chunk's checkpoint, however long it took.
    for name in ("config.json", "metrics.jsonl", "checkpoint.ckpt", "learning_curve.png",
                 "summary.json"):
        assert os.path.exists(os.path.join(out, name)), name
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(out))
    with open(os.path.join(out, "summary.json")) as f:
        saved = json.load(f)
    assert saved == summary
    assert set(saved) >= {"env_id", "algo", "seed", "env_steps", "wall_seconds",
                          "eval_return_mean", "eval_return_std", "eval_episodes"}
    assert saved["env_steps"] == 2048 and saved["eval_episodes"] == 3
    lines = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    assert lines[-1]["step"] == 2048  # Logged at env steps, one line per update.
    assert [l["step"] for l in lines[:-1]] == list(range(128, 2049, 128))
    assert "losses/approx_kl" in lines[0]
    assert "eval return:" in capsys.readouterr().out


def test_main_leaves_the_global_prng_impl_as_it_was(tmp_path):
    import jax
    before = jax.config.jax_default_prng_impl
    _run(tmp_path, "--prng_impl=unsafe_rbg", "--total_timesteps=128")
    assert jax.config.jax_default_prng_impl == before


def test_num_seeds_reports_each(tmp_path):
    _, summary = _run(tmp_path, "--num_seeds=2")
    assert len(summary["eval_return_mean_per_seed"]) == 2
    assert summary["eval_episodes"] == 6


@pytest.mark.parametrize("flags", [[], ["--normalize_obs", "--normalize_reward"]],
                         ids=["plain", "normalized"])
def test_resume_continues_exactly(tmp_path, monkeypatch, flags):
    full, _ = _run(tmp_path, *flags, name="full")
    real_save, calls = checkpoint.save, []

    def crash_after_two(path, tree, **kwargs):
        real_save(path, tree, **kwargs)
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, *flags, "--checkpoint_every=0", name="resumed")
    monkeypatch.setattr(checkpoint, "save", real_save)
    resumed, _ = _run(tmp_path, *flags, "--resume", name="resumed")
    a, _ = checkpoint.load_arrays(os.path.join(full, "checkpoint.ckpt"))
    b, _ = checkpoint.load_arrays(os.path.join(resumed, "checkpoint.ckpt"))
    assert a.keys() == b.keys()
    assert any(k.startswith(".normalizer.") for k in a) == bool(flags)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("flag, message", [
    ("--env=NoSuchEnv-v0", "unknown env 'NoSuchEnv-v0'"),
    ("--num_minibatches=0", "num_minibatches must be >= 1, got 0"),
    ("--bridge --torso=transformer", "--torso=transformer runs on JAX envs"),
    ("--resume", "--resume: no checkpoint at"),
    ("--resume --overwrite", "contradict"),
    ("--hang_timeout=-1", "--hang_timeout must be >= 0"),
    ("--num_minibatches=3", "num_minibatches=3 must divide"),
    ("--learning_rate=-1", "learning_rate must be > 0"),
    ("--torso=resnet", "--torso must be mlp, transformer, lstm or cnn, got 'resnet'"),
    ("--torso=cnn", "--torso=cnn needs image observations [H, W, C], got shape (4,)"),
    ("--env=LunarLander-v3", 'gymnasium[box2d]'),
    ("--anneal_lr=maybe", "--anneal_lr must be True or False"),
    ("--normalize_obs=maybe", "--normalize_obs must be True or False"),
    ("--normalize_reward --clip_reward=0", "clip_reward must be > 0, got 0.0"),
    ("--clip_obs=-1", "clip_obs must be > 0, got -1.0"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, flag, message):
    out = tmp_path / "bad"
    with pytest.raises(SystemExit) as exit_info:
        _run(tmp_path, *flag.split(), name="bad")
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2, stderr
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_input_exits_the_process_with_code_2(tmp_path):
    """The in-process checks above, once as a real process: its exit code and stderr."""
    out = tmp_path / "bad"
    result = subprocess.run(
        [sys.executable, "-m", "experiments.ppo", *TINY, "--env=NoSuchEnv-v0",
         f"--output_dir={out}"],
        capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.abspath(__file__)))))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "unknown env 'NoSuchEnv-v0'" in result.stderr
    assert not out.exists()


def test_help_lists_every_hyperparameter_with_its_default():
    result = subprocess.run([sys.executable, "-m", "experiments.ppo", "--help"],
                            capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"},
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__)))))
    assert result.returncode == 0
    for field in ("--total_timesteps", "--clip_eps", "--gae_lambda", "--env", "--num_seeds",
                  "--wandb", "--resume", "--eval_episodes", "--normalize_obs",
                  "--normalize_reward", "--clip_obs", "--clip_reward"):
        assert field in result.stdout, field
    assert "Surrogate clipping coefficient" in result.stdout


@pytest.mark.parametrize("script, extra", [
    ("a2c", []),
    ("reinforce", []),
    ("awr", ["--value_steps=2", "--policy_steps=2", "--minibatch_size=32"]),
    ("ppo", ["--torso=transformer", "--window=4"]),
    ("ppo", ["--torso=lstm", "--num_minibatches=2", "--env=CartPoleNoVelocity-v1"]),
    ("ppo", ["--env=Pendulum-v1", "--num_minibatches=2"]),
    pytest.param("ppo", ["--env=MinAtar/Breakout-v1", "--torso=cnn", "--num_minibatches=2"],
                 marks=pytest.mark.xla_optimized),  # Pixels: AtariCnn runs slowly unoptimized.
    ("ppo", ["--bridge"]),
    ("a2c", ["--bridge", "--normalize_obs", "--normalize_reward"]),
    ("awr", ["--normalize_obs", "--normalize_reward", "--value_steps=2", "--policy_steps=2",
             "--minibatch_size=32"]),
    # No time limit of its own: evaluation must still end (the bridge's step bound).
    ("ppo", ["--env=CliffWalking-v1"]),
    ("a2c", ["--env=Blackjack-v1"]),  # Tuple observations, flattened.
], ids=["a2c", "reinforce", "awr", "ppo-transformer", "ppo-lstm", "ppo-pendulum", "ppo-cnn",
        "ppo-bridge", "a2c-bridge-normalized", "awr-normalized", "ppo-cliffwalking",
        "a2c-blackjack"])
def test_every_script_runs_one_update(tmp_path, script, extra):
    import importlib
    module = importlib.import_module(f"experiments.{script}")
    algo = importlib.import_module(f"trax_rl.agents.{script}")
    argv = ["--env=CartPole-v1", "--num_envs=4", "--num_steps=32", "--total_timesteps=128",
            "--eval_episodes=2", "--progress=False", "--compilation_cache=",
            f"--output_dir={tmp_path / 'out'}", *extra]
    summary = common.main(algo, module.Args, module.TUNED, argv=argv)
    assert summary["env_steps"] == 128
    assert np.isfinite(summary["eval_return_mean"])


def test_wandb_flag_logs_an_offline_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_dir"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    out, _ = _run(tmp_path, "--wandb")
    runs = glob.glob(os.path.join(str(tmp_path), "**", "offline-run-*"), recursive=True)
    assert runs, "no offline W&B run was written"


def test_a_run_never_replaces_an_earlier_one_unless_asked(tmp_path):
    out, _ = _run(tmp_path)
    with open(os.path.join(out, "summary.json")) as f:
        before = f.read()
    with pytest.raises(SystemExit) as exit_info:
        _run(tmp_path)
    assert exit_info.value.code == 2
    with open(os.path.join(out, "summary.json")) as f:
        assert f.read() == before
    _run(tmp_path, "--overwrite")
    lines = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    assert [l["step"] for l in lines if "charts/env_steps" in l] == list(range(128, 2049, 128))
    assert len([f for f in os.listdir(out) if f.startswith("events.out")]) == 1


def test_default_run_folders_are_unique_and_reported(tmp_path, capsys):
    """Run from outside the repo root (the installed package), twice, with no --output_dir."""
    # The session's compilation cache: both runs load test_cli's programs (or the first
    # run's); the seed is an argument, not part of the program.
    cache = os.environ.get("TRAX_RL_TEST_JAX_CACHE", str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "experiments.ppo", *TINY, "--seed=11",
           f"--compilation_cache={cache}"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for expected in ("ppo_CartPole-v1_seed11", "ppo_CartPole-v1_seed11-2"):
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert f"files in {tmp_path / 'runs' / expected}: config.json" in result.stdout
    assert sorted(os.listdir(tmp_path / "runs")) == ["ppo_CartPole-v1_seed11",
                                                     "ppo_CartPole-v1_seed11-2"]


def test_max_episode_steps_bounds_training_and_evaluation(tmp_path):
    out, summary = _run(tmp_path, "--max_episode_steps=20", "--total_timesteps=512")
    assert 0 < summary["eval_return_mean"] <= 20
    lengths = [json.loads(l).get("charts/episode_length", 0)
               for l in open(os.path.join(out, "metrics.jsonl"))]
    assert max(lengths) <= 20
