"""Stream combinators with Trax's names and signatures.

A stream is a Python iterator of examples; an example is a tuple of numpy arrays
(or a bare array). A combinator such as `Shuffle(queue_size=128)` returns a
function from a stream to a stream, and `Serial(f, g, h)` composes them left to
right, so `Serial(source, Tokenize(...), Shuffle(), BucketByLength(...))()` is a
stream of padded batches.

Everything here is deterministic: `Shuffle` draws from its own seeded generator
(never numpy's global one), so a pipeline built again with the same seeds yields
the same batches in the same order. That is what lets the training Loop restore a
stream's position after a restart by drawing and dropping the batches it had
already used (`skip`).
"""

import itertools
import math

import numpy as np

from trax_rl import shapes

__all__ = ["AddLossWeights", "Batch", "BucketByLength", "FilterByLength", "Log", "Serial",
           "Shuffle", "TruncateToLength", "add_loss_weights", "batch", "bucket_by_length",
           "pad_to_max_dims", "shuffle", "skip", "truncate_to_length"]


def Serial(*fns):  # noqa: N802 -- Trax's combinator names.
    """Composes stream functions left to right: `Serial(f, g)(s) == g(f(s))`.

    Nested lists or tuples of functions are flattened, so pipelines can be spliced
    into other pipelines. The first function is often a source, called with None.
    """
    flat = list(_flatten(fns))
    for f in flat:
        if not callable(f):
            raise TypeError(f"data.Serial takes stream functions, got {f!r} of type "
                            f"{type(f).__name__}")

    def composed(generator=None):
        for f in flat:
            generator = f(generator)
        return generator
    return composed


def _flatten(fns):
    for f in fns:
        if isinstance(f, (list, tuple)):
            yield from _flatten(f)
        else:
            yield f


def skip(stream, n):
    """Draws and drops `n` examples from `stream`; returns the stream.

    Restores a deterministic stream's position: a pipeline rebuilt with the same
    seeds and skipped by the number of examples already used continues where the
    first one stopped.
    """
    if n:
        next(itertools.islice(stream, n - 1, n), None)
    return stream


# ------------------------------------------------------------------ shuffle ---

def Shuffle(queue_size=1024, seed=0):  # noqa: N802
    """Returns a stream function that shuffles through a queue; see `shuffle`."""
    _check_positive("queue_size", queue_size)
    return lambda g: shuffle(g, queue_size, seed=seed)


def shuffle(samples, queue_size, seed=0):
    """Shuffles a stream with a random-out, next-in queue of `queue_size` examples.

    The queue is filled first; then each incoming example replaces one drawn at
    random, which is yielded. When the input ends the queue is drained in random
    order. Randomness comes from `numpy.random.default_rng(seed)`.
    """
    _check_positive("queue_size", queue_size)
    rng = np.random.default_rng(seed)
    samples = iter(samples)
    queue = list(itertools.islice(samples, queue_size))
    if len(queue) == queue_size:
        for sample in samples:
            i = int(rng.integers(queue_size))
            yield queue[i]
            queue[i] = sample
    for i in rng.permutation(len(queue)):
        yield queue[i]


# ------------------------------------------------------------------- filter ---

def FilterByLength(max_length, min_length=0, length_keys=None,  # noqa: N802
                   length_axis=0):
    """Returns a stream function keeping examples with `min_length <= length <= max_length`.

    An example's length is the largest `shape[length_axis]` among the arrays at
    `length_keys` (default: positions 0 and 1, as in Trax). Either bound may be None.
    """
    if max_length is None and min_length is None:
        raise ValueError("FilterByLength needs max_length or min_length, got neither")
    length_keys = length_keys or [0, 1]

    def filtered(generator):
        for example in generator:
            length = _length(example, length_axis, length_keys)
            if max_length is not None and length > max_length:
                continue
            if min_length is not None and length < min_length:
                continue
            yield example
    return filtered


