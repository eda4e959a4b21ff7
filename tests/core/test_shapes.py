"""Tests for trax_rl.shapes: ShapeDtype, signature, eval_shape compatibility."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trax_rl.shapes import ShapeDtype, as_jax, signature, splice_signatures


def test_repr_matches_trax():
    assert repr(ShapeDtype((15,), np.int64)) == "ShapeDtype{shape:(15,), dtype:int64}"
    assert repr(ShapeDtype((2, 3))) == "ShapeDtype{shape:(2, 3), dtype:float32}"


def test_fields_equality_and_hash():
    a = ShapeDtype([2, 3], "int32")
    assert a.shape == (2, 3) and a.dtype == np.int32
    assert a.as_tuple() == ((2, 3), np.dtype("int32"))
    assert a.ndim == 2 and a.size == 6
    assert a == ShapeDtype((2, 3), np.int32)
    assert a != ShapeDtype((2, 3))
    assert len({a, ShapeDtype((2, 3), np.int32)}) == 1
    assert a.replace(dtype=np.float32) == ShapeDtype((2, 3))
    assert ShapeDtype(4).shape == (4,)


def test_bad_shape_is_a_clear_error():
    with pytest.raises(TypeError, match="tuple of ints"):
        ShapeDtype("abc")


def test_usable_directly_in_eval_shape():
    out = jax.eval_shape(lambda x, y: x @ y, ShapeDtype((4, 8)), ShapeDtype((8, 2)))
    assert out.shape == (4, 2) and out.dtype == jnp.float32
    nested = {"a": (ShapeDtype((3,), np.int32), ShapeDtype((3,), np.int32))}
    out = jax.eval_shape(lambda t: t["a"][0] + t["a"][1], nested)
    assert out.shape == (3,) and out.dtype == jnp.int32


def test_as_jax_maps_nested_signatures():
    sig = (ShapeDtype((2,)), [ShapeDtype((), np.int32)])
    converted = as_jax(sig)
    assert converted[0] == jax.ShapeDtypeStruct((2,), jnp.float32)
    assert converted[1][0] == jax.ShapeDtypeStruct((), jnp.int32)


def test_signature_of_arrays_scalars_and_nests():
    assert signature(np.zeros((15,), np.int64)) == ShapeDtype((15,), np.int64)
    assert signature(jnp.ones((2, 3))) == ShapeDtype((2, 3), np.float32)
    assert signature(1.5) == ShapeDtype((), np.float32)
    assert signature(3) == ShapeDtype((), np.int32)
    sig = signature((jnp.ones(2), [np.zeros((1, 1), np.int8)], {"k": True}))
    assert sig == (ShapeDtype((2,)), [ShapeDtype((1, 1), np.int8)],
                   {"k": ShapeDtype((), np.bool_)})
    key_sig = signature(jax.random.key(0))
    assert key_sig.shape == () and str(key_sig.dtype) == "key<fry>"
    with pytest.raises(TypeError, match="str"):
        signature("text")


def test_splice_signatures():
    a, b, c = ShapeDtype((1,)), ShapeDtype((2,)), ShapeDtype((3,))
    assert splice_signatures(a, (b, c)) == (a, b, c)
    assert splice_signatures(None, a) == a
    assert splice_signatures() == ()
