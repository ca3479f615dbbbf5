"""Fill strategies on hand-made arrays (numpy and torch), including recording starts for ffill."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modalbench.errors import ModalbenchError
from modalbench.scenarios.fill import ffill_stream, ffill_streams, fill, means_from_attrs
from modalbench.windows import cut_windows

NAN = np.nan


def series_batch() -> dict[str, np.ndarray]:
    # (B=2, L=4, C=2)
    a = np.array([[[1, 10], [2, NAN], [3, 30], [4, 40]], [[5, 50], [6, 60], [7, 70], [8, 80]]], dtype=np.float32)
    img = np.arange(2 * 2 * 2 * 2, dtype=np.float32).reshape(2, 2, 2, 2)  # (B, C, H, W)
    return {"acc": a, "cam": img}


MEANS = {"acc": np.array([0.5, -0.5]), "cam": np.array([100.0, 200.0])}


def test_none_leaves_values_untouched() -> None:
    x = series_batch()
    out = fill(x, np.array([[False, False], [True, True]]), "none")
    assert out["acc"] is x["acc"] and out["cam"] is x["cam"]


def test_zero_and_mean_whole_modality_and_natural_nan() -> None:
    x = series_batch()
    avail = np.array([[True, False], [False, True]])
    z = fill(x, avail, "zero", means=MEANS)
    assert z["acc"][0, 1, 1] == 0 and z["acc"][0, 0, 0] == 1  # natural NaN filled, present value kept
    assert np.all(z["acc"][1] == 0) and np.all(z["cam"][0] == 0)
    assert np.array_equal(z["cam"][1], x["cam"][1])
    m = fill(x, avail, "mean", means=MEANS)
    assert m["acc"][0, 1, 1] == pytest.approx(-0.5)
    assert np.allclose(m["acc"][1], [[0.5, -0.5]] * 4)  # channel-last for series
    assert np.allclose(m["cam"][0, 0], 100.0) and np.allclose(m["cam"][0, 1], 200.0)  # channel axis 1 for images
    assert m["acc"].dtype == np.float32
    assert np.isnan(x["acc"][0, 1, 1]), "inputs are not modified"


def test_timestep_mask_for_series() -> None:
    x = series_batch()
    avail = np.ones((2, 2), dtype=bool)
    tsm = np.ones((2, 4, 2), dtype=bool)
    tsm[1, 1:3, 0] = False
    tsm[0, :, 1] = False  # ignored for the image modality (no time axis), availability decides
    out = fill(x, avail, "zero", timestep_mask=tsm, means=MEANS)
    assert out["acc"][1, :, 0].tolist() == [5, 0, 0, 8] and out["acc"][1, :, 1].tolist() == [50, 0, 0, 80]
    assert np.array_equal(out["cam"], x["cam"])


def test_ffill_within_window_recording_start_and_history() -> None:
    x = series_batch()
    avail = np.ones((2, 2), dtype=bool)
    tsm = np.ones((2, 4, 2), dtype=bool)
    tsm[0, 0:2, 0] = False  # sample 0 starts with a gap: nothing observed yet
    tsm[1, 1:3, 0] = False  # sample 1: gap after an observed value
    out = fill(x, avail, "ffill", timestep_mask=tsm, means=MEANS)
    acc = out["acc"]
    assert acc[0, :, 0].tolist() == [0.5, 0.5, 3, 4]  # recording start -> channel mean
    assert acc[0, :, 1].tolist() == [-0.5, -0.5, 30, 40]  # the timestep mask covers every channel
    no_gap = fill(x, avail, "ffill", means=MEANS)["acc"]
    assert no_gap[0, :, 1].tolist() == [10, 10, 30, 40]  # natural NaN -> previous observed value
    assert acc[1, :, 0].tolist() == [5, 5, 5, 8]
    hist = {"acc": np.array([[9.0, NAN], [NAN, NAN]])}  # sample 0 has a value before the window (channel 0)
    out = fill(x, avail, "ffill", timestep_mask=tsm, means=MEANS, history=hist)
    assert out["acc"][0, :, 0].tolist() == [9, 9, 3, 4]
    # the unavailable image modality falls back to the mean (no time axis)
    img = fill(x, np.array([[True, False], [True, True]]), "ffill", means=MEANS)["cam"]
    assert np.allclose(img[0, 1], 200.0)


def test_ffill_whole_window_missing_uses_history_or_mean() -> None:
    x = series_batch()
    out = fill(
        x,
        np.array([[False, True], [True, True]]),
        "ffill",
        means=MEANS,
        history={"acc": np.array([[7.0, 70.0], [NAN, NAN]])},
    )
    assert np.all(out["acc"][0] == [[7.0, 70.0]] * 4)


def test_torch_tensors_match_numpy() -> None:
    x = series_batch()
    avail = np.array([[True, False], [False, True]])
    tsm = np.ones((2, 4, 2), dtype=bool)
    tsm[0, 0:2, 0] = False
    for strategy in ("zero", "mean", "ffill"):
        ref = fill(x, avail, strategy, means=MEANS, timestep_mask=tsm)
        got = fill(
            {k: torch.from_numpy(v) for k, v in x.items()},
            torch.from_numpy(avail),
            strategy,
            means=MEANS,
            timestep_mask=torch.from_numpy(tsm),
        )
        for k in ref:
            assert isinstance(got[k], torch.Tensor) and got[k].dtype == torch.float32
            assert np.allclose(got[k].numpy(), ref[k], equal_nan=True), (strategy, k)


def test_fill_errors() -> None:
    x = series_batch()
    with pytest.raises(ModalbenchError, match="unknown fill strategy"):
        fill(x, np.ones((2, 2), bool), "median")
    with pytest.raises(ModalbenchError, match=r"available must be \(B, 2\)"):
        fill(x, np.ones((2, 3), bool), "zero")
    with pytest.raises(ModalbenchError, match="training means of 'acc'"):
        fill(x, np.ones((2, 2), bool), "mean")
    with pytest.raises(ModalbenchError, match="2 channels"):
        fill(x, np.ones((2, 2), bool), "mean", means={"acc": [1.0, 2.0, 3.0], "cam": [0, 0]})


def test_ffill_stream_never_crosses_recordings() -> None:
    stream = np.array([[1], [2], [3], [4], [5], [6], [7]], dtype=np.float32)
    present = np.array([True, False, True, False, False, True, False])
    lengths = np.array([3, 4])  # recordings [0..2], [3..6]
    out = ffill_stream(stream, present, lengths, mean=np.array([0.25]))
    assert out[:, 0].tolist() == [1, 1, 3, 0.25, 0.25, 6, 6]
    stream[0, 0] = NAN  # natural NaN at the start of recording 0
    assert ffill_stream(stream, np.ones(7, bool), lengths, mean=np.array([0.25]))[0, 0] == 0.25
    with pytest.raises(ModalbenchError, match="sum to 6"):
        ffill_stream(stream, present, np.array([3, 3]), mean=np.array([0.0]))


def test_stream_windows_carry_values_across_window_starts() -> None:
    stream = np.arange(10, dtype=np.float32).reshape(10, 1)
    mask = np.ones((10, 2), dtype=bool)
    mask[3:7, 0] = False
    filled = ffill_streams({"a": stream, "b": stream * 10}, mask, np.array([10]), ["a", "b"], {"a": [0.0], "b": [0.0]})
    win = cut_windows(filled["a"], np.array([0, 4]), 3)
    assert win.shape == (2, 3, 1)
    assert win[1, :, 0].tolist() == [2, 2, 2]  # window starting inside the gap keeps the value from before it
    assert np.array_equal(filled["b"], stream * 10)


def test_means_from_attrs() -> None:
    attrs = {"modalities": [{"name": "a"}], "normalisation": {"a": {"scaled_mean": [0.1, 0.2]}}}
    assert means_from_attrs(attrs)["a"].tolist() == pytest.approx([0.1, 0.2])
    with pytest.raises(ModalbenchError, match="scaled_mean"):
        means_from_attrs({"modalities": [{"name": "b"}], "normalisation": {}})


def test_integer_masks_are_read_as_bool() -> None:
    x = series_batch()
    ref = fill(x, np.array([[True, False], [False, True]]), "zero")
    got = fill(x, np.array([[1, 0], [0, 1]]), "zero")
    tgot = fill({k: torch.from_numpy(v) for k, v in x.items()}, torch.tensor([[1, 0], [0, 1]]), "zero")
    for k in ref:
        assert np.array_equal(got[k], ref[k]) and np.array_equal(tgot[k].numpy(), ref[k])


def test_package_level_fill_is_the_function_even_after_the_submodule_import():
    import subprocess
    import sys

    code = (
        "import modalbench.scenarios.fill\n"
        "from modalbench.scenarios import fill\n"
        "assert callable(fill) and fill.__name__ == 'fill', fill\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mean_fill_of_skeleton_and_video_uses_their_channel_axes() -> None:
    skel = np.ones((2, 3, 2, 4, 3), dtype=np.float32)  # (B, T, bodies, joints, xyz): channels last
    clip = np.ones((2, 2, 3, 4, 4), dtype=np.float32)  # (B, T, C, H, W): channels on axis 2
    means = {"skel": np.array([1.0, 2.0, 3.0]), "clip": np.array([10.0, 20.0, 30.0])}
    out = fill(
        {"skel": skel, "clip": clip},
        np.array([[False, False], [True, True]]),
        "mean",
        means=means,
        kinds={"skel": "skeleton", "clip": "video"},
    )
    assert out["skel"][0, ..., 0].min() == 1.0 and np.all(out["skel"][0, ..., 2] == 3.0)
    assert np.all(out["clip"][0, :, 1] == 20.0) and np.all(out["clip"][0, :, 2] == 30.0)
    assert np.all(out["skel"][1] == 1.0) and np.all(out["clip"][1] == 1.0)
