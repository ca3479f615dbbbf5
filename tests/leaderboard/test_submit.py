"""Submissions: every semantic rule rejects a crafted bad file naming the field; atomic writes; determinism."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modalbench.atomic import write_json_atomic
from modalbench.errors import ModalbenchError
from modalbench.leaderboard import board as board_mod
from modalbench.leaderboard.example import make_result, official_for
from modalbench.leaderboard.official import load_official, register_official
from modalbench.leaderboard.submit import check_submission, rebuild_leaderboard, submit
from modalbench.results import compute_aggregates


@pytest.fixture()
def lb(tmp_path: Path) -> Path:
    """A leaderboard dir whose official values match make_result()'s dataset and scenarios."""
    d = tmp_path / "lb"
    d.mkdir()
    write_json_atomic(d / "official.json", official_for(make_result()))
    rebuild_leaderboard(d)
    return d


def _write(tmp_path: Path, obj: Any, name: str = "results.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(obj), encoding="utf-8")
    return p


def _reaggregate(r: dict[str, Any]) -> dict[str, Any]:
    r["aggregates"] = compute_aggregates(r["scenarios"], r["seeds"])
    return r


def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_good_result_is_accepted_ranked_and_indexed(lb: Path, tmp_path: Path) -> None:
    r = make_result(model="early")
    v = check_submission(r, lb)
    assert v.problems == [] and v.ranked and v.key == "digits/digit/early--full-modality"
    dest = submit(_write(tmp_path, r), lb)
    assert dest == lb / "submissions" / "digits" / "digit" / "early--full-modality.json"
    assert json.loads(dest.read_text()) == r
    board = json.loads((lb / "leaderboard.json").read_text())
    (entry,) = board["entries"]
    assert entry["key"] == v.key and entry["ranked"] is True
    assert entry["scenarios"]["missing-modalities@v1"]["rank"] == 1
    assert entry["scenarios"]["missing-modalities@v1"]["metrics"] == r["aggregates"]["missing-modalities@v1"]["metrics"]
    assert len(board["reported"]["rows"]) == 197


def _drop_condition(r: dict[str, Any]) -> None:
    del r["scenarios"][0]["conditions"][1]
    _reaggregate(r)


def _drop_seed_value(r: dict[str, Any]) -> None:
    r["scenarios"][0]["conditions"][2]["metrics"]["f1_macro"].pop()


def _set_metric(value: float) -> Callable[[dict[str, Any]], None]:
    def f(r: dict[str, Any]) -> None:
        r["scenarios"][1]["conditions"][3]["metrics"]["accuracy"][0] = value

    return f


def _bump(path: list[Any], delta: float) -> Callable[[dict[str, Any]], None]:
    def f(r: dict[str, Any]) -> None:
        t: Any = r
        for k in path[:-1]:
            t = t[k]
        t[path[-1]] += delta

    return f


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def f(r: dict[str, Any]) -> None:
        t: Any = r
        for k in path[:-1]:
            t = t[k]
        t[path[-1]] = value

    return f


def _extra_scenario(r: dict[str, Any]) -> None:
    sc = json.loads(json.dumps(r["scenarios"][1]))
    sc["id"] = "block-missing@v1"
    r["scenarios"].append(sc)
    _reaggregate(r)


def _duplicate_condition_id(r: dict[str, Any]) -> None:
    r["scenarios"][0]["conditions"][1]["id"] = r["scenarios"][0]["conditions"][0]["id"]


MM = "missing-modalities@v1"
RULES = [
    ("dataset-fingerprint", _set(["dataset", "fingerprint"], "0" * 64), "dataset.fingerprint"),
    ("dataset-unregistered", _set(["dataset", "version"], "v9"), "dataset: 'digits@v9' has no registered"),
    ("scenario-sha256", _set(["scenarios", 1, "sha256"], "f" * 64), "scenarios[1].sha256"),
    ("scenario-seed", _set(["scenarios", 0, "seed"], 5), "scenarios[0].seed"),
    ("scenario-unregistered", _extra_scenario, "scenarios[2].id: scenario 'block-missing@v1' has no official"),
    (
        "scenario-twice",
        lambda r: r["scenarios"].append(json.loads(json.dumps(r["scenarios"][0]))),
        "scenarios[2].id: scenario 'missing-modalities@v1' appears twice",
    ),
    ("condition-missing", _drop_condition, "scenarios[0].conditions: 2 conditions, the official"),
    ("condition-duplicate", _duplicate_condition_id, "scenarios[0].conditions[1].id: duplicate"),
    ("seed-value-missing", _drop_seed_value, "scenarios[0].conditions[2].metrics.f1_macro: 2 values for 3 seeds"),
    ("metric-nan", _set_metric(float("nan")), "scenarios[1].conditions[3].metrics.accuracy[0]: nan is not finite"),
    ("metric-inf", _set_metric(float("inf")), "scenarios[1].conditions[3].metrics.accuracy[0]: inf is not finite"),
    ("metric-range", _set_metric(1.25), "scenarios[1].conditions[3].metrics.accuracy[0]: 1.25 is outside [0, 1]"),
    (
        "aggregate-mean",
        _bump(["aggregates", MM, "metrics", "f1_weighted", "mean"], 1e-3),
        f"aggregates.{MM}.metrics.f1_weighted.mean",
    ),
    (
        "aggregate-std",
        _bump(["aggregates", MM, "metrics", "accuracy", "std"], 1e-4),
        f"aggregates.{MM}.metrics.accuracy.std",
    ),
    (
        "aggregate-curve",
        _bump(["aggregates", MM, "by_n_available", 1, "metrics", "f1_macro", "mean"], -0.01),
        f"aggregates.{MM}.by_n_available[1].metrics.f1_macro.mean",
    ),
    (
        "aggregate-curve-count",
        _set(["aggregates", MM, "by_n_available", 0, "n_conditions"], 3),
        f"aggregates.{MM}.by_n_available[0].n_conditions",
    ),
    (
        "aggregate-missing",
        lambda r: r["aggregates"].pop("random-missing@v1"),
        "aggregates: missing the aggregate of scenario 'random-missing@v1'",
    ),
    (
        "aggregate-unknown",
        _set(["aggregates", "full@v1"], {"metrics": {}, "by_n_available": [], "by_missing_rate": []}),
        "aggregates.full@v1: no scenario",
    ),
    (
        "metric-set-mixed",
        lambda r: r["scenarios"][1]["conditions"][0].__setitem__(
            "metrics", {m: [0.5, 0.5, 0.5] for m in ("f1_micro", "f1_macro", "f1_weighted", "f1_samples")}
        ),
        "scenarios[1].conditions[0].metrics: metric set",
    ),
    ("model-path-separator", _set(["model", "name"], "evil/../../x"), "model.name"),
    ("model-double-dash", _set(["model", "name"], "a--b"), "model.name: 'a--b' must not contain '--'"),
    ("regime-path", _set(["regime"], ".."), "regime"),
]


@pytest.mark.parametrize("name,mutate,expect", RULES, ids=[r[0] for r in RULES])
def test_each_rule_rejects_a_crafted_file_naming_the_field(
    lb: Path, tmp_path: Path, name: str, mutate: Callable[[dict[str, Any]], None], expect: str
) -> None:
    r = make_result()
    mutate(r)
    before = _snapshot(lb)
    with pytest.raises(ModalbenchError) as exc:
        submit(_write(tmp_path, r), lb)
    message = str(exc.value)
    assert expect in message, message
    assert _snapshot(lb) == before  # leaderboard untouched


def test_aggregates_within_tolerance_are_accepted(lb: Path) -> None:
    r = make_result()
    r["aggregates"][MM]["metrics"]["f1_weighted"]["mean"] += 5e-7
    assert check_submission(r, lb).problems == []


def test_every_problem_is_listed_one_per_line(lb: Path, tmp_path: Path) -> None:
    r = make_result()
    _set(["dataset", "fingerprint"], "1" * 64)(r)
    _set(["scenarios", 1, "sha256"], "2" * 64)(r)
    _set_metric(float("nan"))(r)
    _bump(["aggregates", MM, "metrics", "f1_macro", "mean"], 0.1)(r)
    r["command"] = ""
    with pytest.raises(ModalbenchError) as exc:
        submit(_write(tmp_path, r), lb)
    lines = str(exc.value).splitlines()
    assert "5 problem(s)" in lines[0]
    for field in (
        "$.command",
        "dataset.fingerprint",
        "scenarios[1].sha256",
        "metrics.accuracy[0]: nan",
        f"aggregates.{MM}.metrics.f1_macro.mean",
    ):
        assert sum(field in line for line in lines[1:]) == 1, (field, lines)


def test_fewer_than_three_seeds_is_listed_unranked(lb: Path, tmp_path: Path) -> None:
    submit(_write(tmp_path, make_result(model="a", seeds=(0, 1), rng_seed=1)), lb)
    submit(_write(tmp_path, make_result(model="b", seeds=(0, 1, 2), rng_seed=2)), lb)
    one = make_result(model="c", seeds=(7,), rng_seed=3)
    assert one["aggregates"][MM]["metrics"]["f1_weighted"]["std"] is None
    v = check_submission(one, lb)
    assert v.problems == [] and v.ranked is False
    submit(_write(tmp_path, one), lb)
    board = json.loads((lb / "leaderboard.json").read_text())
    by_model = {e["model"]["name"]: e for e in board["entries"]}
    assert by_model["a"]["ranked"] is False and by_model["a"]["scenarios"][MM]["rank"] is None
    assert by_model["c"]["ranked"] is False
    assert by_model["b"]["scenarios"][MM]["rank"] == 1


def test_std_with_a_single_seed_must_be_null(lb: Path) -> None:
    r = make_result(seeds=(4,))
    r["aggregates"][MM]["metrics"]["accuracy"]["std"] = 0.0
    assert any(f"aggregates.{MM}.metrics.accuracy.std: expected null" in p for p in check_submission(r, lb).problems)


def test_same_key_needs_replace(lb: Path, tmp_path: Path) -> None:
    first = make_result(rng_seed=1)
    dest = submit(_write(tmp_path, first), lb)
    second = make_result(rng_seed=2)
    with pytest.raises(ModalbenchError, match="already exists.*--replace"):
        submit(_write(tmp_path, second), lb)
    assert json.loads(dest.read_text()) == first
    submit(_write(tmp_path, second), lb, replace=True)
    assert json.loads(dest.read_text()) == second
    board = json.loads((lb / "leaderboard.json").read_text())
    assert len(board["entries"]) == 1
    assert board["entries"][0]["scenarios"][MM]["metrics"] == second["aggregates"][MM]["metrics"]


def test_unreadable_files_name_the_file_and_line(lb: Path, tmp_path: Path) -> None:
    p = tmp_path / "broken.json"
    p.write_text('{\n  "schema_version": 1,\n  oops\n}\n')
    with pytest.raises(ModalbenchError, match=r"broken\.json: line 3 column 3"):
        submit(p, lb)
    with pytest.raises(ModalbenchError, match="file not found"):
        submit(tmp_path / "absent.json", lb)


def _fail_on(target_name: str, monkeypatch: pytest.MonkeyPatch, what: str) -> None:
    """Make the atomic writer fail while writing ``target_name`` (fsync mid-write, or the final rename)."""
    import modalbench.atomic as atomic

    if what == "replace":
        real = os.replace

        def replace(src: Any, dst: Any) -> None:
            if Path(dst).name == target_name:
                raise OSError("simulated crash during rename")
            real(src, dst)

        monkeypatch.setattr(atomic.os, "replace", replace)
    else:
        real_open = open

        class Half:
            def __init__(self, fh: Any) -> None:
                self.fh = fh

            def __enter__(self) -> Half:
                return self

            def __exit__(self, *a: Any) -> None:
                self.fh.close()

            def write(self, data: bytes) -> int:
                self.fh.write(data[: len(data) // 2])
                raise OSError("simulated disk full mid-write")

        def fake_open(file: Any, mode: str = "r", *a: Any, **kw: Any) -> Any:
            fh = real_open(file, mode, *a, **kw)
            name = Path(file).name  # atomic_file's temporary: <name>.<pid>.<random>.incomplete
            if "w" in mode and name.startswith(target_name + ".") and name.endswith(".incomplete"):
                return Half(fh)
            return fh

        monkeypatch.setattr("builtins.open", fake_open)


@pytest.mark.parametrize("what", ["replace", "write"])
@pytest.mark.parametrize("target", ["leaderboard.json", "early--full-modality.json"])
def test_failure_mid_write_leaves_the_old_leaderboard(
    lb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, target: str
) -> None:
    old = make_result(model="early", rng_seed=1)
    submit(_write(tmp_path, old), lb)
    submit(_write(tmp_path, make_result(model="late", rng_seed=2)), lb)
    before = _snapshot(lb)
    new = _write(tmp_path, make_result(model="early", rng_seed=9), "new.json")
    _fail_on(target, monkeypatch, what)
    with pytest.raises(OSError, match="simulated"):
        submit(new, lb, replace=True)
    monkeypatch.undo()
    assert _snapshot(lb) == before
    assert not list(lb.rglob("*.incomplete"))


def test_failure_leaves_no_new_submission(lb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _snapshot(lb)
    _fail_on("leaderboard.json", monkeypatch, "replace")
    with pytest.raises(OSError):
        submit(_write(tmp_path, make_result(model="fresh")), lb)
    monkeypatch.undo()
    assert _snapshot(lb) == before


def test_rebuild_is_byte_deterministic(tmp_path: Path) -> None:
    """Same submissions, written in a different order with shuffled key order -> identical leaderboard.json."""
    results = [
        make_result(model=m, rng_seed=i, seeds=s)
        for i, (m, s) in enumerate(
            [("early", (0, 1, 2)), ("late", (0, 1, 2)), ("mul", (0, 1)), ("embracenet", (3, 4, 5, 6))]
        )
    ]
    dirs = []
    for name, order in (("a", [0, 1, 2, 3]), ("b", [3, 1, 0, 2])):
        d = tmp_path / name
        d.mkdir()
        write_json_atomic(d / "official.json", official_for(results[0]))
        for i in order:
            submit(_write(tmp_path, results[i], f"{name}{i}.json"), d)
        dirs.append(d)
    # rewrite one submission with reversed key order: the index must not change
    f = next((dirs[1] / "submissions").rglob("mul--*.json"))
    obj = json.loads(f.read_text())
    f.write_text(json.dumps(dict(reversed(list(obj.items())))))
    a = (dirs[0] / "leaderboard.json").read_bytes()
    assert a == (dirs[1] / "leaderboard.json").read_bytes()
    assert board_mod.leaderboard_bytes(board_mod.build_leaderboard(dirs[1])) == a
    rebuild_leaderboard(dirs[0])
    assert (dirs[0] / "leaderboard.json").read_bytes() == a
    assert b"date" not in a.replace(b'"date": "2026-01-01T00:00:00Z"', b"")  # only the submissions' own dates


def test_ranks_follow_the_main_metric_and_ties_share_a_rank(lb: Path, tmp_path: Path) -> None:
    hi = make_result(model="hi", skill=0.95, rng_seed=1)
    lo = make_result(model="lo", skill=0.5, rng_seed=2)
    tie = json.loads(json.dumps(hi))
    tie["model"]["name"] = "tie"
    for i, r in enumerate((lo, hi, tie)):
        submit(_write(tmp_path, r, f"{i}.json"), lb)
    board = json.loads((lb / "leaderboard.json").read_text())
    ranks = {e["model"]["name"]: e["scenarios"][MM]["rank"] for e in board["entries"]}
    assert ranks == {"hi": 1, "tie": 1, "lo": 3}


def test_official_register_and_load(tmp_path: Path) -> None:
    p = tmp_path / "official.json"
    register_official("digits", "v1", "a" * 64, {"full@v1": (0, "b" * 64, 1)}, path=p)
    register_official(
        "digits", "v1", "a" * 64, {"missing-modalities@v1": {"seed": 0, "sha256": "c" * 64, "n_conditions": 3}}, path=p
    )
    off = load_official(p)
    assert off["datasets"] == {"digits@v1": {"fingerprint": "a" * 64}}
    assert set(off["scenarios"]["digits@v1"]) == {"full@v1", "missing-modalities@v1"}
    # a new fingerprint drops the scenario hashes of the old store
    register_official("digits", "v1", "d" * 64, {"full@v1": (0, "e" * 64, 1)}, path=p)
    assert set(load_official(p)["scenarios"]["digits@v1"]) == {"full@v1"}
    assert not list(tmp_path.glob("*.incomplete"))
    with pytest.raises(ModalbenchError, match="sha256"):
        register_official("digits", "v1", "d" * 64, {"full@v1": (0, "nothex", 1)}, path=p)
    assert load_official(p)["scenarios"]["digits@v1"]["full@v1"]["sha256"] == "e" * 64
    p.write_text('{"datasets": {"x@v1": {"fingerprint": "short"}}, "scenarios": {}}')
    with pytest.raises(ModalbenchError, match=r"datasets\.x@v1\.fingerprint"):
        load_official(p)


def test_committed_official_file_is_well_formed() -> None:
    off = load_official()
    assert set(off) == {"datasets", "scenarios"}


def test_register_from_scenario_manifests(tmp_path: Path) -> None:
    from modalbench.leaderboard.official import register_manifests

    p = tmp_path / "official.json"
    ds = {"name": "digits", "version": "v1", "fingerprint": "a" * 64}
    mans = [
        {"dataset": ds, "scenario": "full@v1", "seed": 0, "split": "test", "sha256": "b" * 64, "n_conditions": 1},
        {
            "dataset": ds,
            "scenario": "missing-modalities@v1",
            "seed": 0,
            "split": "test",
            "sha256": "c" * 64,
            "n_conditions": 3,
        },
    ]
    register_manifests(mans, path=p)
    off = load_official(p)
    assert off["scenarios"]["digits@v1"]["missing-modalities@v1"] == {"seed": 0, "sha256": "c" * 64, "n_conditions": 3}
    bad = dict(mans[0], split="val")
    other = dict(mans[1], dataset=dict(ds, fingerprint="d" * 64))
    with pytest.raises(ModalbenchError) as exc:
        register_manifests([mans[0], bad, other], path=p)
    assert "split 'val'" in str(exc.value) and "differs from" in str(exc.value)


def test_concurrent_submits_keep_every_entry(lb: Path, tmp_path: Path) -> None:
    """Four submits at once (separate processes): each is accepted and the rebuilt index lists all four."""
    import subprocess
    import sys

    paths = [_write(tmp_path, make_result(model=f"model{i}", rng_seed=i), f"r{i}.json") for i in range(4)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "modalbench", "submit", str(p), "--leaderboard", str(lb)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in paths
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    index = json.loads((lb / "leaderboard.json").read_text())
    assert sorted(e["model"]["name"] for e in index["entries"]) == [f"model{i}" for i in range(4)]


# ---------------------------------------------------------------- two-class results and metric names


def test_binary_result_with_error_rate_and_roc_auc_is_accepted(lb: Path, tmp_path: Path) -> None:
    r = make_result(model="mul", task_type="binary")
    metrics = r["scenarios"][0]["conditions"][0]["metrics"]
    assert set(metrics) == {"accuracy", "error_rate", "roc_auc", "f1_weighted", "f1_macro"}
    v = check_submission(r, lb)
    assert v.problems == [] and v.ranked
    dest = submit(_write(tmp_path, r), lb)
    entry = json.loads((lb / "leaderboard.json").read_text())["entries"][0]
    assert entry["file"] == dest.relative_to(lb).as_posix()
    assert set(entry["scenarios"]["missing-modalities@v1"]["metrics"]) >= {"roc_auc", "error_rate"}


def test_binary_result_missing_roc_auc_or_with_a_wrong_error_rate_is_rejected(lb: Path) -> None:
    r = make_result(task_type="binary")
    for sc in r["scenarios"]:
        for c in sc["conditions"]:
            del c["metrics"]["roc_auc"]
    problems = check_submission(_reaggregate(r), lb).problems
    assert any("'roc_auc' is a required property" in p for p in problems), problems
    r = make_result(task_type="binary")
    r["scenarios"][0]["conditions"][1]["metrics"]["error_rate"][2] = 0.5
    problems = check_submission(_reaggregate(r), lb).problems
    assert any(
        p.startswith("scenarios[0].conditions[1].metrics.error_rate[2]: 0.5 is not 1 - accuracy") for p in problems
    )


@pytest.mark.parametrize(("alias", "canonical"), [("weighted_f1", "f1_weighted"), ("auc", "roc_auc")])
def test_metric_aliases_are_refused_with_did_you_mean(lb: Path, alias: str, canonical: str) -> None:
    r = make_result(task_type="binary")
    for sc in r["scenarios"]:
        for c in sc["conditions"]:
            c["metrics"][alias] = c["metrics"].pop(canonical)
    problems = check_submission(_reaggregate(r), lb).problems
    hint = [p for p in problems if "did you mean" in p]
    assert hint == [
        f"scenarios[0].conditions[0].metrics.{alias}: {alias!r} is not a metric name; did you mean "
        f"{canonical!r}? (one spelling per metric)"
    ], problems
