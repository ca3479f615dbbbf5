"""Reference rows: the project's reported.json matches ../shared/reference-results.csv row for row."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from types import ModuleType

from modalbench.leaderboard.board import PACKAGE_DIR, load_reported

REPORTED = PACKAGE_DIR / "reference" / "reported.json"


def _convert_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lb_convert", PACKAGE_DIR / "reference" / "convert.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_reported_rows_are_self_consistent() -> None:
    doc = load_reported()
    rows = doc["rows"]
    assert len(rows) == 197
    assert (
        {r["paper"] for r in rows}
        == set(doc["papers"])
        == {"embracenet-2019", "mul-2018", "mfas-2019", "dmf-2019", "minape-2023"}
    )
    for r in rows:
        assert r["citation"] == doc["papers"][r["paper"]]
        assert isinstance(r["value"], float) and isinstance(r["table"], int)


def test_derived_robustness_coordinates() -> None:
    mod = _convert_module()
    assert mod.derive("opportunity", "missing-modalities-80pct") == (3.8, None)
    assert mod.derive("opportunity", "full") == (19, None)
    assert mod.derive("opportunity", "block-missing-80pct") == (None, 0.8)
    assert mod.derive("bimodal-mnist", "left-only") == (1, None)
    assert mod.derive("bimodal-mnist", "right-damage-30pct") == (None, None)
    assert mod.derive("baum-1a", "full") == (None, None)


def test_reported_rows_match_the_csv(shared_dir: Path) -> None:
    csv_path = shared_dir / "reference-results.csv"
    with open(csv_path, newline="", encoding="utf-8") as fh:
        records = list(csv.DictReader(fh))
    rows = json.loads(REPORTED.read_text(encoding="utf-8"))["rows"]
    assert len(records) == len(rows) == 197
    for i, (rec, row) in enumerate(zip(records, rows), start=2):
        where = f"{csv_path.name}:{i}"
        for col in ("paper", "dataset", "task", "method", "condition", "metric"):
            assert row[col] == rec[col], where
        assert row["table"] == int(rec["table"]), where
        assert row["value"] == float(rec["value"]), where
        assert row["std"] == (float(rec["std"]) if rec["std"] else None), where
        assert (row["note"] or "") == rec["note"], where


def test_reported_json_is_what_convert_produces(shared_dir: Path) -> None:
    mod = _convert_module()
    doc = mod.convert(shared_dir / "reference-results.csv", shared_dir / "reference-papers.md")
    assert doc == json.loads(REPORTED.read_text(encoding="utf-8"))
    text = (shared_dir / "reference-papers.md").read_text(encoding="utf-8")
    for pid, citation in doc["papers"].items():
        assert f"| {pid} | {citation} |" in text
