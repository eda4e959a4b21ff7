"""The host side of every agent experiment: flags, output files, progress, evaluation.

An experiment script is a config class and one call:

    @dataclasses.dataclass(frozen=True)
    class Args(common.ExperimentArgs, ppo.PPOConfig):
        pass

    if __name__ == "__main__":
        common.main(ppo, Args, TUNED)

`main` parses `--flag=value` flags (field docstrings are the `--help`), applies the
per-env tuned defaults, trains in jitted chunks (the whole run is `num_chunks`
calls of one compiled program, `vmap`ped over seeds), and writes to `--output_dir`:
config.json, metrics.jsonl, TensorBoard events, checkpoint.ckpt, learning_curve.png,
summary.json. Bad input prints one line and exits with code 2 before anything is written.
"""

import concurrent.futures
import dataclasses
import json
import os
import sys
import time

_START = time.perf_counter()

import jax  # noqa: E402  (the start time above must include importing jax)
import numpy as np  # noqa: E402

from experiments import backends  # noqa: E402

@dataclasses.dataclass(frozen=True)
class ExperimentArgs:
    """Flags every experiment shares."""

    env: str = "CartPole-v1"
    """Environment id: a JAX port (see trax_rl.envs.registered()) or any Gymnasium id."""
    seed: int = 0
    """Random seed; --num_seeds=N trains seeds seed, seed + 1, ..., seed + N - 1."""
    num_seeds: int = 1
    """Seeds trained side by side in one vmapped program."""
    output_dir: str = ""
    """Where files go (default: runs/<algo>_<env>_seed<seed>)."""
    eval_episodes: int = 100
    """Episodes of the final deterministic evaluation (per seed)."""
    torso: str = "mlp"
    """Network torso: mlp, lstm (recurrent, PPO only) or transformer (attends over the
    last --window observations)."""
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
    bridge: bool = False
    """Step the Gymnasium env through the host bridge even where a JAX port exists."""
    prng_impl: str = "rbg"
    """JAX PRNG: rbg compiles about twice as fast on CPU as threefry2x32 (its unrolled hash
    dominates XLA compile time of a whole run)."""


class UsageError(ValueError):
    """Bad input from the command line: reported in one line, exit code 2."""


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


