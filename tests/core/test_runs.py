"""Tests for trax_rl.runs: run folders, resume checks, JSONL truncation, the watchdog."""

import json
import os
import subprocess
import sys

import pytest

from trax_rl import runs


def _make_run(path, step=3):
    os.makedirs(path, exist_ok=True)
    runs.write_json(os.path.join(path, "config.json"), {"lr": 1})
    with open(os.path.join(path, "metrics.jsonl"), "w") as f:
        for s in range(1, step + 1):
            f.write(json.dumps({"step": s, "x": s}) + "\n")


def test_default_run_dir_never_lands_on_an_earlier_run(tmp_path):
    root = str(tmp_path)
    first = runs.default_run_dir("ppo_CartPole", root)
    assert first == os.path.join(root, "ppo_CartPole")
    _make_run(first)
    second = runs.default_run_dir("ppo_CartPole", root)
    assert second == os.path.join(root, "ppo_CartPole-2")
    _make_run(second)
    assert runs.default_run_dir("ppo_CartPole", root).endswith("ppo_CartPole-3")


def test_prepare_refuses_an_earlier_run_unless_overwrite(tmp_path):
    path = str(tmp_path / "run")
    _make_run(path)
    with open(os.path.join(path, "notes.txt"), "w") as f:
        f.write("mine")
    with pytest.raises(runs.RunError, match="holds an earlier run: pass --resume"):
        runs.prepare_run_dir(path)
    assert os.path.exists(os.path.join(path, "config.json"))  # Nothing was touched.
    runs.prepare_run_dir(path, overwrite=True)
    assert sorted(os.listdir(path)) == ["notes.txt"]  # Only the run's own files went.


def test_prepare_for_resume_needs_a_checkpoint_and_cleans_tmp_files(tmp_path):
    path = str(tmp_path / "run")
    with pytest.raises(runs.RunError, match="no checkpoint at"):
        runs.prepare_run_dir(path, resume=True)
    _make_run(path)
    open(os.path.join(path, "checkpoint.ckpt"), "w").close()
    open(os.path.join(path, ".checkpoint.ckpt.abc123.tmp"), "w").close()
    runs.prepare_run_dir(path, resume=True)
    assert not any(n.endswith(".tmp") for n in os.listdir(path))
    with pytest.raises(runs.RunError, match="contradict"):
        runs.prepare_run_dir(path, resume=True, overwrite=True)


def test_check_resume_names_each_changed_flag_and_ignores_the_harmless():
    saved = {"lr": 1.0, "seed": 0, "progress": True, "output_dir": "a"}
    runs.check_resume(saved, {**saved, "progress": False, "output_dir": "b"},
                      ignore=("progress", "output_dir"))
    with pytest.raises(runs.RunError, match=r"lr=1.0 \(now 2.0\), seed=0 \(now 1\)"):
        runs.check_resume(saved, {**saved, "lr": 2.0, "seed": 1})


def test_truncate_jsonl_keeps_steps_up_to_the_checkpoint_and_drops_a_torn_line(tmp_path):
    path = str(tmp_path / "metrics.jsonl")
    _make_run(str(tmp_path), step=5)
    with open(path, "a") as f:
        f.write('{"step": 6, "x"')  # Killed mid-line.
    kept = runs.truncate_jsonl(path, 3)
    assert [r["step"] for r in kept] == [1, 2, 3]
    with open(path) as f:
        assert [json.loads(line)["step"] for line in f] == [1, 2, 3]


def test_write_json_is_atomic_and_readable(tmp_path):
    path = str(tmp_path / "summary.json")
    runs.write_json(path, {"a": [1, 2]})
    assert runs.read_json(path) == {"a": [1, 2]}
    assert os.listdir(tmp_path) == ["summary.json"]


def test_files_line_lists_what_exists(tmp_path):
    _make_run(str(tmp_path))
    line = runs.files_line(str(tmp_path), ["config.json", "summary.json", "metrics.jsonl"])
    assert line == f"files in {tmp_path}: config.json, metrics.jsonl"


def test_watchdog_turns_a_hang_into_a_one_line_error_and_exit_code_3():
    code = ("import time; from trax_rl import runs\n"
            "with runs.Watchdog(0.5, 'waiting for chunk 1') as dog:\n"
            "    time.sleep(0.2); dog.kick('waiting for chunk 2'); time.sleep(30)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=20)
    assert proc.returncode == runs.Watchdog.EXIT_CODE
    first = proc.stderr.splitlines()[0]
    assert first.startswith("error: no progress for 0.5 s while waiting for chunk 2")


def test_watchdog_stays_quiet_when_progress_is_kicked():
    with runs.Watchdog(0.3, "x") as dog:
        for _ in range(3):
            dog.kick("y")
    with runs.Watchdog(0, "off"):  # Disabled.
        pass


def test_truncate_jsonl_is_atomic(tmp_path, monkeypatch):
    """A failure while rewriting (a kill, a full disk) leaves every old line in place."""
    path = str(tmp_path / "metrics.jsonl")
    _make_run(str(tmp_path), step=5)
    before = open(path).read()

    def fail_midway(lines):
        raise OSError("disk full")

    real_fdopen = os.fdopen

    def fdopen(fd, mode="r"):
        f = real_fdopen(fd, mode)
        f.writelines = fail_midway
        return f

    monkeypatch.setattr(os, "fdopen", fdopen)
    with pytest.raises(OSError, match="disk full"):
        runs.truncate_jsonl(path, 3)
    assert open(path).read() == before
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_exit_now_runs_atexit_handlers_flushes_output_and_keeps_the_exit_code(tmp_path):
    marker = tmp_path / "atexit_ran"
    script = (f"import atexit, sys\n"
              f"from trax_rl import runs\n"
              f"atexit.register(lambda: open({str(marker)!r}, 'w').write('yes'))\n"
              f"sys.stdout.write('no newline, still buffered')\n"
              f"sys.stderr.write('to stderr')\n"
              f"runs.exit_now(4)\n"
              f"print('never printed')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 4
    assert result.stdout == "no newline, still buffered" and result.stderr == "to stderr"
    assert marker.read_text() == "yes"


def test_a_second_compilation_cache_folder_takes_effect_in_the_same_process(tmp_path):
    """JAX opens its cache once per process: a run after another one (`common.main`
    called twice) must still write to the folder it was given."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
             "jax_persistent_cache_min_entry_size_bytes")
    before = {name: getattr(jax.config, name) for name in names}
    try:
        for scale, folder in enumerate(("first", "second"), start=2):
            runs.use_compilation_cache(str(tmp_path / folder))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.jit(lambda x: x * float(scale)).lower(1.0).compile()  # A new program each.
            assert os.path.isdir(tmp_path / folder) and os.listdir(tmp_path / folder), folder
    finally:  # The next compile reopens the session's cache (tests/conftest.py).
        for name, value in before.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()
