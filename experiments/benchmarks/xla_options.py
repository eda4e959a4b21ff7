"""XLA:CPU compile options on our training programs: compile and run time, per setting.

    python -m experiments.benchmarks.xla_options [--settings=classic,region_copies]
        [--programs=probe,purejaxrl,CartPole-v1,...] [--repeats=3] [--write]

Each setting adds its flag to `XLA_FLAGS` (`default` adds none) and is compared with
`default` on every program. Each program is compiled and run in a fresh process per
setting (no compilation cache), settings alternating within each round; the table takes
medians over `--repeats` rounds. `compile s` is `jax.jit(train).lower(key).compile()`,
`run s` the faster of two calls; ratios are setting / default (< 1: the setting is faster).

Programs:

- `probe`: what the fast tests compile most, a PPO run on a probe environment (8 envs x
  16 steps, 8,192 steps, vmapped over 2 seeds) with the tests' cheapest compile
  (`jax_disable_most_optimizations`).
- `purejaxrl`: the PureJaxRL comparison's program (4 envs x 128 steps, 500k steps;
  `ppo_purejaxrl.OURS`).
- an env id of `experiments/ppo.py`'s `TUNED` (CartPole-v1, Acrobot-v1, ...): the script's
  PPO for that env, init and `UPDATES[env]` updates as one program (CartPole-v1: its whole
  run). The scripts compile their update chunks with XLA's defaults plus what the
  `region_copies` setting adds (`experiments/backends.py`, `RUNS_LONG`).
"""

import argparse
import datetime
import os
import sys

from experiments.benchmarks import ppo_purejaxrl

SECTION = "## XLA:CPU compile options on our programs"

SETTINGS = {
    "default": "",
    # The classic elemental emitters instead of the fusion emitters (tests/conftest.py).
    "classic": "--xla_cpu_use_fusion_emitters=false",
    # Schedules instructions for peak memory instead of for concurrency (the default).
    "memory_scheduler": "--xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED",
    # Copy insertion asks which while-loop buffers really need a copy, region by region.
    "region_copies": "--xla_cpu_copy_insertion_use_region_analysis=true",
}

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

# The PPO script's tuned run for one env, cut to `updates` updates.
SCRIPT = """
import dataclasses
import json
import jax
import numpy as np
from experiments import common
from experiments import ppo as ppo_script
from trax_rl import envs
from trax_rl.agents import ppo
SEEDS = 1
args = common.parse_args(ppo_script.Args, ppo_script.TUNED, ["--env={env}"])
jax.config.update("jax_default_prng_impl", args.prng_impl)
config = common.algorithm_config(ppo, args)
config = dataclasses.replace(
    config, total_timesteps={updates} * config.num_envs * config.num_steps)
env, env_params = envs.make("{env}")
train = ppo.make_train(config, env, env_params)

def final_return(out):
    return float("nan")  # A cut run's return says nothing; only its timing is used here.
""" + ppo_purejaxrl.TIMING

# Updates per script program: about 1-2 s of running on a 2-core CPU.
UPDATES = {"CartPole-v1": 390, "Acrobot-v1": 300, "MountainCar-v0": 60, "Pendulum-v1": 40}
PROGRAMS = ["probe", "purejaxrl", *UPDATES]


def program(name):
    """The driver code of one of `PROGRAMS`."""
    if name == "probe":
        return PROBE
    if name == "purejaxrl":
        return ppo_purejaxrl.OURS.format(
            seeds=1, num_envs=4, num_steps=ppo_purejaxrl.NUM_STEPS,
            total=ppo_purejaxrl.TOTAL_TIMESTEPS, purejaxrl_dir="")
    return SCRIPT.format(env=name, updates=UPDATES[name])


def run_one(code, setting):
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if f not in SETTINGS.values()]
    flags = " ".join([*flags, SETTINGS[setting]]).strip()
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_COMPILATION_CACHE_DIR": ""}
    env.pop("JAX_DISABLE_MOST_OPTIMIZATIONS", None)
    return ppo_purejaxrl.run_driver(sys.executable, code, f"setting={setting}", env)


def parse_list(text, allowed, flag):
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names or any(n not in allowed for n in names):
        raise SystemExit(f"error: {flag} takes a comma-separated list of "
                         f"{', '.join(allowed)}; got {text!r}")
    return names


def table(results, programs, settings):
    def med(name, setting, field):
        return ppo_purejaxrl.median(results, (name, setting), field)

    head = ["program", "compile s default", "run s default"]
    for s in settings:
        head += [f"compile s {s}", "ratio", f"run s {s}", "ratio"]
    rows = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name in programs:
        c0, r0 = med(name, "default", "compile_s"), med(name, "default", "train_s")
        cells = [name, f"{c0:.2f}", f"{r0:.2f}"]
        for s in settings:
            c, r = med(name, s, "compile_s"), med(name, s, "train_s")
            cells += [f"{c:.2f}", f"{c / c0:.2f}x", f"{r:.2f}", f"{r / r0:.2f}x"]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default=",".join(list(SETTINGS)[1:]),
                        help=f"compared with default: {', '.join(list(SETTINGS)[1:])}")
    parser.add_argument("--programs", default=",".join(PROGRAMS), help=", ".join(PROGRAMS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true",
                        help=f"write to {ppo_purejaxrl.RESULTS}")
    args = parser.parse_args(argv)
    settings = parse_list(args.settings, list(SETTINGS)[1:], "--settings")
    programs = {name: program(name) for name in parse_list(args.programs, PROGRAMS, "--programs")}
    header = ppo_purejaxrl.machine()
    results = {}
    for round_ in range(args.repeats):
        for name, code in programs.items():
            for setting in ["default", *settings]:
                r = run_one(code, setting)
                results.setdefault((name, setting), []).append(r)
                print(f"round {round_ + 1}: {name:16s} {setting:16s} "
                      f"compile {r['compile_s']:6.2f} s  run {r['train_s']:6.2f} s", flush=True)
    text = "\n".join([
        SECTION, "",
        f"`python -m experiments.benchmarks.xla_options --settings={','.join(settings)} "
        f"--programs={','.join(programs)}`", f"(see its docstring): medians of {args.repeats} "
        "interleaved fresh-process rounds; ratio = setting / default (< 1: faster).", "",
        f"Date: {datetime.date.today()}. Machine: {header}. "
        f"Ours: {ppo_purejaxrl.versions(sys.executable)}.", "",
        *table(results, programs, settings)])
    print("\n" + text)
    if args.write:
        ppo_purejaxrl.write_results(text, SECTION)


if __name__ == "__main__":
    main()
