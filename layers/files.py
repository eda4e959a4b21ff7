"""Layer files: `save_to_file` / `init_from_file`, keyed by tree path, never pickled.

A mixin of `base.Layer`. Files record the weight layout they were written with; files
from before Trax's layouts (dict weights such as `{"w", "b"}`) are refused with a clear
error instead of a wrong restore.
"""

import re

import jax
import numpy as np

from trax_rl import checkpoint
from trax_rl import shapes


class FileIO:
    """`save_to_file` and `init_from_file` for `base.Layer`."""

    def save_to_file(self, path, weights_only=False):
        """Saves weights (and state unless `weights_only`) atomically, keyed by tree path."""
        tree = {"weights": self.weights}
        if not weights_only:
            tree["state"] = self.state
        checkpoint.save(path, tree, metadata={"layer": repr(self), "weights_only": weights_only,
                                              "layout": WEIGHTS_LAYOUT})

    def init_from_file(self, path, weights_only=False, input_signature=None):
        """Loads weights (and state unless `weights_only`) saved by `save_to_file`.

        The layer's structure comes from its current weights, or, if it has none yet, from
        initializing it abstractly on `input_signature`, by default the one the file
        records (as Trax's files do; the supervised Loop's checkpoints record it). A file
        written for another model raises `checkpoint.CheckpointError` naming the first
        mismatching weight. A state the file does not hold (`weights_only`) is the layer's
        initial state, from one compiled program.
        """
        if input_signature is None and not self.has_weights:
            input_signature = saved_signature(path)
        abstract = input_signature is not None and not self.has_weights
        if abstract:
            # No initializer runs: eagerly, each would compile on its own (2.5 s against
            # 0.3 s for a 2+2-layer Transformer in a fresh process).
            weights, state = self.weights_and_state_signature(input_signature)
        elif self.has_weights:
            weights, state = self.weights, self.state
        else:
            raise ValueError(f"Layer {self._name} has no weights to match the file {path!r} "
                             f"against and the file records no input signature: pass "
                             f"input_signature= or call init first.")
        _check_layout(path)
        has_state = any(k.startswith("['state']") for k in checkpoint.read_keys(path))
        if not weights_only and not has_state and jax.tree.leaves(state):
            raise checkpoint.CheckpointError(
                f"{path} holds weights only; load it with weights_only=True")
        target = {"weights": weights}
        if has_state and not weights_only:
            target["state"] = state
        restored = checkpoint.restore(path, target, partial=weights_only)
        if "state" not in restored and abstract and jax.tree.leaves(state):
            state = jax.jit(lambda rng: self.init_with_signature(input_signature, rng)[1])(
                jax.random.PRNGKey(0))
        self.weights = restored["weights"]
        self.state = restored.get("state", state)
        return restored["weights"]


def signature_to_json(signature):
    """A `ShapeDtype` or a tuple/list of them as JSON: `{"shape", "dtype"}` or a list."""
    if isinstance(signature, (tuple, list)):
        return [signature_to_json(s) for s in signature]
    return {"shape": list(signature.shape), "dtype": np.dtype(signature.dtype).name}


def signature_from_json(value):
    """The inverse of `signature_to_json` (lists become tuples, Trax's input stacks)."""
    if isinstance(value, list):
        return tuple(signature_from_json(v) for v in value)
    return shapes.ShapeDtype(tuple(value["shape"]), value["dtype"])


def saved_signature(path):
    """The input signature recorded in `path`'s metadata, or None."""
    try:
        metadata = checkpoint.read_metadata(path) or {}
    except (checkpoint.CheckpointError, OSError):
        return None  # `init_from_file` reports the unreadable file itself.
    value = metadata.get("input_signature") if isinstance(metadata, dict) else None
    return None if value is None else signature_from_json(value)


# Files from before Trax's layouts (dict weights such as {"w", "b"}) have no "layout".
WEIGHTS_LAYOUT = "trax"
# The dict keys layers used before Trax's layouts; a file holding one of them as a key
# path component (`...['w']`) and no layout marker predates the change.
_OLD_LAYOUT_KEYS = re.compile(
    r"\['(w|b|embedding|scale|bias|encoding|w_gates|b_gates|w_candidate|b_candidate)'\]")


def _check_layout(path):
    """Rejects a file written with the old dict layouts, in one clear line.

    Files written by `save_to_file` (and the supervised Loop) carry the layout in their
    metadata; other checkpoints (the agents') are judged by their key paths.
    """
    metadata = checkpoint.read_metadata(path) or {}
    if isinstance(metadata, dict) and metadata.get("layout") == WEIGHTS_LAYOUT:
        return
    if any(_OLD_LAYOUT_KEYS.search(k) for k in checkpoint.read_keys(path)):
        raise checkpoint.CheckpointError(
            f"{path} was written with trax_rl's old weight layout (dicts such as "
            f"{{'w', 'b'}}); weights now have Trax's layout (e.g. Dense -> (w, b)). "
            f"Re-create it from a model of the old version, or retrain.")
