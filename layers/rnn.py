"""Recurrent layers: `LSTMCell`, `GRUCell`, the sequence layers `LSTM` and `GRU`, and
`ResettableLSTM` / `ResettableGRU` for RL torsos whose episodes end mid-sequence.

A cell maps `(x_t, carry) -> (y_t, new_carry)`. For the LSTM the carry is
`concat(c, h)` of width `2 * n_units` (Trax's layout); for the GRU it is `h`.
`LSTM(n)` is Trax's `Serial(Branch(identity, MakeZeroState), Scan(LSTMCell, axis=1),
Select([0], n_in=2))` over `(B, T, D)` inputs. In `mode='predict'` the scan keeps its
final carry in layer state and starts the next call from it, so a model can be fed one
timestep per call (decoding). Predict mode has the same weights tree as 'train'.

RL torsos. A rollout crosses episode boundaries, so the carry must be zeroed before the
first step of each new episode. `ResettableLSTM(n)` maps
`(xs[B, T, D], resets[B, T], carry[B, 2n]) -> (ys[B, T, n], final_carry[B, 2n])` and
zeroes the carry before every step whose `resets` flag is set. The flag marks the FIRST
observation of an episode: pass the `done` that the previous env step returned
(PureJaxRL's `last_done`), not the `done` of the step the observation is fed to.

    torso = tl.ResettableLSTM(64)   # No layer state: weights only.
    # Acting, one step at a time: carry is (B, 128), zeros at the start.
    (y, carry), _ = torso.pure_fn((obs[:, None], last_done[:, None], carry), weights)
    # Training on a stored rollout: the carry from the rollout's start, and the same
    # flags, reproduce the acting-time activations exactly.
    (ys, _), _ = torso.pure_fn((obs_seq, last_done_seq, carry0), weights)

`ResettableLSTM(n, axis=0)` takes time-major `(T, B, ...)` rollouts. For a single step
without the layer, `reset_carry(carry, done)` and `LSTMCell` do the same thing.
"""

import jax
from jax import numpy as jnp

from trax_rl import shapes
from trax_rl.layers import base
from trax_rl.layers import initializers as init
from trax_rl.layers.combinators import Branch, Scan, Select, Serial
from trax_rl.layers.core import check_mode


def reset_carry(carry, done):
    """Zeroes the rows of `carry[B, ...]` where `done[B]` is set."""
    done = jnp.asarray(done).astype(bool)
    done = done.reshape(done.shape + (1,) * (carry.ndim - done.ndim))  # (B, 1, ...)
    return jnp.where(done, jnp.zeros_like(carry), carry)


def _check_carry(input_signature, width, cell_name):
    x, carry = input_signature
    if carry.shape[-1] != width:
        raise ValueError(f"{cell_name} carry must have last dimension {width}, got shape "
                         f"{tuple(carry.shape)}")
    return x.shape[-1]


class LSTMCell(base.Layer):
    """LSTM step (Hochreiter & Schmidhuber 1997): `(x, concat(c, h)) -> (h', concat(c', h'))`.

    Weights `(w, b)` (Trax's layout). With `[i, j, f, o] = [x, h] @ w + b`:
    `c' = sigmoid(f) * c + sigmoid(i) * tanh(j)`, `h' = sigmoid(o) * tanh(c')`.
    `forget_bias` is added to the forget gate's bias at init (Trax adds it to all four
    gates' biases; only the forget gate is what the name promises).
    """

    def __init__(self, n_units, forget_bias=1.0,
                 kernel_initializer=init.GlorotUniformInitializer(),
                 bias_initializer=init.RandomNormalInitializer(1e-6)):
        super().__init__(n_in=2, n_out=2, name=f"LSTMCell_{n_units}")
        self._n_units = n_units
        self._forget_bias = forget_bias
        self._kernel_initializer = kernel_initializer
        self._bias_initializer = bias_initializer

    def forward(self, inputs, weights):
        x, carry = inputs
        c, h = jnp.split(carry, 2, axis=-1)
        w, b = weights
        gates = jnp.dot(jnp.concatenate([x, h], axis=-1), w) + b
        i, j, f, o = jnp.split(gates, 4, axis=-1)
        new_c = c * jax.nn.sigmoid(f) + jax.nn.sigmoid(i) * jnp.tanh(j)
        new_h = jnp.tanh(new_c) * jax.nn.sigmoid(o)
        return new_h, jnp.concatenate([new_c, new_h], axis=-1)

    def init_weights_and_state(self, input_signature, rng):
        n = self._n_units
        d_in = _check_carry(input_signature, 2 * n, self.name)
        w_rng, b_rng = jax.random.split(rng)
        w = self._kernel_initializer((d_in + n, 4 * n), w_rng)
        b = self._bias_initializer((4 * n,), b_rng).at[2 * n:3 * n].add(self._forget_bias)
        return (w, b), ()


