"""``modalbench report``: the method x scenario table (mean ± std over seeds) and the robustness PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modalbench.app.cli import main
from modalbench.app.report import load_results, summary_rows, write_report
from modalbench.errors import ModalbenchError
from modalbench.results import compute_aggregates

PNG = b"\x89PNG\r\n\x1a\n"


def _result(model: str, f1: dict[str, list[list[float]]], seeds: list[int]) -> dict:
    """A results document: per scenario, per condition, the per-seed weighted F1."""
    scenarios = []
    for sid, conds in f1.items():
        conditions = []
        for i, values in enumerate(conds):
            if sid.startswith("missing-modalities"):
                n_av, rate = i + 1, None
            elif sid.startswith("block-missing"):
                n_av, rate = None, round(0.1 * (i + 1), 6)
            else:
                n_av, rate = 3, 0.0
            conditions.append(
                {
                    "id": str(i),
                    "description": "",
                    "n_available": n_av,
                    "missing_rate": rate,
                    "metrics": {"f1_weighted": values, "accuracy": values},
                }
            )
        scenarios.append({"id": sid, "seed": 0, "sha256": "0" * 64, "fill": "mean", "conditions": conditions})
    return {
        "schema_version": 1,
        "dataset": {"name": "synthetic", "version": "v1", "fingerprint": "0" * 64},
        "task": "default",
        "model": {"name": model},
        "seeds": seeds,
        "scenarios": scenarios,
        "aggregates": compute_aggregates(scenarios, seeds),
    }


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    a = _result(
        "late",
        {
            "full@v1": [[0.9, 0.8]],
            "missing-modalities@v1": [[0.5, 0.4], [0.7, 0.6], [0.9, 0.8]],
            "block-missing@v1": [[0.8, 0.7], [0.6, 0.5]],
        },
        [0, 1],
    )
    b = _result("early", {"full@v1": [[0.95]], "missing-modalities@v1": [[0.2], [0.5], [0.95]]}, [0])
    for name, doc in (("late", a), ("early", b)):
        (tmp_path / "out" / "synthetic" / name / "seed-0").mkdir(parents=True)
        (tmp_path / "out" / "synthetic" / name / "results.json").write_text(json.dumps(doc))
        (tmp_path / "out" / "synthetic" / name / "seed-0" / "results.json").write_text(json.dumps(doc))
    return tmp_path / "out"


def test_table_has_one_row_per_model_with_mean_and_std(results_dir: Path) -> None:
    results = load_results([results_dir])
    assert [r.model for r in results] == ["early", "late"]  # per-seed files under seed-<k>/ are left out
    rows = summary_rows(results)
    assert rows[0] == ["synthetic (default)", "early", "0", "0.9500", "0.5500", "-"]
    # late: full 0.85 ± 0.0707; missing-modalities per-seed means 0.7, 0.6 -> 0.65 ± 0.0707; block 0.7, 0.6
    assert rows[1] == ["synthetic (default)", "late", "0,1", "0.8500 ± 0.0707", "0.6500 ± 0.0707", "0.6500 ± 0.0707"]


def test_report_writes_the_table_and_pngs_beside_the_results(results_dir: Path, capsys) -> None:
    assert main(["report", str(results_dir)]) == 0
    text = capsys.readouterr().out
    assert "late" in text and "0.6500" in text  # the terminal table folds to 80 columns in a pipe
    avail = results_dir / "synthetic-default-f1_weighted-vs-available-modalities.png"
    block = results_dir / "synthetic-default-f1_weighted-vs-block-missing-rate.png"
    assert avail.read_bytes()[:8] == PNG and block.read_bytes()[:8] == PNG
    table = (results_dir / "summary.md").read_text()
    assert table.count("| synthetic (default) |") == 2 and "block-missing@v1" in table and "0.6500 ± 0.0707" in table


def test_no_block_missing_plot_without_block_missing_and_out_dir(results_dir: Path, tmp_path: Path) -> None:
    rep = write_report([results_dir / "synthetic" / "early" / "results.json"], tmp_path / "plots")
    assert [p.name for p in rep.plots] == ["synthetic-default-f1_weighted-vs-available-modalities.png"]
    assert rep.plots[0].parent == tmp_path / "plots" and rep.table.is_file()


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(ModalbenchError, match=r"x\.json: line 1: invalid JSON"):
        load_results([tmp_path / "x.json"])
    (tmp_path / "y.json").write_text("{}")
    with pytest.raises(ModalbenchError, match=r"y\.json: not a results file"):
        load_results([tmp_path / "y.json"])
    with pytest.raises(ModalbenchError, match="no results.json here"):
        load_results([tmp_path])
    with pytest.raises(ModalbenchError, match="no such file or folder"):
        load_results([tmp_path / "absent"])


def test_report_never_imports_torch(results_dir: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom modalbench.app.cli import main\n"
        f"assert main(['report', {str(results_dir)!r}]) == 0\n"
        "assert 'torch' not in sys.modules\nprint('report ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and "report ok" in proc.stdout, proc.stderr[-2000:]


def test_metric_alias_is_refused_with_did_you_mean(results_dir: Path, capsys) -> None:
    from modalbench.app.cli import main

    assert main(["report", str(results_dir), "--metric", "weighted_f1"]) == 2
    err = capsys.readouterr().err
    assert "--metric: 'weighted_f1' is not a metric name; did you mean 'f1_weighted'?" in err


def test_rows_name_fill_params_that_are_not_the_defaults(tmp_path: Path) -> None:
    files = []
    for name, params in (("k20", {"k": 20, "n_fit": 9}), ("k5", {"k": 5, "n_fit": 9}), ("plain", None)):
        doc = _result("late", {"full@v1": [[0.9, 0.8]]}, [0, 1])
        doc["scenarios"][0]["fill"] = "knn@v1" if params else "mean"
        if params:
            doc["scenarios"][0]["fill_params"] = params
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc))
        files.append(path)
    rows = summary_rows(load_results(files))
    assert [r[1] for r in rows] == ["late · fill knn@v1(k=20)", "late", "late"]