def TruncateToLength(len_map=None):  # noqa: N802
    """Returns a stream function that cuts arrays to a maximum shape; see `truncate_to_length`."""
    len_map = dict(len_map or {})
    for key, max_shape in len_map.items():
        if not all(isinstance(n, int) and n >= 1 for n in max_shape):
            raise ValueError(f"TruncateToLength len_map[{key!r}]={max_shape!r} is invalid; "
                             f"expected a shape of ints >= 1, e.g. (512,)")
    return lambda g: truncate_to_length(g, len_map=len_map)


def truncate_to_length(generator, len_map=None):
    """Keeps the leading part of the arrays at `len_map`'s keys.

    `len_map` maps an example's position to a maximum shape, e.g. `{0: (512,)}` keeps
    the first 512 tokens of the inputs (what a model with a fixed context does with a
    longer text). Each axis is cut on its own (Trax's `np.resize` would wrap around on
    arrays of more than one axis); shorter arrays pass unchanged.
    """
    for example in generator:
        if not len_map:
            yield example
            continue
        example = list(example)
        for key, max_shape in len_map.items():
            example[key] = example[key][tuple(slice(0, n) for n in max_shape)]
        yield tuple(example)


def _length(example, length_axis, length_keys):
    """The maximum of `shape[length_axis]` over the arrays at `length_keys`."""
    if isinstance(example, (list, tuple)):
        try:
            return max(np.shape(example[i])[length_axis] for i in length_keys)
        except IndexError:
            raise ValueError(
                f"length_keys={list(length_keys)} / length_axis={length_axis} do not fit "
                f"an example with shapes {[np.shape(x) for x in example]}") from None
    return np.shape(example)[length_axis]


# ------------------------------------------------------------------ batching ---

def Batch(batch_size):  # noqa: N802
    """Returns a stream function that batches (and pads) examples; see `batch`."""
    _check_positive("batch_size", batch_size)
    return lambda g: batch(g, batch_size)


def batch(generator, batch_size):
    """Groups `batch_size` examples into one, padding each position to common shapes.

    An incomplete last batch is dropped, as in Trax.
    """
    _check_positive("batch_size", batch_size)
    buf = []
    for example in generator:
        buf.append(example)
        if len(buf) == batch_size:
            yield _stack(buf)
            buf = []


def _stack(examples, boundary=None):
    if isinstance(examples[0], (list, tuple)):
        return tuple(pad_to_max_dims([np.asarray(x) for x in column], boundary)
                     for column in zip(*examples))
    return pad_to_max_dims([np.asarray(x) for x in examples], boundary)


def pad_to_max_dims(tensors, boundary=None):
    """Stacks arrays of equal rank after zero-padding each axis to the longest.

    With `boundary`, padded axes grow to `boundary` (fewer distinct shapes, fewer
    XLA compilations), except that an axis whose longest array is under half the
    boundary is padded to the next power of two instead: Trax's rule, which the
    seed's `shapes = [(4, 1024), (4,), (4,)]` shows for the 2048 bucket.
    """
    ndim = tensors[0].ndim
    if any(t.ndim != ndim for t in tensors):
        raise ValueError(f"cannot batch arrays of different ranks: shapes "
                         f"{[t.shape for t in tensors]}")
    target, padding_needed = [], False
    for axis in range(ndim):
        lengths = [t.shape[axis] for t in tensors]
        longest = max(lengths)
        if longest == min(lengths) and longest == boundary:
            target.append(longest)
        elif boundary is None:
            target.append(longest)
            padding_needed = True
        else:
            padding_needed = True
            padded = max(longest, boundary)
            if 2 * longest < padded:
                padded = 2 ** int(np.ceil(np.log2(max(longest, 1))))
            target.append(padded)
    if not padding_needed:
        return np.stack(tensors)
    return np.stack([np.pad(t, [(0, n - s) for n, s in zip(target, t.shape)])
                     for t in tensors])


