"""Abstract array signatures: `ShapeDtype`, `signature(x)` and helpers.

`ShapeDtype` is Trax's shape-and-dtype record. It duck-types as an array for
`jax.eval_shape` (which only reads `.shape` and `.dtype`), so a ShapeDtype, or a
tuple/list/dict of them, can be passed to `jax.eval_shape` as it is. Where an
actual `jax.ShapeDtypeStruct` is wanted (a sharding, `isinstance` checks),
`as_jax(sig)` converts a whole nested signature.
"""

import jax
import numpy as np

__all__ = ["ShapeDtype", "as_jax", "signature", "splice_signatures"]


class ShapeDtype:
    """The shape and dtype of an array, without its values.

    Attributes:
      shape: a tuple of ints.
      dtype: a `numpy.dtype` (JAX's extended dtypes, e.g. PRNG keys, pass through).
    """

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype=np.float32):
        if isinstance(shape, int):
            shape = (shape,)
        try:
            if isinstance(shape, (str, bytes)):
                raise TypeError
            shape = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            raise TypeError(
                f"ShapeDtype shape must be a tuple of ints, got {shape!r}") from None
        self.shape = shape
        self.dtype = dtype if jax.dtypes.issubdtype(dtype, jax.dtypes.extended) \
            else np.dtype(dtype)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def as_tuple(self):
        """Returns `(shape, dtype)`."""
        return self.shape, self.dtype

    def replace(self, **kwargs):
        """Returns a copy with `shape` and/or `dtype` replaced."""
        return ShapeDtype(kwargs.pop("shape", self.shape),
                          kwargs.pop("dtype", self.dtype), **kwargs)

    def to_jax(self):
        """Returns the equivalent `jax.ShapeDtypeStruct`."""
        return jax.ShapeDtypeStruct(self.shape, self.dtype)

    def __eq__(self, other):
        if not isinstance(other, ShapeDtype):
            return NotImplemented
        return self.as_tuple() == other.as_tuple()

    def __hash__(self):
        return hash(self.as_tuple())

    def __repr__(self):
        return f"ShapeDtype{{shape:{self.shape}, dtype:{self.dtype}}}"


def signature(obj):
    """Returns the ShapeDtype of an array, or the same nesting of ShapeDtypes.

    Tuples give tuples, lists give lists, dicts give dicts (Trax's behaviour).
    Python scalars get JAX's default dtypes (float32 / int32 unless x64 is on),
    since that is what they become inside a jitted function.
    """
    if isinstance(obj, (list, tuple)):
        sigs = tuple(signature(x) for x in obj)
        return sigs if isinstance(obj, tuple) else list(sigs)
    if isinstance(obj, dict):
        return {k: signature(v) for k, v in obj.items()}
    if isinstance(obj, (bool, int, float, complex)):
        return ShapeDtype((), jax.dtypes.canonicalize_dtype(np.asarray(obj).dtype))
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        return ShapeDtype(obj.shape, obj.dtype)
    raise TypeError(
        f"signature() takes arrays, scalars and tuples/lists/dicts of them; "
        f"got {type(obj).__name__}: {obj!r}")


def as_jax(sig):
    """Converts ShapeDtypes (in any pytree) to `jax.ShapeDtypeStruct`s."""
    return jax.tree_util.tree_map(
        lambda s: s.to_jax() if isinstance(s, ShapeDtype) else s, sig)


def splice_signatures(*sigs):
    """Concatenates signatures into one flat tuple (None entries are skipped).

    A result of length one is returned bare, following Trax's rule that a single
    stack item is not wrapped in a tuple.
    """
    result = []
    for sig in sigs:
        if sig is None:
            continue
        if isinstance(sig, (list, tuple)):
            result.extend(sig)
        else:
            result.append(sig)
    return result[0] if len(result) == 1 else tuple(result)
