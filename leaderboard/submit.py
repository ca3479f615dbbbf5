"""Validate a result file against the schema and its meaning, then add it to the leaderboard atomically.

Semantic rules: the dataset fingerprint and every scenario's seed and sha256 equal the registered
official values; each scenario has exactly the official number of conditions, with unique ids, and every
metric has one value per model seed; metrics are finite and in [0, 1]; aggregates agree with the per-seed
values within 1e-6 (see :mod:`modalbench.results`); ``trained_models`` follows ``seeds``; ``fill: none`` only for
models with ``handles_missing``; schema v1 files are rejected (re-run evaluate). Ranked entries need
:func:`modalbench.results.ranking_problems` to be empty (>= 3 seeds that are distinct trained models: distinct weight
sha256 and training seeds); other accepted entries are listed unranked, with the reasons. An existing entry with the
same key is only replaced on request.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from modalbench.atomic import INCOMPLETE, write_bytes_atomic
from modalbench.errors import ModalbenchError
from modalbench.fills import fill_params_problem
from modalbench.results import (
    RESULT_SCHEMA_VERSION,
    TOLERANCE,
    compare_aggregates,
    metric_name_problem,
    ranking_problems,
    scenario_aggregate,
)

from .board import (
    LEADERBOARD_FILE,
    build_leaderboard,
    entry_key,
    leaderboard_bytes,
    official_path,
    path_component_problem,
    read_json,
    resolve_dir,
    submission_path,
    training_label,
)
from .official import dataset_key, load_official
from .schema import validate_schema


@dataclass
class Verdict:
    """Outcome of :func:`check_submission`: every problem found, whether the entry is ranked, its key."""

    problems: list[str] = field(default_factory=list)
    ranked: bool = False
    key: str | None = None
    #: why an accepted result is listed unranked (empty when ranked)
    unranked_reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _finite(x: int | float) -> bool:
    """Finite without converting huge integers to float (which would overflow)."""
    return isinstance(x, int) or math.isfinite(x)


def _d(obj: Any, key: str) -> Any:
    """``obj[key]`` when obj is a dict, else None (semantic checks never crash on malformed input)."""
    return obj.get(key) if isinstance(obj, dict) else None


def _check_conditions(
    sc: dict[str, Any], where: str, n_seeds: int | None, metric_sets: dict[tuple[str, ...], str]
) -> tuple[list[str], bool]:
    """Problems of one scenario's conditions and whether they are complete enough to aggregate."""
    problems: list[str] = []
    conditions = _d(sc, "conditions")
    if not isinstance(conditions, list):
        return problems, False
    usable = n_seeds is not None and n_seeds >= 1
    wrong_length: list[str] = []
    local_sets: set[tuple[str, ...]] = set()
    ids: dict[Any, int] = {}
    for i, cond in enumerate(conditions):
        cwhere = f"{where}.conditions[{i}]"
        cid = _d(cond, "id")
        if isinstance(cid, str):
            if cid in ids:
                problems.append(f"{cwhere}.id: duplicate condition id {cid!r} (also conditions[{ids[cid]}])")
            ids.setdefault(cid, i)
        metrics = _d(cond, "metrics")
        if not isinstance(metrics, dict):
            usable = False
            continue
        names = tuple(sorted(metrics))
        metric_sets.setdefault(names, cwhere)
        local_sets.add(names)
        problems += _error_rate_problems(metrics, cwhere)
        for name, values in metrics.items():
            mwhere = f"{cwhere}.metrics.{name}"
            if not isinstance(values, list):
                usable = False
                continue
            if n_seeds is not None and len(values) != n_seeds:
                wrong_length.append(f"{mwhere}: {len(values)} values for {n_seeds} seeds")
                usable = False
            for j, v in enumerate(values):
                if not _is_num(v):
                    usable = False
                elif not _finite(v):
                    problems.append(f"{mwhere}[{j}]: {v!r} is not finite")
                    usable = False
                elif not 0.0 <= v <= 1.0:
                    problems.append(f"{mwhere}[{j}]: {v!r} is outside [0, 1]")
                    usable = False
        for extra in ("n_available", "missing_rate"):
            x = _d(cond, extra)
            if x is not None and not _is_num(x):
                usable = False
            elif _is_num(x) and not _finite(x):
                problems.append(f"{cwhere}.{extra}: {x!r} is not finite")
                usable = False
    if len(wrong_length) <= 3:
        problems += [f"{w} (one value per seed, in the order of 'seeds')" for w in wrong_length]
    else:
        problems.append(
            f"{where}.conditions: {len(wrong_length)} metric lists do not have one value per seed "
            f"(in the order of 'seeds'), e.g. {wrong_length[0]}"
        )
    if len(local_sets) > 1:
        usable = False  # reported once for the whole file by check_submission
    return problems, usable


