"""``modalbench reproduce``: shipped recipes, status, the digits recipe at a tiny budget, reproduced vs reported."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from modalbench.app.cli import main
from modalbench.app.reproduce import (
    Comparison,
    compare,
    load_recipe,
    recipe_experiment,
    recipe_names,
    recipe_status,
)
from modalbench.datasets import dataset_names
from modalbench.errors import ModalbenchError
from modalbench.jsonio import read_json
from modalbench.leaderboard.board import PACKAGE_DIR, reported_path

#: one recipe per seed table the suite can run (issue: EmbraceNet, Mul/MulMix, MFAS, DMF, Minape)
EXPECTED = {
    "digits-baselines": "digits",
    "embracenet-mnist-halves": "mnist-halves",
    "embracenet-fashion-halves": "fashion-halves",
    "embracenet-opportunity-locomotion": "opportunity",
    "embracenet-opportunity-gestures": "opportunity",
    "embracenet-gas-sensor": "gas-sensor",
    "mul-higgs": "higgs",
    "mfas-avmnist": "avmnist",
    "mfas-mmimdb": "mmimdb",
    "mfas-ntu": "ntu60",
    "dmf-mnist-damage": "mnist-halves",
    "minape-mudestreda": "mudestreda-random",
}


def test_every_recipe_is_shipped_and_validates(tmp_path: Path) -> None:
    assert set(recipe_names()) == set(EXPECTED)
    reported = read_json(reported_path(PACKAGE_DIR))
    for name, dataset in EXPECTED.items():
        recipe = load_recipe(name)
        assert recipe.dataset == dataset and recipe.notes, name
        if dataset in dataset_names():
            exp = recipe_experiment(recipe, tmp_path / name)  # methods, scenarios, hparams all validated
            assert exp.output == (tmp_path / name).resolve() and len(exp.seeds) >= 3
            assert set(recipe.models) <= {m.label or m.name for m in exp.methods}, name
        for spec in recipe.conditions.values():
            assert spec.split(":", 1)[0] in load_recipe(name).doc["scenarios"], (name, spec)
        # every mapped paper method names a row of the paper's table
        rows = {
            r["method"]
            for r in reported["rows"]
            if (r["paper"], r["table"], r["dataset"]) == (recipe.paper, recipe.table, recipe.reference_dataset)
        }
        assert set(recipe.models.values()) <= rows, (name, set(recipe.models.values()) - rows)


def test_list_shows_dataset_table_and_status(digits_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "--list", "--root", str(digits_root)]) == 0
    text = capsys.readouterr().out
    for name in EXPECTED:
        assert name[:14] in text
    assert "prepared" in text and "embracenet-2019" in text
    assert recipe_status(load_recipe("digits-baselines"), str(digits_root)) == ("prepared", True)
    status, ready = recipe_status(load_recipe("mul-higgs"), str(digits_root))
    assert not ready and status == f"not prepared: modalbench prepare higgs --set subset=small --root {digits_root}"
    if "mmimdb" not in dataset_names():
        status, ready = recipe_status(load_recipe("mfas-mmimdb"), str(digits_root))
        assert not ready and "needs dataset 'mmimdb'" in status


def test_unprepared_dataset_stops_at_once_with_the_prepare_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["reproduce", "embracenet-mnist-halves", "--root", str(tmp_path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"not prepared: modalbench prepare mnist-halves --root {tmp_path}" in err
    assert not out.exists()


def test_unknown_recipe_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "digits-baseline"]) == 2
    assert "did you mean" in capsys.readouterr().err
    with pytest.raises(ModalbenchError, match="no recipe 'nothing'"):
        load_recipe("nothing")


def test_bad_condition_mapping_names_the_key(tmp_path: Path) -> None:
    text = (PACKAGE_DIR / "recipes" / "digits-baselines.toml").read_text()
    (tmp_path / "bad.toml").write_text(text.replace('"missing-modalities:k01-0000"', '"k01-0000"'))
    with pytest.raises(ModalbenchError, match=r"bad.toml: recipe.conditions.left-only: expected 'FAMILY:CONDITION"):
        load_recipe("bad", tmp_path)


def test_difference_in_units_of_the_paper_std() -> None:
    c = Comparison("mul", "mul", "full", "error_pct", 21.8, 0.1, 21.6, 0.05, 5)
    assert c.difference == pytest.approx(-0.2) and c.in_paper_std == pytest.approx(-2.0)
    assert Comparison("m", "m", "all", "error_pct", 0.95, None, 1.5, None, 1).in_paper_std is None
    assert Comparison("m", "m", "all", "error_pct", 0.95, 0.1, None, None, 0).difference is None


def test_compare_converts_the_papers_metrics() -> None:
    recipe = load_recipe("digits-baselines")
    doc = read_json(PACKAGE_DIR / "submissions" / "digits" / "digit" / "embracenet--modality-dropout.json")
    rows = compare(recipe, {"embracenet": doc}, read_json(reported_path(PACKAGE_DIR)))
    by_cond = {r.condition: r for r in rows if r.model == "embracenet"}
    assert set(by_cond) == {"all", "left-only", "right-only"}
    mm = next(s for s in doc["scenarios"] if s["id"].startswith("missing-modalities"))
    left = next(c for c in mm["conditions"] if c["id"] == "k01-0000")["metrics"]["accuracy"]
    assert by_cond["left-only"].reproduced == pytest.approx(100 * (1 - sum(left) / len(left)))
    assert by_cond["left-only"].reported == 3.35 and by_cond["left-only"].n_seeds == 3
    # intermediate is mapped but absent from these results: shown with no reproduced value
    assert all(r.reproduced is None for r in rows if r.model == "intermediate")


def test_dry_run_prints_jobs_and_an_estimate(digits_root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "dry"
    assert main(["reproduce", "digits-baselines", "--root", str(digits_root), "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "33 jobs in 11 groups" in text and "estimate: 33 job(s)" in text
    assert not out.exists()


@pytest.fixture(scope="module")
def tiny_reproduction(digits_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """``modalbench reproduce digits-baselines`` with one seed and one epoch, into a copy of the leaderboard."""
    tmp = tmp_path_factory.mktemp("reproduce")
    board = tmp / "board"
    shutil.copytree(PACKAGE_DIR, board, ignore=shutil.ignore_patterns("*.py", "__pycache__", "submissions", "recipes"))
    out = tmp / "out"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(
            [
                "reproduce",
                "digits-baselines",
                "--root",
                str(digits_root),
                "--out",
                str(out),
                "--leaderboard",
                str(board),
                "--seeds",
                "0",
                "--epochs",
                "1",
                "--threads",
                "1",
                "--quiet",
            ]
        )
    assert code == 0
    return out, board, buf.getvalue()


@pytest.mark.timeout(900)  # the first of these runs the 11-job recipe (~2 min idle, more under load)
def test_digits_recipe_runs_compares_and_submits(tiny_reproduction: tuple[Path, Path, str]) -> None:
    out, board, text = tiny_reproduction
    assert "11 job(s) ran, 0 skipped" in text
    assert "reproduced vs reported" in text and "left-only" in text and "3.350" in text  # EmbraceNet+adj_pre
    side = json.loads((out / "comparison.json").read_text())
    rows = {(r["model"], r["condition"]): r for r in side["rows"]}
    assert set(rows) == {(m, c) for m in ("intermediate", "embracenet") for c in ("all", "left-only", "right-only")}
    left = rows[("embracenet", "left-only")]
    assert left["method"] == "embracenet+adj-pre" and left["reported"] == 3.35 and left["n_seeds"] == 1
    merged = json.loads((out / "digits" / "embracenet" / "results.json").read_text())
    mm = next(s for s in merged["scenarios"] if s["id"].startswith("missing-modalities"))
    accuracy = next(c for c in mm["conditions"] if c["id"] == "k01-0000")["metrics"]["accuracy"][0]
    assert left["reproduced"] == pytest.approx(100 * (1 - accuracy))
    assert left["difference"] == pytest.approx(left["reproduced"] - 3.35) and left["in_paper_std"] is None
    assert "| embracenet | embracenet+adj-pre | left-only | 3.350 |" in (out / "comparison.md").read_text()
    subs = sorted(p.name for p in (board / "submissions" / "digits" / "digit").glob("*.json"))
    assert len(subs) == 11 and "embracenet--modality-dropout.json" in subs
    doc = json.loads((board / "submissions" / "digits" / "digit" / "late--full-modality.json").read_text())
    assert doc["command"] == "modalbench reproduce digits-baselines" and doc["seeds"] == [0]
    assert [s["id"] for s in doc["scenarios"]] == ["full@v1", "missing-modalities@v2", "random-missing@v1"]
    assert json.loads((board / "leaderboard.json").read_text())  # rebuilt


@pytest.mark.timeout(900)  # the first of these runs the 11-job recipe (~2 min idle, more under load)
def test_a_second_reproduce_skips_every_job(
    tiny_reproduction: tuple[Path, Path, str], digits_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, board, _ = tiny_reproduction
    argv = ["reproduce", "digits-baselines", "--root", str(digits_root), "--out", str(out), "--no-submit"]
    assert main([*argv, "--seeds", "0", "--epochs", "1", "--quiet"]) == 0
    assert "0 job(s) ran, 11 skipped" in capsys.readouterr().out


@pytest.mark.timeout(900)  # the first of these runs the 11-job recipe (~2 min idle, more under load)
def test_results_record_hardware_versions_and_wall_time(tiny_reproduction: tuple[Path, Path, str]) -> None:
    import numpy as np
    import torch

    from modalbench import __version__
    from modalbench.leaderboard.board import load_leaderboard
    from modalbench.leaderboard.site import build_site

    out, board, _ = tiny_reproduction
    job = json.loads((out / "digits" / "late" / "seed-0" / "results.json").read_text())
    hw = job["hardware"]
    assert hw["torch"] == torch.__version__ and hw["numpy"] == np.__version__ and hw["modalbench"] == __version__
    assert hw["cpu"] and hw["usable_cpus"] >= 1 and hw["device"] == "cpu" and hw["gpu"] is None
    assert hw["train_seconds"] > 0 and hw["evaluate_seconds"] > 0
    assert hw["wall_seconds"] == pytest.approx(hw["train_seconds"] + hw["evaluate_seconds"], abs=2e-3)
    config = json.loads((out / "digits" / "late" / "seed-0" / "config.json").read_text())
    assert config["train_seconds"] == hw["train_seconds"]
    merged = json.loads((out / "digits" / "late" / "results.json").read_text())
    assert merged["hardware"]["wall_seconds"] == hw["wall_seconds"]  # one seed: the job's own time
    entry = next(e for e in load_leaderboard(board)["entries"] if e["model"]["name"] == "late")
    assert entry["wall_seconds_per_seed"] == round(hw["wall_seconds"], 1)
    assert hw["cpu"] in entry["hardware"] and "1 thread" in entry["hardware"]
    site = build_site(board, out / "site").parent
    page = "".join(p.read_text() for p in site.rglob("*.html"))
    assert "Wall time / seed" in page and "Hardware" in page
