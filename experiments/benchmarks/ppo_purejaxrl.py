"""PPO training programs side by side: ours (`ppo.make_train`) vs PureJaxRL's `ppo.py`.

    python -m experiments.benchmarks.ppo_purejaxrl \
        --peer_python=/work/benchvenv-pjx/bin/python --purejaxrl_dir=<clone>/purejaxrl \
        [--envs=4,64,256] [--seeds=1,8] [--throughput_envs=4,16,64,256,1024,4096] \
        [--repeats=3] [--write]

Both contenders build the same run: CartPole-v1, PureJaxRL's own hyperparameters
(128 steps per env, 4 epochs x 4 minibatches, Adam 2.5e-4 annealed, eps 1e-5, grad
norm 0.5, gamma 0.99, GAE 0.95, clip 0.2, ent 0.01, vf 0.5; separate 64-64 tanh actor
and critic, orthogonal init), threefry keys. Each measurement is a fresh process that

1. builds `train = make_train(config)` (vmapped over seeds when seeds > 1),
2. times `jax.jit(train).lower(keys).compile()`  -> the `compile s` column,
3. times two calls of the compiled program (blocking on the result) -> `train s` is the
   faster of the two (the first also pays for allocating buffers).

Contenders alternate within each round (ours, peer, ours, peer, ...); the table takes
the median over `--repeats` rounds. A driver that crashes or runs past `--timeout` is
reported and left out, and the invocation goes on: a cell no round filled reads "no
result". Ratios are ours / peer: < 1 means ours is faster. Env steps/s is total env
steps of the whole training (all seeds) / train s, so it counts rollouts and updates,
not env stepping alone.

PureJaxRL is not on PyPI: it is a benchmark-only peer run from a clone in its own venv
(flax, distrax, gymnax), so none of its code or pins enter this project. The peer venv:

    python -m venv V && V/bin/pip install jax==0.10.2 jaxlib==0.10.2 flax distrax optax \
        gymnasium matplotlib seaborn && V/bin/pip install --no-deps gymnax==0.0.9

(gymnax 1.x returns six values from `step`; PureJaxRL's ppo.py unpacks five.)
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
SECTION = "## PPO training program vs PureJaxRL"
NUM_STEPS, TOTAL_TIMESTEPS = 128, 500_000

# The driver's common tail: compile, then two timed calls; prints one JSON line.
# (A `str.format` template like the drivers it ends: braces are doubled.)
TIMING = """
import time
keys = jax.random.split(jax.random.PRNGKey(30), SEEDS)
fn = jax.vmap(train) if SEEDS > 1 else (lambda k: train(k[0]))
t0 = time.perf_counter()
compiled = jax.jit(fn).lower(keys).compile()
compile_s = time.perf_counter() - t0
times = []
for _ in range(2):
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(keys))
    times.append(time.perf_counter() - t0)
print("RESULT " + json.dumps({{"compile_s": compile_s, "train_s": min(times),
                              "final_return": final_return(out)}}))
"""

OURS = """
import json, sys
import jax
import numpy as np
jax.config.update("jax_default_prng_impl", "threefry2x32")
from trax_rl import envs
from trax_rl.agents import ppo
SEEDS, NUM_ENVS, TOTAL = {seeds}, {num_envs}, {total}
env, env_params = envs.make("CartPole-v1")
config = ppo.PPOConfig(total_timesteps=TOTAL, num_envs=NUM_ENVS, num_steps={num_steps},
                       learning_rate=2.5e-4, anneal_lr=True, gamma=0.99, max_grad_norm=0.5,
                       gae_lambda=0.95, num_minibatches=4, update_epochs=4, clip_eps=0.2,
                       ent_coef=0.01, vf_coef=0.5)
train = ppo.make_train(config, env, env_params)

def final_return(out):
    metrics = out[1]
    key = [k for k in metrics if k.endswith("episode_return")][0]
    # Updates in which no episode ended log NaN.
    return float(np.nanmean(np.asarray(metrics[key])[..., -10:]))
""" + TIMING

PEER = """
import json, sys, types
sys.path.insert(0, {purejaxrl_dir!r})
# wrappers.py imports brax and navix for its Brax/MiniGrid wrappers only; the CartPole run
# uses none of them, so empty stand-ins keep those heavy packages out of the peer venv.
for name in ("brax", "brax.envs", "brax.envs.wrappers", "brax.envs.wrappers.training",
             "navix"):
    sys.modules[name] = types.ModuleType(name)
