"""How close the flagship's training program is to the cost of its gradient steps alone.

    python -m experiments.benchmarks.ppo_update_floor [--repeats 3]

The flagship (`python -m experiments.ppo --env=CartPole-v1`, its tuned config) takes
390 updates x 10 epochs = 3,900 Adam steps on batches of 256. Two programs,
each compiled once and then timed (best of `--repeats` calls, blocking on the result):

1. ours: the whole run as one program, `jax.jit(ppo.make_train(config, ...))`, with the
   flagship's config and PRNG (rbg): rollouts, GAE, the PPO loss with clipping, value
   clipping, entropy, advantage normalization, the NaN/inf guard and the metrics.
2. floor: the same 3,900 steps of a minimal actor-critic written here in plain JAX and
   optax (separate 64-64 tanh actor and critic, a policy-gradient + squared-error loss,
   global-norm clipping 0.5, Adam) on one fixed batch: no environment, no rollout, no
   PPO terms. No PPO at these hyperparameters can train faster than this on the machine.

The ratio ours / floor is what the rest of PPO costs on top of its matrix products.
"""

import argparse
import os
import platform
import time

import jax
import jax.numpy as jnp
import optax

from experiments import ppo as ppo_script
from trax_rl import envs
from trax_rl.agents import ppo

BATCH, HIDDEN = 256, 64


def _best_time(fn, arg, repeats):
    jax.block_until_ready(fn(arg))  # The first call also allocates buffers.
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(arg))
        times.append(time.perf_counter() - start)
    return min(times)


def ours(repeats):
    """(updates, gradient steps, seconds) of the flagship's whole run as one program."""
    config = ppo.PPOConfig(**ppo_script.TUNED["CartPole-v1"]).validate()
    env, env_params = envs.make("CartPole-v1")
    train = jax.jit(ppo.make_train(config, env, env_params)).lower(
        jax.random.PRNGKey(0)).compile()
    steps = config.num_updates * config.update_epochs * config.num_minibatches
    return config.num_updates, steps, _best_time(train, jax.random.PRNGKey(0), repeats)


def _mlp_params(key, sizes):
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        key, sub = jax.random.split(key)
        params.append((jax.random.normal(sub, (n_in, n_out)) / jnp.sqrt(n_in),
                       jnp.zeros(n_out)))
    return params


def _mlp(params, x):
    for i, (w, b) in enumerate(params):
        x = x @ w + b
        x = jnp.tanh(x) if i < len(params) - 1 else x
    return x


def floor(n_steps, repeats, obs_dim=4, n_actions=2):
    """Seconds of `n_steps` minimal actor-critic Adam steps on a batch of 256."""
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    params = (_mlp_params(keys[0], [obs_dim, HIDDEN, HIDDEN, n_actions]),
              _mlp_params(keys[1], [obs_dim, HIDDEN, HIDDEN, 1]))
    obs = jax.random.normal(keys[2], (BATCH, obs_dim))
    actions = jax.random.randint(keys[3], (BATCH,), 0, n_actions)
    advantages, returns = jnp.ones(BATCH), jnp.ones(BATCH)
    optimizer = optax.chain(optax.clip_by_global_norm(0.5), optax.adam(1e-3, eps=1e-5))

    def loss(p):
        log_probs = jax.nn.log_softmax(_mlp(p[0], obs))
        values = _mlp(p[1], obs)[:, 0]
        chosen = jnp.take_along_axis(log_probs, actions[:, None], axis=1)[:, 0]
        return -(chosen * advantages).mean() + 0.5 * ((values - returns) ** 2).mean()

    def step(carry, _):
        p, opt_state = carry
        updates, opt_state = optimizer.update(jax.grad(loss)(p), opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), None

    run = jax.jit(lambda p: jax.lax.scan(step, (p, optimizer.init(p)), None,
                                         length=n_steps)[0])
    return _best_time(run, params, repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of each program")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        raise SystemExit(f"error: --repeats must be >= 1, got {args.repeats}")
    jax.config.update("jax_default_prng_impl", "rbg")  # The flagship's default.
    updates, steps, ours_s = ours(args.repeats)
    floor_s = floor(steps, args.repeats)
    load = os.getloadavg()[0]
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}, "
          f"load average {load:.2f} before the floor run")
    print("| program | updates | Adam steps (batch 256) | train s | ÷ floor |")
    print("|---|---:|---:|---:|---:|")
    print(f"| ours: the flagship's whole run | {updates} | {steps:,} | {ours_s:.2f} | "
          f"{ours_s / floor_s:.2f}x |")
    print(f"| floor: minimal actor-critic steps alone | — | {steps:,} | {floor_s:.2f} | 1.00x |")


if __name__ == "__main__":
    main()
