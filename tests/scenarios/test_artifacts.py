"""Scenario artifacts: determinism (also across PYTHONHASHSEED), checksums, no-op re-runs, regeneration, reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import zarr

from helpers.scenario_stores import make_image_store, make_series_store
from modalbench.errors import ModalbenchError
from modalbench.scenarios import (
    ensure_scenario,
    generate_scenarios,
    get_scenario,
    list_artifacts,
    load_scenario,
    masks_sha256,
    scenario_sha256,
)
from modalbench.scenarios.artifacts import MASKS, artifact_dir

FAMILIES = [
    "full@v1",
    "missing-modalities@v1",
    "random-missing@v1",
    "block-missing@v1",
    "damaged-modality@v1",
    "noisy-modality@v1",
    "train-missing@v1",
]
SNIPPET = """
import json, sys
from modalbench.store import open_store
from modalbench.scenarios import get_scenario
ds = open_store(sys.argv[2], root=sys.argv[1], version="v1")
split = lambda f: "train" if f.startswith("train-") else "test"
print(json.dumps({f: get_scenario(f).generate(ds, seed=7, split=split(f)).sha256 for f in sys.argv[3:]}))
"""


def _split(family: str) -> str:
    """Training scenarios are generated on the train split, the others on test."""
    return "train" if family.startswith("train-") else "test"


@pytest.fixture()
def series(tmp_path):
    return tmp_path, make_series_store(tmp_path, n_modalities=5, unavailable={1: [0, 3]})


def test_generation_is_deterministic(series, tmp_path_factory) -> None:
    root, ds = series
    other = make_series_store(tmp_path_factory.mktemp("again"), n_modalities=5, unavailable={1: [0, 3]})
    assert other.attrs["fingerprint"] == ds.attrs["fingerprint"]
    for fam in FAMILIES:
        a = get_scenario(fam).generate(ds, seed=7, split=_split(fam))
        b = get_scenario(fam).generate(other, seed=7, split=_split(fam))
        assert a.sha256 == b.sha256
        assert list(a.arrays) == list(b.arrays)
        for name in a.arrays:
            assert a.arrays[name].tobytes() == b.arrays[name].tobytes()
        c = get_scenario(fam).generate(ds, seed=8, split=_split(fam))
        if fam not in ("full@v1", "missing-modalities@v1"):  # M = 5: missing-modalities takes every subset
            assert c.sha256 != a.sha256, f"{fam}: the seed must matter"


def test_same_sha256_in_subprocess_with_other_hashseed(series) -> None:
    root, ds = series
    here = {f: get_scenario(f).generate(ds, seed=7, split=_split(f)).sha256 for f in FAMILIES}
    for hashseed, threads in (("0", "1"), ("12345", "2")):
        env = dict(os.environ, PYTHONHASHSEED=hashseed, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
        out = subprocess.run(
            [sys.executable, "-c", SNIPPET, str(root), "toy-series", *FAMILIES],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert json.loads(out.stdout.strip().splitlines()[-1]) == here


def test_sha256_definition_is_canonical() -> None:
    a = {"x": np.array([[True, False]]), "y": np.arange(3, dtype=">i8")}
    b = {"x": np.asfortranarray(np.array([[True, False]])), "y": np.arange(3, dtype="<i8")}
    assert masks_sha256(a) == masks_sha256(b)
    assert masks_sha256(a) != masks_sha256({"y": a["y"], "x": a["x"]}), "array order is part of the checksum"
    assert masks_sha256(a) != masks_sha256({"x": a["x"].reshape(2, 1), "y": a["y"]}), "shape is part of it"


def test_artifact_layout_and_noop_rerun(series) -> None:
    root, ds = series
    first = ensure_scenario(ds, root, "missing-modalities@v1", seed=2)
    assert first.status == "created"
    assert first.path == root / "toy-series" / "v1" / "scenarios" / "missing-modalities@v1" / "seed-2"
    assert sorted(p.name for p in first.path.iterdir()) == ["manifest.json", "masks.zarr"]
    assert not list(first.path.parent.glob("*.incomplete"))
    man = json.loads((first.path / "manifest.json").read_text())
    assert man["family"] == "missing-modalities" and man["version"] == "v1" and man["seed"] == 2
    assert man["dataset"] == {"name": "toy-series", "version": "v1", "fingerprint": ds.attrs["fingerprint"]}
    assert man["params"] == {"cap": 1000} and man["split"] == "test" and man["n_conditions"] == 31
    assert [a["name"] for a in man["arrays"]] == ["condition_table", "natural_available"]
    stored = zarr.open_group(str(first.path / MASKS), mode="r")
    assert scenario_sha256(man, {a["name"]: stored[a["name"]][...] for a in man["arrays"]}) == man["sha256"]
    mtime = (first.path / "manifest.json").stat().st_mtime_ns
    again = ensure_scenario(ds, root, "missing-modalities@v1", seed=2)
    assert again.status == "exists" and again.sha256 == first.sha256
    assert (first.path / "manifest.json").stat().st_mtime_ns == mtime


def test_new_fingerprint_or_corruption_regenerates(series) -> None:
    root, ds = series
    first = ensure_scenario(ds, root, "random-missing", seed=0)
    changed = make_series_store(root, n_modalities=5, unavailable={1: [0, 3]}, tag="other")  # same data, new params
    assert changed.attrs["fingerprint"] != ds.attrs["fingerprint"]
    second = ensure_scenario(changed, root, "random-missing", seed=0)
    assert second.status == "regenerated"
    assert second.manifest["dataset"]["fingerprint"] == changed.attrs["fingerprint"]
    # the masks depend on the data layout and seed only; the sha256 also covers the dataset fingerprint
    np.testing.assert_array_equal(
        load_scenario(root, "toy-series", "random-missing", 0, version="v1")._get("masks"),
        get_scenario("random-missing").generate(ds, seed=0).arrays["masks"],
    )
    assert second.sha256 != first.sha256
    arr = zarr.open_group(str(second.path / MASKS), mode="r+")["masks"]
    arr[0, 0, 0] = not bool(arr[0, 0, 0])
    with pytest.raises(
        ModalbenchError, match="does not match its sha256.*modalbench scenarios toy-series --family random-missing"
    ):
        load_scenario(root, "toy-series", "random-missing", 0, version="v1")
    third = ensure_scenario(changed, root, "random-missing", seed=0, on_corrupt="regenerate")
    assert third.status == "repaired" and third.sha256 == second.sha256 and "sha256" in third.reason
    assert load_scenario(root, "toy-series", "random-missing", 0, version="v1").sha256 == second.sha256


def test_val_artifacts_live_apart(series) -> None:
    root, ds = series
    test = ensure_scenario(ds, root, "full", seed=0)
    val = ensure_scenario(ds, root, "full", seed=0, split="val")
    assert val.path.name == "seed-0-val" and test.path.name == "seed-0"
    assert val.manifest["split"] == "val" and val.manifest["sample_range"] == ds.attrs["split_ranges"]["val"]
    assert artifact_dir(root, "toy-series", "v1", "full@v1", 0, "val") == val.path
    with pytest.raises(ModalbenchError, match="train"):
        ensure_scenario(ds, root, "full", seed=0, split="train")
    listed = list_artifacts(root, "toy-series", "v1")
    assert {(r["scenario"], r["split"]) for r in listed} == {("full@v1", "test"), ("full@v1", "val")}


def test_reader_condition_families(tmp_path) -> None:
    ds = make_image_store(tmp_path, n_modalities=3, counts=(10, 10, 50), unavailable_rate=0.3)
    results = generate_scenarios(tmp_path, "toy-images", version="v1", seed=1)
    by_id = {r.scenario_id: r for r in results}
    assert by_id["block-missing@v1"].reason.startswith("block-missing does not apply to toy-images")
    reader = load_scenario(tmp_path, "toy-images", "missing-modalities", 1, version="v1")  # the standard, v2
    assert reader.scenario_id == "missing-modalities@v2"
    assert reader.n_conditions == 7 and reader.condition_table.shape == (7, 3)
    idx = reader.sample_indices()
    natural = ds["available"].values[idx]
    for c in range(7):
        got = reader.availability(c, idx)
        assert got.shape == (50, 3)
        assert np.array_equal(got, reader.condition_table[c][None, :] & natural)
        assert np.array_equal(
            reader.availability(c, idx, natural=False), np.broadcast_to(reader.condition_table[c], (50, 3))
        )
    with pytest.raises(ModalbenchError, match="block-missing"):
        reader.timestep_mask(0, idx)
    with pytest.raises(ModalbenchError, match="out of range"):
        reader.availability(7, idx)
    rm = load_scenario(tmp_path, "toy-images", "random-missing", 1, version="v1")
    assert rm.condition_table is None
    masks = zarr.open_group(str(rm.path / MASKS), mode="r")["masks"]
    assert np.array_equal(rm.availability(5, idx[10:20], natural=False), masks[5][10:20])
    rm.check_dataset(ds)
    with pytest.raises(ModalbenchError, match="not generated"):
        load_scenario(tmp_path, "toy-images", "full", 99, version="v1")
    with pytest.raises(ModalbenchError, match="does not apply"):
        generate_scenarios(tmp_path, "toy-images", ["block-missing"], version="v1")


def _edit_manifest(path, edit) -> None:
    man = json.loads((path / "manifest.json").read_text())
    edit(man)
    (path / "manifest.json").write_text(json.dumps(man, indent=2))


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["conditions"][0].update(id="all-but-one"),
        lambda m: m["conditions"][1].update(description="something else"),
        lambda m: m.update(modalities=list(reversed(m["modalities"]))),
        lambda m: m.update(sample_range=[m["sample_range"][0] + 1, m["sample_range"][1]]),
    ],
)
def test_an_edited_manifest_fails_its_sha256(series, edit) -> None:
    root, ds = series
    res = ensure_scenario(ds, root, "missing-modalities", seed=0)
    _edit_manifest(res.path, edit)
    with pytest.raises(ModalbenchError, match="does not match its sha256"):
        load_scenario(root, "toy-series", "missing-modalities", 0, version="v1")


def test_the_sha256_covers_manifest_fields_and_masks(series) -> None:
    root, ds = series
    scen = get_scenario("missing-modalities").generate(ds, seed=0)
    man = scen.manifest()
    assert man["sha256"] == scenario_sha256(man, scen.arrays) == scen.sha256
    other = json.loads(json.dumps(man))
    other["conditions"][0]["description"] = "edited"
    assert scenario_sha256(other, scen.arrays) != man["sha256"]
    other = dict(man, modalbench_version="9.9", sha256="0" * 64)  # outside the checksum
    assert scenario_sha256(other, scen.arrays) == man["sha256"]


def test_evaluation_refuses_corrupt_masks_and_names_the_command(series) -> None:
    root, ds = series
    first = ensure_scenario(ds, root, "random-missing", seed=3)
    arr = zarr.open_group(str(first.path / MASKS), mode="r+")["masks"]
    arr[0, 0, 0] = not bool(arr[0, 0, 0])
    mtime = (first.path / "manifest.json").stat().st_mtime_ns
    # what evaluate calls: generate_scenarios (default on_corrupt="refuse") then load_scenario
    with pytest.raises(ModalbenchError) as err:
        generate_scenarios(root, "toy-series", ["random-missing"], seed=3, version="v1")
    msg = str(err.value)
    assert "\n" not in msg and str(first.path) in msg
    assert "run: modalbench scenarios toy-series --family random-missing --seed 3" in msg
    assert (first.path / "manifest.json").stat().st_mtime_ns == mtime, "nothing was regenerated silently"
    with pytest.raises(ModalbenchError, match="--family random-missing --seed 3"):
        load_scenario(root, "toy-series", "random-missing", 3, version="v1")
    # the scenarios command regenerates and says so
    fixed = generate_scenarios(root, "toy-series", ["random-missing"], seed=3, version="v1", on_corrupt="regenerate")
    assert fixed[0].status == "repaired" and fixed[0].sha256 == first.sha256
    assert load_scenario(root, "toy-series", "random-missing", 3, version="v1").sha256 == first.sha256


def test_undecodable_masks_and_broken_manifest_are_one_line(series) -> None:
    root, ds = series
    res = ensure_scenario(ds, root, "random-missing", seed=0)
    for chunk in (res.path / MASKS / "masks").rglob("*"):
        if chunk.is_file() and chunk.name != "zarr.json":
            chunk.write_bytes(b"\xff" * 64)
    with pytest.raises(ModalbenchError) as err:
        load_scenario(root, "toy-series", "random-missing", 0, version="v1")
    assert "\n" not in str(err.value) and "'masks'" in str(err.value) and "modalbench scenarios" in str(err.value)
    (res.path / "manifest.json").write_text('{"scenario": "random-missing@v1", "scenario": "full@v1"}')
    with pytest.raises(ModalbenchError, match="duplicate key 'scenario'.*run: modalbench scenarios toy-series"):
        ensure_scenario(ds, root, "random-missing", seed=0)


def test_scenario_checks_run_once_per_family(series, monkeypatch) -> None:
    root, ds = series
    fam = get_scenario("block-missing")
    calls = {"not_applicable": 0, "validate_params": 0}
    for name in calls:
        real = getattr(fam, name)

        def counted(*a, _real=real, _name=name, **k):
            calls[_name] += 1
            return _real(*a, **k)

        monkeypatch.setattr(fam, name, counted)
    generate_scenarios(root, "toy-series", ["block-missing"], seed=0, version="v1")
    assert calls == {"not_applicable": 1, "validate_params": 1}


def test_scenarios_command_reports_a_repair(series, capsys, monkeypatch) -> None:
    from modalbench.app.cli import main
    from modalbench.scenarios import generate
    from modalbench.store import open_store

    root, ds = series
    monkeypatch.setattr(
        generate,
        "open_store",  # toy-series is not a registered dataset
        lambda n, root=None, version=None: open_store(n, root=root, version="v1"),
    )
    res = ensure_scenario(ds, root, "full", seed=0)
    _edit_manifest(res.path, lambda m: m["conditions"][0].update(description="edited"))
    assert main(["scenarios", "toy-series", "--family", "full", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "regenerated" in out and "failed its checksum" in out
    assert load_scenario(root, "toy-series", "full", 0, version="v1").conditions[0]["description"] != "edited"
