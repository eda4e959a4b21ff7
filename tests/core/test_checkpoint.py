"""Tests for trax_rl.checkpoint: exact round trips, atomicity, and safe failures."""

import os
import pickle
import zipfile
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from trax_rl import checkpoint
from trax_rl.checkpoint import CheckpointError


class Model(NamedTuple):
    params: dict
    opt_state: object
    step: object
    extras: dict


def make_tree(width=8):
    params = {"dense": [{"w": jax.random.normal(jax.random.key(0), (4, width)),
                         "b": jnp.arange(width, dtype=jnp.float32)}],
              "emb": jnp.linspace(-3, 3, 6, dtype=jnp.bfloat16).reshape(2, 3)}
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    _, opt_state = opt.update(grads, opt_state, params)  # Non-trivial moments.
    extras = {"typed_key": jax.random.key(42),
              "typed_keys": jax.random.split(jax.random.key(7), 3),
              "rbg_key": jax.random.key(5, impl="rbg"),
              "raw_key": jax.random.PRNGKey(3),
              "n_episodes": 12, "best_return": 195.5, "done": False, "nothing": None,
              "counts": np.arange(5, dtype=np.int64),
              "host_f64": np.array([np.pi, 1e-300], np.float64),
              "f8": jnp.array([0.5, -2.0], jnp.float8_e4m3fn),
              "i8": jnp.array([-3, 4], jnp.int8),
              "u16": np.array([1, 65535], np.uint16),
              "scalar_f32": np.float32(1.25)}
    return Model(params=params, opt_state=opt_state, step=jnp.array(17, jnp.int32),
                 extras=extras)


def leaf_bits(x):
    if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
        return "key", str(x.dtype), np.asarray(jax.random.key_data(x)).tobytes()
    if isinstance(x, (bool, int, float)):
        return type(x).__name__, x
    array = np.asarray(x)
    return array.dtype.name, array.shape, array.tobytes()


def assert_bit_exact(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert type(x) is type(y) or isinstance(y, jax.Array)
        assert leaf_bits(x) == leaf_bits(y)


def test_round_trip_is_bit_exact(tmp_path):
    tree = make_tree()
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, tree, metadata={"step": 17, "config": {"lr": 1e-3}})
    restored = checkpoint.restore(path, tree)
    assert_bit_exact(tree, restored)
    assert isinstance(restored, Model)
    assert isinstance(restored.opt_state[0], optax.ScaleByAdamState)
    assert restored.extras["nothing"] is None
    assert type(restored.extras["n_episodes"]) is int
    assert isinstance(restored.extras["counts"], np.ndarray)
    assert restored.params["emb"].dtype == jnp.bfloat16
    assert str(restored.extras["rbg_key"].dtype) == "key<rbg>"
    assert checkpoint.read_metadata(path) == {"step": 17, "config": {"lr": 1e-3}}


def test_restore_into_eval_shape_target(tmp_path):
    tree = make_tree()
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, tree)
    abstract = jax.eval_shape(lambda: make_tree())
    # eval_shape canonicalizes numpy's int64 to int32 (x64 off): that would be a
    # dtype mismatch, so this leaf's target is spelled out.
    assert abstract.extras["counts"].dtype == jnp.int32
    abstract.extras["counts"] = jax.ShapeDtypeStruct((5,), np.int64)
    abstract.extras["host_f64"] = np.zeros(2, np.float64)
    restored = checkpoint.restore(path, abstract)
    np.testing.assert_array_equal(restored.params["dense"][0]["w"], tree.params["dense"][0]["w"])
    np.testing.assert_array_equal(jax.random.key_data(restored.extras["typed_keys"]),
                                  jax.random.key_data(tree.extras["typed_keys"]))
    # Python scalars seen through eval_shape are 0-d arrays of JAX's dtypes.
    assert int(restored.extras["n_episodes"]) == 12
    assert float(restored.extras["best_return"]) == 195.5
    assert isinstance(restored.step, jax.Array) and int(restored.step) == 17


def test_bare_array_and_empty_tree(tmp_path):
    checkpoint.save(tmp_path / "a.npz", jnp.arange(3))
    np.testing.assert_array_equal(checkpoint.restore(tmp_path / "a.npz", jnp.zeros(3, jnp.int32)),
                                  [0, 1, 2])
    checkpoint.save(tmp_path / "b.npz", {}, metadata=[1, 2])
    assert checkpoint.restore(tmp_path / "b.npz", {}) == {}
    assert checkpoint.load_arrays(tmp_path / "b.npz") == ({}, [1, 2])


def test_file_is_a_plain_npz_with_json_header(tmp_path):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, {"a": jnp.ones(3)}, metadata={"note": "x"})
    with zipfile.ZipFile(path) as zf:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["leaf_00000"], np.ones(3, np.float32))
    arrays, metadata = checkpoint.load_arrays(path)
    assert list(arrays) == ["['a']"] and metadata == {"note": "x"}


def test_wrong_shape_names_key_and_shapes(tmp_path):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, make_tree(width=8))
    with pytest.raises(CheckpointError) as info:
        checkpoint.restore(path, make_tree(width=16))
    message = str(info.value)
    assert "different model" in message and str(path) in message
    assert "key `.params['dense'][0]['b']` has shape (8,) in the file but (16,)" in message


