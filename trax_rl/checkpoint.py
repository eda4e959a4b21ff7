"""Checkpoints: pytrees of arrays saved by tree path in one file, never pickled.

File format ("trax_rl.checkpoint", version 1): an uncompressed zip, readable
with `numpy.load(path, allow_pickle=False)`, holding

- `__header__.json`: format name and version, the user's JSON `metadata`, a
  structure fingerprint, and per leaf its tree path (`jax.tree_util.keystr`),
  kind, shape, dtype and entry name;
- `leaf_00000.npy`, ...: one `.npy` array per leaf, in flattening order.

Leaf kinds: 'array' (numpy/JAX arrays of bool, int, uint, float, complex and
ml_dtypes such as bfloat16: those are stored as raw unsigned-int bits since
`.npy` cannot name them); 'key' (typed `jax.random.key` arrays: the key data plus
the PRNG impl name; raw uint32 keys are plain arrays); 'bool' / 'int' / 'float'
(Python scalars, stored 0-d, restored as Python values when the target holds a
Python scalar, as 0-d arrays of the target's dtype when it is abstract). `None`
is an empty subtree in JAX, so it stores nothing and is restored from `target`.

Saving is atomic: a temp file in the same directory is written, fsynced and
`os.replace`d over `path`, so a crash mid-save leaves the previous file intact.
Loading never unpickles: zip entries are parsed by numpy with
`allow_pickle=False`, and every failure is a `CheckpointError` naming the file.

Leaves are gathered with `np.asarray`: each process must hold them in full.
"""

import contextlib
import hashlib
import json
import os
import struct
import tempfile
import zipfile
import zlib

import jax
import ml_dtypes
import numpy as np

__all__ = ["CheckpointError", "FORMAT", "VERSION", "load_arrays", "read_keys",
           "read_metadata", "restore", "save"]

