"""Supervised Loop overhead and input-pipeline throughput for the seed's sentiment model.

    python -m experiments.benchmarks.loop_overhead [--steps 300] [--repeats 3]

1. Loop overhead: train steps/s of the seed's model (`Embedding(8192, 256)`, `Mean`,
   `Dense(2)`, `LogSoftmax`, Adam) through `Loop.run` (evals and checkpoints off, a
   stream cycling prepared batches) against the Loop's own jitted step called bare in a
   Python loop on the same batches. Both include the batch's transfer to the device;
   compile time is excluded (warm-up first); best of `--repeats` interleaved rounds.
2. Pipeline vs step: examples/s of the seed's input pipeline (`TFDS` -> `Tokenize` ->
   `Shuffle` -> `FilterByLength` -> `BucketByLength` -> `AddLossWeights`) on the
   prepared IMDB reviews, against the examples/s the train step consumes on the
   pipeline's own batches. Needs `imdb_reviews` and its vocabulary prepared by
   `python -m experiments.sentiment` (`--data_dir`); skipped otherwise.
"""

import argparse
import itertools
import os
import platform
import time

import jax
import numpy as np

import trax_rl.layers as tl
from trax_rl import data, optimizers
from trax_rl.supervised import training


def _model(vocab_size):
    return tl.Serial(tl.Embedding(vocab_size, 256), tl.Mean(axis=1), tl.Dense(2),
                     tl.LogSoftmax())


def _loop(batches, vocab_size):
    task = training.TrainTask(itertools.cycle(batches), tl.WeightedCategoryCrossEntropy(),
                              optimizers.Adam(0.01), n_steps_per_checkpoint=10**9)
    return training.Loop(_model(vocab_size), task, progress_bar=False)


def _synthetic_batches(vocab_size, n=16, batch_size=64, length=128, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(1, vocab_size, (batch_size, length)).astype(np.int32),
             rng.integers(0, 2, batch_size).astype(np.int64),
             np.ones(batch_size, np.float32)) for _ in range(n)]


def _quiet(fn):
    """Runs `fn` with the Loop's step lines (stdout) silenced."""
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


def loop_vs_bare(batches, vocab_size, steps, repeats):
    """(Loop steps/s, bare steps/s), best of `repeats` interleaved rounds."""
    loop = _quiet(lambda: _loop(batches, vocab_size))
    runner = loop._runner  # noqa: SLF001 -- the benchmark times the Loop's own program.
    _quiet(lambda: loop.run(len(batches)))  # Compiles every batch shape.

    def bare():
        source = itertools.cycle(batches)
        for _ in range(steps):
            runner.train_step(0, next(source))
        jax.block_until_ready(runner.state_tree())

    def through_loop():
        _quiet(lambda: loop.run(steps))
        jax.block_until_ready(runner.state_tree())

    best = {"loop": 0.0, "bare": 0.0}
    for _ in range(repeats):
        for name, fn in (("bare", bare), ("loop", through_loop)):
            start = time.perf_counter()
            fn()
            best[name] = max(best[name], steps / (time.perf_counter() - start))
    return best["loop"], best["bare"]


def pipeline_vs_step(data_dir, vocab_file, n_batches, repeats):
    """(pipeline examples/s, train-step examples/s) on the real IMDB pipeline."""
    from experiments import sentiment

    def stream():
        return sentiment.data_pipeline(vocab_file)(
            data.TFDS("imdb_reviews", keys=("text", "label"), data_dir=data_dir)())

    pipeline_rate, batches = 0.0, None
    for _ in range(repeats):
        s = stream()
        start = time.perf_counter()
        got = list(itertools.islice(s, n_batches))
        pipeline_rate = max(pipeline_rate,
                            sum(len(b[0]) for b in got) / (time.perf_counter() - start))
        batches = got
    loop = _quiet(lambda: _loop(batches, data.vocab_size(vocab_file=vocab_file)))
    _quiet(lambda: loop.run(len(batches)))  # Compiles the bucket shapes.
    step_rate = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        _quiet(lambda: loop.run(len(batches)))
        jax.block_until_ready(loop._runner.state_tree())  # noqa: SLF001
        step_rate = max(step_rate, sum(len(b[0]) for b in batches)
                        / (time.perf_counter() - start))
    return pipeline_rate, step_rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data_dir", default=data.default_data_dir())
    parser.add_argument("--vocab_size", type=int, default=8192)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"jax {jax.__version__} ({jax.default_backend()})")
    loop_rate, bare_rate = loop_vs_bare(_synthetic_batches(args.vocab_size),
                                        args.vocab_size, args.steps, args.repeats)
    print("| what | steps/s |\n|---|---:|")
    print(f"| jitted step called bare | {bare_rate:.1f} |")
    print(f"| through Loop.run | {loop_rate:.1f} |")
    print(f"| Loop overhead | {100 * (bare_rate / loop_rate - 1):.1f}% |")
    vocab = os.path.join(args.data_dir, "vocabs", f"imdb_reviews_{args.vocab_size}.model")
    if not os.path.exists(vocab):
        print(f"pipeline benchmark skipped: no {vocab} (run experiments.sentiment first)")
        return
    pipeline_rate, step_rate = pipeline_vs_step(args.data_dir, vocab, 200, args.repeats)
    print("\n| what | examples/s |\n|---|---:|")
    print(f"| input pipeline (TFDS -> ... -> AddLossWeights) | {pipeline_rate:.0f} |")
    print(f"| train step on those batches | {step_rate:.0f} |")
    print(f"| pipeline / step | {pipeline_rate / step_rate:.2f}x |")


if __name__ == "__main__":
    main()
