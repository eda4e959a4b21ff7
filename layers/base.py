"""The `Layer` base class, `Fn`, `PureLayer` and `LayerError` (see layers/README.md).

A layer is a function on a data stack: it pops `n_in` inputs and pushes `n_out` outputs.
One input (or output) is a bare array, several are a tuple. Weights and state are plain
pytrees with Trax's layouts (`Dense` -> `(w, b)`; a layer with sublayers -> a tuple with
one entry per sublayer). The pure entry point is

    outputs, new_state = layer.pure_fn(inputs, weights, state, rng)

which is what `jax.jit` and `jax.grad` see: its result depends only on its arguments.
For interactive use (Trax's flow) `layer.init(signature)` also keeps the weights on the
layer so that `layer(x)` works; layers without weights run without `init`.

Two ways to write a layer, told apart by the methods' signatures:

* Trax's way: `forward(self, x)` reads `self.weights`, `self.state`, `self.rng` (and may
  assign `self.state`); `init_weights_and_state(self, input_signature)` assigns
  `self.weights` / `self.state`, drawing randomness from `self.rng`. As in Trax,
  `pure_fn` sets the weights, state and rng on the layer for the duration of the call
  and restores them afterwards, so such layers work under `jit`, `grad` and inside
  combinators.
* Explicit: `forward(self, inputs, weights)` (or `forward_with_state(self, inputs,
  weights, state, rng)` returning `(outputs, new_state)`) and
  `init_weights_and_state(self, input_signature, rng)` returning `(weights, state)`.

Weight sharing is by identity, as in Trax: a layer object that occurs several times in
a model is initialized once; its later occurrences hold `GET_WEIGHTS_FROM_CACHE` /
`GET_STATE_FROM_CACHE` markers. A root `pure_fn` call walks (layer tree, weights tree)
once and maps each layer to its first occurrence's weights, so every marker reads the
one shared copy inside the traced call and gradients flow to it (`sharing.py`).
Files are `files.py`'s mixin.
"""

import functools
import inspect
import os
import traceback

import jax

from trax_rl import shapes
from trax_rl.layers import files
from trax_rl.layers.files import WEIGHTS_LAYOUT as WEIGHTS_LAYOUT  # It lived here first.
from trax_rl.layers import sharing as sharing_lib
from trax_rl.layers.sharing import GET_STATE_FROM_CACHE as GET_STATE_FROM_CACHE
from trax_rl.layers.sharing import GET_WEIGHTS_FROM_CACHE as GET_WEIGHTS_FROM_CACHE
from trax_rl.layers.sharing import is_state_marker, is_weights_marker

EMPTY_WEIGHTS = ()
EMPTY_STATE = ()
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


@functools.lru_cache(maxsize=None)  # Per function object: styles are read off classes.
def _positional_arity(method):
    params = list(inspect.signature(method).parameters.values())[1:]  # Drop self.
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


# -- The base class -------------------------------------------------------------------------