def _error_rate_problems(metrics: dict[str, Any], where: str) -> list[str]:
    """A two-class result's ``error_rate`` must be ``1 − accuracy`` for every seed."""
    err, acc = metrics.get("error_rate"), metrics.get("accuracy")
    if not isinstance(err, list) or not isinstance(acc, list) or len(err) != len(acc):
        return []
    for j, (e, a) in enumerate(zip(err, acc)):
        if _is_num(e) and _is_num(a) and _finite(e) and _finite(a) and abs(float(e) + float(a) - 1.0) > TOLERANCE:
            return [f"{where}.metrics.error_rate[{j}]: {e!r} is not 1 - accuracy ({a!r})"]
    return []


def _provenance_problems(result: dict[str, Any], seeds: Any) -> list[str]:
    """``trained_models`` follows ``seeds``; ``fill: none`` only for models that handle missing data natively."""
    problems: list[str] = []
    trained = result.get("trained_models")
    if isinstance(trained, list) and isinstance(seeds, list):
        got = [_d(t, "seed") for t in trained]
        if got != seeds:
            problems.append(f"trained_models: seeds {got} do not follow 'seeds' {seeds} (one entry per seed, in order)")
    model = _d(result, "model")
    if _d(model, "handles_missing") is False and isinstance(result.get("scenarios"), list):
        for i, sc in enumerate(result["scenarios"]):
            if _d(sc, "fill") == "none":
                problems.append(
                    f"scenarios[{i}].fill: 'none' with a model that does not handle missing data "
                    "(model.handles_missing is false): the masked values were still in its inputs"
                )
    return problems


