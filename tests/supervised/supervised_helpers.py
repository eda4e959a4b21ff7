"""A small sentiment-like task for Loop tests: the label is whether token 1 is present."""

import numpy as np

import trax_rl.layers as tl
from trax_rl import data


def make_data(n=256, length=10, vocab=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(2, vocab, size=(n, length)).astype(np.int32)
    y = rng.integers(0, 2, size=n).astype(np.int64)
    x[y == 1, rng.integers(0, length, size=int(y.sum()))] = 1
    return x, y


def pipeline(x, y, batch_size=16, seed=0):
    return data.Serial(data.Arrays(x, y, shuffle=True, seed=seed), data.Shuffle(32, seed=seed),
                       data.Batch(batch_size), data.AddLossWeights())


def make_model(vocab=20):
    return tl.Serial(tl.Embedding(vocab, 8), tl.Mean(axis=1), tl.Dense(2), tl.LogSoftmax())

