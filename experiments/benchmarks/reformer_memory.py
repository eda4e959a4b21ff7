"""Training-step memory and time vs sequence length: TransformerLM vs ReformerLM.

    python -m experiments.benchmarks.reformer_memory [--lengths=1024,2048,4096,8192,16384]
        [--time_limit_gb=3] [--png=reformer_memory.png]

One train step = loss and gradients of next-token cross-entropy, jitted, batch 1, both
models with d_model 128, d_ff 512, 2 layers, 2 heads of 64 (ReformerLM: LSH attention with
2 hash rounds, chunks of 64, length/64 buckets, feed-forward in chunks of 1024 positions).
Peak memory is XLA's own account of the compiled step (`memory_analysis()`: temporaries
plus arguments and outputs), which does not depend on the machine's load; step time is
the median of `--runs` steps after compilation, measured only where the step's memory is under
`--time_limit_gb` (the rest would swap or take minutes on a small CPU).
"""

import argparse
import functools
import statistics
import time

import jax
import numpy as np
from jax import numpy as jnp

from trax_rl import models
from trax_rl.layers import efficient_attention
from trax_rl.shapes import ShapeDtype

CONFIG = dict(d_model=128, d_ff=512, n_layers=2, n_heads=2, dropout=0.0)
VOCAB = 256


def build(name, length):
    if name == "TransformerLM":
        return models.TransformerLM(VOCAB, max_len=length, **CONFIG)
    lsh = functools.partial(efficient_attention.LSHSelfAttention, n_hashes=2, chunk_len=64,
                            n_buckets=max(2, length // 64))
    return models.ReformerLM(VOCAB, max_len=length, d_attention_key=64, d_attention_value=64,
                             attention_type=lsh, ff_chunk_size=1024, **CONFIG)


def compiled_step(model, length):
    signature = ShapeDtype((1, length), np.int32)
    weights, state = jax.eval_shape(lambda: model.init_with_signature(signature,
                                                                      jax.random.PRNGKey(0)))

    def loss(weights, tokens, rng):
        logits = model.pure_fn(tokens, weights, state, rng)[0]
        log_probs = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(log_probs, tokens[..., None], axis=-1))

    step = jax.jit(jax.value_and_grad(loss))
    compiled = step.lower(weights, jax.ShapeDtypeStruct((1, length), jnp.int32),
                          jax.random.PRNGKey(0)).compile()
    memory = compiled.memory_analysis()
    peak = (memory.temp_size_in_bytes + memory.argument_size_in_bytes
            + memory.output_size_in_bytes)
    return compiled, peak, signature


def time_step(model, compiled, signature, runs):
    weights, _ = model.init(signature)
    tokens = jnp.asarray(np.random.default_rng(0).integers(0, VOCAB, signature.shape), jnp.int32)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        jax.block_until_ready(compiled(weights, tokens, jax.random.PRNGKey(1)))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plot(rows, path):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, marker in (("TransformerLM", "o"), ("ReformerLM", "s")):
        mine = [r for r in rows if r[0] == name]
        left.plot([r[1] for r in mine], [r[2] / 2**20 for r in mine], marker=marker, label=name)
        timed = [r for r in mine if r[3] is not None]
        right.plot([r[1] for r in timed], [r[3] for r in timed], marker=marker, label=name)
    for axis, label in ((left, "peak memory of a train step (MiB, XLA)"),
                        (right, "train step time (s, CPU, under load)")):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("sequence length")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    fig.suptitle("TransformerLM vs ReformerLM (d_model 128, 2 layers, batch 1)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="1024,2048,4096,8192,16384")
    parser.add_argument("--time_limit_gb", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3, help="timed steps per point (median)")
    parser.add_argument("--png", default="experiments/benchmarks/reformer_memory.png")
    args = parser.parse_args(argv)
    print(f"# jax {jax.__version__} on {jax.devices()[0].platform}; {CONFIG}, vocab {VOCAB}")
    print("| length | model | peak memory (MiB) | step time (s) |")
    print("|---:|---|---:|---:|")
    rows = []
    for length in map(int, args.lengths.split(",")):
        for name in ("TransformerLM", "ReformerLM"):
            model = build(name, length)
            compiled, peak, signature = compiled_step(model, length)
            seconds = (time_step(model, compiled, signature, args.runs)
                       if peak < args.time_limit_gb * 2**30 else None)
            rows.append((name, length, peak, seconds))
            shown = f"{seconds:.2f}" if seconds is not None else "not run"
            print(f"| {length} | {name} | {peak / 2**20:.0f} | {shown} |", flush=True)
    plot(rows, args.png)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