def test_wrong_dtype_is_reported(tmp_path):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, {"w": jnp.ones(3, jnp.float32), "n": 3})
    with pytest.raises(CheckpointError, match=r"`\['w'\]`.*float32.*bfloat16"):
        checkpoint.restore(path, {"w": jnp.ones(3, jnp.bfloat16), "n": 3})
    with pytest.raises(CheckpointError, match=r"`\['n'\]`.*Python int.*Python float"):
        checkpoint.restore(path, {"w": jnp.ones(3), "n": 3.0})
    with pytest.raises(CheckpointError, match=r"`\['w'\]`.*key<fry>"):
        checkpoint.restore(path, {"w": jax.random.split(jax.random.key(0), 3), "n": 3})


def test_missing_and_extra_keys_are_listed(tmp_path):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, {"a": jnp.ones(2), "b": jnp.ones(2)})
    with pytest.raises(CheckpointError) as info:
        checkpoint.restore(path, {"a": jnp.ones(2), "c": jnp.ones(2), "d": jnp.ones(2)})
    message = str(info.value)
    assert "2 key(s) of the model are missing from the file: `['c']`, `['d']`" in message
    assert "1 key(s) in the file are not in the model: `['b']`" in message


def test_partial_restore_ignores_extra_keys_only(tmp_path):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, {"weights": {"w": jnp.ones(2)}, "state": {"s": jnp.zeros(1)}})
    assert checkpoint.read_keys(path) == ["['state']['s']", "['weights']['w']"]
    restored = checkpoint.restore(path, {"weights": {"w": jnp.zeros(2)}}, partial=True)
    np.testing.assert_array_equal(restored["weights"]["w"], np.ones(2))
    with pytest.raises(CheckpointError, match=r"missing from the file: `\['weights'\]\['v'\]`"):
        checkpoint.restore(path, {"weights": {"w": jnp.zeros(2), "v": jnp.zeros(2)}},
                           partial=True)


def corrupt_error(path):
    with pytest.raises(CheckpointError) as info:
        checkpoint.restore(path, {"w": jnp.ones((64,))})
    message = str(info.value)
    assert str(path) in message and "corrupt" in message and "truncated" in message
    return message


def test_truncated_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, {"w": jnp.ones((64,))})
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 5, 0):
        path.write_bytes(data[:cut])
        corrupt_error(path)


def test_flipped_bytes_in_array_data_are_detected(tmp_path):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, {"w": jnp.ones((64,))})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("leaf_00000.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    path.write_bytes(bytes(data))
    assert "CRC" in corrupt_error(path)


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickle_renamed_npz_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps({"w": _Boom()}))
    corrupt_error(path)
    # A zip holding a pickled object array under our entry name is refused too.
    other = tmp_path / "evil2.npz"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("__header__.json", '{"format": "trax_rl.checkpoint", "version": 1, '
                    '"metadata": null, "leaves": [{"key": "[\'w\']", "kind": "array", '
                    '"shape": [1], "dtype": "float32", "entry": "leaf_00000.npy"}]}')
        with zf.open("leaf_00000.npy", "w") as f:
            np.save(f, np.array([_Boom()], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match="corrupt"):
        checkpoint.restore(other, {"w": jnp.ones(1)})
    assert not (tmp_path / "pwned").exists()


def test_foreign_zip_and_newer_version_are_refused(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.ones(3))
    with pytest.raises(CheckpointError, match="no __header__.json"):
        checkpoint.load_arrays(plain)
    newer = tmp_path / "newer.npz"
    with zipfile.ZipFile(newer, "w") as zf:
        zf.writestr("__header__.json", '{"format": "trax_rl.checkpoint", "version": 99}')
    with pytest.raises(CheckpointError, match="version 99"):
        checkpoint.read_metadata(newer)
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        checkpoint.restore(tmp_path / "absent.npz", {})


def test_unknown_prng_impl_in_header_is_a_checkpoint_error(tmp_path):
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    checkpoint.save(good, {"k": jax.random.key(0)})
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "__header__.json":
                data = data.replace(b'"threefry2x32"', b'"no_such_impl"')
            dst.writestr(name, data)
    with pytest.raises(CheckpointError, match="no_such_impl"):
        checkpoint.restore(bad, {"k": jax.random.key(0)})


def assert_no_temp_files(directory, expected):
    assert sorted(os.listdir(directory)) == expected


def test_crash_mid_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    old = make_tree()
    checkpoint.save(path, old)
    calls = []
    real_write = checkpoint._write_entry

    def crashing_write(zf, name, array):
        calls.append(name)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed mid-save")
        real_write(zf, name, array)

    monkeypatch.setattr(checkpoint, "_write_entry", crashing_write)
    new = old._replace(step=jnp.array(99, jnp.int32))
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, new)
    assert_no_temp_files(tmp_path, ["ckpt.npz"])
    assert_bit_exact(old, checkpoint.restore(path, old))


def test_failed_rename_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, {"w": jnp.zeros(3)})

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, {"w": jnp.ones(3)})
    monkeypatch.undo()
    assert_no_temp_files(tmp_path, ["ckpt.npz"])
    np.testing.assert_array_equal(checkpoint.restore(path, {"w": jnp.ones(3)})["w"],
                                  np.zeros(3))


def test_unsavable_leaves_and_metadata_are_clear_errors(tmp_path):
    with pytest.raises(TypeError, match=r"leaf `\['f'\]` of type function"):
        checkpoint.save(tmp_path / "a.npz", {"f": lambda: 0})
    with pytest.raises(TypeError, match="JSON-serializable"):
        checkpoint.save(tmp_path / "b.npz", {"w": jnp.ones(1)}, metadata={"x": object()})
    with pytest.raises(TypeError, match="numeric"):
        checkpoint.save(tmp_path / "c.npz", {"s": np.array(["a"])})
    assert os.listdir(tmp_path) == []
