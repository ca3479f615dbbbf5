"""Convert the transcribed paper tables (reference-results.csv + reference-papers.md) into ``reported.json``.

This documents how the project's own data file ``leaderboard/reference/reported.json`` was made; the leaderboard
reads only that file. Run from the repository root (default inputs are ``../shared``)::

    python leaderboard/reference/convert.py [--csv ../shared/reference-results.csv]
        [--papers ../shared/reference-papers.md] [--out leaderboard/reference/reported.json]

Every CSV column is kept (``table`` as an integer, ``value`` as a number, empty ``std``/``note`` as null) and
each row gains ``citation`` (the paper's reference from reference-papers.md) plus two derived robustness
coordinates for the plots, null when the condition does not state one:

* ``n_available``: modalities offered to the method — ``full``/``all`` → the dataset's modality count,
  ``<x>-only`` → 1, ``missing-modalities-<p>pct`` → count × (1 − p/100) (EmbraceNet Table 2: 80 % missing =
  20 % of the 19 OPPORTUNITY modalities available);
* ``missing_rate``: ``block-missing-<p>pct`` → p/100 (EmbraceNet §6.4.2 block-wise scenario).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1].parent / "shared"
COLUMNS = ["paper", "table", "dataset", "task", "method", "condition", "metric", "value", "std", "note"]

#: Modality counts stated in the papers (used only for ``full``/``all``/``missing-modalities`` conditions).
MODALITY_COUNTS = {
    "opportunity": 19,  # EmbraceNet §6.1 and reference-papers.md note
    "bimodal-mnist": 2,
    "bimodal-fashion-mnist": 2,  # left/right image halves
    "av-mnist": 2,
    "mm-imdb": 2,
    "ntu-rgbd": 2,
    "avletters2": 2,
    "mudestreda": 2,
    "higgs-small": 2,
    "higgs-full": 2,  # low-level and high-level features (Mul 2018 §5)
    "cifar100-resnet32": 3,
    "cifar100-resnet110": 3,  # three ResNet stages as modalities
}


def parse_papers(text: str) -> tuple[dict[str, str], list[str]]:
    """``({paper id: citation}, [notes])`` from reference-papers.md."""
    papers: dict[str, str] = {}
    notes: list[str] = []
    in_notes = False
    for line in text.splitlines():
        m = re.match(r"^\|\s*([a-z0-9-]+-\d{4})\s*\|\s*(.+?)\s*\|\s*$", line)
        if m:
            papers[m.group(1)] = m.group(2)
        elif line.strip() == "Notes":
            in_notes = True
        elif in_notes and line.startswith("- "):
            notes.append(line[2:].strip())
    return papers, notes


def derive(dataset: str, condition: str) -> tuple[float | int | None, float | None]:
    """``(n_available, missing_rate)`` of a reported condition (see the module docstring)."""
    count = MODALITY_COUNTS.get(dataset)
    if condition in ("full", "all"):
        return count, None
    if condition.endswith("-only"):
        return 1, None
    m = re.fullmatch(r"missing-modalities-(\d+)pct", condition)
    if m and count is not None:
        n = round(count * (1 - int(m.group(1)) / 100), 6)
        return (int(n) if n == int(n) else n), None
    m = re.fullmatch(r"block-missing-(\d+)pct", condition)
    if m:
        return None, int(m.group(1)) / 100
    return None, None


def convert(csv_path: Path, papers_path: Path) -> dict[str, Any]:
    """The reported.json document."""
    papers, notes = parse_papers(papers_path.read_text(encoding="utf-8"))
    rows = []
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != COLUMNS:
            raise SystemExit(f"{csv_path}: columns {reader.fieldnames}, expected {COLUMNS}")
        for lineno, rec in enumerate(reader, start=2):
            if rec["paper"] not in papers:
                raise SystemExit(f"{csv_path}:{lineno}: paper {rec['paper']!r} not in {papers_path}")
            n_available, missing_rate = derive(rec["dataset"], rec["condition"])
            row: dict[str, Any] = {
                "paper": rec["paper"],
                "table": int(rec["table"]),
                "dataset": rec["dataset"],
                "task": rec["task"],
                "method": rec["method"],
                "condition": rec["condition"],
                "metric": rec["metric"],
                "value": float(rec["value"]),
                "std": float(rec["std"]) if rec["std"] else None,
                "note": rec["note"] or None,
                "citation": papers[rec["paper"]],
                "n_available": n_available,
                "missing_rate": missing_rate,
            }
            rows.append(row)
    return {
        "source": "reference-results.csv + reference-papers.md (transcribed from the papers' tables)",
        "columns": COLUMNS,
        "papers": papers,
        "notes": notes,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert reference-results.csv into reported.json")
    parser.add_argument("--csv", type=Path, default=SHARED / "reference-results.csv")
    parser.add_argument("--papers", type=Path, default=SHARED / "reference-papers.md")
    parser.add_argument("--out", type=Path, default=HERE / "reported.json")
    args = parser.parse_args(argv)
    doc = convert(args.csv, args.papers)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".incomplete")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(doc['rows'])} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
