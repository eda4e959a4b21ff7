"""Reversible layers (Gomez et al. 2017, RevNet; used by Kitaev et al. 2020, Reformer):
`ReversibleSwap`, `ReversibleHalfResidual` and `ReversibleSerial`, with Trax's names.

A reversible layer can recompute its inputs from its outputs. `ReversibleSerial`'s
backward pass uses that: it keeps only the final outputs, and walks the layers backwards,
recomputing each layer's inputs and its gradient, so activation memory does not grow
with depth. The stack is `(x1, x2, *context)`; a Reformer block is

    ReversibleHalfResidual(LayerNorm(), attention)   # (x1 + attention(x2), x2)
    ReversibleSwap()                                 # (x2, y1)
    ReversibleHalfResidual(LayerNorm(), feed_forward) # (x2 + ff(y1), y1)
    ReversibleSwap()                                 # (y1, y2)

Sublayers must not update layer state (none does in 'train'/'eval' mode); randomness is
replayed exactly in the backward pass, since each sublayer gets the same rng again.
"""

import jax
import numpy as np
from jax import numpy as jnp

from trax_rl.layers import base
from trax_rl.layers.combinators import Serial, _as_list, _as_tuple, _serial_arity, _split_rngs


class ReversibleLayer(base.Layer):
    """A layer whose inputs can be recomputed from its outputs by `reverse`."""

    def reverse(self, outputs, weights, state, rng):
        """Returns the inputs that `pure_fn` maps to `outputs`."""
        raise NotImplementedError

    def reverse_and_grad(self, outputs, output_cotangents, weights, state, rng):
        """Returns `(inputs, input_cotangents, weight_cotangents)`; subclasses may fuse
        the two computations."""
        inputs = self.reverse(outputs, weights, state, rng)
        _, vjp = jax.vjp(lambda x, w: self.pure_fn(x, w, state, rng)[0], inputs, weights)
        input_cotangents, weight_cotangents = vjp(output_cotangents)
        return inputs, input_cotangents, weight_cotangents


class ReversibleSwap(ReversibleLayer):
    """`(x1, x2) -> (x2, x1)`."""

    def __init__(self):
        super().__init__(n_in=2, n_out=2, name="ReversibleSwap")

    def forward(self, inputs, weights):
        del weights
        return inputs[1], inputs[0]

    def reverse(self, outputs, weights, state, rng):
        return outputs[1], outputs[0]


class ReversibleHalfResidual(ReversibleLayer):
    """`(x1, ctx...) -> (x1 + f(ctx...), ctx...)` with `f = Serial(residual_layers)`.

    `f` reads `f.n_in` context items; its first output is the residual. Reversed:
    `x1 = y1 - f(ctx...)`, where `f` is evaluated once for both the inputs and the gradient.
    """

    def __init__(self, *residual_layers):
        layer = Serial(residual_layers)
        super().__init__(n_in=1 + layer.n_in, n_out=1 + layer.n_in,
                         name="ReversibleHalfResidual")
        self._sublayers = (layer,)

    def init_weights_and_state(self, input_signature, rng):
        context = _as_tuple(list(input_signature)[1:], self.n_in - 1)
        weights, state = self._sublayers[0].init_with_signature(context, rng)
        return (weights,), (state,)

    def _residual(self, context, weights, state, rng):
        layer = self._sublayers[0]
        out, _ = layer.pure_fn(_as_tuple(list(context), layer.n_in), weights[0], state[0], rng)
        return out[0] if layer.n_out > 1 else out

    def forward_with_state(self, inputs, weights, state, rng):
        accumulator, *context = inputs
        return (accumulator + self._residual(context, weights, state, rng), *context), state

    def reverse(self, outputs, weights, state, rng):
        y1, *context = outputs
        return (y1 - self._residual(context, weights, state, rng), *context)

    def reverse_and_grad(self, outputs, output_cotangents, weights, state, rng):
        y1, *context = outputs
        ct_y1, *ct_context = output_cotangents
        residual, vjp = jax.vjp(lambda c, w: self._residual(c, w, state, rng),
                                tuple(context), weights)
        ct_from_residual, weight_cotangents = vjp(ct_y1)
        input_cotangents = (ct_y1, *[_add_cotangents(a, b)
                                     for a, b in zip(ct_context, ct_from_residual)])
        return (y1 - residual, *context), input_cotangents, weight_cotangents


