"""Combinators: layers built from layers, with Trax's data-stack semantics.

Primitives are `Serial`, `Parallel` and `Select` (with `Fn` in `base`); everything else
is a few lines on top of them, except `Scan` and `Cond`, which need `lax` control flow.

Weights and state of a combinator are tuples with one entry per sublayer. A layer object
used more than once anywhere in a model shares one set of weights (see `base`): its
later occurrences hold Trax's `GET_WEIGHTS_FROM_CACHE` / `GET_STATE_FROM_CACHE` markers.
"""

import jax
from jax import numpy as jnp

from trax_rl import shapes
from trax_rl.layers import base


def _flatten(layers):
    """Flattens nested lists/tuples of layers and drops `None`s (no-ops in a Serial)."""
    flat = []
    for layer in layers:
        if layer is None:
            continue
        if isinstance(layer, (list, tuple)):
            flat.extend(_flatten(layer))
        elif isinstance(layer, base.Layer):
            flat.append(layer)
        else:
            raise TypeError(f"expected a Layer, got {layer!r} of type {type(layer).__name__}")
    return flat


def _split_rngs(rng, n):
    if rng is None:
        return [None] * n
    return list(jax.random.split(rng, n)) if n else []


def _as_tuple(xs, n):
    """Stack slice -> layer inputs: a bare array for one, a tuple otherwise."""
    return xs[0] if n == 1 else tuple(xs)


def _as_list(outputs, n):
    """Layer outputs -> stack items."""
    return [outputs] if n == 1 else list(outputs)


class _Combinator(base.Layer):
    """Shared bookkeeping for layers whose weights and state are one entry per sublayer."""

    def __init__(self, sublayers, n_in, n_out, name, sublayers_to_print=None):
        super().__init__(n_in=n_in, n_out=n_out, name=name,
                         sublayers_to_print=sublayers_to_print)
        self._sublayers = tuple(sublayers)

    def _check_trees(self, weights, state):
        n = len(self._sublayers)
        if len(weights) != n or len(state) != n:
            raise ValueError(f"expected weights and state with one entry per sublayer ({n}), "
                             f"got {len(weights)} and {len(state)}: pass what init returned")

    def _init_sublayer(self, i, signature, rng, weights, state):
        """Initializes sublayer i (a repeated layer gets cache markers); returns its outputs."""
        w, s = self._sublayers[i].init_with_signature(signature, rng)
        weights.append(w)
        state.append(s)
        return self._sublayers[i].output_signature(signature, w, s)


class Serial(_Combinator):
    """Applies sublayers one after another, each popping its inputs off the stack."""

    def __init__(self, *sublayers, name=None, sublayers_to_print=None):
        sublayers = _flatten(sublayers)
        # Trax's empty Serial is the identity on one item.
        n_in, n_out = _serial_arity(sublayers) if sublayers else (1, 1)
        super().__init__(sublayers, n_in, n_out, name or "Serial", sublayers_to_print)

    def forward_with_state(self, inputs, weights, state, rng):
        self._check_trees(weights, state)
        stack = _as_list(inputs, self.n_in)
        new_state = []
        keys = _split_rngs(rng, len(self._sublayers))
        for layer, w, s, key in zip(self._sublayers, weights, state, keys):
            x = _as_tuple(stack[:layer.n_in], layer.n_in) if layer.n_in else ()
            y, s = layer.pure_fn(x, w, s, key)
            new_state.append(s)
            stack = _as_list(y, layer.n_out) + stack[layer.n_in:]
        return _as_tuple(stack, self.n_out), tuple(new_state)

    def init_weights_and_state(self, input_signature, rng):
        stack = _as_list(input_signature, self.n_in)
        weights, state = [], []
        for i, (layer, key) in enumerate(zip(self._sublayers, _split_rngs(rng, len(self._sublayers)))):
            x = _as_tuple(stack[:layer.n_in], layer.n_in) if layer.n_in else ()
            y = self._init_sublayer(i, x, key, weights, state)
            stack = _as_list(y, layer.n_out) + stack[layer.n_in:]
        return tuple(weights), tuple(state)