class GRUCell(base.Layer):
    """GRU step (Cho et al. 2014): `(x, h) -> (h', h')`.

    Weights `(w1, b1, w2, b2)` (Trax's layout): `[u, r] = sigmoid([x, h] @ w1 + b1)`,
    `h' = u * h + (1 - u) * tanh([x, r * h] @ w2 + b2)`.
    `forget_bias` is added to the update gate's bias at init (u keeps the old state).
    """

    def __init__(self, n_units, forget_bias=0.0,
                 kernel_initializer=init.GlorotUniformInitializer(),
                 bias_initializer=init.RandomNormalInitializer(1e-6)):
        super().__init__(n_in=2, n_out=2, name=f"GRUCell_{n_units}")
        self._n_units = n_units
        self._forget_bias = forget_bias
        self._kernel_initializer = kernel_initializer
        self._bias_initializer = bias_initializer

    def forward(self, inputs, weights):
        x, h = inputs
        w1, b1, w2, b2 = weights
        gates = jnp.dot(jnp.concatenate([x, h], axis=-1), w1)
        u, r = jnp.split(jax.nn.sigmoid(gates + b1), 2, axis=-1)
        candidate = jnp.dot(jnp.concatenate([x, r * h], axis=-1), w2)
        new_h = u * h + (1 - u) * jnp.tanh(candidate + b2)
        return new_h, new_h

    def init_weights_and_state(self, input_signature, rng):
        n = self._n_units
        d_in = _check_carry(input_signature, n, self.name)
        rngs = jax.random.split(rng, 4)
        b_gates = self._bias_initializer((2 * n,), rngs[1]).at[:n].add(self._forget_bias)
        return (self._kernel_initializer((d_in + n, 2 * n), rngs[0]), b_gates,
                self._kernel_initializer((d_in + n, n), rngs[2]),
                self._bias_initializer((n,), rngs[3])), ()


def MakeZeroState(depth_multiplier=1, width=None):  # pylint: disable=invalid-name
    """`(B, T, D) -> zeros(B, width)`; `width` defaults to `depth_multiplier * D` (Trax)."""
    def f(x):
        if x.ndim != 3:
            raise ValueError(f"MakeZeroState expects (batch, length, depth) inputs, got shape "
                             f"{tuple(x.shape)}")
        dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32
        return jnp.zeros((x.shape[0], width or depth_multiplier * x.shape[-1]), dtype)
    return base.Fn("MakeZeroState", f)


def _recurrent(name, cell, width, mode, return_state, initial_state):
    """Trax's RNN wrapper: zero initial carry unless given, scan over time, drop the carry."""
    return Serial(
        None if initial_state else Branch(None, MakeZeroState(width=width)),  # (xs, carry)
        Scan(cell, axis=1, mode=check_mode(mode)),                            # (ys, carry)
        None if return_state else Select([0], n_in=2),                        # (ys)
        name=name, sublayers_to_print=[])


def LSTM(n_units, mode="train", return_state=False,  # pylint: disable=invalid-name
         initial_state=False):
    """LSTM over `(B, T, D)` inputs -> `(B, T, n_units)`.

    `initial_state=True` takes `(xs, carry[B, 2 * n_units])`; `return_state=True` also
    returns the final carry. In `mode='predict'` the carry persists across calls.
    """
    return _recurrent(f"LSTM_{n_units}", LSTMCell(n_units), 2 * n_units, mode,
                      return_state, initial_state)


def GRU(n_units, mode="train", return_state=False,  # pylint: disable=invalid-name
        initial_state=False):
    """GRU over `(B, T, D)` inputs -> `(B, T, n_units)`; arguments as for `LSTM`."""
    return _recurrent(f"GRU_{n_units}", GRUCell(n_units), n_units, mode,
                      return_state, initial_state)


class _ResettableRNN(base.Layer):
    """`(xs, resets, carry) -> (ys, final_carry)`: scans `cell`, zeroing the carry first
    at every step whose reset flag is set. See the module docstring for the RL contract.
    """

    def __init__(self, cell, axis, name):
        if cell.n_in != 2 or cell.n_out != 2:
            raise ValueError(f"expected a (x, carry) -> (y, carry) cell, got {cell}")
        super().__init__(n_in=3, n_out=2, name=name, sublayers_to_print=[])
        self._sublayers = (cell,)
        self._axis = axis

    def init_weights_and_state(self, input_signature, rng):
        xs, resets, carry = input_signature
        if tuple(resets.shape) != tuple(xs.shape[:resets.ndim]) or resets.ndim != 2:
            raise ValueError(f"resets must have the two leading (batch and time) axes of xs, "
                             f"got xs {tuple(xs.shape)} and resets {tuple(resets.shape)}")
        step_shape = xs.shape[:self._axis] + xs.shape[self._axis + 1:]
        x_t = shapes.ShapeDtype(step_shape, xs.dtype)
        w, s = self._sublayers[0].init_with_signature((x_t, carry), rng)
        if jax.tree.leaves(s):
            raise ValueError(f"{self.name} needs a stateless cell; its carry is the state")
        # No layer state: the carry is explicit, so `pure_fn(inputs, weights)` suffices.
        return (w,), ()

    def forward_with_state(self, inputs, weights, state, rng):
        del rng  # Cells are deterministic.
        cell = self._sublayers[0]
        xs, resets, carry = inputs
        xs = jnp.moveaxis(xs, self._axis, 0)          # (T, B, D)
        resets = jnp.moveaxis(resets, self._axis, 0)  # (T, B)

        def step(carry, x_and_reset):
            x, reset = x_and_reset
            (y, carry), _ = cell.pure_fn((x, reset_carry(carry, reset)), weights[0], ())
            return carry, y

        carry, ys = jax.lax.scan(step, carry, (xs, resets))
        return (jnp.moveaxis(ys, 0, self._axis), carry), state


def ResettableLSTM(n_units, axis=1, forget_bias=1.0):  # pylint: disable=invalid-name
    """LSTM over `(xs, resets, carry[B, 2 * n_units])` for RL torsos; time is `axis`."""
    return _ResettableRNN(LSTMCell(n_units, forget_bias=forget_bias), axis,
                          f"ResettableLSTM_{n_units}")


def ResettableGRU(n_units, axis=1):  # pylint: disable=invalid-name
    """GRU over `(xs, resets, carry[B, n_units])` for RL torsos; time is `axis`."""
    return _ResettableRNN(GRUCell(n_units), axis, f"ResettableGRU_{n_units}")
