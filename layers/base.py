"""The `Layer` base class, `Fn`, and `LayerError`.

A layer is a function on a data stack: it pops `n_in` inputs and pushes `n_out` outputs.
One input (or output) is a bare array, several are a tuple. Weights and state are plain
pytrees mirroring the layer tree; the pure entry point is

    outputs, new_state = layer.pure_fn(inputs, weights, state, rng)

which is what `jax.jit` and `jax.grad` see: it never reads weights stored on the object.
For interactive use (Trax's flow) `layer.init(signature)` also keeps the weights on the
layer so that `layer(x)` works.

Subclasses override `forward(inputs, weights)` (stateless, deterministic) or
`forward_with_state(inputs, weights, state, rng)`, and `init_weights_and_state`.
"""

import inspect
import os
import traceback

import jax

from trax_rl import checkpoint
from trax_rl import shapes

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARY_DIRS = tuple(os.path.join(_REPO_ROOT, d) + os.sep
                      for d in ("trax_rl", "layers", "supervised", "envs", "agents"))


class LayerError(Exception):
    """An exception raised inside a layer, naming the layer, its creation site and inputs."""

    def __init__(self, layer_name, function_name, caller, input_signature, message):
        self.layer_name = layer_name
        self.message = message
        super().__init__(
            f"Exception passing through layer {layer_name} (in {function_name}):\n"
            f"  layer created in file {caller}\n"
            f"  layer input shapes: {input_signature}\n"
            f"  {message}")


