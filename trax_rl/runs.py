"""Run folders: what every training script does around its training loop.

A run lives in one folder (`output_dir`) holding its config snapshot, metrics, checkpoint
and summary. This module owns the host-side rules for that folder, shared by the RL
experiments and the supervised `Loop`:

- `default_run_dir(name)`: `runs/<name>`, or `runs/<name>-2`, ... when that one holds a
  run: a new run never lands on an earlier one by default.
- `prepare_run_dir(path, resume=..., overwrite=...)`: refuses (one line) to start a fresh
  run over an earlier one unless asked to overwrite; removes the `.tmp` leftovers of a
  checkpoint save that was killed.
- `write_json` / `read_json`: atomic config and summary snapshots.
- `check_resume(saved, current, ignore=...)`: a resumed run must compute what the saved
  one computed; flags listed in `ignore` (display, logging, paths) may change.
- `truncate_jsonl(path, last_step)`: after a resume from step N, drops the lines a killed
  run logged past its checkpoint, so every step appears exactly once.
- `use_compilation_cache(path)`: JAX's persistent compilation cache for the run's
  programs (a warm start reads them from disk instead of compiling).
- `progress_bar`, `files_line` (the "files went to ..." line), and `Watchdog`, which turns
  a hang into a one-line error and a non-zero exit instead of a silent stall.
- `exit_now()`: how a script that has finished its work ends its process.

Errors about the folder or the flags are `RunError` (a `ValueError`): one line naming the
bad value and the way out, for the caller to print.
"""

import atexit
import faulthandler
import json
import os
import sys
import tempfile
import threading

__all__ = [
    "RunError",
    "Watchdog",
    "check_resume",
    "check_run_dir",
    "default_run_dir",
    "files_line",
    "holds_run",
    "prepare_run_dir",
    "progress_bar",
    "read_json",
    "truncate_jsonl",
    "write_json",
]

# Files whose presence means a folder holds a run (and that `overwrite` may replace).
RUN_FILES = ("config.json", "metrics.jsonl", "checkpoint.ckpt", "summary.json",
             "learning_curve.png")


class RunError(ValueError):
    """A run folder or flag problem, reported in one line (exit code 2 for scripts)."""


def holds_run(path):
    """Whether `path` holds files of an earlier run."""
    return os.path.isdir(path) and any(_is_run_file(n) for n in os.listdir(path))


def _is_run_file(name):
    return name in RUN_FILES or name.startswith("events.out.tfevents")


def default_run_dir(name, root="runs"):
    """`root/name`, or the first of `root/name-2`, `root/name-3`, ... holding no run."""
    path, n = os.path.join(root, name), 1
    while holds_run(path):
        n += 1
        path = os.path.join(root, f"{name}-{n}")
    return path


def check_run_dir(path, *, resume=False, overwrite=False, checkpoint="checkpoint.ckpt",
                  flag_prefix="--"):
    """Raises `RunError` where `prepare_run_dir` would refuse; touches nothing."""
    if resume and overwrite:
        raise RunError(f"{flag_prefix}resume and {flag_prefix}overwrite contradict each other")
    if resume and not os.path.exists(os.path.join(path, checkpoint)):
        raise RunError(f"{flag_prefix}resume: no checkpoint at {os.path.join(path, checkpoint)}")
    if not resume and holds_run(path):
        if not overwrite:
            raise RunError(f"{path} holds an earlier run: pass {flag_prefix}resume to continue "
                           f"it, {flag_prefix}overwrite to replace it, or another "
                           f"{flag_prefix}output_dir")


def prepare_run_dir(path, *, resume=False, overwrite=False, checkpoint="checkpoint.ckpt",
                    flag_prefix="--"):
    """Makes `path` ready for a run and returns it.

    A fresh run (`resume=False`) refuses a folder that holds an earlier run unless
    `overwrite`, which deletes that run's files (and nothing else). A resumed run needs
    `path/checkpoint`. Either way, `.tmp` files left by a killed checkpoint save go.
    Raises `RunError` before anything is written; `flag_prefix` shapes the hints.
    """
    check_run_dir(path, resume=resume, overwrite=overwrite, checkpoint=checkpoint,
                  flag_prefix=flag_prefix)
    if not resume and overwrite and os.path.isdir(path):
        for name in os.listdir(path):
            if _is_run_file(name):
                os.remove(os.path.join(path, name))
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.startswith(".") and name.endswith(".tmp"):
            os.remove(os.path.join(path, name))
    return path


