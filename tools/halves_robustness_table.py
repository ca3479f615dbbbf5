"""Print the bimodal-halves robustness table (weighted F1 %, mean ± std over seeds: both / left only / right only)
from merged ``results.json`` files of the ``missing-modalities`` scenario, as Markdown.

    python tools/halves_robustness_table.py runs/mnist-halves-test-only/mnist-halves/*/results.json
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from modalbench.jsonio import read_json


def condition_scores(doc: dict) -> dict[str, list[float]]:
    """``{"both", "left", "right"} -> per-seed weighted F1`` of the missing-modalities scenario of one document."""
    scenario = next(s for s in doc["scenarios"] if s["id"].split("@")[0] == "missing-modalities")
    out = {}
    for cond in scenario["conditions"]:
        key = "both" if cond["n_available"] == 2 else cond["description"].removeprefix("present: ")
        out[key] = cond["metrics"]["f1_weighted"]
    return out


def cell(values: list[float]) -> str:
    """``mean ± std`` in percent (sample std over seeds)."""
    pct = [100 * v for v in values]
    return f"{statistics.mean(pct):.2f} ± {statistics.stdev(pct):.2f}" if len(pct) > 1 else f"{pct[0]:.2f}"


def main(paths: list[str]) -> int:
    print("| method | seeds | both | left only | right only |")
    print("|---|---|---|---|---|")
    for path in paths:
        doc = read_json(Path(path))
        scores = condition_scores(doc)
        name = Path(path).parent.name
        print(
            f"| {name} | {len(doc['seeds'])} | {cell(scores['both'])} | {cell(scores['left'])} | {cell(scores['right'])} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
