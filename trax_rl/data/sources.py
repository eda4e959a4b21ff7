"""Data sources: functions that start a stream of examples.

Each source returns a function `gen(generator=None)` (Trax's convention: a source
is the first stage of `data.Serial` and ignores its input) that yields tuples of
numpy arrays, strings or bytes. Sources read random-access data (a prepared TFDS
dataset, or a file loaded into memory) and walk it epoch after epoch: in stored
order, or, with `shuffle=True`, in a fresh permutation per epoch drawn from
`numpy.random.default_rng([seed, epoch])`. The same arguments give the same
stream, which is what the training Loop relies on to resume exactly.

`TFDS` reads datasets prepared with tensorflow-datasets into the `array_record`
format, through `as_data_source` (numpy out, no TensorFlow). It never downloads:
a dataset that is not prepared in `data_dir` is a one-line error saying how to
prepare it (`trax_rl.data.prepare` for the datasets built from local files in
`trax_rl.data.builders`, or `download_and_prepare(file_format='array_record')`
with one's own `tfds.core.GeneratorBasedBuilder`).
"""

import csv
import glob
import json
import os

import numpy as np

__all__ = ["Arrays", "CSV", "JSONL", "TFDS", "TextLines", "default_data_dir"]


_CHUNK = 256  # Examples read per call: TFDS decodes a list of records much faster.


def _indexed_stream(n, get_many, shuffle, seed, repeat):
    """Yields `get_many(indices)`'s examples over `range(n)`, permuted per epoch if `shuffle`."""
    if n == 0:
        raise ValueError("the data source holds no examples")
    epoch = 0
    while True:
        order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle \
            else np.arange(n)
        for start in range(0, n, _CHUNK):
            yield from get_many([int(i) for i in order[start:start + _CHUNK]])
        if not repeat:
            return
        epoch += 1


def _source(n, get, shuffle, seed, repeat, get_many=None):
    get_many = get_many or (lambda indices: [get(i) for i in indices])

    def gen(generator=None):
        del generator  # A source starts the stream.
        return _indexed_stream(n, get_many, shuffle, seed, repeat)
    return gen


def _paths(path):
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    found = []
    for p in paths:
        p = os.path.expanduser(os.fspath(p))
        matches = sorted(glob.glob(p)) if glob.has_magic(p) else [p]
        for m in matches:
            if not os.path.isfile(m):
                raise FileNotFoundError(f"data file {m} does not exist")
            found.append(m)
    if not found:
        raise FileNotFoundError(f"no data files match {path!r}")
    return found


def _column(values):
    """A column of strings as int64 or float32 if every value parses so, else as is."""
    for kind in (int, float):
        try:
            return np.asarray([kind(v) for v in values],
                              np.int64 if kind is int else np.float32)
        except ValueError:
            continue
    return list(values)


def _from_columns(columns, shuffle, seed, repeat):
    n = len(columns[0])
    if len(columns) == 1:
        return _source(n, lambda i: columns[0][i], shuffle, seed, repeat)
    return _source(n, lambda i: tuple(c[i] for c in columns), shuffle, seed, repeat)


def Arrays(*arrays, shuffle=False, seed=0, repeat=True):  # noqa: N802
    """A source over in-memory arrays: yields `(a[i], b[i], ...)` (one array: `a[i]`)."""
    if not arrays:
        raise ValueError("Arrays needs at least one array")
    arrays = [a if isinstance(a, list) else np.asarray(a) for a in arrays]
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"Arrays needs arrays of one length, got lengths "
                         f"{[len(a) for a in arrays]}")
    return _from_columns(arrays, shuffle, seed, repeat)


def CSV(path, keys=None, delimiter=",", shuffle=False, seed=0, repeat=True):  # noqa: N802
    """A source over CSV file(s) with a header row: yields the columns named in `keys`.

    Columns whose values all parse as ints (floats) come out as int64 (float32)
    0-d arrays; others as str. `keys=None` yields every column.
    """
    csv.field_size_limit(1 << 30)  # Reviews and documents exceed the 128 KiB default.
    rows, header = [], None
    for p in _paths(path):
        with open(p, newline="", encoding="utf-8") as f:
            reader = csv.reader(f, delimiter=delimiter)
            file_header = next(reader, None)
            if header is None:
                header = file_header
            elif file_header != header:
                raise ValueError(f"CSV {p} has columns {file_header}, earlier files {header}")
            rows.extend(reader)
    keys = list(header) if keys is None else list(keys)
    missing = [k for k in keys if k not in header]
    if missing:
        raise KeyError(f"CSV {path} has no column(s) {missing}; it has {header}")
    columns = [_column([r[header.index(k)] for r in rows]) for k in keys]
    return _from_columns(columns, shuffle, seed, repeat)