def _serial_arity(layers):
    """(n_in, n_out) of a Serial: the deepest the stack is read, and what is left."""
    running_max = running_total = 0
    for layer in layers:
        running_total += layer.n_in
        running_max = max(running_max, running_total)
        running_total -= layer.n_out
    return running_max, running_max - running_total


class Parallel(_Combinator):
    """Applies sublayers side by side to consecutive slices of the stack.

    `None` stands for the identity on one stack item; a list of layers is a `Serial`.
    """

    def __init__(self, *sublayers, name=None):
        sublayers = [Select([0], name="Identity") if l is None
                     else Serial(l) if isinstance(l, (list, tuple)) else l for l in sublayers]
        super().__init__(sublayers, sum(l.n_in for l in sublayers),
                         sum(l.n_out for l in sublayers), name or "Parallel")

    def _slices(self, xs):
        start, slices = 0, []
        for layer in self._sublayers:
            slices.append(_as_tuple(xs[start:start + layer.n_in], layer.n_in)
                          if layer.n_in else ())
            start += layer.n_in
        return slices

    def forward_with_state(self, inputs, weights, state, rng):
        self._check_trees(weights, state)
        outputs, new_state = [], []
        slices = self._slices(_as_list(inputs, self.n_in))
        keys = _split_rngs(rng, len(self._sublayers))
        for layer, x, w, s, key in zip(self._sublayers, slices, weights, state, keys):
            y, s = layer.pure_fn(x, w, s, key)
            new_state.append(s)
            outputs += _as_list(y, layer.n_out)
        return _as_tuple(outputs, self.n_out), tuple(new_state)

    def init_weights_and_state(self, input_signature, rng):
        slices = self._slices(_as_list(input_signature, self.n_in))
        keys = _split_rngs(rng, len(self._sublayers))
        weights, state = [], []
        for i, (x, key) in enumerate(zip(slices, keys)):
            self._init_sublayer(i, x, key, weights, state)
        return tuple(weights), tuple(state)


class Select(base.Layer):
    """Copies, reorders or drops stack items: outputs `inputs[i] for i in indices`."""

    def __init__(self, indices, n_in=None, name=None):
        indices = list(indices)
        if any(not isinstance(i, int) or i < 0 for i in indices):
            raise ValueError(f"Select indices must be non-negative ints, got {indices}")
        n_in = max(indices, default=-1) + 1 if n_in is None else n_in
        if indices and max(indices) >= n_in:
            raise ValueError(f"Select index {max(indices)} out of range for n_in={n_in}")
        super().__init__(n_in=n_in, n_out=len(indices), name=name or f"Select{indices}")
        self._indices = indices

    def forward(self, inputs, weights):
        del weights
        # As in Trax, a tuple given to a one-input Select is read as the stack itself, so
        # `Select([0, 0])((a, b))` is `(a, a)`.
        xs = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
        return _as_tuple([xs[i] for i in self._indices], self.n_out)


# -- Derived combinators ---------------------------------------------------------------------


def Branch(*layers, name="Branch"):  # pylint: disable=invalid-name
    """Applies each layer to copies of the top of the stack; outputs are concatenated.

    `Branch(f, g)` on stack `(x, ...)` gives `(f(x), g(x), ...)`; a layer with n_in = 2
    sees the top two items. `None` is the identity on the top item.
    """
    parallel = Parallel(*layers)
    if len(parallel.sublayers) == 1:
        return parallel.sublayers[0]
    indices = [i for layer in parallel.sublayers for i in range(layer.n_in)]
    return Serial(Select(indices), parallel, name=name,
                  sublayers_to_print=parallel.sublayers)