def use_compilation_cache(path):
    """Points JAX's persistent compilation cache at `path` ('' leaves JAX as it is).

    Every program that took over 0.1 s to compile is kept, whatever its size: the
    scripts' chunk and step programs compile in about a second each. JAX opens its cache
    once per process, at the first compile after a folder is set, so moving to another
    folder (a second run in the same process) reopens it.
    """
    if not path:
        return
    import jax  # Here, so that the folder rules above work without JAX.
    from jax.experimental.compilation_cache import compilation_cache

    path = os.path.expanduser(path)
    if jax.config.jax_compilation_cache_dir != path:
        jax.config.update("jax_compilation_cache_dir", path)
        compilation_cache.reset_cache()
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def write_json(path, obj):
    """Writes `obj` as indented JSON atomically (a kill leaves the old file or the new)."""
    _write_atomically(path, lambda f: json.dump(obj, f, indent=2))


def _write_atomically(path, write):
    """Calls `write(file)` on a temporary file in `path`'s folder, then replaces `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def check_resume(saved, current, ignore=()):
    """Raises `RunError` naming every flag (not in `ignore`) that differs from `saved`."""
    keys = sorted((set(saved) | set(current)) - set(ignore))
    diff = [k for k in keys if saved.get(k) != current.get(k)]
    if diff:
        raise RunError("--resume: the saved run used different flags: " + ", ".join(
            f"{k}={saved.get(k)!r} (now {current.get(k)!r})" for k in diff))


def truncate_jsonl(path, last_step):
    """Keeps the lines of `path` with `"step" <= last_step` (and any torn last line goes).

    Returns the kept records, oldest first. A run killed after logging steps past its
    last checkpoint re-logs them when it resumes; this makes each step appear once.
    """
    if not os.path.exists(path):
        return []
    kept, lines = [], []
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break  # A line torn by a kill: it and anything after it are dropped.
            if record.get("step", 0) <= last_step:
                kept.append(record)
                lines.append(line if line.endswith("\n") else line + "\n")
    # Atomic: a kill now leaves the old lines or the kept ones, never an empty file.
    _write_atomically(path, lambda f: f.writelines(lines))
    return kept


def progress_bar(total, *, initial=0, enabled=True, unit="step"):
    """A tqdm bar over `total` units starting at `initial` (disabled: prints nothing)."""
    from tqdm import tqdm  # Imported here: only scripts show progress.

    return tqdm(total=total, initial=initial, unit=unit, unit_scale=True,
                disable=not enabled, dynamic_ncols=True)


def files_line(path, names):
    """`files in /abs/path: a, b, c`: the line a script prints when it ends."""
    present = [n for n in names if os.path.exists(os.path.join(path, n))]
    return f"files in {os.path.abspath(path)}: {', '.join(present)}"


class Watchdog:
    """Ends the process with a one-line error when no progress is reported for too long.

    `with Watchdog(seconds, what) as dog:` then `dog.kick(what)` after each unit of
    progress. When `seconds` pass without a kick, it prints `error: no progress for N s
    while <what> ...` and every thread's Python stack to stderr, then exits with code 3.
    `seconds <= 0` turns it off. It runs in its own thread, which works while the main
    thread waits on XLA (waits release the GIL) and leaves a hang in C++ visible instead
    of silent.
    """

    EXIT_CODE = 3

    def __init__(self, seconds, what="starting", flag="--hang_timeout"):
        self.seconds, self._what, self._flag = seconds, what, flag
        self._timer = None
        self._lock = threading.Lock()

    def __enter__(self):
        self.kick(self._what)
        return self

    def __exit__(self, *exc):
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def kick(self, what):
        """Restarts the countdown; `what` names the next step, for the error line."""
        if self.seconds <= 0:
            return
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._what = what
            self._timer = threading.Timer(self.seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self):
        print(f"error: no progress for {self.seconds:g} s while {self._what}: the run looks "
              f"hung (raise {self._flag} if it is just slow); stacks follow", file=sys.stderr,
              flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        os._exit(self.EXIT_CODE)  # The main thread is stuck: a normal exit would wait on it.


def exit_now(code=0):
    """Ends a script's process once its work is done, skipping the interpreter's teardown.

    The `atexit` handlers run (W&B, logging and thread pools finish as usual) and stdout
    and stderr are flushed; what is skipped is Python freeing every module and XLA's
    objects one by one, which after a flagship run takes 0.25 s, 6% of a warm run.
    For `if __name__ == "__main__":` blocks only: a library caller keeps its process.
    """
    atexit._run_exitfuncs()  # CPython's own exit path; no public name runs the handlers.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
