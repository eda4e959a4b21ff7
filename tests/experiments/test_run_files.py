"""Run files under failure: divergence, kills at any moment, resume (issue #12 items 4, 6).

A run killed anywhere and resumed must end with the uninterrupted run's checkpoint
(bit-exact), each metric step logged once (JSONL and TensorBoard), and a learning curve
and wall time that cover the whole run. A diverging run stops with one line naming the
update, exit code 1, and its last good checkpoint.
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments import backends
from experiments import common
from experiments import ppo as ppo_script
from trax_rl import checkpoint
from trax_rl.agents import ppo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--env=CartPole-v1", "--total_timesteps=2048", "--num_envs=4", "--num_steps=32",
        "--eval_episodes=3", "--progress=False", "--checkpoint_every=0",
        "--compilation_cache="]  # Leaves JAX on the session's cache (tests/conftest.py).
UPDATES, BATCH = 16, 128


def _run(out, *extra):
    return common.main(ppo, ppo_script.Args, ppo_script.TUNED,
                       argv=TINY + [f"--output_dir={out}", *extra])


def _steps_jsonl(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line)["step"] for line in f if "charts/env_steps" in line]


def _steps_tensorboard(out, tag="charts/env_steps"):
    from tensorboard.backend.event_processing import event_accumulator
    acc = event_accumulator.EventAccumulator(out)
    acc.Reload()
    return [e.step for e in acc.Scalars(tag)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("full") / "run")
    _run(out)
    return out


def _crash_on_save(monkeypatch, at_call, mode):
    """Makes the `at_call`-th checkpoint save die: before writing, mid-write, or after."""
    real_save, calls = checkpoint.save, []

    def save(path, tree, **kwargs):
        calls.append(path)
        if len(calls) == at_call:
            if mode == "torn":  # A kill mid-save leaves the temp file behind.
                with open(os.path.join(os.path.dirname(path), ".checkpoint.ckpt.x.tmp"),
                          "wb") as f:
                    f.write(b"PK\x03\x04 half a zip")
            if mode == "after":
                real_save(path, tree, **kwargs)
            raise KeyboardInterrupt
        real_save(path, tree, **kwargs)

    monkeypatch.setattr(checkpoint, "save", save)
    return real_save


@pytest.mark.parametrize("at_call, mode", [(1, "before"), (3, "before"), (7, "torn"),
                                           (5, "after"), (16, "before")])
def test_kill_anywhere_then_resume_matches_the_uninterrupted_run(
        tmp_path, monkeypatch, uninterrupted, at_call, mode):
    out = str(tmp_path / "run")
    real_save = _crash_on_save(monkeypatch, at_call, mode)
    with pytest.raises(KeyboardInterrupt):
        _run(out)
    monkeypatch.setattr(checkpoint, "save", real_save)
    if at_call == 1 and mode == "before":  # Killed before any checkpoint: start again.
        with pytest.raises(SystemExit):  # The folder holds a run: no silent overwrite.
            _run(out)
        summary = _run(out, "--overwrite")
    else:
        summary = _run(out, "--resume", "--eval_episodes=2", "--progress=True")

    a, meta_a = checkpoint.load_arrays(os.path.join(uninterrupted, "checkpoint.ckpt"))
    b, meta_b = checkpoint.load_arrays(os.path.join(out, "checkpoint.ckpt"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    every_step = list(range(BATCH, BATCH * UPDATES + 1, BATCH))
    assert _steps_jsonl(out) == every_step
    assert _steps_tensorboard(out) == every_step
    assert meta_b["curve"] == meta_a["curve"] and len(meta_b["curve"]) == UPDATES
    assert not any(n.endswith(".tmp") for n in os.listdir(out))
    assert summary["wall_seconds"] >= meta_b["elapsed_seconds"] > 0


def test_resume_accepts_flags_that_do_not_change_the_computation(tmp_path):
    out = str(tmp_path / "run")
    _run(out)
    moved = str(tmp_path / "moved")
    os.rename(out, moved)
    summary = _run(moved, "--resume", "--eval_episodes=5",
                   "--hang_timeout=60", "--progress=True")
    assert summary["eval_episodes"] == 5
    with pytest.raises(SystemExit) as exit_info:
        _run(moved, "--resume", "--learning_rate=0.1")
    assert exit_info.value.code == 2


def test_resume_from_a_corrupt_checkpoint_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    _run(str(out))
    with open(out / "checkpoint.ckpt", "r+b") as f:
        f.seek(100)
        f.write(b"\x00" * 64)
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}
    result = subprocess.run(
        [sys.executable, "-m", "experiments.ppo", *TINY, "--resume",
         f"--output_dir={out}", "--compilation_cache="],
        capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: --resume:")
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before


def test_diverging_run_stops_naming_the_update_and_exits_1(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "experiments.ppo", *TINY, "--learning_rate=1e30",
         "--max_grad_norm=1e30", f"--output_dir={out}", "--compilation_cache="],
        capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: update ")
    assert "(seed 0): the loss or a gradient is NaN or inf" in lines[0]
    assert not (out / "summary.json").exists()
    if (out / "checkpoint.ckpt").exists():  # Whatever was saved is finite.
        arrays, _ = checkpoint.load_arrays(str(out / "checkpoint.ckpt"))
        assert all(np.all(np.isfinite(v)) for v in arrays.values()
                   if np.issubdtype(v.dtype, np.floating))


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    """Params turned to NaN in the 4th chunk: the guard stops the run at update 4."""
    real_backend = backends.jax_backend

    def poisoned(*args, **kwargs):
        backend = real_backend(*args, **kwargs)
        real_chunk, calls = backend.run_chunk, []

        def run_chunk(state):
            calls.append(1)
            if len(calls) == 4:
                state = jax.tree.map(lambda x: x * np.nan if x.dtype == np.float32 else x,
                                     state)
            return real_chunk(state)

        backend.run_chunk = run_chunk
        return backend

    monkeypatch.setattr(backends, "jax_backend", poisoned)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        _run(str(out), "--num_seeds=2", "--seed=3")
    assert exit_info.value.code == 1
    arrays, meta = checkpoint.load_arrays(str(out / "checkpoint.ckpt"))
    assert meta["updates"] == 3
    assert all(np.all(np.isfinite(v)) for v in arrays.values()
               if np.issubdtype(v.dtype, np.floating))
    assert _steps_jsonl(str(out)) == [BATCH, 2 * BATCH, 3 * BATCH]