def BucketByLength(boundaries, batch_sizes, length_keys=None,  # noqa: N802
                   length_axis=0):
    """Returns a stream function that batches examples of similar length.

    Examples go to bucket `i`, the first with `length <= boundaries[i]` (the last
    bucket takes the rest, so `len(batch_sizes) == len(boundaries) + 1`). A bucket
    that reaches `batch_sizes[i]` examples is yielded as one batch, padded with
    zeros to its boundary (see `pad_to_max_dims`). Length as in `FilterByLength`.
    """
    boundaries, batch_sizes = list(boundaries), list(batch_sizes)
    if len(batch_sizes) != len(boundaries) + 1:
        raise ValueError(
            f"BucketByLength needs one batch size per bucket, len(boundaries) + 1 = "
            f"{len(boundaries) + 1}, got batch_sizes={batch_sizes}")
    if boundaries != sorted(boundaries):
        raise ValueError(f"BucketByLength boundaries must increase, got {boundaries}")
    for size in batch_sizes:
        _check_positive("batch_sizes[i]", size)
    length_keys = length_keys or [0, 1]
    return lambda g: bucket_by_length(
        g, lambda x: _length(x, length_axis, length_keys), boundaries, batch_sizes)


def bucket_by_length(generator, length_fn, boundaries, batch_sizes):
    """Yields padded batches from per-length buckets; see `BucketByLength`."""
    buckets = [[] for _ in batch_sizes]
    bounds = list(boundaries) + [math.inf]
    for example in generator:
        length = length_fn(example)
        i = next(i for i, b in enumerate(bounds) if length <= b)
        buckets[i].append(example)
        if len(buckets[i]) == batch_sizes[i]:
            boundary = None if bounds[i] == math.inf else bounds[i]
            yield _stack(buckets[i], boundary)
            buckets[i] = []


# -------------------------------------------------------------- loss weights ---

def AddLossWeights(id_to_mask=None):  # noqa: N802
    """Returns a stream function that adds loss weights; see `add_loss_weights`."""
    return lambda g: add_loss_weights(g, id_to_mask=id_to_mask)


def add_loss_weights(generator, id_to_mask=None):
    """Turns `(inputs, targets)` into `(inputs, targets, weights)`.

    Weights are ones shaped like `targets` (or the stream's own third element),
    times 0 where `targets == id_to_mask` when `id_to_mask` is given, e.g. 0 to
    mask padding. Examples that are not pairs or triples pass through unchanged.
    """
    for example in generator:
        if not isinstance(example, (list, tuple)) or len(example) not in (2, 3):
            if id_to_mask is not None:
                raise ValueError(f"AddLossWeights(id_to_mask={id_to_mask}) needs "
                                 f"(inputs, targets[, weights]) examples")
            yield example
            continue
        targets = np.asarray(example[1])
        if len(example) == 2:
            weights = np.ones(targets.shape, np.float32)
        else:
            weights = np.asarray(example[2], np.float32)
        if id_to_mask is not None:
            weights = weights * (targets != id_to_mask)
        yield (example[0], example[1], weights)


# ----------------------------------------------------------------------- log ---

def Log(n_steps_per_example=1, only_shapes=True):  # noqa: N802
    """Returns a stream function printing every `n_steps_per_example`-th example.

    Prints its shapes and dtypes (`only_shapes=True`) or the whole example.
    Examples pass through unchanged.
    """
    _check_positive("n_steps_per_example", n_steps_per_example)

    def log(stream):
        for i, example in enumerate(stream):
            if i % n_steps_per_example == 0:
                print(_signature(example) if only_shapes else example, flush=True)
            yield example
    return log


def _signature(example):
    if isinstance(example, (list, tuple)):
        return tuple(_signature(x) for x in example)
    if isinstance(example, (str, bytes)):
        return type(example).__name__
    return shapes.signature(np.asarray(example))


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