class Layer(files.FileIO):
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
        # A layer with sublayers keeps its weights/state in them (as Trax does): then
        # `_weights` is a list of per-sublayer cache flags; otherwise it is the tree itself.
        # None means "never set".
        self._weights = None
        self._state = None
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
        """True when `weights` can be read: set, or needing no `init`."""
        try:
            self.weights  # pylint: disable=pointless-statement
        except ValueError:
            return False
        return True

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
        """Computes outputs: `forward(self, x)` in Trax's style, or explicitly with weights."""
        raise NotImplementedError(f"{self._name} must override forward or forward_with_state")

    def forward_with_state(self, inputs, weights, state, rng):
        """Computes `(outputs, new_state)`; explicit layers with state or randomness
        override this. The default runs `forward` in whichever style it is written."""
        if self._trax_style_forward():
            return self._run_trax_style(inputs, weights, state, rng)
        del rng
        return self.forward(inputs, weights), state

    def init_weights_and_state(self, input_signature, rng):
        """Returns `(weights, state)` for inputs of `input_signature`; default: none.

        Trax-style layers override `init_weights_and_state(self, input_signature)` and
        assign `self.weights` (and `self.state`) instead of returning them.
        """
        del input_signature, rng
        if self._sublayers:
            raise NotImplementedError(f"{self._name} has sublayers and must override "
                                      f"init_weights_and_state")
        return EMPTY_WEIGHTS, EMPTY_STATE

    @property
    def has_backward(self):
        """True for layers that define their own gradient in `backward` (Trax's API)."""
        return False

    def backward(self, inputs, output, grad, weights, state, new_state, rng):
        """Returns `(grad_inputs, grad_weights)` given `grad` of `output` (Trax's API)."""
        raise NotImplementedError(f"{self._name} sets has_backward but defines no backward")

    def _with_custom_backward(self, inputs, weights, state, rng):
        """`forward_with_state` whose VJP for (inputs, weights) is `self.backward`."""
        def run(x, w):
            return self.forward_with_state(x, w, state, rng)

        def run_fwd(x, w):
            output, new_state = run(x, w)
            return (output, new_state), (x, w, output, new_state)

        def run_bwd(residual, grads):
            x, w, output, new_state = residual
            # The state output gets no gradient; only the outputs' cotangent flows back.
            return tuple(self.backward(x, output, grads[0], w, state, new_state, rng))

        custom = jax.custom_vjp(run)
        custom.defvjp(run_fwd, run_bwd)
        return custom(inputs, weights)

    # -- Style detection -------------------------------------------------------------------

    def _trax_style_forward(self):
        return _positional_arity(type(self).forward) == 1

    def _trax_style_init(self):
        return _positional_arity(type(self).init_weights_and_state) == 1

    def _needs_init(self):
        """Whether this layer (not its sublayers) creates weights or state at init."""
        return type(self).init_weights_and_state is not Layer.init_weights_and_state

    # -- Pure API -------------------------------------------------------------------------

    def pure_fn(self, inputs, weights, state=EMPTY_STATE, rng=None, use_cache=False):
        """Applies the layer as a pure function: returns `(outputs, new_state)`.

        `use_cache` is accepted for Trax compatibility; sharing is resolved by identity.
        """
        del use_cache
        with sharing_lib.scope() as (sharing, is_root):
            if is_root:
                sharing.walk(self, weights, state)
            try:
                state_was_marker = is_state_marker(state)
                weights, state = self._resolve_markers(sharing, weights, state)
                self._check_n_inputs(inputs)
                if self.has_backward:
                    outputs, new_state = self._with_custom_backward(inputs, weights, state, rng)
                else:
                    outputs, new_state = self.forward_with_state(inputs, weights, state, rng)
            except LayerError:
                raise
            except Exception as e:
                raise LayerError(self._name, "pure_fn", self._caller,
                                 _signature_string(inputs), f"{type(e).__name__}: {e}") from e
        # A later occurrence of a shared layer hands back the marker, as in Trax.
        return outputs, (GET_STATE_FROM_CACHE if state_was_marker else new_state)

    def _resolve_markers(self, sharing, weights, state):
        if is_weights_marker(weights):
            if id(self) not in sharing.weights:
                raise ValueError(
                    f"weights of {self._name} are GET_WEIGHTS_FROM_CACHE, but its first "
                    f"occurrence is not in this call's weights: apply the model that holds it")
            weights = sharing.weights[id(self)]
        if is_state_marker(state):
            # The first occurrence's state as passed in: later occurrences read it and
            # their updates are dropped (Trax also keeps only one state per layer).
            state = sharing.state.get(id(self), EMPTY_STATE)
        return weights, state

    def init_with_signature(self, input_signature, rng):
        """Returns `(weights, state)` for `input_signature` without keeping them (pure).

        A layer met again during the same root call returns Trax's cache markers.
        """
        with sharing_lib.scope() as (sharing, _):
            if id(self) in sharing.weights:
                return GET_WEIGHTS_FROM_CACHE, GET_STATE_FROM_CACHE
            try:
                self._check_n_inputs(input_signature)
                if self._trax_style_init():
                    weights, state = self._init_trax_style(input_signature, rng)
                else:
                    weights, state = self.init_weights_and_state(input_signature, rng)
            except LayerError:
                raise
            except Exception as e:
                raise LayerError(self._name, "init", self._caller, str(input_signature),
                                 f"{type(e).__name__}: {e}") from e
            sharing.record(self, weights, state)
            return weights, state

    def output_signature(self, input_signature, weights=None, state=None):
        """Returns the output `ShapeDtype`(s) for inputs of `input_signature`, abstractly."""
        structs = shapes.as_jax(input_signature)
        if weights is None:
            weights, state = self.weights_and_state_signature(input_signature)

        def apply(x, w, s):
            return self.pure_fn(x, w, s, jax.random.PRNGKey(0))[0]

        out = jax.eval_shape(apply, structs, weights, state)
        return jax.tree.map(lambda o: shapes.ShapeDtype(o.shape, o.dtype), out)

    def weights_and_state_signature(self, input_signature):
        """`(weights, state)` as `jax.ShapeDtypeStruct` trees, found abstractly."""
        def abstract_init():
            with sharing_lib.scope(fresh=True):
                return self.init_with_signature(input_signature, jax.random.PRNGKey(0))
        return jax.eval_shape(abstract_init)

    # -- Trax's style: weights, state and rng on the object for the duration of a call ----

    def _snapshot(self):
        """The stored fields of this layer and its sublayers, to restore after a call."""
        saved, stack = [], [self]
        while stack:
            layer = stack.pop()
            saved.append((layer, layer._weights, layer._state, layer._rng))
            stack.extend(layer._sublayers)
        return saved

    @staticmethod
    def _restore(saved):
        for layer, weights, state, rng in reversed(saved):
            layer._weights, layer._state, layer._rng = weights, state, rng

    def _run_trax_style(self, inputs, weights, state, rng):
        saved = self._snapshot()
        try:
            self.weights, self.state = weights, state
            self._rng = rng
            outputs = self.forward(inputs)  # pylint: disable=no-value-for-parameter
            return outputs, self.state
        finally:
            self._restore(saved)

    def _init_trax_style(self, input_signature, rng):
        saved = self._snapshot()
        try:
            self._weights, self._state = EMPTY_WEIGHTS, EMPTY_STATE
            self.rng = rng
            self.init_weights_and_state(input_signature)  # pylint: disable=no-value-for-parameter
            return self.weights, self.state
        finally:
            self._restore(saved)

    # -- Interactive API (Trax's flow) ----------------------------------------------------

    def init(self, input_signature, rng=None, use_cache=False):
        """Initializes weights and state for `input_signature`; keeps and returns them.

        Inside another layer's `init_weights_and_state` (Trax's combinator idiom,
        `use_cache=True`), a layer already initialized in the same call returns the
        markers `(GET_WEIGHTS_FROM_CACHE, GET_STATE_FROM_CACHE)`.
        """
        if rng is None:
            rng = self._rng if use_cache and self._rng is not None else jax.random.PRNGKey(0)
        weights, state = self.init_with_signature(input_signature, rng)
        if sharing_lib.active() is None:  # Only a root init keeps results on the layers.
            self.weights, self.state = weights, state
            self._rng = jax.random.fold_in(rng, 1)
        return weights, state

    @property
    def weights(self):
        if self._sublayers and isinstance(self._weights, _Cached):
            return self._weights.compose(self._sublayers, "weights", GET_WEIGHTS_FROM_CACHE)
        if self._weights is None:
            if self._sublayers:  # Never set: as in Trax, gather the sublayers' weights.
                return tuple(layer.weights for layer in self._sublayers)
            if self._needs_init():
                raise ValueError(f"Layer {self._name} has no weights yet: call "
                                 f"layer.init(input_signature) or layer.init_from_file(path) "
                                 f"first.")
            return EMPTY_WEIGHTS
        return self._weights

    @weights.setter
    def weights(self, weights):
        if is_weights_marker(weights):
            return
        if self._sublayers and sharing_lib.aligned(weights, self._sublayers):
            self._weights = _Cached([is_weights_marker(w) for w in weights])
            for sublayer, w in zip(self._sublayers, weights):
                sublayer.weights = w
        else:
            self._weights = weights

    @property
    def state(self):
        if self._sublayers and isinstance(self._state, _Cached):
            return self._state.compose(self._sublayers, "state", GET_STATE_FROM_CACHE)
        if self._state is None:
            return self._default_state()
        return self._state

    def _default_state(self):
        """State before any is set: as in Trax, the sublayers' states gathered, or ()."""
        return tuple(layer.state for layer in self._sublayers)

    @state.setter
    def state(self, state):
        if is_state_marker(state):
            return
        if self._sublayers and sharing_lib.aligned(state, self._sublayers):
            self._state = _Cached([is_state_marker(s) for s in state])
            for sublayer, s in zip(self._sublayers, state):
                sublayer.state = s
        else:
            self._state = state

    @property
    def rng(self):
        """This layer's random key (Trax's `self.rng`); `PRNGKey(0)` until one is set."""
        return jax.random.PRNGKey(0) if self._rng is None else self._rng

    @rng.setter
    def rng(self, rng):
        """Sets the key here and split keys on the sublayers, recursively (as Trax does)."""
        self._rng = rng
        if self._sublayers and rng is not None:
            for sublayer, key in zip(self._sublayers, jax.random.split(rng, len(self._sublayers))):
                sublayer.rng = key

    def new_rng(self):
        """Returns a fresh key split off this layer's key (Trax's `new_rng`)."""
        self._rng, rng = jax.random.split(self.rng)
        return rng

    def new_rngs(self, n):
        """Returns `n` fresh keys split off this layer's key (Trax's `new_rngs`)."""
        if n < 1:
            raise ValueError(f"new_rngs needs n >= 1, got {n}")
        keys = jax.random.split(self.rng, n + 1)
        self._rng = keys[0]
        return tuple(keys[1:])

    def __call__(self, inputs, weights=None, state=None, rng=None):
        """Runs the layer on `inputs` with the stored weights (or the given ones)."""
        if weights is None:
            weights = self.weights
        if state is not None:
            self.state = state
        state = self.state
        if rng is None:
            # Trax's choice: the layer's own key, not split, so a call stores no new key
            # and `layer(x)` works inside `jit` (e.g. a loss layer in a jitted loss).
            rng = self.rng
        outputs, new_state = self.pure_fn(inputs, weights, state, rng)
        self.state = new_state
        return outputs

    # -- Helpers for subclasses ------------------------------------------------------------

    def _check_n_inputs(self, inputs):
        if self._n_in <= 1:
            return
        if not isinstance(inputs, (tuple, list)) or len(inputs) != self._n_in:
            got = len(inputs) if isinstance(inputs, (tuple, list)) else 1
            raise ValueError(f"expected {self._n_in} inputs, got {got}")