sys.modules["brax"].envs = sys.modules["brax.envs"]
sys.modules["brax.envs.wrappers.training"].EpisodeWrapper = None
sys.modules["brax.envs.wrappers.training"].AutoResetWrapper = None
import jax
import numpy as np
jax.config.update("jax_default_prng_impl", "threefry2x32")
import ppo
SEEDS, NUM_ENVS, TOTAL = {seeds}, {num_envs}, {total}
config = {{"LR": 2.5e-4, "NUM_ENVS": NUM_ENVS, "NUM_STEPS": {num_steps},
          "TOTAL_TIMESTEPS": TOTAL, "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4,
          "GAMMA": 0.99, "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2, "ENT_COEF": 0.01,
          "VF_COEF": 0.5, "MAX_GRAD_NORM": 0.5, "ACTIVATION": "tanh",
          "ENV_NAME": "CartPole-v1", "ANNEAL_LR": True, "DEBUG": False}}
train = ppo.make_train(config)

def final_return(out):
    info = out["metrics"]
    done = np.asarray(info["returned_episode"])
    returns = np.asarray(info["returned_episode_returns"])
    tail = slice(-10, None)
    return float((returns[..., tail, :, :] * done[..., tail, :, :]).sum()
                 / max(done[..., tail, :, :].sum(), 1))
""" + TIMING


def total_timesteps(num_envs):
    """PureJaxRL's 500k steps, or 10 updates when one batch is larger than a tenth of it."""
    return max(TOTAL_TIMESTEPS, 10 * num_envs * NUM_STEPS)


def run_one(python, template, purejaxrl_dir, num_envs, seeds, timeout):
    code = template.format(seeds=seeds, num_envs=num_envs, num_steps=NUM_STEPS,
                           total=total_timesteps(num_envs), purejaxrl_dir=purejaxrl_dir)
    return run_driver(python, code, f"envs={num_envs}, seeds={seeds}", timeout=timeout)


class ContenderFailed(RuntimeError):
    """A driver that crashed, printed no RESULT, or ran past its timeout."""


def run_driver(python, code, what, env=None, timeout=1800):
    """Runs a driver (a program ending in `TIMING`) in a fresh process; its RESULT dict."""
    failed = f"contender failed ({what})"
    try:
        proc = subprocess.run([python, "-c", code], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ContenderFailed(f"{failed}: no result after {timeout:.0f} s") from None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise ContenderFailed(f"{failed}: exit {proc.returncode}:\n{proc.stderr[-3000:]}")


def measure(args, cases):
    """`{(case, contender): [result, ...]}` over `args.repeats` interleaved rounds."""
    results = {}
    for round_ in range(args.repeats):
        for num_envs, seeds in cases:
            for name, python, template in (("ours", sys.executable, OURS),
                                           ("purejaxrl", args.peer_python, PEER)):
                runs = results.setdefault((num_envs, seeds, name), [])
                head = f"round {round_ + 1}: envs={num_envs:5d} seeds={seeds} {name:9s}"
                try:
                    r = run_one(python, template, args.purejaxrl_dir, num_envs, seeds,
                                args.timeout)
                except ContenderFailed as e:  # Reported in the table; the run goes on.
                    print(f"{head} {e}", flush=True)
                    continue
                runs.append(r)
                print(f"{head} compile {r['compile_s']:6.2f} s  train {r['train_s']:6.2f} s  "
                      f"return {r['final_return']:6.1f}", flush=True)
    return results


def median(results, key, field):
    """The median over the rounds that gave a result; None when none did."""
    values = [r[field] for r in results[key]]
    return statistics.median(values) if values else None


def _cell(value, fmt):
    return "no result" if value is None else fmt.format(value)


def _ratio(ours, peer):
    return "-" if ours is None or peer is None else f"{ours / peer:.2f}x"


def table(results, cases):
    rows = ["| envs | seeds | env steps | compile s ours | compile s PureJaxRL | ratio "
            "| train s ours | train s PureJaxRL | ratio | env steps/s ours | env steps/s "
            "PureJaxRL | return ours | return PureJaxRL |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for num_envs, seeds in cases:
        ours, peer = (num_envs, seeds, "ours"), (num_envs, seeds, "purejaxrl")
        c_o, c_p = median(results, ours, "compile_s"), median(results, peer, "compile_s")
        t_o, t_p = median(results, ours, "train_s"), median(results, peer, "train_s")
        steps = total_timesteps(num_envs) // (num_envs * NUM_STEPS) * num_envs * NUM_STEPS
        rate = [None if t is None else steps * seeds / t / 1e6 for t in (t_o, t_p)]
        rows.append(
            f"| {num_envs} | {seeds} | {steps * seeds:,} | {_cell(c_o, '{:.2f}')} | "
            f"{_cell(c_p, '{:.2f}')} | {_ratio(c_o, c_p)} | {_cell(t_o, '{:.2f}')} | "
            f"{_cell(t_p, '{:.2f}')} | {_ratio(t_o, t_p)} | {_cell(rate[0], '{:.2f}M')} | "
            f"{_cell(rate[1], '{:.2f}M')} | "
            f"{_cell(median(results, ours, 'final_return'), '{:.0f}')} | "
            f"{_cell(median(results, peer, 'final_return'), '{:.0f}')} |")
    return "\n".join(rows)


def versions(python):
    code = ("import importlib.metadata as m\nfor n in ('jax', 'jaxlib', 'flax', 'distrax', "
            "'gymnax', 'optax'):\n    try: print(n, m.version(n))\n"
            "    except m.PackageNotFoundError: pass")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return ", ".join(out.stdout.split("\n")).strip(", ").replace(", ", "; ")


def clone_commit(path):
    out = subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False)
    return f"commit {out.stdout.strip()}" if out.returncode == 0 else "(unknown commit)"


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{os.cpu_count()}-core {cpu} ({platform.machine()}), Python "
            f"{platform.python_version()}, load average before the run "
            f"{os.getloadavg()[0]:.2f}")


