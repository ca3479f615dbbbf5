"""Histogram statistics of uint8 modalities: the same min/max/mean/std/count as the float64 reductions."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from modalbench.preprocess.normalise import channel_histogram, histogram_moments, histogram_stat_graph, stat_graph


def test_histogram_stats_equal_the_float_reductions_over_several_arrays_and_chunks():
    rng = np.random.default_rng(0)
    x = rng.integers(3, 251, (50, 3, 8, 5), dtype=np.uint8)
    arrays = [da.from_array(x[:20], chunks=(7, 3, 8, 5)), da.from_array(x[20:], chunks=(4, 3, 8, 5))]
    (hist,) = dask.compute(histogram_stat_graph(arrays, 1))
    (ref,) = dask.compute(stat_graph(arrays, 1))
    for key in ("min", "max", "mean", "std"):
        np.testing.assert_allclose(hist[key], ref[key], rtol=1e-12)
    np.testing.assert_array_equal(hist["count"], ref["count"])
    assert hist["min"].tolist() == [float(x[:, c].min()) for c in range(3)]


def test_histogram_of_a_block_counts_values_per_channel_and_an_empty_channel_is_nan():
    block = np.array([[[0, 255]], [[7, 7]]], dtype=np.uint8)  # (2 samples, 1 channel, 2 values)
    hist = channel_histogram(block, 1)
    assert hist.shape == (1, 256) and hist[0, 0] == 1 and hist[0, 7] == 2 and hist[0, 255] == 1
    empty = histogram_moments(np.zeros((1, 256), dtype=np.int64))
    assert np.isnan(empty["mean"]).all() and empty["count"].tolist() == [0]
