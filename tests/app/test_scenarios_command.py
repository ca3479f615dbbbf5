"""End to end through real prepared stores: ``scenarios`` sub-command on synthetic (8 and 19 modalities) and digits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modalbench.app.cli import main
from modalbench.scenarios import fill, load_scenario, means_from_attrs
from modalbench.scenarios.fill import ffill_streams
from modalbench.store import open_store
from modalbench.windows import cut_windows


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["scenarios", *argv])
    return code, capsys.readouterr().out


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict]:
    code, out = run(capsys, *argv, "--json")
    assert code == 0
    return json.loads(out)


def test_synthetic_all_families_and_identical_rerun(synthetic_root: Path, capsys) -> None:
    rows = run_json(capsys, "synthetic", "--root", str(synthetic_root))
    by_id = {r["scenario"]: r for r in rows}
    assert list(by_id) == [
        "full@v1",
        "missing-modalities@v2",
        "random-missing@v1",
        "block-missing@v1",
        "damaged-modality@v1",
        "noisy-modality@v1",
        "train-missing@v1",
    ]
    assert by_id["train-missing@v1"]["split"] == "train" and by_id["damaged-modality@v1"]["n_conditions"] == 80
    assert by_id["full@v1"]["n_conditions"] == 1
    assert by_id["missing-modalities@v2"]["n_conditions"] == 255
    assert by_id["block-missing@v1"]["n_conditions"] == 9
    assert all(r["status"] in ("created", "exists", "regenerated") for r in rows)  # the session store is shared
    code, table = run(capsys, "synthetic", "--root", str(synthetic_root))
    assert code == 0
    for r in rows:
        assert r["sha256"][:16] + "…" in table, "a second run prints identical sha256 values (first 16 digits)"
    assert max(len(line) for line in table.splitlines()) <= 80  # fits a pipe's 80 columns
    assert "exists" in table and "created" not in table
    listed = run_json(capsys, "synthetic", "--root", str(synthetic_root), "--list")
    seed0 = {(r["scenario"], r["sha256"]) for r in listed if r["seed"] == 0 and r["split"] == "test"}
    assert seed0 == {(r["scenario"], r["sha256"]) for r in rows if r["split"] == "test"}
    assert all(r["current"] for r in listed)


def test_synthetic_block_missing_evaluator_path(synthetic_root: Path, capsys) -> None:
    run_json(capsys, "synthetic", "--root", str(synthetic_root), "--family", "block-missing")
    ds = open_store("synthetic", root=synthetic_root)
    reader = load_scenario(synthetic_root, "synthetic", "block-missing", 0)
    reader.check_dataset(ds)
    for cond in reader.conditions:
        assert cond["missing_rate"] <= cond["achieved_rate"] <= cond["missing_rate"] + 0.01
    idx = reader.sample_indices()[:32]
    c = 4
    tsm = reader.timestep_mask(c, idx)
    avail = reader.availability(c, idx)
    batch = {m: np.asarray(ds[m].values[idx]) for m in reader.modalities}
    means = means_from_attrs(ds.attrs)
    filled = fill(batch, avail, "mean", means=means, timestep_mask=tsm, modalities=reader.modalities)
    for j, m in enumerate(reader.modalities):
        assert not np.isnan(filled[m]).any()
        removed = ~tsm[:, :, j]
        assert np.allclose(filled[m][removed], np.broadcast_to(means[m], batch[m].shape)[removed])
    # stream-level ffill: windows cut from the filled split stream equal the stored windows where present
    steps = reader.stream_steps()
    streams = {m: np.asarray(ds[f"stream_{m}"].values[steps]) for m in reader.modalities}
    ff = ffill_streams(streams, reader.stream_mask(c), reader.recording_lengths(), reader.modalities, means)
    starts = reader.window_starts(idx)
    for j, m in enumerate(reader.modalities):
        win = cut_windows(ff[m], starts, reader.window_length)
        keep = tsm[:, :, j][..., None] & ~np.isnan(batch[m])
        assert np.allclose(np.where(keep, win, 0), np.where(keep, batch[m], 0))
        assert not np.isnan(win).any()


def test_digits_families_and_clear_block_missing_message(digits_root: Path, capsys) -> None:
    code, table = run(capsys, "digits", "--root", str(digits_root))
    assert code == 0
    assert "full@v1" in table and "missing-modalities@v2" in table
    assert "block-missing does not apply to digits: it has no continuous recordings" in table
    # every family says which datasets it applies to
    assert "damaged-modality@v1 applies to: every dataset" in table and "train-missing@v1 applies to" in table
    assert all(len(line) <= 80 for line in table.splitlines() if not line.startswith("skipped"))
    rows = run_json(capsys, "digits", "--root", str(digits_root))
    by_id = {r["scenario"]: r for r in rows}
    assert by_id["missing-modalities@v2"]["n_conditions"] == 3
    assert "skipped" in by_id["block-missing@v1"]
    assert main(["scenarios", "digits", "--root", str(digits_root), "--family", "block-missing"]) == 2
    assert "block-missing does not apply to digits" in capsys.readouterr().err
    assert main(["scenarios", "digits", "--root", str(digits_root), "--family", "ful"]) == 2
    assert "unknown scenario 'ful'" in capsys.readouterr().err
    val = run_json(capsys, "digits", "--root", str(digits_root), "--family", "full", "--split", "val", "--seed", "3")
    assert val[0]["split"] == "val" and val[0]["path"].endswith("seed-3-val")


def test_nineteen_modalities(tmp_path: Path, capsys) -> None:
    from modalbench.preprocess.pipeline import prepare

    prepare(
        "synthetic",
        root=tmp_path,
        overrides={"modalities": 19, "recordings": 3, "length": 400, "split_ratios": [1, 1, 1]},
        progress=False,
    )
    rows = run_json(capsys, "synthetic", "--root", str(tmp_path), "--family", "missing-modalities")
    assert rows[0]["n_conditions"] == 14_319
    again = run_json(capsys, "synthetic", "--root", str(tmp_path), "--family", "missing-modalities")
    assert again[0]["sha256"] == rows[0]["sha256"] and again[0]["status"] == "exists"
    reader = load_scenario(tmp_path, "synthetic", "missing-modalities", 0)
    assert reader.condition_table.shape == (14_319, 19)


def test_through_modalbench_main(digits_root: Path, capsys) -> None:
    """Exit 0 on success, 2 with one clear line on errors."""
    assert main(["scenarios", "digits", "--root", str(digits_root), "--family", "missing-modalities", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["n_conditions"] == 3
    assert main(["scenarios", "digits", "--root", str(digits_root), "--family", "block-missing"]) == 2
    assert "block-missing does not apply to digits" in capsys.readouterr().err