def Residual(*layers, shortcut=None):  # pylint: disable=invalid-name
    """Returns `layers(x) + shortcut(x)` (shortcut: identity by default)."""
    layers = _flatten(layers)
    layer = layers[0] if len(layers) == 1 else Serial(layers)
    return Serial(
        Branch(shortcut, layer),  # (shortcut(x), layer(x), ...)
        Add(),                    # (shortcut(x) + layer(x), ...)
        name="Residual", sublayers_to_print=layers)


def Dup():  # pylint: disable=invalid-name
    """Duplicates the top stack item: (x, ...) -> (x, x, ...)."""
    return Select([0, 0], name="Dup")


def Drop():  # pylint: disable=invalid-name
    """Drops the top stack item: (x, ...) -> (...)."""
    return Select([], n_in=1, name="Drop")


def Swap():  # pylint: disable=invalid-name
    """Swaps the top two stack items: (x, y, ...) -> (y, x, ...)."""
    return Select([1, 0], name="Swap")


def Concatenate(n_items=2, axis=-1):  # pylint: disable=invalid-name
    """Concatenates the top `n_items` stack items along `axis`."""
    if n_items < 2:
        raise ValueError(f"Concatenate needs n_items >= 2, got {n_items}")
    return base.Fn("Concatenate", lambda *xs: jnp.concatenate(xs, axis=axis), n_in=n_items)


def Add():  # pylint: disable=invalid-name
    """Adds the top two stack items elementwise."""
    return base.Fn("Add", lambda x0, x1: x0 + x1)


def Multiply():  # pylint: disable=invalid-name
    """Multiplies the top two stack items elementwise."""
    return base.Fn("Multiply", lambda x0, x1: x0 * x1)


# -- Control flow ------------------------------------------------------------------------------


class Scan(base.Layer):
    """Scans `layer` along `axis` of its non-carry inputs, threading `n_carry` carries.

    `layer` maps `(x_1..x_k, carry_1..carry_n) -> (y_1..y_m, new_carry_1..new_carry_n)`;
    Scan maps `(xs_1..xs_k, carry...) -> (ys_1..ys_m, final_carry...)` with `lax.scan`
    (Trax's `Scan`). Step t's rng is `fold_in(rng, t)`. Weights are `(layer_weights,)`,
    state `(layer_state, saved_carry)`: `saved_carry` is `()` except in 'predict' mode,
    where it holds the carry the last call ended with (zeros after init) and each call
    starts from it, so a sequence can be fed a piece at a time. Needs its own class
    because a loop over a traced axis cannot be a composition of Serial/Parallel/Select.
    """

    def __init__(self, layer, axis=0, n_carry=1, remat=False, mode="train"):
        if n_carry < 0 or layer.n_in < n_carry or layer.n_out < n_carry:
            raise ValueError(f"Scan's layer must take and return at least n_carry={n_carry} "
                             f"items, got n_in={layer.n_in}, n_out={layer.n_out}")
        super().__init__(n_in=layer.n_in, n_out=layer.n_out, name="Scan")
        self._sublayers = (layer,)
        self._axis = axis
        self._n_carry = n_carry
        self._remat = remat
        self._mode = mode

    @property
    def sublayer(self):
        return self._sublayers[0]

    def _default_state(self):
        return (self.sublayer.state, ())

    def _split(self, items):
        items = _as_list(items, self.n_in)
        n_xs = len(items) - self._n_carry
        return items[:n_xs], items[n_xs:]

    def init_weights_and_state(self, input_signature, rng):
        xs, carry = self._split(input_signature)
        slices = []
        for x in xs:
            axis = self._axis % len(x.shape)
            slices.append(shapes.ShapeDtype(tuple(x.shape[:axis]) + tuple(x.shape[axis + 1:]),
                                            x.dtype))
        w, s = self.sublayer.init_with_signature(
            _as_tuple(slices + list(carry), self.sublayer.n_in), rng)
        saved = ()
        if self._mode == "predict" and self._n_carry:
            saved = tuple(jax.numpy.zeros(c.shape, c.dtype) for c in carry)
        return (w,), (s, saved)

    def forward_with_state(self, inputs, weights, state, rng):
        layer, n_carry = self.sublayer, self._n_carry
        xs, carry = self._split(inputs)
        layer_state, saved = state
        if self._mode == "predict" and n_carry:
            carry = list(saved)
        xs = tuple(jnp.moveaxis(x, self._axis, 0) for x in xs)  # (T, ...) each

        def step(carry_and_state, x_and_t):
            carry, s = carry_and_state
            x, t = x_and_t
            key = None if rng is None else jax.random.fold_in(rng, t)
            outputs, s = layer.pure_fn(_as_tuple(list(x) + list(carry), layer.n_in),
                                       weights[0], s, key)
            outputs = _as_list(outputs, layer.n_out)
            n_ys = len(outputs) - n_carry
            return (tuple(outputs[n_ys:]), s), tuple(outputs[:n_ys])

        if self._remat:
            step = jax.checkpoint(step)
        length = xs[0].shape[0]
        (carry, layer_state), ys = jax.lax.scan(
            step, (tuple(carry), layer_state), (xs, jnp.arange(length)))
        ys = [jnp.moveaxis(y, 0, self._axis) for y in ys]
        saved = tuple(carry) if self._mode == "predict" and n_carry else ()
        return _as_tuple(ys + list(carry), self.n_out), (layer_state, saved)


