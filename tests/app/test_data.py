"""The data commands' presentation: value ranges as the reader yields them."""

from __future__ import annotations

import pytest

from modalbench.app.data import reader_range

FLOAT_STATS = {"method": "standard", "min": [-2.0, -1.0], "max": [3.0, 1.0], "mean": [0.5, 1.5]}
UINT8_STATS = {
    "method": "reader_scale",
    "reader_scale": 1 / 255,
    "min": [0.0, 3.0],
    "max": [255.0, 128.0],
    "mean": [33.0, 40.0],
    "scaled_mean": [33.0 / 255, 40.0 / 255],
}


def test_reader_range_of_a_float_store_is_the_recorded_range() -> None:
    assert reader_range(FLOAT_STATS) == (-2.0, 3.0, 1.0)


def test_reader_range_of_a_uint8_store_is_scaled_like_the_reader() -> None:
    lo, hi, mean = reader_range(UINT8_STATS)
    assert (lo, hi) == (0.0, pytest.approx(1.0))
    assert mean == pytest.approx((33.0 + 40.0) / 2 / 255)
