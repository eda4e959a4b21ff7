"""`Accelerate` (Trax's): a layer run jitted and data-parallel over local devices.

Trax replicates weights with a leading device axis and `pmap`s; here the devices form a
one-axis `jax.sharding.Mesh`, the batch is sharded over it, weights and state are
replicated, and one `jit` runs it. Weights keep their shapes, so `fast.weights` and a
file saved from either layer are the same trees, and the outputs equal the plain layer's
(bit for bit where the layer treats batch rows independently).
"""

import jax
from jax import numpy as jnp

from trax_rl import fastmath
from trax_rl.layers import base


class Accelerate(base.Layer):
    """Runs `layer` jitted, its inputs split on the batch axis over `n_devices` devices.

    As in Trax, an initialized `layer` needs no `init` here:

        layer.init(signature)
        fast = tl.Accelerate(layer)
        y = fast(x)   # == layer(x), computed data-parallel

    A batch that `n_devices` does not divide is padded with zeros and the padding cut off
    the outputs (layers that mix batch rows, e.g. BatchNorm in train mode, then see the
    padding, as in Trax). Inside another traced call it is the plain layer.

    Weights and state are `(layer_weights,)` / `(layer_state,)`, the layout of trax_rl's
    other one-layer wrappers; `replicate_weights` sets the sublayer's, as in Trax.
    """

    def __init__(self, layer, n_devices=None):
        super().__init__(n_in=layer.n_in, n_out=layer.n_out, name="Accelerate")
        self._sublayers = (layer,)
        self._n_devices, self._batch_sharding, self._replicated = fastmath.batch_shardings(
            n_devices)
        self._jit_pure_fn = jax.jit(super().pure_fn)

    @property
    def sublayer(self):
        return self._sublayers[0]

    @property
    def n_devices(self):
        return self._n_devices

    def init_weights_and_state(self, input_signature, rng):
        weights, state = self.sublayer.init_with_signature(input_signature, rng)
        return (weights,), (state,)

    def forward_with_state(self, inputs, weights, state, rng):
        outputs, layer_state = self.sublayer.pure_fn(inputs, weights[0], state[0], rng)
        return outputs, (layer_state,)

    def replicate_weights(self, weights):
        """Sets the sublayer's weights (Trax's way of setting an `Accelerate`'s)."""
        self.sublayer.weights = weights

    def replicate_state(self, state):
        """Sets the sublayer's state."""
        self.sublayer.state = state

    def pure_fn(self, inputs, weights, state=base.EMPTY_STATE, rng=None, use_cache=False):
        if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((inputs, weights))):
            return super().pure_fn(inputs, weights, state, rng, use_cache)
        batch = jax.tree.leaves(inputs)[0].shape[0]
        padding = -batch % self._n_devices
        inputs = jax.tree.map(lambda x: _pad_rows(x, padding), inputs)
        inputs = jax.device_put(inputs, self._batch_sharding)
        weights, state = jax.device_put((weights, state), self._replicated)
        outputs, new_state = self._jit_pure_fn(inputs, weights, state, rng)
        if padding:
            outputs = jax.tree.map(lambda y: _unpad_rows(y, batch, padding), outputs)
        return outputs, new_state


def _pad_rows(x, padding):
    x = jnp.asarray(x)
    if not padding:
        return x
    return jnp.pad(x, [(0, padding)] + [(0, 0)] * (x.ndim - 1))


def _unpad_rows(y, batch, padding):
    return y[:batch] if y.ndim and y.shape[0] == batch + padding else y
