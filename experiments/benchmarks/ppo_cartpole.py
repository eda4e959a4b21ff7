"""Whole-process wall time of PPO on CartPole-v1: ours vs Stable-Baselines3 vs CleanRL.

    python -m experiments.benchmarks.ppo_cartpole [--peer_python=/work/benchvenv/bin/python]
        [--repeats=1] [--skip=sb3,cleanrl] [--write]

Every contender is one fresh Python process timed from here (`time.perf_counter()`
around `subprocess.run`), so interpreter start-up, imports, compilation, training and
evaluation all count. Contenders run one after another in the same invocation, in
rounds when `--repeats` > 1; the wall column is the median over rounds.

- ours cold: `python -m experiments.ppo --env=CartPole-v1` with a fresh, empty JAX
  compilation cache (`--compilation_cache=<new dir>`); return is summary.json's
  deterministic eval mean over 100 episodes. "Cold" is the JAX cache only: the OS
  page cache is whatever earlier processes left.
- ours warm: the same command again, reusing the cache the cold run filled.
- sb3: Stable-Baselines3 PPO with rl-zoo's tuned CartPole-v1 hyperparameters on CPU (ours
  are the same but for half the epochs at 3x the learning rate; experiments/ppo.py),
  then `evaluate_policy` (deterministic, 100 episodes on a 100-env DummyVecEnv, as ours
  evaluates 100 episodes side by side).
- cleanrl: CleanRL's `ppo.py` (`python -m cleanrl.ppo --cuda False`, its defaults:
  500k steps). It has no evaluation; return is the mean of its last 100 training
  episodes (stochastic policy) parsed from its stdout.

Peers run in their own interpreter (`--peer_python`) so their pins stay out of ours;
RESULTS.md says how that venv was built. Ratios are their wall / our wall: > 1 means
ours is faster. `--write` puts the table, with the date, machine, versions and load
average, in RESULTS.md's section "PPO CartPole-v1, whole process: the latest run".
"""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, NamedTuple

from experiments.benchmarks import ppo_purejaxrl

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECTION = "## PPO CartPole-v1, whole process: the latest run"
PEERS = ("sb3", "cleanrl")
TARGETS = {"ours cold": 5.0, "ours warm": 2.5}  # Seconds, from the speed issue (#13).
SOLVED = 475.0  # CartPole-v1's reward_threshold in Gymnasium's registry.
# The issue's whole-process figures on a 2-core CPU; PureJaxRL is not on PyPI.
ISSUE_FIGURES = {"PureJaxRL PPO (500k steps)": 13.0, "CleanRL ppo.py": 105.0,
                 "SB3 tuned": 34.0}

# rl-zoo hyperparams/ppo.yml, CartPole-v1 ("lin_x" is x times progress remaining).
SB3_DRIVER = """\
import sys
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

env = make_vec_env("CartPole-v1", n_envs=8, seed=0)
model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98,
            n_epochs=20, ent_coef=0.0, learning_rate=lambda p: p * 0.001,
            clip_range=lambda p: p * 0.2, device="cpu", seed=0, verbose=0)
model.learn(total_timesteps=100_000)
eval_env = make_vec_env("CartPole-v1", n_envs=100, seed=1)
mean, std = evaluate_policy(model, eval_env, n_eval_episodes=100, deterministic=True)
print(f"eval_return_mean={mean} eval_return_std={std}")
"""

PEER_VERSIONS = """\
import importlib.metadata as m
for name in ("torch", "stable-baselines3", "cleanrl", "gym", "gymnasium"):
    try:
        print(name, m.version(name))
    except m.PackageNotFoundError:
        print(name, "-")
"""


class Contender(NamedTuple):
    """One whole-process command; `command(work)` -> (argv, cwd), `score(stdout, work)`."""

    name: str
    return_kind: str
    command: Callable[[str], tuple[list, str]]
    score: Callable[[str, str], float]


def _ours(name: str, output: str) -> Contender:
    """Our flagship; both variants share the round's cache dir `<work>/jax_cache`."""

    def command(work):
        return ([sys.executable, "-m", "experiments.ppo", "--env=CartPole-v1",
                 f"--compilation_cache={os.path.join(work, 'jax_cache')}",
                 "--progress=False", f"--output_dir={os.path.join(work, output)}"], REPO_ROOT)

    def score(stdout, work):
        with open(os.path.join(work, output, "summary.json")) as f:
            return json.load(f)["eval_return_mean"]

    return Contender(name, "eval, deterministic, 100 ep.", command, score)


def _sb3(peer_python: str) -> Contender:
    def command(work):
        path = os.path.join(work, "sb3_ppo_cartpole.py")
        with open(path, "w") as f:
            f.write(SB3_DRIVER)
        return [peer_python, path], work

    def score(stdout, work):
        return float(re.search(r"eval_return_mean=(\S+)", stdout).group(1))

    return Contender("sb3", "eval, deterministic, 100 ep.", command, score)


def _cleanrl(peer_python: str) -> Contender:
    def command(work):
        cwd = os.path.join(work, "cleanrl")  # It writes runs/<name>/ events into its cwd.
        os.makedirs(cwd, exist_ok=True)
        return [peer_python, "-m", "cleanrl.ppo", "--cuda", "False"], cwd

    def score(stdout, work):
        returns = [float(r) for r in re.findall(r"episodic_return=\[?([-\d.e+]+)", stdout)]
        return statistics.fmean(returns[-100:])

    return Contender("cleanrl", "training, last 100 ep.", command, score)