class Cond(base.Layer):
    """Runs `true` if `cond` outputs True, else `false` (identity if None), via `lax.cond`.

    `cond` reads the top `cond.n_in` items without consuming them; both branches must
    map the rest of the inputs to outputs of the same shapes.
    """

    def __init__(self, cond, true, false=None, name=None):
        if false is None:
            false = Select(list(range(true.n_in)), name="Identity")
        if cond.n_out != 1 or true.n_in != false.n_in or true.n_out != false.n_out:
            raise ValueError(f"Cond needs cond.n_out == 1 and branches of equal arity, got "
                             f"cond.n_out={cond.n_out}, true {true.n_in}->{true.n_out}, "
                             f"false {false.n_in}->{false.n_out}")
        n_in = max(cond.n_in, true.n_in)
        super().__init__(n_in=n_in, n_out=true.n_out + n_in - true.n_in, name=name or "Cond")
        self._sublayers = (cond, true, false)

    def init_weights_and_state(self, input_signature, rng):
        xs = _as_list(input_signature, self.n_in)
        weights, state = [], []
        for layer, key in zip(self._sublayers, _split_rngs(rng, 3)):
            w, s = layer.init_with_signature(_as_tuple(xs[:layer.n_in], layer.n_in), key)
            weights.append(w)
            state.append(s)
        return tuple(weights), tuple(state)

    def forward_with_state(self, inputs, weights, state, rng):
        cond, true, false = self._sublayers
        xs = _as_list(inputs, self.n_in)
        keys = _split_rngs(rng, 3)
        predicate, cond_state = cond.pure_fn(_as_tuple(xs[:cond.n_in], cond.n_in),
                                             weights[0], state[0], keys[0])
        branch_inputs = _as_tuple(xs[:true.n_in], true.n_in)

        def run_true(operands):
            x, true_state, false_state = operands
            y, true_state = true.pure_fn(x, weights[1], true_state, keys[1])
            return y, (true_state, false_state)

        def run_false(operands):
            x, true_state, false_state = operands
            y, false_state = false.pure_fn(x, weights[2], false_state, keys[2])
            return y, (true_state, false_state)

        y, (true_state, false_state) = jax.lax.cond(
            jnp.asarray(predicate).reshape(()), run_true, run_false,
            (branch_inputs, state[1], state[2]))
        outputs = _as_list(y, true.n_out) + xs[true.n_in:]
        return _as_tuple(outputs, self.n_out), (cond_state, true_state, false_state)