def check_submission(
    result: Any,
    leaderboard_dir: str | os.PathLike[str] | None = None,
    official: dict[str, Any] | str | os.PathLike[str] | None = None,
    *,
    replace: bool = False,
    own_path: Path | None = None,
) -> Verdict:
    """Every schema and semantic problem of ``result`` (a parsed result file); never raises on any JSON value.

    ``official`` is the loaded official.json dict, a path to one, or None for the leaderboard directory's.
    ``own_path`` (CI re-check of committed files) exempts that file from the same-key rule.
    """
    root = resolve_dir(leaderboard_dir)
    if not isinstance(official, dict):
        official = load_official(official if official is not None else official_path(root))
    problems = list(validate_schema(result))
    verdict = Verdict(problems=problems)
    if not isinstance(result, dict):
        return verdict

    dataset, task, model, regime = _d(result, "dataset"), result.get("task"), _d(result, "model"), result.get("regime")
    name, version = _d(dataset, "name"), _d(dataset, "version")
    seeds = result.get("seeds")
    n_seeds = len(seeds) if isinstance(seeds, list) and all(isinstance(s, int) for s in seeds) else None
    verdict.unranked_reasons = ranking_problems(result)
    verdict.ranked = n_seeds is not None and not verdict.unranked_reasons
    declared = result.get("schema_version")
    if declared != RESULT_SCHEMA_VERSION and not any(p.startswith("$.schema_version") for p in problems):
        problems.append(
            f"schema_version: {declared!r} files are no longer accepted (they lack exclusion counts, the "
            f"fill actually used and per-seed provenance); re-run `modalbench evaluate` to get version "
            f"{RESULT_SCHEMA_VERSION}"
        )
    problems += _provenance_problems(result, seeds)

    # names used in file paths
    for value, fname in ((name, "dataset.name"), (task, "task"), (_d(model, "name"), "model.name"), (regime, "regime")):
        p = path_component_problem(value, fname)
        if p and p not in problems and isinstance(value, str):
            problems.append(p)

    # dataset fingerprint
    registered: dict[str, Any] = {}
    dataset_registered = False
    if isinstance(name, str) and isinstance(version, str):
        dkey = dataset_key(name, version)
        if dkey not in official["datasets"]:
            known = ", ".join(sorted(official["datasets"])) or "none"
            problems.append(f"dataset: {dkey!r} has no registered official values (registered: {known})")
        else:
            dataset_registered = True
            registered = official["scenarios"].get(dkey, {})
            fp = _d(dataset, "fingerprint")
            want = official["datasets"][dkey]["fingerprint"]
            if fp != want:
                problems.append(
                    f"dataset.fingerprint: {fp!r} does not match the official fingerprint {want!r} "
                    f"of {dkey} (evaluate on a store prepared with the default parameters)"
                )

    # scenarios
    scenarios = result.get("scenarios")
    aggregates = result.get("aggregates")
    expected_aggs: dict[str, Any] = {}
    metric_sets: dict[tuple[str, ...], str] = {}
    if isinstance(scenarios, list):
        seen: dict[str, int] = {}
        for i, sc in enumerate(scenarios):
            where = f"scenarios[{i}]"
            sid = _d(sc, "id")
            if not isinstance(sid, str):
                continue
            if sid in seen:
                problems.append(f"{where}.id: scenario {sid!r} appears twice (also scenarios[{seen[sid]}])")
                continue
            seen[sid] = i
            if isinstance(_d(sc, "fill"), str):
                bad_params = fill_params_problem(sc["fill"], _d(sc, "fill_params"))
                if bad_params:
                    problems.append(f"{where}.fill_params: {bad_params}")
            rec = registered.get(sid)
            if dataset_registered and rec is None:
                known = ", ".join(sorted(registered)) or "none"
                problems.append(
                    f"{where}.id: scenario {sid!r} has no official values for "
                    f"{dataset_key(name, version)} (registered: {known})"
                )
            if rec is not None:
                if _d(sc, "seed") != rec["seed"]:
                    problems.append(f"{where}.seed: {_d(sc, 'seed')!r} is not the official scenario seed {rec['seed']}")
                if _d(sc, "sha256") != rec["sha256"]:
                    problems.append(
                        f"{where}.sha256: {_d(sc, 'sha256')!r} does not match the official {sid} hash {rec['sha256']!r}"
                    )
                conds = _d(sc, "conditions")
                if isinstance(conds, list) and len(conds) != rec["n_conditions"]:
                    problems.append(
                        f"{where}.conditions: {len(conds)} conditions, the official {sid} has "
                        f"{rec['n_conditions']} (every condition must be evaluated)"
                    )
            cprob, usable = _check_conditions(sc, where, n_seeds, metric_sets)
            problems += cprob
            if usable and isinstance(_d(sc, "conditions"), list) and _d(sc, "conditions"):
                expected_aggs[sid] = scenario_aggregate(sc, n_seeds)  # type: ignore[arg-type]
        # aggregates
        if isinstance(aggregates, dict):
            for sid in sorted(k for k in aggregates if isinstance(k, str)):
                if sid not in seen:
                    problems.append(f"aggregates.{sid}: no scenario {sid!r} in 'scenarios'")
            for sid in sorted(seen):
                if sid not in aggregates:
                    problems.append(f"aggregates: missing the aggregate of scenario {sid!r}")
                elif sid in expected_aggs:
                    problems += compare_aggregates(aggregates[sid], expected_aggs[sid], f"aggregates.{sid}")
    named: set[str] = set()
    for names, mwhere in metric_sets.items():  # a wrong spelling once per file, where it first appears
        for mname in names:
            bad_name = metric_name_problem(mname) if isinstance(mname, str) else None
            if bad_name and mname not in named:
                named.add(mname)
                problems.append(f"{mwhere}.metrics.{mname}: {bad_name}")
    if len(metric_sets) > 1:
        (first, fwhere), *rest = metric_sets.items()
        for names, other in rest:
            problems.append(
                f"{other}.metrics: metric set {list(names)} differs from {list(first)} at {fwhere} "
                "(every condition reports the same metrics)"
            )

    # training scenario (train-missing): registered like the test scenarios
    training = training_label(result)
    ts = result.get("training_scenario")
    if isinstance(ts, dict) and dataset_registered:
        rec = registered.get(str(ts.get("id")))
        if rec is None:
            known = ", ".join(sorted(registered)) or "none"
            problems.append(
                f"training_scenario.id: {ts.get('id')!r} has no official values for "
                f"{dataset_key(name, version)} (registered: {known})"
            )
        else:
            if ts.get("seed") != rec["seed"]:
                problems.append(f"training_scenario.seed: {ts.get('seed')!r} is not the official seed {rec['seed']}")
            if ts.get("sha256") != rec["sha256"]:
                problems.append(
                    f"training_scenario.sha256: {ts.get('sha256')!r} does not match the official "
                    f"{ts.get('id')} hash {rec['sha256']!r}"
                )
    if training is not None:
        p = path_component_problem(training, "training_scenario")
        if p:
            problems.append(p)

    # key and existing entry
    model_name = _d(model, "name")
    if isinstance(name, str) and isinstance(task, str) and isinstance(model_name, str) and isinstance(regime, str):
        try:
            path = submission_path(root, name, task, model_name, regime, training)
        except ModalbenchError:
            path = None
        if path is not None:
            verdict.key = entry_key(name, task, model_name, regime, training)
            own = own_path is not None and Path(own_path).resolve() == path.resolve()
            if path.exists() and not replace and not own:
                problems.append(f"key {verdict.key!r}: an entry already exists ({path}); pass --replace to replace it")
    return verdict


