"""Stream combinators: bucketing, padding, filtering, loss weights, shuffling."""

import numpy as np
import pytest

from trax_rl import data


def _examples(lengths):
    return [(np.arange(1, n + 1, dtype=np.int32), np.int64(n % 2)) for n in lengths]


def test_serial_composes_left_to_right_and_flattens():
    pipeline = data.Serial(lambda _: iter([1, 2, 3]),
                           [lambda g: (x * 10 for x in g), lambda g: (x + 1 for x in g)])
    assert list(pipeline()) == [11, 21, 31]
    with pytest.raises(TypeError, match="stream functions"):
        data.Serial(3)


def test_bucket_by_length_pads_to_boundary_and_batch_size_per_bucket():
    lengths = [3, 5, 20, 2, 25, 7, 4, 30, 9]
    batches = list(data.BucketByLength([8, 32], [4, 2, 1], length_keys=[0])(
        iter(_examples(lengths))))
    shapes = [tuple(x.shape for x in b) for b in batches]
    # Bucket <= 8 fills at 7 (3, 5, 2, 7); bucket <= 32 at 25 and at 9.
    assert shapes == [((2, 32), (2,)), ((4, 8), (4,)), ((2, 32), (2,))]
    small = batches[1][0]
    np.testing.assert_array_equal(small[1], [1, 2, 3, 4, 5, 0, 0, 0])  # zero padded
    np.testing.assert_array_equal(batches[1][1], [1, 1, 0, 1])


def test_pad_to_max_dims_uses_power_of_two_below_half_the_boundary():
    # Trax's rule, seen in the seed: 2048 bucket, longest 900 -> 1024.
    x = data.pad_to_max_dims([np.ones(700, np.int32), np.ones(900, np.int32)], 2048)
    assert x.shape == (2, 1024) and x[0, 700:].sum() == 0
    assert data.pad_to_max_dims([np.ones(3), np.ones(5)]).shape == (2, 5)


def test_bucket_by_length_rejects_mismatched_batch_sizes():
    with pytest.raises(ValueError, match="one batch size per bucket"):
        data.BucketByLength([32, 128], [8, 4])


def test_batch_pads_and_drops_the_incomplete_tail():
    batches = list(data.Batch(2)(iter(_examples([1, 3, 2]))))
    assert len(batches) == 1
    np.testing.assert_array_equal(batches[0][0], [[1, 0, 0], [1, 2, 3]])


def test_filter_by_length_keeps_bounds_inclusive():
    kept = list(data.FilterByLength(max_length=5, min_length=2, length_keys=[0])(
        iter(_examples([1, 2, 5, 6]))))
    assert [len(x[0]) for x in kept] == [2, 5]


def test_truncate_to_length_keeps_the_leading_part_per_axis():
    kept = list(data.TruncateToLength({0: (4,)})(iter(_examples([2, 6]))))
    np.testing.assert_array_equal(kept[0][0], [1, 2])  # shorter: unchanged
    np.testing.assert_array_equal(kept[1][0], [1, 2, 3, 4])
    assert kept[1][1] == 0  # other positions untouched
    grid = np.arange(12).reshape(3, 4)
    (cut,), = data.TruncateToLength({0: (2, 3)})(iter([(grid,)]))
    np.testing.assert_array_equal(cut, [[0, 1, 2], [4, 5, 6]])  # no wrap-around
    with pytest.raises(ValueError, match=r"len_map\[0\]=\(0,\)"):
        data.TruncateToLength({0: (0,)})


def test_add_loss_weights_ones_and_masking():
    (x, y, w), = data.AddLossWeights()(iter([(np.zeros(3), np.array([4, 0, 2]))]))
    np.testing.assert_array_equal(w, [1, 1, 1])
    assert w.dtype == np.float32
    (_, _, w), = data.AddLossWeights(id_to_mask=0)(
        iter([(np.zeros(3), np.array([4, 0, 2]), np.array([0.5, 1, 1]))]))
    np.testing.assert_array_equal(w, [0.5, 0, 1])


def test_shuffle_is_a_seeded_permutation():
    items = list(range(100))
    a = list(data.Shuffle(queue_size=10, seed=3)(iter(items)))
    b = list(data.Shuffle(queue_size=10, seed=3)(iter(items)))
    c = list(data.Shuffle(queue_size=10, seed=4)(iter(items)))
    assert a == b and a != c and a != items
    assert sorted(a) == items
    assert sorted(data.shuffle(iter(range(5)), queue_size=10)) == list(range(5))


def test_skip_restores_a_rebuilt_streams_position():
    pipeline = data.Serial(data.Arrays(np.arange(50), shuffle=True, seed=1),
                           data.Shuffle(8, seed=2), data.Batch(3))
    first = [next(s) for s in [pipeline()] for _ in range(7)]
    resumed = data.skip(pipeline(), 4)
    for expected in first[4:]:
        np.testing.assert_array_equal(next(resumed), expected)


def test_log_prints_shapes(capsys):
    out = list(data.Log()(iter([(np.zeros((2, 3), np.int32), np.zeros(2))])))
    assert len(out) == 1
    assert "(2, 3)" in capsys.readouterr().out