def JSONL(path, keys, shuffle=False, seed=0, repeat=True):  # noqa: N802
    """A source over JSON-lines file(s): yields the fields named in `keys` per line.

    Numbers and lists become numpy arrays; strings stay str.
    """
    records = []
    for p in _paths(path):
        with open(p, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{p}:{lineno} is not JSON: {e}") from None
                try:
                    records.append(tuple(_json_value(record[k]) for k in keys))
                except (KeyError, TypeError):
                    raise KeyError(f"{p}:{lineno} lacks a field of {list(keys)}") from None
    columns = [[r[i] for r in records] for i in range(len(keys))]
    return _from_columns(columns, shuffle, seed, repeat)


def _json_value(v):
    return v if isinstance(v, str) else np.asarray(v)


def TextLines(path, shuffle=False, seed=0, repeat=True, skip_empty=True):  # noqa: N802
    """A source over the lines of text file(s): yields each line as a str (no newline)."""
    lines = []
    for p in _paths(path):
        with open(p, encoding="utf-8") as f:
            lines.extend(line.rstrip("\r\n") for line in f)
    if skip_empty:
        lines = [line for line in lines if line.strip()]
    return _source(len(lines), lines.__getitem__, shuffle, seed, repeat)


def default_data_dir():
    """`$TFDS_DATA_DIR`, else `~/tensorflow_datasets` (tensorflow-datasets' default)."""
    return os.path.expanduser(os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets"))


def TFDS(dataset_name, data_dir=None, keys=None, train=True,  # noqa: N802
         eval_holdout_size=0, shuffle=None, seed=0, repeat=True):
    """A source over a prepared TFDS dataset (array_record), read without TensorFlow.

    Args:
      dataset_name: the dataset's name, e.g. 'imdb_reviews' (optionally 'name:1.0.0').
      data_dir: where it was prepared (default: `default_data_dir()`).
      keys: features to yield, in order, e.g. `('text', 'label')`; default: the
        dataset's supervised keys.
      train: the 'train' split; else 'validation', or 'test' when there is none.
      eval_holdout_size: a fraction in [0, 1): hold out the end of 'train' (in
        stored order) as the eval split instead.
      shuffle: a new permutation every epoch; defaults to `train`.
      seed: the permutations' seed.
      repeat: start over after the last example (Trax's TFDS repeats forever).
    """
    if not 0 <= eval_holdout_size < 1:
        raise ValueError(f"eval_holdout_size must be in [0, 1), got {eval_holdout_size!r}")
    from trax_rl.data import builders  # Lazy: tensorflow_datasets takes ~0.6 s to import.

    builder = builders.prepared_builder(dataset_name, data_dir or default_data_dir())
    split = _split_name(builder, dataset_name, train, eval_holdout_size)
    source = builder.as_data_source(split)
    n = len(source)
    start, stop = 0, n
    if eval_holdout_size:
        cut = int(round(n * (1 - eval_holdout_size)))
        start, stop = (0, cut) if train else (cut, n)
    if keys is None:
        keys = builder.info.supervised_keys
        if keys is None:
            raise ValueError(f"TFDS dataset {dataset_name!r} has no supervised keys: pass "
                             f"keys= (features: {list(builder.info.features.keys())})")
    keys = list(keys)
    unknown = [k for k in keys if k not in builder.info.features]
    if unknown:
        raise KeyError(f"TFDS dataset {dataset_name!r} has no feature(s) {unknown}; it has "
                       f"{list(builder.info.features.keys())}")

    def get_many(indices):
        return [tuple(_tfds_value(example[k]) for k in keys)
                for example in source.__getitems__([start + i for i in indices])]

    return _source(stop - start, None, train if shuffle is None else shuffle, seed, repeat,
                   get_many=get_many)


def _split_name(builder, dataset_name, train, eval_holdout_size):
    splits = builder.info.splits
    if "train" not in splits:
        raise ValueError(f"TFDS dataset {dataset_name!r} has no 'train' split "
                         f"(it has {list(splits)})")
    if train or eval_holdout_size:
        return "train"
    for name in ("validation", "test"):
        if name in splits:
            return name
    raise ValueError(f"TFDS dataset {dataset_name!r} has no 'validation' or 'test' split "
                     f"(it has {list(splits)}); pass eval_holdout_size= to hold out train")


def _tfds_value(value):
    return value if isinstance(value, (bytes, str)) else np.asarray(value)
