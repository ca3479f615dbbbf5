"""The evaluate command's results table: one rule for the ± (two or more seeds)."""

from __future__ import annotations

import pytest

from modalbench.app.models import percent_cell, print_results


def _result(seeds: list[int], f1: dict, accuracy: dict) -> dict:
    return {
        "model": {"name": "late"},
        "dataset": {"name": "digits"},
        "seeds": seeds,
        "scenarios": [{"id": "full@v1", "conditions": [{}]}],
        "aggregates": {"full@v1": {"metrics": {"f1_weighted": f1, "accuracy": accuracy}}},
    }


def test_percent_cell_shows_the_spread_only_with_several_seeds() -> None:
    assert percent_cell({"mean": 0.9812, "std": None}, 1) == "98.1"
    assert percent_cell({"mean": 0.9812, "std": 0.0}, 1) == "98.1"  # a v1 file's single seed
    assert percent_cell({"mean": 0.9812, "std": 0.0001}, 3) == "98.1 ± 0.0"
    assert percent_cell({"mean": 0.9812, "std": 0.0}, 3) == "98.1 ± 0.0"
    assert percent_cell(None, 3) == "-"


@pytest.mark.parametrize(("seeds", "plus_minus"), [([0], 0), ([0, 1], 2)])
def test_results_table_rows_follow_one_rule(seeds: list[int], plus_minus: int, capsys) -> None:
    print_results(_result(seeds, {"mean": 0.5, "std": 0.0}, {"mean": 0.6, "std": 0.0004 if len(seeds) > 1 else None}))
    row = next(line for line in capsys.readouterr().out.splitlines() if "full@v1" in line)
    assert row.count("±") == plus_minus, row