class _Cached(list):
    """Per-sublayer flags of a layer whose weights (or state) live in its sublayers."""

    def compose(self, sublayers, attribute, marker):
        return tuple(marker if cached else getattr(layer, attribute)
                     for layer, cached in zip(sublayers, self))


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

    As in Trax, `n_in` is the number of `f`'s positional arguments, which may have no
    defaults; pass `n_in` only for a varargs `f`.
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


class PureLayer(Layer):
    """A weightless layer from `forward_fn(inputs) -> outputs` (inputs packed as for
    `forward`: a bare array for one, a tuple for several)."""

    def __init__(self, forward_fn, n_in=1, n_out=1, name="PureLayer"):
        super().__init__(n_in=n_in, n_out=n_out, name=name)
        self._forward_fn = forward_fn

    def forward(self, inputs, weights):
        del weights
        outputs = self._forward_fn(inputs)
        return () if isinstance(outputs, (tuple, list)) and not outputs else outputs


def flatten_weights_and_state(weights, state):
    """Trax's helper: the leaves of `weights` and of `state` (markers and `()` have none)."""
    return jax.tree.leaves(weights), jax.tree.leaves(state)


def unflatten_weights_and_state(flat_weights, flat_state, weights_and_state_signature,
                                weights_only=False):
    """Inverse of `flatten_weights_and_state`, shaped like `(weights_sig, state_sig)`;
    with `weights_only` the state is `None`."""
    weights_sig, state_sig = weights_and_state_signature
    weights = jax.tree.unflatten(jax.tree.structure(weights_sig), list(flat_weights))
    state = None if weights_only else jax.tree.unflatten(jax.tree.structure(state_sig),
                                                         list(flat_state))
    return weights, state