def _add_cotangents(a, b):
    """`a + b`, except for integer/boolean context (e.g. masks), whose cotangent is float0."""
    if a.dtype == jax.dtypes.float0:
        return a
    return a + b


def _zero_cotangent(tree):
    """Cotangents for non-differentiable arguments (state, rngs): float0 for integers."""
    def zero(x):
        if jnp.issubdtype(x.dtype, jnp.inexact):
            return jnp.zeros_like(x)
        return np.zeros(x.shape, jax.dtypes.float0)
    return jax.tree.map(zero, tree)


class ReversibleSerial(ReversibleLayer):
    """A `Serial` of reversible layers whose backward pass recomputes activations.

    Needs its own class for the custom gradient (`jax.custom_vjp`), which Serial/Parallel/
    Select cannot express.
    """

    def __init__(self, *layers):
        layers = Serial(layers).sublayers
        for layer in layers:
            if not isinstance(layer, ReversibleLayer):
                raise TypeError(f"ReversibleSerial takes reversible layers only, got {layer.name}")
        n_in, n_out = _serial_arity(layers)
        super().__init__(n_in=n_in, n_out=n_out, name="ReversibleSerial")
        self._sublayers = tuple(layers)
        self._apply = jax.custom_vjp(self._forward)
        self._apply.defvjp(self._forward_keeping_outputs, self._backward)

    def init_weights_and_state(self, input_signature, rng):
        return Serial(*self._sublayers).init_weights_and_state(input_signature, rng)

    def _forward(self, xs, weights, state, rngs):
        stack = list(xs)
        for layer, w, s, r in zip(self._sublayers, weights, state, rngs):
            y, _ = layer.pure_fn(_as_tuple(stack[:layer.n_in], layer.n_in), w, s, r)
            stack = _as_list(y, layer.n_out) + stack[layer.n_in:]
        return tuple(stack)

    def _forward_keeping_outputs(self, xs, weights, state, rngs):
        ys = self._forward(xs, weights, state, rngs)
        return ys, (ys, weights, state, rngs)  # No intermediate activations are kept.

    def _backward(self, residuals, cotangents):
        ys, weights, state, rngs = residuals
        stack, cts = list(ys), list(cotangents)
        weight_cts = [None] * len(self._sublayers)
        for i in reversed(range(len(self._sublayers))):
            layer, n = self._sublayers[i], self._sublayers[i].n_in
            inputs, input_cts, weight_cts[i] = layer.reverse_and_grad(
                _as_tuple(stack[:n], n), _as_tuple(cts[:n], n), weights[i], state[i], rngs[i])
            stack = _as_list(inputs, n) + stack[n:]
            cts = _as_list(input_cts, n) + cts[n:]
        return tuple(cts), tuple(weight_cts), _zero_cotangent(state), _zero_cotangent(rngs)

    def forward_with_state(self, inputs, weights, state, rng):
        rngs = tuple(_split_rngs(rng, len(self._sublayers)))
        outputs = self._apply(tuple(_as_list(inputs, self.n_in)), weights, state, rngs)
        return _as_tuple(list(outputs), self.n_out), state

    def reverse(self, outputs, weights, state, rng):
        rngs = _split_rngs(rng, len(self._sublayers))
        stack = _as_list(outputs, self.n_out)
        for layer, w, s, r in reversed(list(zip(self._sublayers, weights, state, rngs))):
            x = layer.reverse(_as_tuple(stack[:layer.n_in], layer.n_in), w, s, r)
            stack = _as_list(x, layer.n_in) + stack[layer.n_in:]
        return _as_tuple(stack, self.n_in)
