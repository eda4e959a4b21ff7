"""TransformerLM train-step throughput: ours vs an equivalent Flax NNX model.

    python -m experiments.benchmarks.transformer_train_step --peer_python=/work/venv-flax/bin/python

Both sides: the same pre-LayerNorm decoder-only Transformer (vocab 256, d_model 256,
d_ff 1024, 4 layers, 4 heads, learned positions, ReLU feed-forward, no dropout; the same
parameter count, checked below), batch 8 x 256 tokens, next-token cross-entropy, gradients
and an `optax.adam(1e-3)` update in one jitted step with donated buffers. Tokens/s = batch
x length / median step time over 20 steps after 3 warm-up steps (compilation excluded).
The peer runs in its own interpreter (a benchmark-only venv with jax 0.10.2 and flax
0.12.8, the newest on the index here), so Flax never enters the project's dependencies.
"""

import argparse
import json
import os
import statistics
import subprocess
import time

import jax
import numpy as np
import optax
from jax import numpy as jnp

from trax_rl import models
from trax_rl.shapes import ShapeDtype

VOCAB, D, D_FF, LAYERS, HEADS, BATCH, LENGTH = 256, 256, 1024, 4, 4, 8, 256

PEER_DRIVER = '''
import json, statistics, sys, time
import jax, optax, numpy as np
from jax import numpy as jnp
from flax import nnx
VOCAB, D, D_FF, LAYERS, HEADS, BATCH, LENGTH = %s

class Block(nnx.Module):
    def __init__(self, rngs):
        self.ln1, self.ln2 = nnx.LayerNorm(D, epsilon=1e-6, rngs=rngs), nnx.LayerNorm(D, epsilon=1e-6, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(HEADS, D, decode=False, rngs=rngs)
        self.ff1, self.ff2 = nnx.Linear(D, D_FF, rngs=rngs), nnx.Linear(D_FF, D, rngs=rngs)
    def __call__(self, x, mask):
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.ff2(jax.nn.relu(self.ff1(self.ln2(x))))

class LM(nnx.Module):
    def __init__(self, rngs):
        self.embed = nnx.Embed(VOCAB, D, rngs=rngs)
        self.pos = nnx.Param(jnp.zeros((1, LENGTH, D)))
        self.blocks = nnx.List([Block(rngs) for _ in range(LAYERS)])
        self.ln = nnx.LayerNorm(D, epsilon=1e-6, rngs=rngs)
        self.out = nnx.Linear(D, VOCAB, rngs=rngs)
    def __call__(self, tokens):
        x = jnp.pad(tokens, ((0, 0), (1, 0)))[:, :-1]
        x = self.embed(x) + self.pos[...]
        mask = nnx.make_causal_mask(tokens)
        for block in self.blocks:
            x = block(x, mask)
        return self.out(self.ln(x))

model = LM(nnx.Rngs(0))
n_params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

@nnx.jit
def step(model, optimizer, tokens):
    def loss_fn(model):
        logp = jax.nn.log_softmax(model(tokens))
        return -jnp.mean(jnp.take_along_axis(logp, tokens[..., None], axis=-1))
    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss

tokens = jnp.asarray(np.random.default_rng(0).integers(0, VOCAB, (BATCH, LENGTH)), jnp.int32)
for _ in range(3):
    step(model, optimizer, tokens).block_until_ready()
times = []
for _ in range(20):
    t = time.perf_counter(); step(model, optimizer, tokens).block_until_ready(); times.append(time.perf_counter() - t)
import flax
print(json.dumps({"seconds": statistics.median(times), "n_params": n_params, "flax": flax.__version__}))
'''


def ours():
    model = models.TransformerLM(VOCAB, d_model=D, d_ff=D_FF, n_layers=LAYERS, n_heads=HEADS,
                                 max_len=LENGTH, dropout=0.0)
    weights, state = model.init(ShapeDtype((BATCH, LENGTH), np.int32))
    n_params = sum(w.size for w in jax.tree.leaves(weights))
    optimizer = optax.adam(1e-3)

    def loss_fn(weights, tokens):
        logp = jax.nn.log_softmax(model.pure_fn(tokens, weights, state)[0])
        return -jnp.mean(jnp.take_along_axis(logp, tokens[..., None], axis=-1))

    def step(weights, opt_state, tokens):
        loss, grads = jax.value_and_grad(loss_fn)(weights, tokens)
        updates, opt_state = optimizer.update(grads, opt_state, weights)
        return optax.apply_updates(weights, updates), opt_state, loss

    step = jax.jit(step, donate_argnums=(0, 1))
    tokens = jnp.asarray(np.random.default_rng(0).integers(0, VOCAB, (BATCH, LENGTH)), jnp.int32)
    opt_state = optimizer.init(weights)
    for _ in range(3):
        weights, opt_state, loss = step(weights, opt_state, tokens)
        loss.block_until_ready()
    times = []
    for _ in range(20):
        start = time.perf_counter()
        weights, opt_state, loss = step(weights, opt_state, tokens)
        loss.block_until_ready()
        times.append(time.perf_counter() - start)
    return statistics.median(times), n_params


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer_python", default=None)
    args = parser.parse_args(argv)
    seconds, n_params = ours()
    tokens = BATCH * LENGTH
    print("| contender | parameters | step (ms) | tokens/s |\n|---|---:|---:|---:|")
    print(f"| ours (jax {jax.__version__}) | {n_params} | {1e3 * seconds:.1f} | "
          f"{tokens / seconds:.0f} |", flush=True)
    if args.peer_python:
        driver = PEER_DRIVER % repr((VOCAB, D, D_FF, LAYERS, HEADS, BATCH, LENGTH))
        result = subprocess.run([args.peer_python, "-c", driver], check=True,
                                capture_output=True, text=True, env=dict(os.environ))
        peer = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"| Flax NNX {peer['flax']} | {peer['n_params']} | {1e3 * peer['seconds']:.1f} | "
              f"{tokens / peer['seconds']:.0f} |")
        print(f"ratio ours/Flax (tokens/s): {peer['seconds'] / seconds:.2f}x")


if __name__ == "__main__":
    main()
