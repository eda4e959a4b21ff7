"""How an experiment's run is stepped: on device (JAX envs) or on the host (bridge).

A backend offers `init()`, `run_chunk(state) -> (state, metrics [num_seeds, chunk])`
and `evaluate(state) -> returns [num_seeds, episodes]`; `common.run` drives either the
same way (progress, logging, checkpoints).
"""

import functools

import jax
import numpy as np

CHUNKS = 20  # Host round trips per run: progress and logging granularity.


def chunk_size(num_updates):
    """The largest divisor of num_updates giving at least CHUNKS chunks (one compile)."""
    target = max(1, num_updates // CHUNKS)
    return max(d for d in range(1, target + 1) if num_updates % d == 0)


def over_seeds(fn, num_seeds):
    """`jax.vmap(fn)`, or for one seed `fn` on the unbatched slice (same leading axis).

    A size-1 vmap is not free: it turns every `lax.cond` (e.g. the env's batched reset)
    into a select that runs both branches.
    """
    if num_seeds > 1:
        return jax.vmap(fn)

    def single(*args):
        out = fn(*jax.tree.map(lambda x: x[0], args))
        return jax.tree.map(lambda x: x[None], out)

    return single


class Backend:
    """How a run is stepped: `init()`, `run_chunk(state) -> (state, metrics [S, chunk])`,
    `evaluate(state) -> returns [S, episodes]`, with `chunk` and `num_updates`."""

    def __init__(self, init, run_chunk, evaluate, chunk, num_updates):
        self.init, self.run_chunk, self.evaluate = init, run_chunk, evaluate
        self.chunk, self.num_updates = chunk, num_updates


def make_learner(algo, config, torso, action_space, obs_space):
    """`algo`'s learner with the `torso` network ('lstm': recurrent PPO)."""
    from trax_rl.agents import networks

    if torso == "lstm":
        from trax_rl.agents import recurrent

        return recurrent.make_learner(config, action_space, obs_space)
    if torso == "cnn" and len(obs_space.shape) != 3:
        raise ValueError(f"--torso=cnn needs image observations [H, W, C], got shape "
                         f"{tuple(obs_space.shape)}")
    # One CNN feeds both heads, as in CleanRL's ppo_atari (and half the convolutions).
    network = networks.PolicyAndValue(action_space, torso=torso, shared_torso=torso == "cnn")
    return algo.make_learner(config, network, action_space, obs_space)


def jax_backend(algo, config, args, env, env_params):
    """The whole run on device: jitted chunks of updates, vmapped over seeds."""
    from trax_rl.agents import normalization
    from trax_rl.agents import rollout
    from trax_rl.agents import training
    from trax_rl.envs import wrappers

    if args.torso == "transformer":
        env = wrappers.ObservationWindow(env, args.window)
    learner = make_learner(algo, config, args.torso, env.action_space(env_params),
                           env.observation_space(env_params))
    trainer = training.make_trainer(learner, config, env, env_params)
    # Seeds seed, seed + 1, ...: a run of --num_seeds=N repeats N single-seed runs. The
    # programs make their keys from them (no eager PRNG calls to compile or load first).
    seeds = place_seeds(np.arange(args.seed, args.seed + args.num_seeds, dtype=np.int32))
    chunk = chunk_size(trainer.num_updates)
    eval_env = wrappers.vectorize(env, args.eval_episodes, resets=False)  # First episodes only.
    init = over_seeds(lambda seed: trainer.init(jax.random.PRNGKey(seed)), args.num_seeds)
    run_chunk = over_seeds(lambda s: training.run_updates(trainer, s, chunk), args.num_seeds)
    policy = normalization.acting_policy(learner.policy, config.clip_obs)  # Frozen stats.
    run_eval = over_seeds(lambda seed, state: rollout.evaluate(
        jax.random.fold_in(jax.random.PRNGKey(seed), 1), eval_env, env_params, policy,
        training.acting_params(learner, state), args.eval_episodes), args.num_seeds)

    def jit(fn, options):
        return jax.jit(fn, out_shardings=seeds.sharding, compiler_options=options)

    traced_init = jit(init, RUNS_ONCE).trace(seeds)  # Once: its output shapes type the rest.
    state = traced_init.out_info
    # Training waits for init and the chunk only: evaluation compiles while it runs.
    compiled_chunk, compiled_init, compiled_eval = compile_in_background(
        functools.partial(jit(run_chunk, RUNS_LONG).lower, state), traced_init.lower,
        last=functools.partial(jit(run_eval, RUNS_LONG).lower, seeds, state))
    return Backend(
        init=lambda: compiled_init.result()(seeds),
        run_chunk=lambda state: compiled_chunk.result()(state),
        evaluate=lambda state: np.asarray(compiled_eval.result()(seeds, state)),
        chunk=chunk, num_updates=trainer.num_updates)


# XLA:CPU's classic emitters without LLVM's optimizations compile init, which runs once,
# in a third of the CPU time of XLA's defaults (0.5 s against 1.3 s for the flagship's;
# it then runs in 1.2 ms instead of 0.8). Its initial weights differ from the optimized
# program's in the last bits, and so each seed's run: the 32-seed check was redone
# (experiments/README.md).
RUNS_ONCE = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 0}

