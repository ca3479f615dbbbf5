"""Ranking only like with like: groups of (scenario version, fill, regime); replayed checkpoints and fill none."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from modalbench.atomic import write_json_atomic
from modalbench.errors import ModalbenchError
from modalbench.leaderboard.board import build_leaderboard
from modalbench.leaderboard.example import digits_scenarios, fake_digest, make_result, official_for
from modalbench.leaderboard.site import build_site
from modalbench.leaderboard.submit import check_submission, submit
from modalbench.leaderboard.view import render_table, table_rows
from modalbench.results import compute_aggregates

MM = "missing-modalities@v1"


def _official_with_v2() -> dict[str, Any]:
    scen = digits_scenarios() + [
        dict(digits_scenarios()[0], id="missing-modalities@v2", sha256=fake_digest("digits@v1/missing-modalities@v2/0"))
    ]
    return official_for(make_result(scenarios=scen))


@pytest.fixture()
def lb(tmp_path: Path) -> Path:
    d = tmp_path / "lb"
    d.mkdir()
    write_json_atomic(d / "official.json", _official_with_v2())
    return d


def _submit(lb: Path, tmp_path: Path, **kw: Any) -> Path:
    p = tmp_path / f"{kw.get('model', 'x')}-{kw.get('regime', 'r')}.json"
    p.write_text(json.dumps(make_result(**kw)))
    return submit(p, lb)


def test_results_with_another_fill_regime_or_scenario_version_are_not_ranked_together(lb: Path, tmp_path: Path) -> None:
    _submit(lb, tmp_path, model="early", skill=0.6, rng_seed=1)  # mean, full-modality
    _submit(lb, tmp_path, model="late", skill=0.9, rng_seed=2)  # mean, full-modality
    _submit(lb, tmp_path, model="zeroed", skill=0.99, rng_seed=3, fill="zero")  # another fill
    _submit(lb, tmp_path, model="embracenet", regime="modality-dropout", skill=0.97, rng_seed=4)
    v2 = [
        dict(digits_scenarios()[0], id="missing-modalities@v2", sha256=fake_digest("digits@v1/missing-modalities@v2/0"))
    ]
    _submit(lb, tmp_path, model="newer", skill=0.98, rng_seed=5, scenarios=v2)
    board = build_leaderboard(lb)
    ranks = {
        (r["model"], r["scenario"]): r["rank"]
        for r in table_rows(board, dataset="digits")
        if r["source"] == "reproduced"
    }
    # each of the better-scoring results is first in its own group, never ahead of early/late
    assert ranks[("late", MM)] == 1 and ranks[("early", MM)] == 2
    assert ranks[("zeroed", MM)] == 1 and ranks[("embracenet", MM)] == 1
    assert ranks[("newer", "missing-modalities@v2")] == 1
    groups = {r["group"] for r in table_rows(board, dataset="digits", scenario=MM)}
    assert groups == {
        f"{MM} · fill mean · full-modality",
        f"{MM} · fill zero · full-modality",
        f"{MM} · fill mean · modality-dropout",
    }
    # terminal: one table per group
    console = Console(width=250, record=True)
    console.print(render_table(board, dataset="digits", scenario=MM))
    text = console.export_text()
    for g in groups:
        assert text.count(f"digits · digit · {g}") == 1
    # site: a Group column and a filter per scenario table
    page = (build_site(lb, tmp_path / "site").parent / "digits.html").read_text()
    assert page.count('class="group-filter"') == 3
    assert f'data-group="{MM} · fill zero · full-modality"' in page


def _resealed(r: dict[str, Any]) -> dict[str, Any]:
    r["aggregates"] = compute_aggregates(r["scenarios"], r["seeds"])
    return r


def test_fill_none_is_rejected_for_models_that_do_not_handle_missing_data(lb: Path) -> None:
    bad = make_result(model="early", fill="none", handles_missing=False)
    problems = check_submission(bad, lb).problems
    assert any("scenarios[0].fill" in p and "handles_missing" in p for p in problems)
    good = make_result(model="native", fill="none", handles_missing=True)
    assert check_submission(good, lb).problems == []


def test_replayed_checkpoints_are_accepted_but_not_ranked(lb: Path, tmp_path: Path) -> None:
    r = make_result(model="early")
    for t in r["trained_models"]:
        t["weights_sha256"], t["training_seed"] = fake_digest("one model"), 0
    verdict = check_submission(r, lb)
    assert verdict.problems == [] and not verdict.ranked
    assert any("distinct weight" in x for x in verdict.unranked_reasons)
    p = tmp_path / "replayed.json"
    p.write_text(json.dumps(r))
    submit(p, lb)
    entry = build_leaderboard(lb)["entries"][0]
    assert entry["ranked"] is False and entry["scenarios"][MM]["rank"] is None
    distinct = make_result(model="late")
    assert check_submission(distinct, lb).ranked


def test_trained_models_must_follow_the_seeds(lb: Path) -> None:
    r = make_result()
    r["trained_models"] = list(reversed(r["trained_models"]))
    assert any(p.startswith("trained_models: seeds") for p in check_submission(r, lb).problems)


def test_schema_v1_files_are_rejected_by_submit_and_listed_unranked(lb: Path, tmp_path: Path) -> None:
    r = make_result(model="old")
    v1 = copy.deepcopy(r)
    v1["schema_version"] = 1
    del v1["trained_models"]
    del v1["model"]["handles_missing"]
    for sc in v1["scenarios"]:
        for c in sc["conditions"]:
            del c["n_scored"], c["n_excluded"]
    _resealed(v1)
    verdict = check_submission(v1, lb)
    assert any(p.startswith("schema_version: 1 files are no longer accepted") for p in verdict.problems)
    assert [p for p in verdict.problems if not p.startswith("schema_version")] == []  # valid against result-v1
    with pytest.raises(ModalbenchError, match="schema_version"):
        p = tmp_path / "v1.json"
        p.write_text(json.dumps(v1))
        submit(p, lb)
    # an older committed file still shows, unranked
    dest = lb / "submissions" / "digits" / "digit" / "old--full-modality.json"
    dest.parent.mkdir(parents=True)
    dest.write_text(json.dumps(v1))
    entry = build_leaderboard(lb)["entries"][0]
    assert entry["ranked"] is False and "schema_version" in entry["unranked_reasons"][0]
    assert entry["scenarios"][MM]["n_excluded"] is None


def test_the_board_shows_scored_and_excluded_counts(lb: Path, tmp_path: Path) -> None:
    r = make_result(model="late")
    for c in r["scenarios"][0]["conditions"]:
        c["n_scored"], c["n_excluded"] = 90, 10
    p = tmp_path / "late.json"
    p.write_text(json.dumps(_resealed(r)))
    submit(p, lb)
    board = build_leaderboard(lb)
    (row,) = table_rows(board, scenario=MM)
    assert (row["n_scored"], row["n_excluded"]) == (270, 30)
    console = Console(width=250, record=True)
    console.print(render_table(board, scenario=MM))
    late = next(line for line in console.export_text().splitlines() if " late " in line)
    assert "30" in late.split()  # the Excl. column: 30 sample-conditions left out


# ---------------------------------------------------------------- the declared primary metric and its direction


def _binary_board(lb: Path, tmp_path: Path, primary: str) -> dict[str, Any]:
    from modalbench.leaderboard.official import register_official

    official = official_for(make_result(task_type="binary"))
    (key,) = official["datasets"]
    name, version = key.split("@")
    register_official(
        name,
        version,
        official["datasets"][key]["fingerprint"],
        official["scenarios"][key],
        lb / "official.json",
        primary_metrics={"digit": primary},
    )
    for model, skill in (("good", 0.9), ("bad", 0.6)):
        r = make_result(task_type="binary", model=model, skill=skill, rng_seed=len(model))
        p = tmp_path / f"{model}.json"
        p.write_text(json.dumps(r))
        submit(p, lb)
    return json.loads((lb / "leaderboard.json").read_text())


@pytest.mark.parametrize("primary", ["roc_auc", "error_rate"])
def test_entries_rank_by_the_declared_primary_metric_best_first(lb: Path, tmp_path: Path, primary: str) -> None:
    board = _binary_board(lb, tmp_path, primary)
    assert json.loads((lb / "official.json").read_text())["datasets"]["digits@v1"]["primary_metrics"] == {
        "digit": primary
    }
    ranks = {e["model"]["name"]: e["scenarios"][MM]["rank"] for e in board["entries"]}
    assert ranks == {"good": 1, "bad": 2}  # error rate: lower is better, so the good model is still first
    assert {e["primary_metric"] for e in board["entries"]} == {primary}
    assert board["lower_is_better"] == ["error_rate"]
    rows = table_rows(board, dataset="digits", scenario=MM)
    assert [r["model"] for r in rows] == ["good", "bad"] and {r["metric"] for r in rows} == {primary}
    scores = [r["mean"] for r in rows]
    assert scores == sorted(scores, reverse=primary == "roc_auc")
    console = Console(width=80, record=True)
    console.print(render_table(board, dataset="digits", scenario=MM))
    text = console.export_text()
    assert ("error % ↓" if primary == "error_rate" else "ROC AUC %") in text
    html = (build_site(lb, tmp_path / "site").parent / "digits.html").read_text()
    assert f"<th>{primary}</th>" in html


def test_official_primary_metrics_must_be_canonical_names() -> None:
    from modalbench.leaderboard.official import official_problems

    official = official_for(make_result())
    official["datasets"]["digits@v1"]["primary_metrics"] = {"digit": "auc"}
    assert official_problems(official) == [
        "datasets.digits@v1.primary_metrics.digit: 'auc' is not a metric name; did you mean 'roc_auc'? "
        "(one spelling per metric)"
    ]


def test_reported_higgs_and_mudestreda_rows_show_beside_ours_under_the_matching_metric() -> None:
    from modalbench.leaderboard.board import load_reported

    board = {"entries": [], "reported": load_reported(), "main_metric": "f1_weighted"}
    higgs = [r for r in table_rows(board, dataset="higgs") if r["model"] == "mul"]
    by_metric = {(r["citation"], r["metric"], r["reported_as"].split(":")[0]): r["mean"] for r in higgs}
    assert by_metric[("mul-2018 Table 2", "roc_auc", "higgs-full")] == pytest.approx(0.883)
    assert by_metric[("mul-2018 Table 2", "error_rate", "higgs-small")] == pytest.approx(0.218)
    assert {r["dataset"] for r in higgs} == {"higgs"}
    minape = [r for r in table_rows(board, dataset="mudestreda", task="wear") if r["model"] == "minape"]
    assert {(r["scenario"], r["metric"]) for r in minape} == {
        ("full", "accuracy"),
        ("image-only", "accuracy"),
        ("series-only", "accuracy"),
    }
    assert [r["mean"] for r in minape if r["scenario"] == "full"] == [pytest.approx(0.982)]
    unfiltered = [r for r in table_rows(board) if r["source"] == "reported" and r["dataset"] == "higgs-full"]
    assert len(unfiltered) == 14 and {r["metric"] for r in unfiltered} == {"error_pct", "auc_pct"}


def _knn_result(model: str, k: Any, rng_seed: int, skill: float) -> dict[str, Any]:
    result = make_result(model=model, skill=skill, rng_seed=rng_seed, fill="knn@v1")
    for sc in result["scenarios"]:
        sc["fill_params"] = {"k": k, "n_fit": 1000}
    return result


def _submit_doc(lb: Path, tmp_path: Path, doc: dict[str, Any]) -> Path:
    p = tmp_path / f"{doc['model']['name']}.json"
    p.write_text(json.dumps(doc))
    return submit(p, lb)


def test_results_with_other_fill_parameters_are_ranked_in_another_group(lb: Path, tmp_path: Path) -> None:
    _submit_doc(lb, tmp_path, _knn_result("k5-weak", 5, 1, 0.6))
    _submit_doc(lb, tmp_path, _knn_result("k5-strong", 5, 2, 0.9))
    _submit_doc(lb, tmp_path, _knn_result("k10", 10, 3, 0.7))
    board = build_leaderboard(lb)
    rows = {r["model"]: r for r in table_rows(board, dataset="digits", scenario=MM) if r["source"] == "reproduced"}
    k5, k10 = f"{MM} · fill knn@v1(k=5) · full-modality", f"{MM} · fill knn@v1(k=10) · full-modality"
    assert rows["k5-weak"]["group"] == rows["k5-strong"]["group"] == k5  # the same k: one group
    assert rows["k10"]["group"] == k10  # another k: its own group, first there
    assert (rows["k5-strong"]["rank"], rows["k5-weak"]["rank"], rows["k10"]["rank"]) == (1, 2, 1)
    assert rows["k10"]["fill"] == "knn@v1(k=10)"
    entry = next(e for e in board["entries"] if e["model"]["name"] == "k10")
    assert entry["scenarios"][MM]["fill_params"] == {"k": 10}  # n_fit is not a parameter
    page = (build_site(lb, tmp_path / "site").parent / "digits.html").read_text()
    assert f'data-group="{k10}"' in page and f'data-group="{k5}"' in page


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"k": 0, "n_fit": 1000}, "fill knn@v1: parameter 'k': expected an integer >= 1, got 0"),
        ({"k": 5, "j": 2, "n_fit": 1000}, "fill knn@v1: unknown parameter 'j'"),
        ({"n_fit": 1000}, "fill knn@v1: parameter(s) k missing"),
        (None, "fill knn@v1: fill_params missing"),
    ],
)
def test_submit_refuses_fill_params_that_do_not_validate_for_the_fill(
    lb: Path, tmp_path: Path, params: Any, message: str
) -> None:
    doc = _knn_result("bad", 5, 1, 0.8)
    for sc in doc["scenarios"]:
        if params is None:
            del sc["fill_params"]
        else:
            sc["fill_params"] = params
    verdict = check_submission(doc, lb)
    assert any(p.startswith(f"scenarios[0].fill_params: {message}") for p in verdict.problems), verdict.problems
    with pytest.raises(ModalbenchError):
        _submit_doc(lb, tmp_path, doc)
    assert not (lb / "submissions").exists()
    mean = make_result(model="mean-with-k", rng_seed=2)
    mean["scenarios"][0]["fill_params"] = {"k": 5}
    assert any("fill 'mean' takes no parameters" in p for p in check_submission(mean, lb).problems)
