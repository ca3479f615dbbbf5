import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dask.array as da

from modalbench.errors import ModalbenchError
from modalbench.preprocess.windowing import window_array, window_labels, window_offsets


@given(st.integers(0, 500), st.integers(1, 40), st.integers(1, 20))
@settings(max_examples=200, deadline=None)
def test_window_count_matches_formula(length, window, step):
    offs = window_offsets(length, window, step)
    expected = max(0, (length - window) // step + 1) if length >= window else 0
    assert len(offs) == expected
    assert np.all(offs + window <= length)
    if len(offs) > 1:
        assert np.all(np.diff(offs) == step)


def test_window_values_equal_stream_slices():
    x = np.arange(200 * 3, dtype=np.float32).reshape(200, 3)
    offs = window_offsets(200, 15, 8)
    w = window_array(da.from_array(x, chunks=(37, 3)), offs, 15).compute()
    assert w.shape == (len(offs), 15, 3)
    for i, o in enumerate(offs):
        np.testing.assert_array_equal(w[i], x[o : o + 15])


def test_label_rules():
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 0, 0, 0])
    offs = np.array([0, 5])
    assert window_labels(labels, offs, 5, "last").tolist() == [1, 0]
    assert window_labels(labels, offs, 5, "middle").tolist() == [1, 0]
    assert window_labels(labels, offs, 5, "mode").tolist() == [1, 0]
    # ties go to the smallest class
    assert window_labels(np.array([2, 2, 1, 1]), np.array([0]), 4, "mode").tolist() == [1]
    with pytest.raises(ModalbenchError, match="label rule"):
        window_labels(labels, offs, 5, "first")


def test_bad_window_parameters_are_clear():
    with pytest.raises(ModalbenchError, match="window length and step"):
        window_offsets(10, 0, 1)