FORMAT = "trax_rl.checkpoint"
VERSION = 1
_HEADER = "__header__.json"
_PY_KINDS = {bool: "bool", int: "int", float: "float"}
_PY_TYPES = {v: k for k, v in _PY_KINDS.items()}
_PY_STORAGE = {"bool": np.bool_, "int": np.int64, "float": np.float64}
# Errors that a damaged or foreign file can raise while being parsed.
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError,
                KeyError, TypeError, UnicodeDecodeError, zlib.error, struct.error,
                NotImplementedError, OSError)


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, foreign, or written for another model."""


# ------------------------------------------------------------------ save ---

def save(path, tree, *, metadata=None):
    """Writes `tree` (a pytree of arrays / Python scalars) to `path` atomically.

    Args:
      path: file to write (conventionally `*.npz`); its directory is created.
      tree: any pytree: dicts, lists, tuples, NamedTuples, optax states, ...
      metadata: JSON-serializable data stored in the header (`read_metadata`).
    """
    path = os.fspath(path)
    flat, treedef = jax.tree_util.tree_flatten_with_path(tree)
    entries, arrays = [], []
    for i, (key_path, leaf) in enumerate(flat):
        entry, stored = _encode_leaf(jax.tree_util.keystr(key_path), leaf)
        entry["entry"] = f"leaf_{i:05d}.npy"
        entries.append(entry)
        arrays.append(stored)
    keys = [e["key"] for e in entries]
    if len(set(keys)) != len(keys):
        raise ValueError(f"cannot save: the tree has repeated key paths {keys}")
    header = {"format": FORMAT, "version": VERSION,
              "fingerprint": _fingerprint(entries), "treedef": str(treedef),
              "leaves": entries, "metadata": metadata}
    try:
        header_bytes = json.dumps(header, allow_nan=True).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise TypeError(f"checkpoint metadata must be JSON-serializable: {e}") from e

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp",
                               prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                zf.writestr(_HEADER, header_bytes)
                for entry, array in zip(entries, arrays):
                    _write_entry(zf, entry["entry"], array)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _write_entry(zf, name, array):
    with zf.open(name, "w", force_zip64=array.nbytes > 2**30) as f:
        np.lib.format.write_array(f, array, allow_pickle=False)


def _fsync_directory(directory):
    # Makes the rename itself durable; not possible on every OS/filesystem.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _encode_leaf(key, leaf):
    """Returns (header entry, array to store) for one leaf."""
    if type(leaf) in _PY_KINDS:
        kind = _PY_KINDS[type(leaf)]
        try:
            array = np.asarray(leaf, _PY_STORAGE[kind])
        except OverflowError:
            raise TypeError(f"cannot save leaf `{key}`: int {leaf} does not fit "
                            f"in int64") from None
        return {"key": key, "kind": kind, "shape": [], "dtype": array.dtype.name}, array
    if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
        raise TypeError(
            f"cannot save leaf `{key}` of type {type(leaf).__name__}: checkpoints "
            f"hold arrays and Python bool/int/float (put other data in metadata)")
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        data = np.asarray(jax.random.key_data(leaf))
        return {"key": key, "kind": "key", "shape": list(leaf.shape),
                "dtype": str(leaf.dtype), "impl": str(jax.random.key_impl(leaf)),
                "stored_dtype": data.dtype.name}, data
    array = np.asarray(leaf)
    entry = {"key": key, "kind": "array", "shape": list(array.shape),
             "dtype": _dtype_name(array.dtype, key)}
    if np.dtype(array.dtype.str) != array.dtype:
        # ml_dtypes (bfloat16, float8_*, int4, ...) have no .npy descriptor:
        # store their bits as an unsigned int of the same width.
        array = array.view(f"u{array.dtype.itemsize}")
        entry["stored_dtype"] = array.dtype.name
    return entry, array


def _dtype_name(dtype, key):
    if dtype.kind in "biufc" or _is_ml_dtype(dtype.name):
        return dtype.name
    raise TypeError(f"cannot save leaf `{key}` with dtype {dtype}: checkpoints hold "
                    f"numeric arrays only")


def _is_ml_dtype(name):
    scalar_type = getattr(ml_dtypes, name, None)
    return isinstance(scalar_type, type) and issubclass(scalar_type, np.generic)


def _dtype_from_name(name):
    """Numeric dtype from its name; ml_dtypes are looked up by attribute."""
    if _is_ml_dtype(name):
        return np.dtype(getattr(ml_dtypes, name))
    dtype = np.dtype(name)
    if dtype.kind not in "biufc":
        raise ValueError(f"dtype {name!r} is not a numeric dtype")
    return dtype


def _fingerprint(entries):
    """Hash of key paths, kinds, shapes and dtypes: equal iff structures match."""
    spec = [[e["key"], e["kind"], e["shape"], e["dtype"]] for e in entries]
    return hashlib.sha256(json.dumps(spec).encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ load ---

class _Reader:
    """An open checkpoint; turns every parse failure into a CheckpointError."""

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"no checkpoint file at {self.path}")
        self._zf = None
        with self.guard():
            self._zf = zipfile.ZipFile(self.path, "r")
            names = set(self._zf.namelist())
            if _HEADER not in names:
                raise ValueError(f"it has no {_HEADER} entry")
            header = json.loads(self._zf.read(_HEADER).decode("utf-8"))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise ValueError(f"its header does not name the {FORMAT!r} format")
            version = header.get("version")
            if not isinstance(version, int) or version > VERSION:
                raise ValueError(f"format version {version!r}; this trax_rl reads "
                                 f"versions <= {VERSION}")
            for e in header["leaves"]:
                _validate_entry(e)
            self.leaves = {e["key"]: e for e in header["leaves"]}
            if len(self.leaves) != len(header["leaves"]):
                raise ValueError("its header repeats key paths")
            missing = [e["entry"] for e in header["leaves"] if e["entry"] not in names]
            if missing:
                raise ValueError(f"entries {missing[:5]} are missing")
            self.header = header

    @contextlib.contextmanager
    def guard(self):
        try:
            yield
        except CheckpointError:
            raise
        except _READ_ERRORS as e:
            if self._zf is not None:
                self._zf.close()
            raise CheckpointError(
                f"{self.path} is not a valid trax_rl checkpoint: the file is corrupt, "
                f"truncated or of another kind ({type(e).__name__}: {e})") from e

    def read(self, key):
        """Returns the stored leaf `key` decoded: np.ndarray (key data for 'key')."""
        entry = self.leaves[key]
        with self.guard():
            with self._zf.open(entry["entry"]) as f:
                array = np.lib.format.read_array(f, allow_pickle=False)
                if f.read(1):  # Reaching the end also makes zipfile check the CRC.
                    raise ValueError(f"entry {entry['entry']} has trailing bytes")
            stored = _dtype_from_name(entry.get("stored_dtype", entry["dtype"]))
            shape = tuple(entry["shape"])
            # Key data has trailing impl-specific dims after the key array's shape.
            shape_ok = array.shape[:len(shape)] == shape if entry["kind"] == "key" \
                else array.shape == shape
            if array.dtype != stored or not shape_ok:
                raise ValueError(
                    f"entry {entry['entry']} holds {array.dtype}{list(array.shape)}, "
                    f"the header says {stored}{list(shape)}")
            if entry["kind"] == "array" and "stored_dtype" in entry:
                array = array.view(_dtype_from_name(entry["dtype"]))
            return array

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._zf.close()


def _validate_entry(e):
    """Rejects header entries that later code could not interpret."""
    ok = isinstance(e, dict) and isinstance(e.get("key"), str) \
        and isinstance(e.get("entry"), str) and isinstance(e.get("dtype"), str) \
        and e.get("kind") in ("array", "key", *_PY_TYPES) \
        and isinstance(e.get("shape"), list) \
        and all(isinstance(d, int) and d >= 0 for d in e["shape"]) \
        and (e["kind"] != "key" or isinstance(e.get("impl"), str))
    if not ok:
        raise ValueError(f"malformed header entry {str(e)[:200]}")
    if e["kind"] != "key":
        _dtype_from_name(e["dtype"])


def read_metadata(path):
    """Returns the `metadata` passed to `save` (None if there was none)."""
    with _Reader(path) as reader:
        return reader.header.get("metadata")


def load_arrays(path):
    """Returns `({keystr: np.ndarray}, metadata)` without a target structure.

    For inspection and converters. Typed PRNG keys come back as their uint32
    key data; Python scalars as 0-d arrays.
    """
    with _Reader(path) as reader:
        return ({key: reader.read(key) for key in reader.leaves},
                reader.header.get("metadata"))


def read_keys(path):
    """Returns the file's key paths in saving order, without reading arrays."""
    with _Reader(path) as reader:
        return list(reader.leaves)


