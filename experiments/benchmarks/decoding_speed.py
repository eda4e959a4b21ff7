"""Decoding speed: TransformerLM tokens/s with the predict-mode KV cache vs re-encoding
the whole prefix for every new token, at context lengths 128 / 512 / 2048.

    python -m experiments.benchmarks.decoding_speed [--lengths=128,512,2048] [--steps=32]

Both contenders are jitted with compilation excluded, batch 1, the same weights:
- cache: `supervised.decoding`'s per-token step (`_step`: one token in, attention over the
  `max_len` cache, sampling) on a model built with `max_len` = the context length, timed
  over the last `steps` tokens before the cache is full.
- re-encode: one 'eval' forward pass over `length` tokens, taking the last logits (what
  decoding without a cache does per token), timed over `steps` calls.
Median of 3 rounds. Prints a Markdown table.
"""

import argparse
import platform
import statistics
import time

import jax
import numpy as np

from trax_rl import models
from trax_rl.shapes import ShapeDtype
from trax_rl.supervised import decoding

CONFIG = dict(d_model=256, d_ff=1024, n_layers=4, n_heads=4, dropout=0.0)
VOCAB = 1000


def _cache_seconds_per_token(length, weights, steps):
    model = models.TransformerLM(VOCAB, max_len=length, mode="predict", **CONFIG)
    model.init(ShapeDtype((1, 1), np.int32))
    model.weights = weights
    prompt = [list(np.random.default_rng(0).integers(1, VOCAB, length - steps - 1))]
    stream = decoding.autoregressive_sample_stream(model, prefix=prompt, temperature=0.0)
    next(stream)  # the prompt, in one call
    next(stream).block_until_ready()  # compiles the step
    start = time.perf_counter()
    for _ in range(steps - 1):
        tokens = next(stream)
    tokens.block_until_ready()
    return (time.perf_counter() - start) / (steps - 1)


def _reencode_seconds_per_token(length, steps):
    model = models.TransformerLM(VOCAB, max_len=length, mode="eval", **CONFIG)
    weights, state = model.init(ShapeDtype((1, length), np.int32))
    last_logits = jax.jit(lambda w, x: model.pure_fn(x, w, state)[0][:, -1])
    tokens = np.random.default_rng(0).integers(1, VOCAB, (1, length)).astype(np.int32)
    last_logits(weights, tokens).block_until_ready()
    start = time.perf_counter()
    for _ in range(steps):
        out = last_logits(weights, tokens)
    out.block_until_ready()
    return (time.perf_counter() - start) / steps, weights


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="128,512,2048")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"# jax {jax.__version__} on {jax.devices()[0].platform}, {platform.processor() or platform.machine()}, "
          f"TransformerLM {CONFIG}, vocab {VOCAB}, batch 1")
    print("| context | cache tokens/s | re-encode tokens/s | speed-up |")
    print("|---:|---:|---:|---:|")
    for length in map(int, args.lengths.split(",")):
        cache, reencode = [], []
        for _ in range(args.rounds):
            seconds, weights = _reencode_seconds_per_token(length, args.steps)
            reencode.append(seconds)
            cache.append(_cache_seconds_per_token(length, weights, args.steps))
        c, r = statistics.median(cache), statistics.median(reencode)
        print(f"| {length} | {1 / c:.1f} | {1 / r:.1f} | {r / c:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
