"""RunningMeanStd merges batches into the same moments as numpy over all samples."""

import jax
import numpy as np

from trax_rl.running_stats import RunningMeanStd


def test_batches_merge_to_the_moments_of_all_samples():
    data = np.random.RandomState(0).randn(300, 3).astype(np.float32) * 2.0 + 5.0
    stats = RunningMeanStd.create((3,))
    update = jax.jit(RunningMeanStd.update)
    for batch in np.split(data, [7, 50, 51, 200]):
        stats = update(stats, batch)
    # The prior (mean 0, var 1, count 1e-4) weighs 1e-4 of a sample.
    np.testing.assert_allclose(stats.mean, data.mean(0), rtol=1e-4)
    np.testing.assert_allclose(stats.var, data.var(0), rtol=1e-3)
    np.testing.assert_allclose(stats.count, 300 + 1e-4, rtol=1e-6)


def test_normalize_and_scale_against_numpy():
    data = np.random.RandomState(1).randn(50, 2).astype(np.float32) * 3.0 + 1.0
    stats = RunningMeanStd.create((2,)).update(data)
    x = np.array([[0.0, 100.0], [-1.0, 2.0]], np.float32)
    z = (x - data.mean(0)) / np.sqrt(data.var(0) + 1e-8)
    np.testing.assert_allclose(stats.normalize(x), z, rtol=1e-4)
    np.testing.assert_allclose(stats.normalize(x, clip=5.0), np.clip(z, -5, 5), rtol=1e-4)
    np.testing.assert_allclose(stats.scale(x, clip=5.0),
                               np.clip(x / np.sqrt(data.var(0) + 1e-8), -5, 5), rtol=1e-4)
