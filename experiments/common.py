"""The host side of every agent experiment: flags, output files, progress, evaluation.

An experiment script is a config class and a `main` call (then the process ends without
Python's slow teardown; see `trax_rl.runs.exit_now`):

    @dataclasses.dataclass(frozen=True)
    class Args(common.ExperimentArgs, ppo.PPOConfig):
        pass

    if __name__ == "__main__":
        common.main(ppo, Args, TUNED)
        runs.exit_now()

`main` parses `--flag=value` flags (field docstrings are the `--help`), applies the
per-env tuned defaults, trains in jitted chunks (the whole run is `num_chunks`
calls of one compiled program, `vmap`ped over seeds), and writes to `--output_dir`:
config.json, metrics.jsonl, TensorBoard events, checkpoint.ckpt, learning_curve.png,
summary.json (the folder rules are `trax_rl.runs`'). Bad input prints one line and exits
with code 2 before anything is written; a diverging run (NaN/inf loss or gradient) stops
with one line naming the update and exit code 1, keeping its last good checkpoint; a run
that stops making progress for --hang_timeout seconds exits with code 3.
"""

import concurrent.futures
import dataclasses
import importlib
import os
import sys
import time

_START = time.perf_counter()

import jax  # noqa: E402  (the start time above must include importing jax)
import numpy as np  # noqa: E402

from experiments import backends  # noqa: E402
from trax_rl import runs  # noqa: E402
from trax_rl import train_state  # noqa: E402
from trax_rl.agents import updates  # noqa: E402

@dataclasses.dataclass(frozen=True)
class ExperimentArgs:
    """Flags every experiment shares."""

    env: str = "CartPole-v1"
    """Environment id: a JAX port (see trax_rl.envs.registered()), a user's JAX env as
    my_pkg.my_module:MyEnv, or any Gymnasium id (through the host bridge)."""
    seed: int = 0
    """Random seed; --num_seeds=N trains seeds seed, seed + 1, ..., seed + N - 1."""
    num_seeds: int = 1
    """Seeds trained side by side in one vmapped program."""
    output_dir: str = ""
    """Where files go (default: runs/<algo>_<env>_seed<seed>, or -2, -3, ... when that
    folder holds an earlier run)."""
    overwrite: bool = False
    """Replace the run already in --output_dir (otherwise a run never deletes another)."""
    eval_episodes: int = 100
    """Episodes of the final deterministic evaluation (per seed)."""
    torso: str = "mlp"
    """Network torso, from the model zoo: mlp, lstm (recurrent, PPO only), transformer
    (attends over the last --window observations) or cnn (AtariCnn, for [H, W, C] pixels)."""
    window: int = 8
    """Observations a transformer torso sees."""
    wandb: bool = False
    """Log to Weights & Biases (offline when not logged in)."""
    wandb_project: str = "trax_rl"
    """W&B project name."""
    resume: bool = False
    """Continue the run saved in --output_dir exactly where it stopped."""
    compilation_cache: str = "~/.cache/trax_rl/jax"
    """JAX persistent compilation cache directory ('' turns it off)."""
    progress: bool = True
    """Show a progress bar."""
    init_from: str = ""
    """Start from the weights in this run folder or checkpoint file (a run's first seed,
    or a weights file from `checkpoint.save(path, params)`) instead of a random init."""
    max_episode_steps: int = 0
    """Step bound of every episode, in training and evaluation (0: the env's own time
    limit; Gymnasium ids registered without one get 1000)."""
    bridge: bool = False
    """Step the Gymnasium env through the host bridge even where a JAX port exists."""
    hang_timeout: float = 900.0
    """Seconds without progress after which the run stops with an error and every
    thread's stack (0 turns the watchdog off)."""
    checkpoint_every: float = 10.0
    """Seconds of training between checkpoints (0: after every chunk of updates); the
    last one is always saved. A killed run resumes from its latest checkpoint."""
    prng_impl: str = "rbg"
    """JAX PRNG: rbg compiles about twice as fast on CPU as threefry2x32 (its unrolled hash
    dominates XLA compile time of a whole run)."""


UsageError = runs.RunError  # Bad input from the command line: one line, exit code 2.

