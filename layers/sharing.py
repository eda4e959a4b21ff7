"""Weight sharing by identity: Trax's cache markers and the per-call `Sharing` record.

A layer object used more than once in a model is initialized once; its later occurrences
hold `GET_WEIGHTS_FROM_CACHE` / `GET_STATE_FROM_CACHE`. During one root `init` or
`pure_fn` call a `Sharing` maps `id(layer)` to its first occurrence's weights and state:
`init` fills it as layers initialize, `pure_fn` by one walk over (layer tree, weights
tree), so inside a traced call every marker reads the traced first copy and gradients
land on it. The record lives only for the call (a thread-local stack), so nothing traced
outlives its trace.
"""

import contextlib
import threading

# Trax's markers: dicts whose only value is (), so they are pytrees without leaves.
GET_WEIGHTS_FROM_CACHE = {"__marker_for_cached_weights_": ()}
GET_STATE_FROM_CACHE = {"__marker_for_cached_state_": ()}


def is_weights_marker(tree):
    return isinstance(tree, dict) and tree == GET_WEIGHTS_FROM_CACHE


def is_state_marker(tree):
    return isinstance(tree, dict) and tree == GET_STATE_FROM_CACHE


class Sharing:
    """For one root `init` or `pure_fn` call: id(layer) -> its first occurrence's trees."""

    def __init__(self):
        self.weights = {}
        self.state = {}

    def record(self, layer, weights, state):
        if not is_weights_marker(weights):
            self.weights.setdefault(id(layer), weights)
        if state is not _MISSING and not is_state_marker(state):
            self.state.setdefault(id(layer), state)

    def walk(self, layer, weights, state):
        """Records every layer of the tree (first occurrence wins), pairing trees by sublayer."""
        self.record(layer, weights, state)
        subs = layer.sublayers
        if not subs or not aligned(weights, subs):
            return
        states = state if aligned(state, subs) else (_MISSING,) * len(subs)
        for sublayer, w, s in zip(subs, weights, states):
            self.walk(sublayer, w, s)


_MISSING = {"__no_state_here_": ()}


def aligned(tree, sublayers):
    return isinstance(tree, (tuple, list)) and len(tree) == len(sublayers)


_local = threading.local()


def active():
    return getattr(_local, "sharing", None)


@contextlib.contextmanager
def scope(fresh=False):
    """Makes a new `Sharing` current unless one is (and `fresh` is False); yields it and
    whether it is new (the caller is the root)."""
    outer = active()
    if outer is not None and not fresh:
        yield outer, False
        return
    _local.sharing = Sharing()
    try:
        yield _local.sharing, True
    finally:
        _local.sharing = outer