def _creation_site():
    """Returns 'file, line N' of the first stack frame outside the trax_rl library."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not os.path.abspath(frame.filename).startswith(_LIBRARY_DIRS):
            return f"{frame.filename}, line {frame.lineno}"
    return "<unknown>"


def _signature_string(inputs):
    try:
        return str(shapes.signature(inputs))
    except Exception:  # Signatures are best-effort decoration of an error message.
        return repr(inputs)


class Layer:
    """Base class for layers: an `n_in` -> `n_out` function with weights and state."""

    def __init__(self, n_in=1, n_out=1, name=None, sublayers_to_print=None):
        if n_in < 0 or n_out < 0:
            raise ValueError(f"n_in and n_out must be >= 0, got n_in={n_in}, n_out={n_out}")
        self._n_in = n_in
        self._n_out = n_out
        self._name = name or type(self).__name__
        self._sublayers = ()
        self._sublayers_to_print = sublayers_to_print
        self._caller = _creation_site()
        self._weights = None
        self._state = ()
        self._rng = None

    # -- Description --------------------------------------------------------------------

    @property
    def n_in(self):
        return self._n_in

    @property
    def n_out(self):
        return self._n_out

    @property
    def name(self):
        return self._name

    @property
    def sublayers(self):
        return self._sublayers

    @property
    def has_weights(self):
        return self._weights is not None

    def __repr__(self):
        name = self._name
        if self._n_in != 1:
            name += f"_in{self._n_in}"
        if self._n_out != 1:
            name += f"_out{self._n_out}"
        children = self._sublayers_to_print
        if children is None:
            children = self._sublayers
        if not children:
            return name
        body = "\n".join("  " + str(c).replace("\n", "\n  ") for c in children)
        return f"{name}[\n{body}\n]"

    # -- What subclasses override --------------------------------------------------------

    def forward(self, inputs, weights):
        """Computes outputs from inputs; stateless, deterministic layers override this."""
        raise NotImplementedError(f"{self._name} must override forward or forward_with_state")

    def forward_with_state(self, inputs, weights, state, rng):
        """Computes `(outputs, new_state)`; layers with state or randomness override this."""
        del rng
        return self.forward(inputs, weights), state

    def init_weights_and_state(self, input_signature, rng):
        """Returns `(weights, state)` for inputs of `input_signature`; default: none."""
        del input_signature, rng
        return (), ()

    # -- Pure API -------------------------------------------------------------------------

    def pure_fn(self, inputs, weights, state=(), rng=None):
        """Applies the layer as a pure function: returns `(outputs, new_state)`."""
        try:
            self._check_n_inputs(inputs)
            return self.forward_with_state(inputs, weights, state, rng)
        except LayerError:
            raise
        except Exception as e:
            raise LayerError(self._name, "pure_fn", self._caller, _signature_string(inputs),
                             f"{type(e).__name__}: {e}") from e

    def init_with_signature(self, input_signature, rng):
        """`init_weights_and_state` wrapped so that failures become `LayerError`s."""
        try:
            self._check_n_inputs(input_signature)
            return self.init_weights_and_state(input_signature, rng)
        except LayerError:
            raise
        except Exception as e:
            raise LayerError(self._name, "init", self._caller, str(input_signature),
                             f"{type(e).__name__}: {e}") from e

    def output_signature(self, input_signature, weights=None, state=None):
        """Returns the output `ShapeDtype`(s) for inputs of `input_signature`, abstractly."""
        structs = shapes.as_jax(input_signature)
        if weights is None:
            weights, state = jax.eval_shape(
                lambda: self.init_with_signature(input_signature, jax.random.PRNGKey(0)))

        def apply(x, w, s):
            return self.pure_fn(x, w, s, jax.random.PRNGKey(0))[0]

        out = jax.eval_shape(apply, structs, weights, state)
        return jax.tree.map(lambda o: shapes.ShapeDtype(o.shape, o.dtype), out)

    # -- Interactive API (Trax's flow) ----------------------------------------------------

    def init(self, input_signature, rng=None):
        """Initializes weights and state for `input_signature`; keeps and returns them."""
        if rng is None:
            rng = jax.random.PRNGKey(0)
        weights, state = self.init_with_signature(input_signature, rng)
        self.weights, self.state = weights, state
        self._rng = jax.random.fold_in(rng, 1)
        return weights, state

    @property
    def weights(self):
        if self._weights is None:
            raise ValueError(f"Layer {self._name} has no weights yet: call "
                             f"layer.init(input_signature) or layer.init_from_file(path) first.")
        return self._weights

    @weights.setter
    def weights(self, weights):
        self._weights = weights
        for sublayer, w in self._sublayer_items(weights):
            sublayer.weights = w

    @property
    def state(self):
        return self._state

    @state.setter
    def state(self, state):
        self._state = state
        for sublayer, s in self._sublayer_items(state):
            sublayer.state = s

    def _sublayer_items(self, tree):
        """Pairs each sublayer with its part of a weights/state tuple (first occurrence)."""
        if not self._sublayers or not isinstance(tree, tuple):
            return []
        if len(tree) != len(self._sublayers):
            return []
        seen, items = set(), []
        for sublayer, part in zip(self._sublayers, tree):
            if id(sublayer) not in seen:
                seen.add(id(sublayer))
                items.append((sublayer, part))
        return items

    def __call__(self, inputs, weights=None, state=None, rng=None):
        """Runs the layer on `inputs` with the stored weights (or the given ones)."""
        if weights is None:
            weights = self.weights
        if state is None:
            state = self._state
        if rng is None and self._rng is not None:
            self._rng, rng = jax.random.split(self._rng)
        outputs, new_state = self.pure_fn(inputs, weights, state, rng)
        self.state = new_state
        return outputs

    # -- Files ------------------------------------------------------------------------------

    def save_to_file(self, path, weights_only=False):
        """Saves weights (and state unless `weights_only`) atomically, keyed by tree path."""
        tree = {"weights": self.weights}
        if not weights_only:
            tree["state"] = self._state
        checkpoint.save(path, tree, metadata={"layer": repr(self), "weights_only": weights_only})

    def init_from_file(self, path, weights_only=False, input_signature=None):
        """Loads weights (and state unless `weights_only`) saved by `save_to_file`.

        The layer's structure comes from its current weights, or, if it has none yet, from
        initializing it abstractly on `input_signature`. A file written for another model
        raises `checkpoint.CheckpointError` naming the first mismatching weight.
        """
        if self._weights is not None:
            weights, state = self._weights, self._state
        elif input_signature is not None:
            weights, state = self.init_with_signature(input_signature, jax.random.PRNGKey(0))
        else:
            raise ValueError(f"Layer {self._name} has no weights to match the file {path!r} "
                             f"against: pass input_signature= or call init first.")
        has_state = any(k.startswith("['state']") for k in checkpoint.read_keys(path))
        if not weights_only and not has_state and jax.tree.leaves(state):
            raise checkpoint.CheckpointError(
                f"{path} holds weights only; load it with weights_only=True")
        target = {"weights": weights}
        if has_state and not weights_only:
            target["state"] = state
        restored = checkpoint.restore(path, target, partial=weights_only)
        self.weights = restored["weights"]
        self.state = restored.get("state", state)
        return restored["weights"]

    # -- Helpers for subclasses ------------------------------------------------------------

    def _check_n_inputs(self, inputs):
        if self._n_in <= 1:
            return
        if not isinstance(inputs, (tuple, list)) or len(inputs) != self._n_in:
            got = len(inputs) if isinstance(inputs, (tuple, list)) else 1
            raise ValueError(f"expected {self._n_in} inputs, got {got}")


class _FnLayer(Layer):
    """A layer computing a weightless function of its inputs."""

    def __init__(self, name, f, n_in, n_out):
        super().__init__(n_in=n_in, n_out=n_out, name=name)
        self._f = f

    def forward(self, inputs, weights):
        del weights
        if self._n_in == 1:
            outputs = self._f(inputs)
        else:
            outputs = self._f(*inputs)
        if self._n_out != 1 and (not isinstance(outputs, (tuple, list))
                                 or len(outputs) != self._n_out):
            raise ValueError(f"function of {self._name} must return {self._n_out} outputs")
        return tuple(outputs) if isinstance(outputs, list) else outputs


def Fn(name, f, n_out=1, n_in=None):  # pylint: disable=invalid-name
    """Returns a weightless layer computing `f`.

    `n_in` is the number of `f`'s positional arguments; pass it only for a varargs `f`.
    """
    parameters = inspect.signature(f).parameters.values()
    if n_in is not None:
        return _FnLayer(name, f, n_in=n_in, n_out=n_out)
    for p in parameters:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            raise ValueError(f"Fn {name}: f may take only positional arguments, got {p}")
        if p.default is not p.empty:
            raise ValueError(f"Fn {name}: f's argument {p.name!r} has a default; bind it with "
                             f"a lambda or functools.partial outside instead")
    return _FnLayer(name, f, n_in=len(parameters), n_out=n_out)