# Flags a resumed run may change: they do not change what is computed.
RESUME_MAY_CHANGE = ("resume", "progress", "eval_episodes", "wandb", "wandb_project",
                     "compilation_cache", "output_dir", "overwrite", "hang_timeout",
                     "checkpoint_every")


def parse_args(args_cls, tuned, argv):
    """Parses flags, starting from the per-env tuned defaults in `tuned[env]`."""
    import tyro  # Imported here: the library never needs it.

    env = _preparse_env(argv, args_cls)
    default = args_cls(**{"env": env, **tuned.get(env, {})})
    return tyro.cli(args_cls, default=default, args=_bool_flags(argv, args_cls),
                    use_underscores=True)


def _preparse_env(argv, args_cls):
    for i, arg in enumerate(argv):
        if arg.startswith("--env="):
            return arg.split("=", 1)[1]
        if arg == "--env" and i + 1 < len(argv):
            return argv[i + 1]
    return args_cls.env


def _bool_flags(argv, args_cls):
    """Accepts `--flag=True/False` for booleans besides tyro's `--flag`/`--no_flag`."""
    bools = {f.name for f in dataclasses.fields(args_cls) if f.type in (bool, "bool")}
    out = []
    for arg in argv:
        name, _, value = arg[2:].partition("=")
        if arg.startswith("--") and name in bools and value:
            if value.lower() not in ("true", "false", "1", "0"):
                raise UsageError(f"--{name} must be True or False, got {value!r}")
            arg = f"--{name}" if value.lower() in ("true", "1") else f"--no_{name}"
        out.append(arg)
    return out


def algorithm_config(algo, args):
    """The algorithm's own config (the fields of `algo.Config`) from the flags."""
    fields = {f.name for f in dataclasses.fields(algo.Config)}
    return algo.Config(**{k: v for k, v in dataclasses.asdict(args).items() if k in fields})