def restore(path, target, *, partial=False):
    """Loads `path` into a tree with exactly `target`'s structure.

    Args:
      path: a file written by `save`.
      target: a pytree like the saved one, with arrays, `jax.ShapeDtypeStruct`s
        (e.g. a `jax.eval_shape` result) or Python scalars as leaves.
      partial: allow the file to hold keys that `target` lacks (they are not
        read), e.g. weights-only loading from a file that also has state. Keys
        of `target` missing from the file are an error either way.

    Returns:
      `target`'s structure filled with the saved values: numpy arrays (scalars)
      where `target` has numpy arrays (scalars), Python scalars where it has them,
      JAX arrays (placed on the target's sharding when it has one) elsewhere.

    Raises:
      CheckpointError: the file is damaged, or its key paths, shapes or dtypes
        differ from `target`'s (the message names the first differing key).
    """
    with _Reader(path) as reader:
        flat, treedef = jax.tree_util.tree_flatten_with_path(target)
        keys = [jax.tree_util.keystr(p) for p, _ in flat]
        _check_keys(reader, keys, partial)
        for key, (_, want) in zip(keys, flat):  # All checks before any reading.
            _check_leaf(reader.path, key, reader.leaves[key], want)
        leaves = []
        for key, (_, want) in zip(keys, flat):
            array = reader.read(key)
            with reader.guard():  # An unknown PRNG impl name is a damaged file.
                leaves.append(_build_leaf(reader.leaves[key], array, want))
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _different_model(path, detail):
    return CheckpointError(f"checkpoint {path} was written for a different model: {detail}")


def _listing(keys, limit=10):
    shown = ", ".join(f"`{k}`" for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _check_keys(reader, keys, partial):
    missing = [k for k in keys if k not in reader.leaves]
    wanted = set(keys)
    extra = [] if partial else [k for k in reader.leaves if k not in wanted]
    problems = []
    if missing:
        problems.append(f"{len(missing)} key(s) of the model are missing from the "
                        f"file: {_listing(missing)}")
    if extra:
        problems.append(f"{len(extra)} key(s) in the file are not in the model: "
                        f"{_listing(extra)}")
    if problems:
        raise _different_model(reader.path, "; ".join(problems))


def _describe_file(entry):
    if entry["kind"] in _PY_TYPES:
        return f"a Python {entry['kind']}"
    return f"shape {tuple(entry['shape'])} and dtype {entry['dtype']}"


def _check_leaf(path, key, entry, want):
    kind = entry["kind"]
    if type(want) in _PY_KINDS:
        if kind != _PY_KINDS[type(want)]:
            raise _different_model(
                path, f"key `{key}` holds {_describe_file(entry)} in the file but a "
                      f"Python {type(want).__name__} in the model")
        return
    if not (hasattr(want, "shape") and hasattr(want, "dtype")):
        raise TypeError(f"restore target leaf `{key}` is a {type(want).__name__}; "
                        f"expected an array, a jax.ShapeDtypeStruct or a Python scalar")
    shape, dtype = tuple(want.shape), want.dtype
    if kind in _PY_TYPES:
        # A Python scalar seen through jax.eval_shape becomes a weakly typed 0-d
        # array of JAX's default dtype, so only the dtype's category must agree.
        category = {"bool": np.bool_, "int": np.integer, "float": np.floating}[kind]
        ok = shape == () and not jax.dtypes.issubdtype(dtype, jax.dtypes.extended) \
            and np.issubdtype(dtype, category)
    elif shape != tuple(entry["shape"]):
        raise _different_model(
            path, f"key `{key}` has shape {tuple(entry['shape'])} in the file but "
                  f"{shape} in the model")
    else:
        ok = str(dtype) == entry["dtype"] if kind == "key" \
            else not jax.dtypes.issubdtype(dtype, jax.dtypes.extended) \
            and np.dtype(dtype).name == entry["dtype"]
    if not ok:
        raise _different_model(
            path, f"key `{key}` has {_describe_file(entry)} in the file but shape "
                  f"{shape} and dtype {dtype} in the model")


def _build_leaf(entry, array, want):
    if type(want) in _PY_KINDS:
        return type(want)(array.item())
    if entry["kind"] in _PY_TYPES:
        array = array.astype(want.dtype)
    if isinstance(want, np.generic):
        return array[()]
    if isinstance(want, np.ndarray):
        return array
    sharding = getattr(want, "sharding", None)
    if not isinstance(sharding, jax.sharding.Sharding):
        sharding = None
    if entry["kind"] == "key":
        return jax.device_put(jax.random.wrap_key_data(array, impl=entry["impl"]),
                              sharding)
    return jax.device_put(array, sharding)