def setup_compilation_cache(path):
    if path:
        jax.config.update("jax_compilation_cache_dir", os.path.expanduser(path))
        # Our chunk programs compile in ~1 s; cache everything worth a file read.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def main(algo, args_cls, tuned=None, argv=None):
    """Runs one experiment from the command line; returns the summary dict."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse_args(args_cls, tuned or {}, argv)
        return run(algo, args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def _make_env(algo, args, config):
    """`(env, env_params, None)` for a JAX port, `(None, None, vec_env)` for the bridge."""
    from trax_rl import envs

    if args.num_seeds < 1 or args.eval_episodes < 1:
        raise UsageError(f"--num_seeds and --eval_episodes must be >= 1, got "
                         f"{args.num_seeds} and {args.eval_episodes}")
    if args.env in envs.registered() and not args.bridge:
        env, env_params = envs.make(args.env)
        space, vec_env = env.action_space(env_params), None
    else:
        if args.num_seeds != 1 or args.resume:
            raise UsageError(f"{args.env} runs through the Gymnasium bridge, which trains one "
                             f"seed and cannot resume; JAX ports: {', '.join(envs.registered())}")
        try:
            vec_env = envs.make_gymnasium_vec(args.env, config.num_envs, seed=args.seed)
        except ValueError as e:
            raise UsageError(f"unknown env {args.env!r}: {e} JAX ports: "
                             f"{', '.join(envs.registered())}") from None
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
    if args.output_dir:
        return os.path.expanduser(args.output_dir)
    return os.path.join("runs", f"{algo.NAME}_{args.env.replace('/', '_')}_seed{args.seed}")


def run(algo, args):
    """Trains, evaluates and writes the run's files; returns the summary dict."""
    from trax_rl import checkpoint
    from trax_rl import writers

    try:
        config = algorithm_config(algo, args).validate()
    except ValueError as e:
        raise UsageError(str(e)) from None
    env, env_params, vec_env = _make_env(algo, args, config)
    if args.torso not in ("mlp", "transformer", "lstm"):
        raise UsageError(f"--torso must be mlp, transformer or lstm, got {args.torso!r}")
    if args.torso == "lstm" and (algo.NAME != "ppo" or vec_env is not None):
        raise UsageError(f"--torso=lstm runs with PPO on JAX envs, not {algo.NAME} on "
                         f"{args.env}{' (bridge)' if vec_env is not None else ''}")
    output_dir = _output_dir(algo, args)
    ckpt_path = os.path.join(output_dir, "checkpoint.ckpt")
    if args.resume and not os.path.exists(ckpt_path):
        raise UsageError(f"--resume: no checkpoint at {ckpt_path}")
    setup_compilation_cache(args.compilation_cache)
    if args.prng_impl not in ("rbg", "threefry2x32", "unsafe_rbg"):
        raise UsageError(f"--prng_impl must be rbg, threefry2x32 or unsafe_rbg, got "
                         f"{args.prng_impl!r}")
    jax.config.update("jax_default_prng_impl", args.prng_impl)

    # matplotlib takes ~0.35 s to import: do it while XLA compiles (compiling frees the GIL).
    pyplot = concurrent.futures.ThreadPoolExecutor(1).submit(_import_pyplot)
    try:
        if vec_env is None:
            backend = backends.jax_backend(algo, config, args, env, env_params)
        else:
            backend = backends.host_backend(algo, config, args, vec_env)
    except ValueError as e:
        raise UsageError(str(e)) from None
    state = backend.init()
    done_updates = 0
    config_dict = {"algo": algo.NAME, **dataclasses.asdict(args)}
    if args.resume:
        state, done_updates = _restore(checkpoint, ckpt_path, state, config_dict)
    os.makedirs(output_dir, exist_ok=True)
    if not args.resume:
        _clear_run_files(output_dir)
    with open(os.path.join(output_dir, "config.json"), "w") as f:
        json.dump(config_dict, f, indent=2)

    writer = writers.create_writer(output_dir, console=False, wandb=args.wandb,
                                   wandb_project=args.wandb_project, config=config_dict)
    history = _train(backend, state, done_updates, config, args, writer, checkpoint,
                     ckpt_path, config_dict)
    returns = backend.evaluate(history.pop("state"))  # [num_seeds, eval_episodes]
    summary = _summarize(algo, args, returns, done_updates=backend.num_updates,
                         batch_size=config.batch_size)
    writer.write(backend.num_updates, {"eval/return_mean": summary["eval_return_mean"],
                                       "eval/return_std": summary["eval_return_std"]})
    writer.close()
    with open(os.path.join(output_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    _plot(pyplot.result(), history, os.path.join(output_dir, "learning_curve.png"), algo.NAME,
          args.env)
    print(f"eval return: {summary['eval_return_mean']:.2f} ± {summary['eval_return_std']:.2f} "
          f"over {returns.size} episodes")
    return summary


RUN_FILES = ("config.json", "metrics.jsonl", "checkpoint.ckpt", "summary.json",
             "learning_curve.png")


def _clear_run_files(output_dir):
    """A fresh run replaces an earlier run's files instead of appending to its logs."""
    for name in os.listdir(output_dir):
        if name in RUN_FILES or name.startswith("events.out.tfevents"):
            os.remove(os.path.join(output_dir, name))


def _train(backend, state, done_updates, config, args, writer, checkpoint, ckpt_path,
           config_dict):
    """Runs the remaining chunks with a progress bar; logs and checkpoints after each."""
    from tqdm import tqdm

    history = {"env_steps": [], "returns": []}
    chunk = backend.chunk
    bar = tqdm(total=backend.num_updates * config.batch_size, unit="step", unit_scale=True,
               disable=not args.progress, initial=done_updates * config.batch_size,
               dynamic_ncols=True)
    tick = time.perf_counter()
    while done_updates < backend.num_updates:
        state, metrics = backend.run_chunk(state)
        metrics = jax.device_get(metrics)  # Leaves [num_seeds, chunk].
        returns = metrics["charts/episode_return"]
        for i in range(chunk):
            step = done_updates + i + 1
            scalars = {k: _finite_mean(v[:, i]) for k, v in metrics.items()}
            writer.write(step, {k: v for k, v in scalars.items() if np.isfinite(v)})
        done_updates += chunk
        history["env_steps"].append(done_updates * config.batch_size)
        history["returns"].append(_finite_mean(returns, axis=1))
        checkpoint.save(ckpt_path, state, metadata={"updates": done_updates,
                                                    "config": config_dict})
        now = time.perf_counter()
        bar.set_postfix(sps=f"{chunk * config.batch_size * args.num_seeds / (now - tick):.0f}",
                        ret=_fmt_mean(history["returns"][-1]))
        bar.update(chunk * config.batch_size)
        tick = now
    bar.close()
    history["state"] = state
    return history


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


def _restore(checkpoint, path, state, config_dict):
    metadata = checkpoint.read_metadata(path)
    saved = {k: v for k, v in metadata["config"].items() if k not in ("resume", "progress")}
    current = {k: v for k, v in config_dict.items() if k not in ("resume", "progress")}
    if saved != current:
        diff = sorted(k for k in current if saved.get(k) != current[k])
        raise UsageError(f"--resume: the run in {path} used different flags: "
                         + ", ".join(f"{k}={saved.get(k)!r} (now {current[k]!r})" for k in diff))
    return checkpoint.restore(path, state), metadata["updates"]


def _summarize(algo, args, returns, done_updates, batch_size):
    """summary.json: returns are [num_seeds, eval_episodes]."""
    summary = {
        "env_id": args.env,
        "algo": algo.NAME,
        "seed": args.seed,
        "num_seeds": args.num_seeds,
        "env_steps": done_updates * batch_size,
        "wall_seconds": round(time.perf_counter() - _START, 2),
        "eval_return_mean": float(returns.mean()),
        "eval_return_std": float(returns.std()),
        "eval_episodes": int(returns.size),
    }
    if args.num_seeds > 1:
        summary["eval_return_mean_per_seed"] = [float(r) for r in returns.mean(axis=1)]
    return summary


def _import_pyplot():
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot
    return pyplot


def _plot(plt, history, path, algo_name, env_id):
    """Writes the learning curve (mean training return vs env steps, one line per seed)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    returns = np.stack(history["returns"]) if history["returns"] else np.zeros((0, 1))
    for seed in range(returns.shape[1]):
        ax.plot(history["env_steps"], returns[:, seed], label=f"seed {seed}")
    ax.set(xlabel="environment steps", ylabel="episode return", title=f"{algo_name} {env_id}")
    ax.grid(alpha=0.3)
    if returns.shape[1] > 1:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