def write_results(text, section=SECTION):
    """Replaces `section` of RESULTS.md with `text` (or appends it)."""
    with open(RESULTS, encoding="utf-8") as f:
        current = f.read()
    start = current.find(section)
    if start >= 0:
        end = current.find("\n## ", start + len(section))
        current = current[:start] + current[end + 1:] if end >= 0 else current[:start]
    with open(RESULTS, "w", encoding="utf-8") as f:
        f.write(current.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n")


def parse_ints(text):
    return [int(x) for x in text.split(",") if x]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer_python", required=True,
                        help="python of a venv with flax, distrax and gymnax (--no-deps)")
    parser.add_argument("--purejaxrl_dir", required=True,
                        help="the `purejaxrl/` folder of a PureJaxRL clone (holds ppo.py)")
    parser.add_argument("--envs", default="4,64,256")
    parser.add_argument("--seeds", default="1,8")
    parser.add_argument("--throughput_envs", default="",
                        help="extra one-seed rows for the throughput table, e.g. "
                             "4,16,64,256,1024,4096")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds a driver may run; one that runs past it (PureJaxRL's "
                             "64-env, 8-seed program has hung) shows as 'no result'")
    parser.add_argument("--write", action="store_true", help=f"write to {RESULTS}")
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.join(args.purejaxrl_dir, "ppo.py")):
        parser.error(f"--purejaxrl_dir={args.purejaxrl_dir!r} holds no ppo.py")
    cases = [(e, s) for s in parse_ints(args.seeds) for e in parse_ints(args.envs)]
    cases += [(e, 1) for e in parse_ints(args.throughput_envs) if (e, 1) not in cases]
    header = machine()
    results = measure(args, cases)
    text = "\n".join([
        SECTION, "",
        "`python -m experiments.benchmarks.ppo_purejaxrl` (see its docstring): each cell is "
        "the median of",
        f"{args.repeats} interleaved fresh-process rounds; ratio = ours / PureJaxRL (< 1: ours "
        "faster).", "",
        f"Date: {datetime.date.today()}. Machine: {header}.",
        f"Ours: {versions(sys.executable)}. PureJaxRL {clone_commit(args.purejaxrl_dir)} "
        f"(own venv): {versions(args.peer_python)}.", "",
        table(results, cases)])
    print("\n" + text)
    if args.write:
        write_results(text)


if __name__ == "__main__":
    main()