def main(algo, args_cls, tuned=None, argv=None):
    """Runs one experiment from the command line; returns the summary dict."""
    argv = sys.argv[1:] if argv is None else argv
    prng_impl = jax.config.jax_default_prng_impl  # run() sets it; callers get theirs back.
    try:
        args = parse_args(args_cls, tuned or {}, argv)
        return run(algo, args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except train_state.NonFiniteError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        jax.config.update("jax_default_prng_impl", prng_impl)


def _make_env(algo, args, config):
    """`(env, env_params, None)` for a JAX port, `(None, None, vec_env)` for the bridge."""
    from trax_rl import envs

    if args.num_seeds < 1 or args.eval_episodes < 1:
        raise UsageError(f"--num_seeds and --eval_episodes must be >= 1, got "
                         f"{args.num_seeds} and {args.eval_episodes}")
    if args.max_episode_steps < 0:
        raise UsageError(f"--max_episode_steps must be >= 0, got {args.max_episode_steps}")
    if (args.env in envs.registered() or envs.is_import_path(args.env)) and not args.bridge:
        try:
            env, env_params = envs.make(args.env)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if args.max_episode_steps:
            env_params = env_params._replace(max_steps_in_episode=args.max_episode_steps)
        space, vec_env = env.action_space(env_params), None
    else:
        if args.num_seeds != 1 or args.resume:
            raise UsageError(f"{args.env} runs through the Gymnasium bridge, which trains one "
                             f"seed and cannot resume; JAX ports: {', '.join(envs.registered())}")
        try:
            vec_env = envs.make_gymnasium_vec(args.env, config.num_envs, seed=args.seed,
                                              max_episode_steps=args.max_episode_steps)
        except ValueError as e:
            unknown = f"unknown env {args.env!r}: " if "has no environment" in str(e) else ""
            raise UsageError(f"{unknown}{e} JAX ports: {', '.join(envs.registered())}") from None
        except ImportError as e:
            raise UsageError(str(e)) from None
        env = env_params = None
        space = vec_env.action_space
    if not (isinstance(space, envs.Discrete)
            or (isinstance(space, envs.Box) and len(space.shape) == 1)):
        raise UsageError(f"{algo.NAME} supports Discrete and 1-D Box actions; {args.env} "
                         f"has {space!r}")
    return env, env_params, vec_env


def _output_dir(algo, args):
    """`--output_dir`, or a default folder that holds no earlier run."""
    if args.output_dir:
        return os.path.expanduser(args.output_dir)
    if args.resume:
        raise UsageError("--resume needs --output_dir=<the run's folder>")
    return runs.default_run_dir(f"{algo.NAME}_{args.env.replace('/', '_')}_seed{args.seed}")


def _check_flags(algo, args, vec_env):
    """One-line errors for flag combinations no backend supports."""
    if args.torso not in ("mlp", "transformer", "lstm", "cnn"):
        raise UsageError(f"--torso must be mlp, transformer, lstm or cnn, got {args.torso!r}")
    if args.torso == "lstm" and algo.NAME != "ppo":
        raise UsageError(f"--torso=lstm runs with PPO, not {algo.NAME}")
    if args.torso == "transformer" and vec_env is not None:
        raise UsageError(f"--torso=transformer runs on JAX envs (it reads a window of "
                         f"observations), not through the bridge ({args.env})")
    if args.prng_impl not in ("rbg", "threefry2x32", "unsafe_rbg"):
        raise UsageError(f"--prng_impl must be rbg, threefry2x32 or unsafe_rbg, got "
                         f"{args.prng_impl!r}")
    if args.hang_timeout < 0:
        raise UsageError(f"--hang_timeout must be >= 0 seconds, got {args.hang_timeout}")


def _saved_run(ckpt_path, config_dict):
    """The checkpoint's metadata after checking the flags match (`--resume`)."""
    from trax_rl import checkpoint

    try:
        metadata = checkpoint.read_metadata(ckpt_path)
    except (checkpoint.CheckpointError, OSError) as e:
        raise UsageError(f"--resume: cannot read {ckpt_path}: {e}") from None
    runs.check_resume(metadata["config"], config_dict, ignore=RESUME_MAY_CHANGE)
    return metadata


def _init_from(path, state):
    """`state` with the learner's params replaced by those saved at `path`.

    Every seed starts from the same weights: a run checkpoint's first seed, or a plain
    weights file. Shapes must match the network the flags build.
    """
    from trax_rl import checkpoint

    if os.path.isdir(path):
        path = os.path.join(path, "checkpoint.ckpt")
    try:
        arrays, _ = checkpoint.load_arrays(path)
    except (checkpoint.CheckpointError, OSError) as e:
        raise UsageError(f"--init_from: cannot read {path}: {e}") from None
    params = state.learner_state.params  # Leaves [num_seeds, ...].

    def load(key_path, leaf):
        key = jax.tree_util.keystr(key_path)
        if ".learner_state.params" + key in arrays:
            value = arrays[".learner_state.params" + key][0]
        elif key in arrays:
            value = arrays[key]
        else:
            raise UsageError(f"--init_from: {path} has no weights {key} for this network")
        if value.shape != leaf.shape[1:]:
            raise UsageError(f"--init_from: {path} has {key} of shape {value.shape}, this "
                             f"network needs {leaf.shape[1:]}")
        return jax.device_put(np.broadcast_to(value, leaf.shape).astype(leaf.dtype),
                              leaf.sharding)

    params = jax.tree_util.tree_map_with_path(load, params)
    return state._replace(learner_state=state.learner_state._replace(params=params))


def run(algo, args):
    """Trains, evaluates and writes the run's files; returns the summary dict."""
    from trax_rl import checkpoint
    from trax_rl import writers

    try:
        config = algorithm_config(algo, args).validate()
    except ValueError as e:
        raise UsageError(str(e)) from None
    env, env_params, vec_env = _make_env(algo, args, config)
    _check_flags(algo, args, vec_env)
    output_dir = _output_dir(algo, args)
    ckpt_path = os.path.join(output_dir, "checkpoint.ckpt")
    runs.check_run_dir(output_dir, resume=args.resume, overwrite=args.overwrite)
    config_dict = {"algo": algo.NAME, **dataclasses.asdict(args)}
    saved = _saved_run(ckpt_path, config_dict) if args.resume else None
    runs.use_compilation_cache(args.compilation_cache)
    jax.config.update("jax_default_prng_impl", args.prng_impl)

    with runs.Watchdog(args.hang_timeout, "compiling") as watchdog:
        try:
            if vec_env is None:
                backend = backends.jax_backend(algo, config, args, env, env_params)
            else:
                backend = backends.host_backend(algo, config, args, vec_env)
        except ValueError as e:
            raise UsageError(str(e)) from None
        state = backend.init()
        if args.init_from and saved is None:
            state = _init_from(args.init_from, state)
        progress = Progress(config.batch_size, args.seed, args.num_seeds)
        if saved is not None:
            try:
                state = checkpoint.restore(ckpt_path, state)
            except checkpoint.CheckpointError as e:
                raise UsageError(f"--resume: {e}") from None
            progress = Progress.from_metadata(saved, config.batch_size, args.seed,
                                              args.num_seeds)
        runs.prepare_run_dir(output_dir, resume=args.resume, overwrite=args.overwrite)
        if args.resume:
            runs.truncate_jsonl(os.path.join(output_dir, "metrics.jsonl"), progress.env_steps)
        runs.write_json(os.path.join(output_dir, "config.json"), config_dict)
        writer = writers.create_writer(
            output_dir, console=False, wandb=args.wandb, wandb_project=args.wandb_project,
            config=config_dict, purge_step=progress.env_steps + 1 if args.resume else None)
        # matplotlib's import (0.3 s) runs beside training, which leaves the GIL free while
        # XLA runs (started only now: it would slow the tracing); the curve is drawn after.
        plotter = concurrent.futures.ThreadPoolExecutor(1)
        plotter.submit(importlib.import_module, "matplotlib.figure")
        try:
            state = _train(backend, state, progress, args, writer, watchdog,
                           lambda state: checkpoint.save(ckpt_path, state,
                                                         metadata=progress.metadata(config_dict)))
            plot = plotter.submit(_plot, progress, os.path.join(output_dir, "learning_curve.png"),
                                  algo.NAME, args.env)
            plotter.shutdown(wait=False)
            watchdog.kick("evaluating")
            returns = backend.evaluate(state)  # [num_seeds, eval_episodes]
            summary = _summarize(algo, args, returns, progress)
            writer.write(progress.env_steps, {"eval/return_mean": summary["eval_return_mean"],
                                              "eval/return_std": summary["eval_return_std"]})
        finally:
            writer.close()
    runs.write_json(os.path.join(output_dir, "summary.json"), summary)
    plot.result()
    print(f"eval return: {summary['eval_return_mean']:.2f} ± {summary['eval_return_std']:.2f} "
          f"over {returns.size} episodes")
    print(runs.files_line(output_dir, runs.RUN_FILES))
    return summary


class Progress:
    """Where a run stands: updates done, the per-update learning curve, time spent.

    The curve (one point per update and seed) and the time of the earlier sessions of
    a resumed run travel in the checkpoint's metadata, so both cover the whole run.
    """

    def __init__(self, batch_size, seed, num_seeds, updates=0, returns=(), seconds=0.0):
        self.batch_size, self.seeds = batch_size, list(range(seed, seed + num_seeds))
        self.updates, self.returns = updates, [list(r) for r in returns]  # [updates][seeds]
        self._earlier_seconds = seconds

    @classmethod
    def from_metadata(cls, metadata, batch_size, seed, num_seeds):
        curve = metadata.get("curve", [])
        returns = [[np.nan if r is None else r for r in row] for row in curve]
        return cls(batch_size, seed, num_seeds, metadata["updates"], returns,
                   metadata.get("elapsed_seconds", 0.0))

    @property
    def env_steps(self):
        return self.updates * self.batch_size

    @property
    def seconds(self):
        """Wall time of the whole run, earlier sessions included."""
        return self._earlier_seconds + time.perf_counter() - _START

    def metadata(self, config_dict):
        curve = [[None if not np.isfinite(r) else round(float(r), 4) for r in row]
                 for row in self.returns]
        return {"updates": self.updates, "config": config_dict, "curve": curve,
                "elapsed_seconds": round(self.seconds, 3)}


def _train(backend, state, progress, args, writer, watchdog, save):
    """Runs the remaining chunks with a progress bar; logs after each, checkpoints after
    the last one and whenever --checkpoint_every seconds have passed since the previous.

    Every update is logged at its env-step count. A chunk holding an update whose loss
    or gradient was not finite logs the updates before it, then raises `NonFiniteError`
    without saving: the checkpoint stays the last good one.

    The next chunk is queued before this one's metrics are read: JAX dispatches it
    asynchronously, so the device trains while the host logs and saves (the bridge's
    host-stepped chunks simply run one ahead of the logging).
    """
    chunk, batch = backend.chunk, progress.batch_size
    bar = runs.progress_bar(backend.num_updates * batch, initial=progress.env_steps,
                            enabled=args.progress)
    tick = last_save = time.perf_counter()
    queued = backend.run_chunk(state) if progress.updates < backend.num_updates else None
    while queued is not None:
        state, metrics = queued
        queued = (backend.run_chunk(state)
                  if progress.updates + chunk < backend.num_updates else None)
        watchdog.kick(f"running updates {progress.updates + 1}-{progress.updates + chunk}")
        metrics = jax.device_get(metrics)  # Leaves [num_seeds, chunk].
        for i in range(chunk):
            skipped = metrics[updates.NONFINITE_STEPS][:, i]
            if np.any(skipped):
                seeds = [progress.seeds[s] for s in np.flatnonzero(skipped)]
                bar.close()
                train_state.check_finite(
                    {train_state.NONFINITE: skipped},
                    f"{progress.updates + 1} (seed {', '.join(map(str, seeds))})", what="update")
            progress.updates += 1
            scalars = {k: _finite_mean(v[:, i]) for k, v in metrics.items()}
            writer.write(progress.env_steps, {k: v for k, v in scalars.items()
                                              if np.isfinite(v)})
            progress.returns.append(
                [float(r) for r in metrics["charts/episode_return"][:, i]])
        now = time.perf_counter()
        if (progress.updates == backend.num_updates
                or now - last_save >= args.checkpoint_every):
            save(state)
            last_save = now = time.perf_counter()
        bar.set_postfix(sps=f"{chunk * batch * len(progress.seeds) / (now - tick):.0f}",
                        ret=_fmt_mean(np.asarray(progress.returns[-chunk:])))
        bar.update(chunk * batch)
        tick = now
    bar.close()
    return state


def _finite_mean(values, axis=None):
    """Mean over the finite entries (NaN marks 'no episode ended'); NaN if none are."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    count = finite.sum(axis=axis)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _fmt_mean(values):
    mean = _finite_mean(values)
    return f"{mean:.1f}" if np.isfinite(mean) else "-"


def _summarize(algo, args, returns, progress):
    """summary.json: returns are [num_seeds, eval_episodes]."""
    summary = {
        "env_id": args.env,
        "algo": algo.NAME,
        "seed": args.seed,
        "num_seeds": args.num_seeds,
        "env_steps": progress.env_steps,
        "wall_seconds": round(progress.seconds, 2),
        "eval_return_mean": float(returns.mean()),
        "eval_return_std": float(returns.std()),
        "eval_episodes": int(returns.size),
    }
    if args.num_seeds > 1:
        summary["seeds"] = progress.seeds
        summary["eval_return_mean_per_seed"] = [float(r) for r in returns.mean(axis=1)]
    return summary


def _plot(progress, path, algo_name, env_id):
    """The learning curve: each update's mean training return vs env steps, per seed.

    Drawn on a bare Agg `Figure`: no pyplot import, no global state, safe in a thread.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    returns = np.asarray(progress.returns, np.float64).reshape(-1, len(progress.seeds))
    steps = progress.batch_size * np.arange(1, len(returns) + 1)
    for i, seed in enumerate(progress.seeds):
        finite = np.isfinite(returns[:, i])  # Updates in which no episode ended are gaps.
        ax.plot(steps[finite], returns[finite, i], label=f"seed {seed}", linewidth=1)
    ax.set(xlabel="environment steps", ylabel="episode return", title=f"{algo_name} {env_id}")
    ax.grid(alpha=0.3)
    if 1 < len(progress.seeds) <= 10:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
