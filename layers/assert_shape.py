"""Shape asserts in Trax's einsum-like notation: `assert_shape`, `AssertFunction`,
`AssertShape`.

A specification names each tensor's axes with letters, tensors separated by commas and
inputs from outputs by `->`: `'...a,ab->...b'`. One letter is one axis, and equal letters
must have equal sizes across all the tensors of one call; digits are literal sizes; `...`
is any number of axes (zero included), and every `...` of a call covers the same axes.
Shapes are static in JAX, so the checks run at trace time and cost nothing under `jit`.
"""

import functools
import inspect
import string

from trax_rl.layers import base, combinators

_ALLOWED = set(string.ascii_letters + string.digits + ".,")


def assert_shape(specification):
    """Decorates a `Layer` class, or a function returning a layer, with shape asserts on
    its inputs and outputs (`'inputs->outputs'`), e.g. `@assert_shape('...a->...b')`."""
    message = _defined_at(inspect.stack()[1])
    before, after = _split_arrow(specification)

    def wrap_class(cls):
        init, forward_with_state = cls.__init__, cls.forward_with_state

        @functools.wraps(init)
        def checked_init(self, *args, **kwargs):
            init(self, *args, **kwargs)
            self._assert_before = AssertShape(before, message=message + " (inputs)")
            self._assert_after = AssertShape(after, message=message + " (outputs)")
            self._assert_after.link_to(self._assert_before)

        @functools.wraps(forward_with_state)
        def checked_forward_with_state(self, inputs, weights, state, rng):
            self._assert_before.check(inputs)
            outputs, new_state = forward_with_state(self, inputs, weights, state, rng)
            self._assert_after.check(outputs)
            return outputs, new_state

        cls.__init__ = checked_init
        cls.forward_with_state = checked_forward_with_state
        return cls

    def wrap_function(make_layer):
        @functools.wraps(make_layer)
        def checked(*args, **kwargs):
            return AssertFunction(specification, make_layer(*args, **kwargs), message)
        return checked

    return lambda target: wrap_class(target) if inspect.isclass(target) else wrap_function(target)


def AssertFunction(specification, layer, message=None):  # pylint: disable=invalid-name
    """`layer` between shape asserts on its inputs and outputs (`'inputs->outputs'`)."""
    message = message or _defined_at(inspect.stack()[1])
    before, after = _split_arrow(specification)
    check_inputs = AssertShape(before, message=message + " (inputs)")
    check_outputs = AssertShape(after, message=message + " (outputs)")
    check_outputs.link_to(check_inputs)
    return combinators.Serial(check_inputs, layer, check_outputs, sublayers_to_print=[layer])


class AssertShape(base.Layer):
    """Identity on `len(spec.split(','))` tensors that raises when their shapes do not
    fit `spec` (the notation of `assert_shape`, without `->`)."""

    def __init__(self, spec, message=None, visible_layer=False):
        bad = sorted(set(spec) - _ALLOWED)
        if bad or spec.replace("...", "").count(".") or any(
                s.count("...") > 1 for s in spec.split(",")):
            raise ValueError(f"AssertShape spec {spec!r}: use letters, digits, commas and at "
                             f"most one '...' per tensor (bad: {bad or 'a lone or repeated .'})")
        self._specs = spec.split(",")
        del visible_layer  # Trax's printing switch; asserts print inside AssertFunction only.
        super().__init__(n_in=len(self._specs), n_out=len(self._specs), name="AssertShape")
        self._message = message or _defined_at(inspect.stack()[1])
        self._linked_to = None
        self._sizes = {}

    def link_to(self, other):
        """Checks letters against the sizes `other` found in the same call (inputs vs
        outputs of one layer)."""
        self._linked_to = other

    def forward(self, inputs, weights):
        del weights
        self.check(inputs)
        return inputs

    def check(self, inputs):
        xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        sizes = dict(self._linked_to._sizes) if self._linked_to is not None else {}
        if len(xs) != len(self._specs):
            self._fail(xs, sizes)
        for x, spec in zip(xs, self._specs):
            if not self._fits(tuple(x.shape), spec, sizes):
                self._fail(xs, sizes)
        self._sizes = sizes

    @staticmethod
    def _fits(shape, spec, sizes):
        if "..." in spec:
            head, tail = spec.split("...")
            if len(shape) < len(head) + len(tail):
                return False
            middle = shape[len(head):len(shape) - len(tail)]
            named = list(zip(head, shape[:len(head)])) + list(zip(tail, shape[len(shape) - len(tail):]))
            named.append(("...", middle))
        elif len(shape) != len(spec):
            return False
        else:
            named = list(zip(spec, shape))
        for name, size in named:
            expected = int(name) if name.isdigit() else sizes.setdefault(name, size)
            if expected != size:
                return False
        return True

    def _fail(self, xs, sizes):
        shapes = [tuple(x.shape) for x in xs]
        raise ValueError(f"AssertShape: expected {','.join(self._specs)}, got shapes {shapes} "
                         f"(sizes so far {sizes}). {self._message}")


def _split_arrow(specification):
    if specification.count("->") != 1:
        raise ValueError(f"assert_shape spec {specification!r} needs one '->' between "
                         f"inputs and outputs, e.g. '...a->...b'")
    return specification.split("->")


def _defined_at(frame_info):
    return f"Defined at {frame_info.filename}:{frame_info.lineno}"