def _remove_incomplete(path: Path) -> None:
    tmp = path.with_name(path.name + INCOMPLETE)
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass


#: the lock file of a leaderboard directory (never committed)
LOCK_FILE = ".lock"


def submit(
    path: str | os.PathLike[str], leaderboard_dir: str | os.PathLike[str] | None = None, replace: bool = False
) -> Path:
    """Check ``path`` and, when it passes, write it to ``submissions/<dataset>/<task>/<model>--<regime>.json``
    and rebuild ``leaderboard.json``; returns the submission path.

    Raises :class:`ModalbenchError` listing every problem (one per line) and leaves the leaderboard untouched.
    Both files are written atomically; if the index cannot be written the submission file is restored.
    """
    path = Path(path)
    root = resolve_dir(leaderboard_dir)
    result = read_json(path)
    with board_lock(root):  # concurrent submits: one at a time, each sees the others' entries
        return _submit_locked(path, root, result, replace)


def board_lock(root: Path) -> FileLock:
    """The leaderboard directory's lock (``<dir>/.lock``): submissions and index rebuilds take it in turn."""
    return FileLock(str(Path(root) / LOCK_FILE))


def _submit_locked(path: Path, root: Path, result: Any, replace: bool) -> Path:
    verdict = check_submission(result, root, replace=replace)
    if verdict.problems:
        raise ModalbenchError(f"{path}: rejected, {len(verdict.problems)} problem(s):\n" + "\n".join(verdict.problems))
    dest = submission_path(
        root,
        result["dataset"]["name"],
        result["task"],
        result["model"]["name"],
        result["regime"],
        training_label(result),
    )
    data = leaderboard_bytes(result)  # same canonical formatting for submissions
    board = build_leaderboard(root, extra=(dest, result))
    board_bytes = leaderboard_bytes(board)
    previous = dest.read_bytes() if dest.exists() else None
    try:
        write_bytes_atomic(dest, data)
        write_bytes_atomic(root / LEADERBOARD_FILE, board_bytes)
    except BaseException:
        _remove_incomplete(dest)
        _remove_incomplete(root / LEADERBOARD_FILE)
        if previous is None:
            dest.unlink(missing_ok=True)
        elif dest.read_bytes() != previous:
            write_bytes_atomic(dest, previous)
        raise
    return dest


def rebuild_leaderboard(leaderboard_dir: str | os.PathLike[str] | None = None) -> Path:
    """Rebuild ``leaderboard.json`` from the submissions and reference rows (atomic write)."""
    root = resolve_dir(leaderboard_dir)
    out = root / LEADERBOARD_FILE
    try:
        with board_lock(root):
            write_bytes_atomic(out, leaderboard_bytes(build_leaderboard(root)))
    except BaseException:
        _remove_incomplete(out)
        raise
    return out
