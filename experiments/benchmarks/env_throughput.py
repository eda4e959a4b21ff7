"""Environment throughput: CartPole-v1 steps/s, ours vs gymnax vs Gymnasium's numpy vector env.

    python -m experiments.benchmarks.env_throughput [--sizes 1 64 1024 4096] [--repeats 5]

Ours and gymnax run random actions with auto-reset under jit + vmap + lax.scan
(same harness: per step one key split and Bernoulli actions drawn in the scan);
Gymnasium runs `make_vec("CartPole-v1", n, vectorization_mode="vector_entry_point")`
in a Python loop. Compile time is excluded (one warm-up call first); each time is
the best of `--repeats` runs, ended by `block_until_ready`; the three contenders
are timed in interleaved rounds. gymnax is optional
(`pip install gymnax`): reported as "not installed" when missing.
"""

import argparse
import os
import platform
import time

import gymnasium
import jax
import numpy as np

from trax_rl import envs

def _num_scan_steps(num_envs: int) -> int:
    return int(min(20_000, max(100, 8_000_000 // num_envs)))


def _best_rates(runners: dict, repeats: int) -> dict:
    """Best steps/s of each `(fn, env_steps)` runner, timed in interleaved rounds.

    Interleaving spreads load from other processes on a shared machine over all
    contenders instead of penalizing whichever ran during a busy spell.
    """
    best = {name: float("inf") for name in runners}
    for _ in range(repeats):
        for name, (fn, _) in runners.items():
            start = time.perf_counter()
            jax.block_until_ready(fn())
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: runners[name][1] / best[name] for name in runners}


def _scan_rollout(reset, step, num_envs: int, num_steps: int):
    """jit(lax.scan) of `num_steps` random-action steps over `num_envs` envs."""

    def run(key):
        key, reset_key = jax.random.split(key)
        _, state = reset(reset_key)

        def body(carry, _):
            key, state = carry
            key, act_key, step_key = jax.random.split(key, 3)
            actions = jax.random.bernoulli(act_key, 0.5, (num_envs,)).astype(jax.numpy.int32)
            state = step(step_key, state, actions)
            return (key, state), None

        (_, state), _ = jax.lax.scan(body, (key, state), None, length=num_steps)
        return state

    return jax.jit(run)


def ours_runner(num_envs: int):
    env, params = envs.make("CartPole-v1")
    venv = envs.vectorize(env, num_envs)
    num_steps = _num_scan_steps(num_envs)
    run = _scan_rollout(
        lambda k: venv.reset(k, params),
        lambda k, s, a: venv.step(k, s, a, params)[1],
        num_envs,
        num_steps,
    )
    key = jax.random.key(0)
    jax.block_until_ready(run(key))  # compile outside the timing
    return (lambda: run(key)), num_envs * num_steps


def gymnax_runner(num_envs: int):
    try:
        import gymnax
    except ImportError:
        return None
    env, params = gymnax.make("CartPole-v1")

    def reset(key):
        return jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)

    def step(key, state, actions):
        keys = jax.random.split(key, num_envs)
        return jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, actions, params)[1]

    num_steps = _num_scan_steps(num_envs)
    run = _scan_rollout(reset, step, num_envs, num_steps)
    key = jax.random.key(0)
    jax.block_until_ready(run(key))  # compile outside the timing
    return (lambda: run(key)), num_envs * num_steps


def gymnasium_runner(num_envs: int):
    vec = gymnasium.make_vec("CartPole-v1", num_envs, vectorization_mode="vector_entry_point")
    vec.reset(seed=0)
    num_steps = int(min(20_000, max(50, 2_000_000 // num_envs)))
    rng = np.random.default_rng(0)

    def run():
        # Actions drawn inside the loop, as the JAX rollouts draw theirs.
        for _ in range(num_steps):
            vec.step(rng.integers(0, 2, size=num_envs))

    run()
    return run, num_envs * num_steps


def _fmt(x: float | None) -> str:
    return "not installed" if x is None else f"{x / 1e6:,.3f}M"


def _ratio(a: float, b: float | None) -> str:
    return "-" if b is None else f"{a / b:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"jax {jax.__version__} ({jax.default_backend()}), gymnasium {gymnasium.__version__}"
    )
    print("| envs | ours steps/s | gymnax steps/s | gymnasium steps/s | ours/gymnax | ours/gymnasium |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        runners = {"ours": ours_runner(n), "gymnasium": gymnasium_runner(n)}
        if (gymnax_run := gymnax_runner(n)) is not None:
            runners["gymnax"] = gymnax_run
        rates = _best_rates(runners, args.repeats)
        ours, gymnax, gym = rates["ours"], rates.get("gymnax"), rates["gymnasium"]
        print(
            f"| {n} | {_fmt(ours)} | {_fmt(gymnax)} | {_fmt(gym)} | "
            f"{_ratio(ours, gymnax)} | {_ratio(ours, gym)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
