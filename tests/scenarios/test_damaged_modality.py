"""damaged-modality@v1 (DMF Table 1): element-level damage regenerated from the seed and checked by sha256."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.scenario_stores import make_image_store, make_series_store
from modalbench.errors import ModalbenchError
from modalbench.scenarios import ScenarioIntegrityError, ensure_scenario, get_scenario, load_scenario
from modalbench.scenarios.damaged_modality import contiguous_damage, random_damage
from modalbench.scenarios.rng import make_rng


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("img")
    return root, make_image_store(root, n_modalities=2, counts=(20, 10, 50))


def test_conditions_per_modality_rate_and_alone(images) -> None:
    _, ds = images
    scen = get_scenario("damaged-modality").generate(ds, seed=3)
    ids = [c["id"] for c in scen.conditions]
    assert ids[:5] == [f"damage-v0-d{d:.2f}" for d in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert ids[5:10] == [f"damage-v0-d{d:.2f}-alone" for d in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert len(ids) == 20 and ids[10] == "damage-v1-d0.10"
    table = scen.arrays["condition_table"]
    assert (
        table[0].tolist() == [True, True] and table[5].tolist() == [True, False] and table[15].tolist() == [False, True]
    )
    assert scen.kind == "element" and list(scen.arrays) == ["condition_table", "natural_available"]
    for c in scen.conditions:  # 16 features per sample: exactly round(d * 16) damaged
        assert c["achieved_rate"] == pytest.approx(max(1, round(c["damage_rate"] * 16)) / 16)


def test_random_damage_exact_count_per_sample_and_seeded() -> None:
    a = random_damage(make_rng(5, 3, 0), 200, (1, 8, 4), 0.3)
    assert a.shape == (200, 1, 8, 4) and (a.reshape(200, -1).sum(axis=1) == round(0.3 * 32)).all()
    assert np.array_equal(a, random_damage(make_rng(5, 3, 0), 200, (1, 8, 4), 0.3))
    assert not np.array_equal(a, random_damage(make_rng(6, 3, 0), 200, (1, 8, 4), 0.3))
    # every element is damaged about equally often (uniform choice)
    freq = random_damage(make_rng(1, 3, 0), 4000, (32,), 0.5).mean(axis=0)
    assert np.abs(freq - 0.5).max() < 0.05


def test_contiguous_damage_is_one_rectangle() -> None:
    m = contiguous_damage(make_rng(0, 3, 1), 300, (2, 8, 8), 0.25)
    assert m.shape == (300, 2, 8, 8) and np.array_equal(m[:, 0], m[:, 1])
    for s in m[:, 0]:
        rows, cols = np.flatnonzero(s.any(axis=1)), np.flatnonzero(s.any(axis=0))
        assert s.sum() == 16 and rows.size == 4 and cols.size == 4  # h = round(0.5 * 8), w = 16 / 4
        assert np.ptp(rows) == 3 and np.ptp(cols) == 3
    tops = {int(np.flatnonzero(s.any(axis=1))[0]) for s in m[:, 0]}
    assert tops == set(range(5)), "every top position that keeps the rectangle inside is drawn"


def test_contiguous_refused_for_series(tmp_path) -> None:
    ds = make_series_store(tmp_path, n_modalities=2)
    with pytest.raises(ModalbenchError, match="region=contiguous needs image or spectrogram modalities"):
        get_scenario("damaged-modality").generate(ds, seed=0, region="contiguous")
    scen = get_scenario("damaged-modality").generate(ds, seed=0, rates=[0.5], alone=False)
    assert [c["id"] for c in scen.conditions] == ["damage-s0-d0.50", "damage-s1-d0.50"]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"rates": [1.5]}, "rates: 1.5 is not a number in"),
        ({"region": "left"}, "region must be one of random, contiguous"),
        ({"value": "nan"}, "value must be one of zero, fill"),
        ({"alone": "yes"}, "alone must be true or false"),
    ],
)
def test_bad_parameters_are_one_line(images, params, match) -> None:
    with pytest.raises(ModalbenchError, match=match) as info:
        get_scenario("damaged-modality").generate(images[1], seed=0, **params)
    assert "\n" not in str(info.value)


def test_reader_regenerates_and_applies(images) -> None:
    root, ds = images
    ensure_scenario(ds, root, "damaged-modality", seed=1)
    r = load_scenario(root, "toy-images", "damaged-modality", seed=1, version="v1")
    n = r.sample_range[1] - r.sample_range[0]
    x = {f"v{j}": np.ones((n, 1, 4, 4), np.float32) for j in range(2)}
    c = [cond["id"] for cond in r.conditions].index("damage-v1-d0.50")
    out = r.apply_elements(c, x, ["v0", "v1"])
    assert np.array_equal(out["v0"], x["v0"]) and out["v0"] is x["v0"]
    assert ((out["v1"] == 0).reshape(n, -1).sum(axis=1) == 8).all()
    assert np.array_equal(x["v1"], np.ones_like(x["v1"])), "inputs are never modified"
    assert r.availability(c, r.sample_indices()).all()
    alone = [cond["id"] for cond in r.conditions].index("damage-v1-d0.50-alone")
    assert r.availability(alone, r.sample_indices())[:, 0].sum() == 0


def test_fill_value_marks_damage_missing(images) -> None:
    root, ds = images
    ensure_scenario(ds, root, "damaged-modality", seed=2, value="fill", rates=[0.5], alone=False)
    r = load_scenario(root, "toy-images", "damaged-modality", seed=2, version="v1")
    n = r.sample_range[1] - r.sample_range[0]
    out = r.apply_elements(
        0, {"v0": np.ones((n, 1, 4, 4), np.float32), "v1": np.ones((n, 1, 4, 4), np.float32)}, ["v0", "v1"]
    )
    assert (np.isnan(out["v0"]).reshape(n, -1).sum(axis=1) == 8).all()


def test_edited_rule_is_refused(images, tmp_path) -> None:
    root, ds = images
    res = ensure_scenario(ds, root, "damaged-modality", seed=4)
    man = json.loads((res.path / "manifest.json").read_text())
    man["conditions"][0]["elements_sha256"] = "0" * 64
    (res.path / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ScenarioIntegrityError, match="does not match its sha256"):
        load_scenario(root, "toy-images", "damaged-modality", seed=4, version="v1")
    r = load_scenario(root, "toy-images", "damaged-modality", seed=4, version="v1", verify=False)
    with pytest.raises(ScenarioIntegrityError, match="regenerates element arrays with sha256"):
        r.elements(0)
