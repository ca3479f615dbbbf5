"""Partial moments: the NaN-free fast path gives partial_stats' numbers bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from modalbench.moments import finite_partial_stats, partial_stats


@pytest.mark.parametrize("rows", [0, 1, 15, 16, 17, 1000, 4099])
@pytest.mark.parametrize("columns", [slice(1, 22), slice(22, 29), slice(0, 29)])
def test_finite_partial_stats_equal_partial_stats_bit_for_bit(rows, columns):
    rng = np.random.default_rng(rows)
    block = (rng.standard_normal((rows, 29)) * rng.uniform(0.1, 100, 29) + rng.uniform(-5, 5, 29)).astype(np.float32)
    view = block[:, columns]  # strided, as the HIGGS loader passes it
    expected, got = partial_stats(view), finite_partial_stats(view)
    assert set(got) == set(expected)
    for key in expected:
        assert got[key].dtype == expected[key].dtype and got[key].tobytes() == expected[key].tobytes(), key


def test_finite_partial_stats_leave_the_input_alone():
    block = np.arange(60, dtype=np.float32).reshape(20, 3)
    before = block.copy()
    finite_partial_stats(block)
    np.testing.assert_array_equal(block, before)
