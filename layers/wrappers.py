"""Wrapping combinators: `Cache`, `BatchLeadingAxes`, `Bidirectional`, `Chunk` (Trax's).

Each wraps one layer; `Cache` and `BatchLeadingAxes` need their own classes because they
change the state or the shapes a sublayer sees in ways a `Serial` of `Fn`s cannot.
"""

import copy
import math

import jax
from jax import numpy as jnp

from trax_rl import shapes
from trax_rl.layers import base
from trax_rl.layers.combinators import (Branch, Concatenate, Scan, Serial, _as_list,
                                        _as_tuple)


class Cache(base.Layer):
    """Runs `layer` on the first call and returns those outputs on every later call.

    State: `((), layer_state)` before the first call, `(outputs, layer_state)` after it.
    """

    def __init__(self, layer):
        super().__init__(n_in=layer.n_in, n_out=layer.n_out, name="Cache")
        self._sublayers = (layer,)

    @property
    def sublayer(self):
        return self._sublayers[0]

    def _default_state(self):
        return ((), self.sublayer.state)

    def init_weights_and_state(self, input_signature, rng):
        weights, layer_state = self.sublayer.init_with_signature(input_signature, rng)
        return (weights,), ((), layer_state)

    def forward_with_state(self, inputs, weights, state, rng):
        cached, layer_state = state
        if isinstance(cached, tuple) and cached == ():  # Not run yet.
            outputs, layer_state = self.sublayer.pure_fn(inputs, weights[0], layer_state, rng)
            return outputs, (outputs, layer_state)
        return cached, state


class BatchLeadingAxes(base.Layer):
    """Applies `layer` with all but the last `n_last_axes_to_keep` axes of each input
    flattened into one batch axis, so e.g. a `(B, H, W, C)` layer takes `(..., H, W, C)`."""

    def __init__(self, layer, n_last_axes_to_keep=1):
        if layer.n_out != 1:
            raise ValueError(f"BatchLeadingAxes needs a layer with n_out = 1, got {layer.n_out}")
        super().__init__(n_in=layer.n_in, n_out=1, name="BatchLeadingAxes")
        self._sublayers = (layer,)
        self._n_keep = n_last_axes_to_keep

    @property
    def sublayer(self):
        return self._sublayers[0]

    def _batched(self, items, make):
        items = _as_list(items, self.n_in)
        return _as_tuple([make(x, tuple(x.shape[len(x.shape) - self._n_keep:]))
                          for x in items], self.n_in)

    def init_weights_and_state(self, input_signature, rng):
        def make(x, kept):
            return shapes.ShapeDtype((math.prod(x.shape[:len(x.shape) - self._n_keep]),) + kept,
                                     x.dtype)
        weights, state = self.sublayer.init_with_signature(
            self._batched(input_signature, make), rng)
        return (weights,), (state,)

    def forward_with_state(self, inputs, weights, state, rng):
        leading = _as_list(inputs, self.n_in)[0].shape[:-self._n_keep]
        batched = self._batched(inputs, lambda x, kept: jnp.reshape(x, (-1,) + kept))
        y, layer_state = self.sublayer.pure_fn(batched, weights[0], state[0], rng)
        return jnp.reshape(y, tuple(leading) + tuple(y.shape[1:])), (layer_state,)


def Bidirectional(forward_layer, axis=1, merge_layer=None):  # pylint: disable=invalid-name
    """Runs `forward_layer` and a copy of it (own weights) on the sequence reversed along
    `axis`, re-reversing the copy's output; merges both (`Concatenate()` by default)."""
    backward_layer = copy.deepcopy(forward_layer)
    flip = base.Fn("_FlipAlongTimeAxis", lambda x: jnp.flip(x, axis=axis))
    return Serial(
        Branch(forward_layer, Serial(flip, backward_layer, flip)),  # (forward, backward)
        merge_layer if merge_layer is not None else Concatenate())


def Chunk(layer, chunk_size, pass_unchunkable=True):  # pylint: disable=invalid-name
    """Runs `layer` on batch chunks of `chunk_size` (a `Scan` with remat) to save memory.

    With `pass_unchunkable`, a batch that `chunk_size` does not divide runs as one chunk;
    otherwise it is an error.
    """
    if chunk_size < 1:
        return layer

    def to_chunks(x):
        batch, size = x.shape[0], chunk_size
        if batch % size:
            if not pass_unchunkable:
                raise ValueError(f"Chunk size {size} must divide batch size {batch}")
            size = batch
        return jnp.reshape(x, (batch // size, size) + tuple(x.shape[1:]))

    def from_chunks(x):
        return jnp.reshape(x, (x.shape[0] * x.shape[1],) + tuple(x.shape[2:]))

    def tree_fn(name, f, n):
        return base.Fn(name, lambda *xs: jax.tree.map(f, xs[0] if n == 1 else xs),
                       n_in=n, n_out=n)

    return Serial(
        tree_fn("ReshapeToChunks", to_chunks, layer.n_in),
        Scan(layer, axis=0, n_carry=0, remat=True),
        tree_fn("ReshapeFromChunks", from_chunks, layer.n_out))
