import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modalbench.errors import ModalbenchError
from modalbench.preprocess.windowing import window_available, window_labels, window_offsets
from modalbench.windows import WindowSet, concat_all, cut_windows, select_all


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
    for w in (cut_windows(x, offs, 15), WindowSet(x, offs, 15)[np.arange(len(offs))]):
        assert w.shape == (len(offs), 15, 3) and w.flags.c_contiguous
        for i, o in enumerate(offs):
            np.testing.assert_array_equal(w[i], x[o : o + 15])


def test_window_set_select_and_concat_keep_windows():
    x = np.arange(60 * 2, dtype=np.float32).reshape(60, 2)
    y = -np.arange(40 * 2, dtype=np.float32).reshape(40, 2)
    starts_a, starts_b = np.array([0, 10, 45]), np.array([3, 25])
    a = {"p": WindowSet(x, starts_a, 15), "q": WindowSet(2 * x, starts_a, 15)}
    b = {"p": WindowSet(y, starts_b, 15), "q": WindowSet(2 * y, starts_b, 15)}
    both = concat_all([select_all(a, [2, 0]), b])
    assert both["p"].starts is both["q"].starts  # modalities keep sharing one starts array
    expected = np.stack([x[45:60], x[0:15], y[3:18], y[25:40]])
    np.testing.assert_array_equal(np.asarray(both["p"]), expected)
    np.testing.assert_array_equal(both["q"][[3, 1]], 2 * expected[[3, 1]])
    out = np.empty((2, 15, 2), np.float32)
    both["p"].take_into([3, 1], out)
    np.testing.assert_array_equal(out, expected[[3, 1]])
    assert both["p"].shape == (4, 15, 2) and len(both["p"]) == 4


def test_cut_windows_rejects_rows_outside_the_block():
    with pytest.raises(ModalbenchError, match="outside the 20 stream rows"):
        cut_windows(np.zeros((20, 1), np.float32), np.array([0, 6]), 15)


@given(st.integers(15, 80), st.integers(1, 9), st.floats(0, 1), st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_window_available_equals_the_materialised_check(length, step, nan_rate, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(length, 3)).astype(np.float32)
    x[rng.random(length) < nan_rate] = np.nan  # whole rows missing, as a sensor dropout
    x[rng.random((length, 3)) < nan_rate / 2] = np.nan
    offs = window_offsets(length, 15, step)
    windows = np.stack([x[o : o + 15] for o in offs]) if len(offs) else np.zeros((0, 15, 3), np.float32)
    expected = ~np.isnan(windows).all(axis=(1, 2))
    np.testing.assert_array_equal(window_available(x, offs, 15), expected)


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