# The update chunks and evaluation, whose run time counts: XLA's defaults (faster to run
# than the settings above; benchmarks/RESULTS.md), except that XLA:CPU's copy insertion
# uses its region analysis to find which while-loop buffers need a copy. Our programs are
# loops in loops (updates, epochs, minibatches, env steps), and fewer copies of their
# carried state leave results bit-identical and the flagship's program 19% faster (1.78 ->
# 1.44 s), the other tuned PPO programs within 3% (benchmarks/xla_options.py).
RUNS_LONG = {"xla_cpu_copy_insertion_use_region_analysis": True}


def place_seeds(array):
    """Lays the leading (seed) axis out over all local devices when it divides evenly.

    Seeds never communicate, so XLA runs each device's seeds independently: N devices
    train N times as many seeds in the same wall time. Otherwise: the default device.
    """
    devices = jax.local_devices()
    if len(devices) == 1 or array.shape[0] % len(devices):
        return jax.device_put(array, devices[0])
    mesh = jax.sharding.Mesh(np.array(devices), ("seeds",))
    return jax.device_put(array, jax.sharding.NamedSharding(
        mesh, jax.sharding.PartitionSpec("seeds")))


def compile_in_background(*lowerings, last):
    """Lowers and compiles programs off the main thread; returns a future of each, in order.

    Each of `lowerings` and `last` is a function returning a `jax.stages.Lowered`.
    Tracing holds the GIL, so one thread lowers them one after another in the order
    given (the longest compile first); each then compiles in a thread of its own (XLA
    compiles without the GIL, on every core). `last`, what the run needs last
    (evaluation), compiles once the others have: it takes no CPU from the programs
    training waits for, and gets ready while they run.
    """
    import concurrent.futures

    tracer = concurrent.futures.ThreadPoolExecutor(1)  # Runs the lowerings in order.
    compiler = concurrent.futures.ThreadPoolExecutor(len(lowerings) + 1)

    def compile_lowered(lowered, after=()):
        concurrent.futures.wait(after)
        return lowered.result().compile()

    futures = [compiler.submit(compile_lowered, tracer.submit(lower)) for lower in lowerings]
    futures.append(compiler.submit(compile_lowered, tracer.submit(last), list(futures)))
    tracer.shutdown(wait=False)  # The threads end with their work.
    compiler.shutdown(wait=False)
    return futures


def host_backend(algo, config, args, vec_env):
    """A Gymnasium env through the bridge: host rollouts, the same jitted learner."""
    from trax_rl.agents import host_loop
    from trax_rl.agents import normalization
    from trax_rl.agents import training

    obs_space, transform = host_loop.network_observation_space(vec_env.observation_space)
    learner = make_learner(algo, config, args.torso, vec_env.action_space, obs_space)
    update = host_loop.make_update(learner, config, vec_env, transform)
    chunk = chunk_size(config.num_updates)

    def run_chunk(state):
        metrics = []
        for _ in range(chunk):
            state, m = update(state)
            metrics.append(m)
        # Leaves [1, chunk] like the JAX backend's [num_seeds, chunk].
        return state, jax.tree.map(lambda *xs: np.stack(xs)[None], *metrics)

    def evaluate(state):
        policy = normalization.acting_policy(learner.policy, config.clip_obs)  # Frozen stats.
        return host_loop.evaluate(policy, training.acting_params(learner, state), vec_env,
                                  args.eval_episodes, transform)[None]

    return Backend(
        init=lambda: host_loop.init(learner, vec_env, jax.random.PRNGKey(args.seed), transform,
                                    config),
        run_chunk=run_chunk, evaluate=evaluate, chunk=chunk, num_updates=config.num_updates)
