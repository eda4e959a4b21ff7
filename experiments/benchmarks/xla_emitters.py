"""XLA:CPU's fusion emitters (the default) vs its classic emitters, on our programs.

    python -m experiments.benchmarks.xla_emitters [--repeats=3] [--write]

`--xla_cpu_use_fusion_emitters=false` (in `XLA_FLAGS`) makes XLA:CPU generate code with
its classic elemental emitters. The test suite sets it (tests/conftest.py); this measures
why, and why the scripts do not. Two programs, each compiled and run in a fresh process
per setting (no compilation cache), settings alternating within each round, medians over
`--repeats` rounds:

- `test probe`: what the fast tests compile most, a PPO run on a probe environment
  (8 envs x 16 steps, 8,192 steps, vmapped over 2 seeds) with the tests' cheapest
  compile (`jax_disable_most_optimizations`).
- `PPO CartPole`: the PureJaxRL comparison's program (4 envs x 128 steps, 500k steps;
  `ppo_purejaxrl.OURS`) with XLA's default optimizations, as the scripts compile.

`compile s` is `jax.jit(train).lower(keys).compile()`; `run s` the faster of two calls.
Ratios are classic / fusion (< 1: the classic emitters are faster).
"""

import argparse
import datetime
import os
import statistics
import sys

from experiments.benchmarks import ppo_purejaxrl

SECTION = "## XLA:CPU fusion emitters vs classic emitters"
CLASSIC = "--xla_cpu_use_fusion_emitters=false"

# The fast tests' probe run, timed as the PureJaxRL comparison times its programs.
PROBE = """
import json
import jax
import numpy as np
jax.config.update("jax_disable_most_optimizations", True)
from trax_rl import envs
from trax_rl.agents import networks, ppo, training
SEEDS = 2
env, env_params = envs.make("Probe/ConstantReward-v0")
config = ppo.PPOConfig(total_timesteps=8192, num_envs=8, num_steps=16, learning_rate=3e-3,
                       anneal_lr=False, gamma=0.9)
learner = ppo.make_learner(config, networks.network_for(env, env_params),
                           env.action_space(env_params), env.observation_space(env_params))
train = training.make_train_fn(training.make_trainer(learner, config, env, env_params))

def final_return(out):
    return float("nan")  # A probe's return says nothing; only its timing is used here.
""" + ppo_purejaxrl.TIMING.format()

PROGRAMS = {
    "test probe (cheapest compile)": PROBE,
    "PPO CartPole (default optimizations)": ppo_purejaxrl.OURS.format(
        seeds=1, num_envs=4, num_steps=ppo_purejaxrl.NUM_STEPS,
        total=ppo_purejaxrl.TOTAL_TIMESTEPS, purejaxrl_dir=""),
}


def run_one(code, classic):
    flags = " ".join(f for f in [os.environ.get("XLA_FLAGS", "").replace(CLASSIC, ""),
                                 CLASSIC if classic else ""] if f.strip())
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_COMPILATION_CACHE_DIR": ""}
    env.pop("JAX_DISABLE_MOST_OPTIMIZATIONS", None)
    return ppo_purejaxrl.run_driver(sys.executable, code, f"classic={classic}", env)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true",
                        help=f"write to {ppo_purejaxrl.RESULTS}")
    args = parser.parse_args(argv)
    header = ppo_purejaxrl.machine()
    results = {}
    for round_ in range(args.repeats):
        for name, code in PROGRAMS.items():
            for classic in (False, True):
                r = run_one(code, classic)
                results.setdefault((name, classic), []).append(r)
                print(f"round {round_ + 1}: {name:38s} {'classic' if classic else 'fusion':7s} "
                      f"compile {r['compile_s']:6.2f} s  run {r['train_s']:6.2f} s", flush=True)

    def med(name, classic, field):
        return statistics.median(r[field] for r in results[(name, classic)])

    rows = ["| program | compile s fusion | compile s classic | ratio | run s fusion "
            "| run s classic | ratio | compile + run ratio |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in PROGRAMS:
        cf, cc = med(name, False, "compile_s"), med(name, True, "compile_s")
        rf, rc = med(name, False, "train_s"), med(name, True, "train_s")
        rows.append(f"| {name} | {cf:.2f} | {cc:.2f} | {cc / cf:.2f}x | {rf:.2f} | {rc:.2f} "
                    f"| {rc / rf:.2f}x | {(cc + rc) / (cf + rf):.2f}x |")
    text = "\n".join([
        SECTION, "",
        "`python -m experiments.benchmarks.xla_emitters` (see its docstring): medians of "
        f"{args.repeats} interleaved", "fresh-process rounds; ratio = classic / fusion "
        "(< 1: classic faster).", "",
        f"Date: {datetime.date.today()}. Machine: {header}. "
        f"Ours: {ppo_purejaxrl.versions(sys.executable)}.", "",
        *rows])
    print("\n" + text)
    if args.write:
        ppo_purejaxrl.write_results(text, SECTION)


if __name__ == "__main__":
    main()