def run_once(contender: Contender, work: str, timeout: float) -> tuple[float, float | None]:
    """(wall seconds, return) of one process; return is None when it failed."""
    argv, cwd = contender.command(work)
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"# {contender.name}: timed out after {timeout:.0f} s", file=sys.stderr)
        return time.perf_counter() - start, None
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        print(f"# {contender.name} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}",
              file=sys.stderr)
        return wall, None
    return wall, contender.score(proc.stdout, work)


def machine_line(peer_versions: dict) -> str:
    """The machine and load (`ppo_purejaxrl.machine`), then ours' and the peers' versions."""
    import importlib.metadata as m

    peers = ", ".join(f"{k} {v}" for k, v in peer_versions.items() if v != "-")
    return (f"{ppo_purejaxrl.machine()}; ours: jax {m.version('jax')}, gymnasium "
            f"{m.version('gymnasium')}; peers: {peers or 'none'}")


def _peer_versions(peer_python: str) -> dict:
    try:
        out = subprocess.run([peer_python, "-c", PEER_VERSIONS], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    return dict(line.split(" ", 1) for line in out.strip().splitlines())


def _contenders(args, versions: dict) -> list:
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(PEERS)
    if unknown:
        raise SystemExit(f"error: --skip takes {','.join(PEERS)}; got {','.join(unknown)}")
    contenders = [_ours("ours cold", "cold"), _ours("ours warm", "warm")]
    for name, package, make in (("sb3", "stable-baselines3", _sb3),
                                ("cleanrl", "cleanrl", _cleanrl)):
        if name in skip:
            continue
        if versions.get(package, "-") == "-":
            print(f"# {name}: {package} not installed for {args.peer_python}; skipped",
                  file=sys.stderr)
            continue
        contenders.append(make(args.peer_python))
    return contenders


def _fmt_wall(walls: list) -> str:
    if len(walls) == 1:
        return f"{walls[0]:.2f}"
    return f"{statistics.median(walls):.2f} ({min(walls):.2f}–{max(walls):.2f})"


def report(contenders: list, results: dict) -> str:
    """The markdown table and the issue's targets."""
    median = {c.name: statistics.median(results[c.name]["walls"]) for c in contenders}
    cold, warm = median["ours cold"], median["ours warm"]
    lines = ["| contender | wall s | return | ÷ ours cold | ÷ ours warm |",
             "|---|---:|---|---:|---:|"]
    for c in contenders:
        rets = [r for r in results[c.name]["returns"] if r is not None]
        ret = f"{statistics.fmean(rets):.1f} ({c.return_kind})" if rets else "failed"
        lines.append(f"| {c.name} | {_fmt_wall(results[c.name]['walls'])} | {ret} | "
                     f"{median[c.name] / cold:.2f}x | {median[c.name] / warm:.2f}x |")
    lines += ["", "Issue's figures on its 2-core CPU (not measured here), ÷ ours cold / warm:"]
    for name, seconds in ISSUE_FIGURES.items():
        lines.append(f"- {name}: {seconds:.0f} s, {seconds / cold:.2f}x / "
                     f"{seconds / warm:.2f}x")
    lines.append("")
    peers = [median[c.name] for c in contenders if not c.name.startswith("ours")]
    for name, limit in TARGETS.items():
        rets = [r for r in results[name]["returns"] if r is not None]
        solved = bool(rets) and min(rets) >= SOLVED
        met = solved and median[name] <= limit and all(p > median[name] for p in peers)
        lines.append(f"- target {name}: solved (eval >= {SOLVED:.0f}) in <= {limit:.1f} s and "
                     f"faster than every peer run: {'met' if met else 'NOT met'} "
                     f"({median[name]:.2f} s, {'solved' if solved else 'not solved'})")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer_python", default="/work/benchvenv/bin/python",
                        help="interpreter with torch, stable-baselines3 and cleanrl")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of every contender")
    parser.add_argument("--skip", default="", help="comma-separated peers to leave out: "
                        + ",".join(PEERS))
    parser.add_argument("--timeout", type=float, default=1200.0,
                        help="seconds before one process is killed")
    parser.add_argument("--write", action="store_true",
                        help=f"write the table to {ppo_purejaxrl.RESULTS}")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        raise SystemExit("error: --repeats must be >= 1")

    versions = _peer_versions(args.peer_python)
    contenders = _contenders(args, versions)
    header = machine_line(versions)
    print(f"# {header}", flush=True)
    results = {c.name: {"walls": [], "returns": []} for c in contenders}
    for round_ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="ppo_cartpole_bench_") as work:
            for c in contenders:
                wall, ret = run_once(c, work, args.timeout)
                results[c.name]["walls"].append(wall)
                results[c.name]["returns"].append(ret)
                print(f"# round {round_ + 1}/{args.repeats} {c.name}: {wall:.1f} s, "
                      f"return {ret}", flush=True)
    text = report(contenders, results)
    print(text)
    if args.write:
        flags = " ".join(sys.argv[1:] if argv is None else argv)
        ppo_purejaxrl.write_results("\n".join([
            SECTION, "",
            f"`python -m experiments.benchmarks.ppo_cartpole {flags}` (see its docstring): "
            f"medians (and ranges) over {args.repeats} round(s).", "",
            f"Date: {datetime.date.today()}. Machine: {header}.", "", text]), SECTION)


if __name__ == "__main__":
    main()
