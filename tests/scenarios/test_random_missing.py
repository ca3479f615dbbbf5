"""random-missing@v1 (per-sample MCAR) and the family registry / split rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.scenario_stores import make_image_store, make_series_store
from modalbench.errors import ModalbenchError, UnknownNameError
from modalbench.scenarios import SCENARIOS, get_scenario
from modalbench.scenarios.random_missing import keep_at_least_one
from modalbench.scenarios.rng import make_rng


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory):
    return make_image_store(tmp_path_factory.mktemp("img"), n_modalities=4, counts=(20, 30, 600))


@pytest.fixture(scope="module")
def patchy(tmp_path_factory: pytest.TempPathFactory):
    return make_image_store(
        tmp_path_factory.mktemp("patchy"), n_modalities=3, counts=(20, 30, 300), unavailable_rate=0.4
    )


def test_registry_has_versioned_families() -> None:
    assert {"full@v1", "missing-modalities@v1", "random-missing@v1", "block-missing@v1"} <= set(SCENARIOS.names())
    assert get_scenario("random-missing").id == "random-missing@v1"
    with pytest.raises(UnknownNameError, match="random-missing"):
        get_scenario("random-mising")
    with pytest.raises(ModalbenchError, match="already registered"):
        SCENARIOS.add("full@v1", SCENARIOS.get("full@v1"))


def test_mcar_rates_within_binomial_tolerance(images) -> None:
    scen = get_scenario("random-missing@v1").generate(images, seed=4)
    masks = scen.arrays["masks"]
    n, m = images.attrs["n_samples"]["test"], 4
    assert masks.shape == (9 + 9 * m, n, m)
    for ci, cond in enumerate(scen.conditions[:9]):
        p = cond["missing_rate"]
        dropped = int((~masks[ci]).sum())
        expected = n * m * (p - p**m / m)  # one modality restored when all were dropped
        assert abs(dropped - expected) < 5 * math.sqrt(n * m * p * (1 - p)) + 1, (p, dropped, expected)
        assert masks[ci].any(axis=1).all()
        assert cond["id"] == f"mcar-p{p:.2f}"
        assert cond["achieved_rate"] == pytest.approx(dropped / (n * m), abs=1e-6)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**40), p=st.floats(0.05, 0.95))
def test_mcar_property_any_seed(images, seed: int, p: float) -> None:
    scen = get_scenario("random-missing@v1").generate(images, seed=seed, rates=[p], per_modality=False)
    mask = scen.arrays["masks"][0]
    n, m = mask.shape
    assert mask.any(axis=1).all(), "at least one modality kept"
    dropped = int((~mask).sum())
    expected = n * m * (p - p**m / m)
    assert abs(dropped - expected) < 5 * math.sqrt(n * m * p * (1 - p)) + 1


def test_per_modality_variant_drops_only_that_modality(images) -> None:
    scen = get_scenario("random-missing@v1").generate(images, seed=4)
    masks = scen.arrays["masks"]
    n = masks.shape[1]
    for ci, cond in enumerate(scen.conditions[9:], start=9):
        j = scen.modalities.index(cond["modality"])
        others = np.delete(masks[ci], j, axis=1)
        assert others.all()
        p = cond["missing_rate"]
        dropped = int((~masks[ci][:, j]).sum())
        assert abs(dropped - n * p) < 5 * math.sqrt(n * p * (1 - p)) + 1


def test_only_test_rows_and_natural_availability(patchy) -> None:
    scen = get_scenario("random-missing@v1").generate(patchy, seed=0)
    start, stop = patchy.attrs["split_ranges"]["test"]
    natural = np.asarray(patchy["available"].values[start:stop])
    assert scen.sample_range == (start, stop)
    assert np.array_equal(scen.arrays["natural_available"], natural)
    for ci in range(len(scen.conditions)):
        combined = scen.arrays["masks"][ci] & natural
        assert combined.any(axis=1).all(), "at least one modality actually available per sample"


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 50), m=st.integers(1, 6), seed=st.integers(0, 10_000), p=st.floats(0.0, 1.0))
def test_keep_at_least_one_property(n: int, m: int, seed: int, p: float) -> None:
    rng = np.random.default_rng(seed)
    natural = rng.random((n, m)) >= 0.3
    mask = rng.random((n, m)) >= p
    before = mask.copy()
    restored = keep_at_least_one(mask, natural, make_rng(seed))
    has_natural = natural.any(axis=1)
    assert (mask & natural).any(axis=1)[has_natural].all()
    changed = mask != before
    assert changed.sum() == restored and np.all(mask[changed])  # only restorations, one per fixed row
    assert np.all(changed.sum(axis=1) <= 1)
    assert np.all(natural[changed])


def test_single_modality_is_always_kept(tmp_path) -> None:
    ds = make_image_store(tmp_path, n_modalities=1, counts=(5, 5, 50))
    scen = get_scenario("random-missing@v1").generate(ds, seed=1)
    assert scen.arrays["masks"].all()


def test_train_split_refused_val_allowed(images) -> None:
    fam = get_scenario("random-missing@v1")
    with pytest.raises(ModalbenchError, match="never generated on the train split"):
        fam.generate(images, seed=0, split="train")
    with pytest.raises(ModalbenchError, match="unknown split"):
        fam.generate(images, seed=0, split="dev")
    val = fam.generate(images, seed=0, split="val")
    assert val.sample_range == tuple(images.attrs["split_ranges"]["val"])
    assert val.arrays["masks"].shape[1] == 30


def test_parameters_validated(images) -> None:
    fam = get_scenario("random-missing@v1")
    with pytest.raises(ModalbenchError, match="unknown parameter"):
        fam.generate(images, seed=0, rate=[0.5])
    with pytest.raises(ModalbenchError, match="not a number in"):
        fam.generate(images, seed=0, rates=[0.5, 1.5])
    scen = fam.generate(images, seed=0, rates=[0.25], per_modality=False)
    assert [c["id"] for c in scen.conditions] == ["mcar-p0.25"]


def test_full_and_missing_modalities_on_series(tmp_path) -> None:
    ds = make_series_store(tmp_path, n_modalities=3)
    full = get_scenario("full").generate(ds, seed=0)
    assert full.arrays["condition_table"].tolist() == [[True, True, True]]
    mm = get_scenario("missing-modalities").generate(ds, seed=0)
    assert [c["id"] for c in mm.conditions] == [
        "k01-0000",
        "k01-0001",
        "k01-0002",
        "k02-0000",
        "k02-0001",
        "k02-0002",
        "k03-0000",
    ]
    assert mm.conditions[3]["description"] == "missing: s2"
    with pytest.raises(ModalbenchError, match="cap must be a positive integer"):
        get_scenario("missing-modalities").generate(ds, seed=0, cap=0)


def test_seed_must_be_a_non_negative_integer(images) -> None:
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ModalbenchError, match="non-negative integer"):
            get_scenario("full").generate(images, seed=bad)
