"""block-missing@v1: rates, block lengths, recording boundaries, train untouched, window mapping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.scenario_stores import make_image_store, make_series_store
from modalbench.errors import ModalbenchError
from modalbench.meta import SPLIT_CODES
from modalbench.scenarios import get_scenario
from modalbench.scenarios.block_missing import draw_block_masks
from modalbench.scenarios.rng import make_rng


def rebuild(lengths: np.ndarray, m: int, blocks: np.ndarray) -> np.ndarray:
    starts = np.cumsum(lengths) - lengths
    present = np.ones((m, int(lengths.sum())), dtype=bool)
    for mod, rec, start, length in blocks:
        present[mod, starts[rec] + start : starts[rec] + start + length] = False
    return present


@settings(max_examples=40, deadline=None)
@given(
    lmin=st.integers(1, 20),
    extra=st.integers(0, 30),
    m=st.integers(1, 6),
    n_rec=st.integers(1, 4),
    rate=st.sampled_from([round(0.1 * i, 1) for i in range(1, 10)]),
    seed=st.integers(0, 2**31),
    data=st.data(),
)
def test_block_masks_properties(lmin: int, extra: int, m: int, n_rec: int, rate: float, seed: int, data) -> None:
    lmax = lmin + extra
    # streams long enough that one block is at most 1 % of all modality-timesteps
    min_len = max(lmax, -(-100 * lmax // (m * n_rec)))
    lengths = np.array(data.draw(st.lists(st.integers(min_len, min_len + 300), min_size=n_rec, max_size=n_rec)))
    present, blocks = draw_block_masks(
        lengths, m, rate, min_length=lmin, max_length=lmax, tolerance=0.01, rng=make_rng(seed)
    )
    achieved = (~present).sum() / present.size
    assert rate - 1e-12 <= achieved <= rate + 0.01 + 1e-12
    assert np.all((blocks[:, 3] >= lmin) & (blocks[:, 3] <= lmax)), "block lengths within [L_min, L_max]"
    assert np.all(blocks[:, 2] >= 0) and np.all(blocks[:, 2] + blocks[:, 3] <= lengths[blocks[:, 1]]), (
        "no block crosses a recording boundary"
    )
    assert np.all((blocks[:, 0] >= 0) & (blocks[:, 0] < m))
    assert np.array_equal(present, rebuild(lengths, m, blocks)), "mask is exactly the union of the blocks"


def test_short_recordings_clip_blocks() -> None:
    lengths = np.array([4, 500])
    present, blocks = draw_block_masks(lengths, 2, 0.5, min_length=8, max_length=20, tolerance=0.01, rng=make_rng(1))
    assert np.all(blocks[:, 2] + blocks[:, 3] <= lengths[blocks[:, 1]])
    short = blocks[blocks[:, 1] == 0]
    assert np.all(short[:, 3] == 4)  # clipped to the whole short recording
    assert 0.5 - 1e-12 <= 1 - present.mean() <= 0.51 + 1e-12


def test_unreachable_tolerance_is_a_clear_error() -> None:
    with pytest.raises(ModalbenchError, match="cannot reach rate 0.1"):
        draw_block_masks(np.array([60]), 1, 0.1, min_length=50, max_length=50, tolerance=0.01, rng=make_rng(0))


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory):
    recs = ((900, "train"), (700, "test"), (300, "val"), (1100, "test"), (800, "train"), (400, "test"))
    return make_series_store(
        tmp_path_factory.mktemp("series"),
        n_modalities=4,
        window=10,
        step=7,
        recordings=recs,
        block=(20, 60),
        unavailable={3: [2]},
    )


@pytest.fixture(scope="module")
def scen(series):
    return get_scenario("block-missing@v1").generate(series, seed=3)


def test_rates_and_train_untouched(series, scen) -> None:
    rec_split = series["recording_split"].values
    test_recs = np.flatnonzero(rec_split == SPLIT_CODES["test"])
    assert scen.arrays["recordings"].tolist() == test_recs.tolist()
    lengths = series["recording_length"].values[test_recs]
    assert scen.arrays["stream_masks"].shape == (9, int(lengths.sum()), 4)
    blocks = scen.arrays["blocks"]
    assert set(blocks[:, 2].tolist()) <= set(range(len(test_recs))), "blocks only in test recordings"
    for ri, cond in enumerate(scen.conditions):
        r = cond["missing_rate"]
        sm = scen.arrays["stream_masks"][ri]
        assert r - 1e-12 <= 1 - sm.mean() <= r + 0.01 + 1e-12
        assert cond["achieved_rate"] == pytest.approx(1 - sm.mean(), abs=1e-6)
        mine = blocks[blocks[:, 0] == ri]
        assert len(mine) == cond["n_blocks"]
        assert np.all((mine[:, 4] >= 20) & (mine[:, 4] <= 60))
        assert np.array_equal(sm.T, rebuild(lengths, 4, mine[:, 1:]))
    assert scen.sample_range == tuple(series.attrs["split_ranges"]["test"])


def test_window_mapping(series, scen, tmp_path) -> None:
    from modalbench.scenarios import ensure_scenario, load_scenario

    root = tmp_path
    # write the same store under a fresh root so the artifact and reader run end to end
    ds = make_series_store(
        root,
        n_modalities=4,
        window=10,
        step=7,
        recordings=((900, "train"), (700, "test"), (300, "val"), (1100, "test"), (800, "train"), (400, "test")),
        block=(20, 60),
        unavailable={3: [2]},
    )
    res = ensure_scenario(ds, root, "block-missing", seed=3)
    assert res.sha256 == scen.sha256
    reader = load_scenario(root, "toy-series", "block-missing@v1", 3, version="v1")
    idx = reader.sample_indices()
    rec = ds["recording"].values[idx]
    off = ds["offset"].values[idx]
    test_recs = reader._get("recordings")
    local_start = np.cumsum(ds["recording_length"].values[test_recs]) - ds["recording_length"].values[test_recs]
    for c in (0, 4, 8):
        sm = scen.arrays["stream_masks"][c]
        tm = reader.timestep_mask(c, idx, natural=False)
        assert tm.shape == (idx.size, 10, 4)
        for b in (0, 5, idx.size - 1):
            pos = local_start[np.searchsorted(test_recs, rec[b])] + off[b]
            assert np.array_equal(tm[b], sm[pos : pos + 10])
        avail = reader.availability(c, idx, natural=False)
        assert np.array_equal(avail, tm.any(axis=1)), "unavailable only when the whole window span is removed"
        nat = reader.availability(c, idx)
        assert not nat[3, 2] and np.array_equal(nat, avail & ds["available"].values[idx])
        assert not reader.timestep_mask(c, idx)[3, :, 2].any()
    assert reader.availability(8, idx).mean() < reader.availability(0, idx).mean()
    with pytest.raises(ModalbenchError, match="range"):
        reader.availability(0, np.array([0]))


def test_not_applicable_to_images(tmp_path) -> None:
    ds = make_image_store(tmp_path, name="pictures")
    with pytest.raises(
        ModalbenchError, match="block-missing does not apply to pictures: it has no continuous recordings"
    ):
        get_scenario("block-missing").generate(ds, seed=0)


def test_block_lengths_required_and_overridable(tmp_path) -> None:
    ds = make_series_store(tmp_path, block=None)
    with pytest.raises(ModalbenchError, match="params.block_missing"):
        get_scenario("block-missing").generate(ds, seed=0)
    scen = get_scenario("block-missing").generate(ds, seed=0, min_length=3, max_length=4, rates=[0.3])
    assert np.all(np.isin(scen.arrays["blocks"][:, 4], [3, 4]))
    with pytest.raises(ModalbenchError, match="min_length 9 > max_length 4"):
        get_scenario("block-missing").generate(ds, seed=0, min_length=9, max_length=4)


def test_val_split_uses_val_recordings(series) -> None:
    scen = get_scenario("block-missing").generate(series, seed=0, split="val", rates=[0.2])
    assert scen.arrays["recordings"].tolist() == [2]
    with pytest.raises(ModalbenchError, match="train"):
        get_scenario("block-missing").generate(series, seed=0, split="train")
