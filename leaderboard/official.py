"""Registered official values a submission must match: dataset fingerprints and scenario hashes.

``official.json``::

    {"datasets":  {"<name>@<version>": {"fingerprint": "<sha256>", "primary_metrics": {"<task>": "roc_auc"}}},
     "scenarios": {"<name>@<version>": {"<scenario id>": {"seed": 0, "sha256": "<sha256>", "n_conditions": 255}}}}

The scenario values are the scenario engine's published artifacts for the standard seed. ``primary_metrics``
(optional) copies the store's ``tasks.<task>.primary_metric``: the leaderboard ranks that task by it (its direction,
higher or lower better, from :data:`modalbench.results.LOWER_IS_BETTER`); tasks without one rank by weighted F1.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from modalbench.atomic import write_json_atomic
from modalbench.errors import ModalbenchError
from modalbench.jsonio import read_json
from modalbench.results import MAIN_METRIC, metric_name_problem

DEFAULT_PATH = Path(__file__).parent / "official.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SCENARIO_ID = re.compile(r"^[a-z0-9][a-z0-9-]*@v[0-9]+$")

ScenarioValue = tuple[int, str, int] | Mapping[str, Any]


def dataset_key(name: str, version: str) -> str:
    """``"<name>@<version>"``, the key of a dataset in official.json."""
    return f"{name}@{version}"


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def official_problems(obj: Any) -> list[str]:
    """Structural problems of an official.json document (empty when well-formed)."""
    if not isinstance(obj, dict):
        return ["top level: expected an object with 'datasets' and 'scenarios'"]
    problems = []
    for key in ("datasets", "scenarios"):
        if not isinstance(obj.get(key), dict):
            problems.append(f"{key}: expected an object")
    extra = sorted(set(obj) - {"datasets", "scenarios"})
    if extra:
        problems.append(f"unexpected keys {extra}")
    if problems:
        return problems
    for dkey, rec in obj["datasets"].items():
        if (
            not isinstance(rec, dict)
            or not isinstance(rec.get("fingerprint"), str)
            or not _SHA256.match(rec["fingerprint"])
        ):
            problems.append(f"datasets.{dkey}.fingerprint: expected a 64-digit lowercase hex sha256")
        primary = rec.get("primary_metrics") if isinstance(rec, dict) else None
        if primary is not None and not isinstance(primary, dict):
            problems.append(f"datasets.{dkey}.primary_metrics: expected an object {{task: metric name}}")
        for task, metric in (primary or {}).items() if isinstance(primary, dict) else ():
            bad = metric_name_problem(metric) if isinstance(metric, str) else "expected a metric name"
            if bad:
                problems.append(f"datasets.{dkey}.primary_metrics.{task}: {bad}")
    for dkey, scen in obj["scenarios"].items():
        if dkey not in obj["datasets"]:
            problems.append(f"scenarios.{dkey}: dataset {dkey!r} has no entry under 'datasets'")
        if not isinstance(scen, dict):
            problems.append(f"scenarios.{dkey}: expected an object of scenario ids")
            continue
        for sid, rec in scen.items():
            where = f"scenarios.{dkey}.{sid}"
            if not _SCENARIO_ID.match(str(sid)):
                problems.append(f"{where}: scenario id must look like 'family@v1'")
            if not isinstance(rec, dict):
                problems.append(f"{where}: expected an object with seed, sha256, n_conditions")
                continue
            if not _is_int(rec.get("seed")) or rec["seed"] < 0:
                problems.append(f"{where}.seed: expected a non-negative integer")
            if not isinstance(rec.get("sha256"), str) or not _SHA256.match(rec["sha256"]):
                problems.append(f"{where}.sha256: expected a 64-digit lowercase hex sha256")
            if not _is_int(rec.get("n_conditions")) or rec["n_conditions"] < 1:
                problems.append(f"{where}.n_conditions: expected a positive integer")
    return problems


def load_official(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Read and check official.json (default: the packaged ``leaderboard/official.json``)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    if not path.exists():
        raise ModalbenchError(f"{path}: official values file not found")
    obj = read_json(path)  # strict: a duplicate key or NaN is a one-line error naming the file
    problems = official_problems(obj)
    if problems:
        raise ModalbenchError(f"{path}: invalid official values:\n" + "\n".join(problems))
    return obj


def primary_metric(official: Mapping[str, Any], dataset: str, version: str, task: str) -> str:
    """The metric a dataset task is ranked by: its registered ``primary_metrics`` entry, else weighted F1."""
    rec = official.get("datasets", {}).get(dataset_key(dataset, version), {})
    metric = (rec.get("primary_metrics") or {}).get(task) if isinstance(rec, Mapping) else None
    return metric if isinstance(metric, str) else MAIN_METRIC


def _scenario_record(sid: str, value: ScenarioValue) -> dict[str, Any]:
    if isinstance(value, Mapping):
        rec = {"seed": value.get("seed"), "sha256": value.get("sha256"), "n_conditions": value.get("n_conditions")}
    else:
        if len(value) != 3:
            raise ModalbenchError(f"scenario {sid!r}: expected (seed, sha256, n_conditions), got {value!r}")
        seed, sha, n = value
        rec = {"seed": seed, "sha256": sha, "n_conditions": n}
    return rec


def register_official(
    dataset: str,
    version: str,
    fingerprint: str,
    scenarios: Mapping[str, ScenarioValue],
    path: str | Path | None = None,
    primary_metrics: Mapping[str, str] | None = None,
) -> Path:
    """Record a dataset's fingerprint and its scenarios' ``(seed, sha256, n_conditions)``; atomic write.

    Existing scenarios of the dataset not named in ``scenarios`` are kept; a changed fingerprint drops them
    (they were hashes of another store). ``primary_metrics`` ``{task: metric}`` (the store's declared primary
    metrics) replaces the recorded ones when given. Returns the path written.
    """
    path = Path(path) if path is not None else DEFAULT_PATH
    official = load_official(path) if path.exists() else {"datasets": {}, "scenarios": {}}
    key = dataset_key(dataset, version)
    old_rec = official["datasets"].get(key, {})
    old_fp = old_rec.get("fingerprint")
    official["datasets"][key] = {"fingerprint": fingerprint}
    primary = dict(primary_metrics) if primary_metrics is not None else old_rec.get("primary_metrics")
    if primary:
        official["datasets"][key]["primary_metrics"] = dict(sorted(primary.items()))
    current = {} if old_fp not in (None, fingerprint) else dict(official["scenarios"].get(key, {}))
    for sid, value in scenarios.items():
        current[sid] = _scenario_record(sid, value)
    official["scenarios"][key] = current
    problems = official_problems(official)
    if problems:
        raise ModalbenchError(f"register_official({dataset!r}, {version!r}): invalid values:\n" + "\n".join(problems))
    write_json_atomic(path, official)
    return path


def register_manifests(
    manifests: Iterable[Mapping[str, Any]],
    path: str | Path | None = None,
    primary_metrics: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """Register official values from scenario-engine manifests (``manifest.json`` of the standard seed).

    Each manifest gives ``dataset`` {name, version, fingerprint}, ``scenario`` (id), ``seed``, ``split``,
    ``sha256`` and ``n_conditions``. Only test-split scenarios are official, and training scenarios (``use``
    ``training``, on the train split: ``train-missing``); one fingerprint per dataset.
    ``primary_metrics``: per dataset key (``name@version``), the ``{task: metric}`` its store declares.
    """
    by_dataset: dict[tuple[str, str], tuple[str, dict[str, ScenarioValue]]] = {}
    problems = []
    for i, man in enumerate(manifests):
        try:
            ds = man["dataset"]
            key = (str(ds["name"]), str(ds["version"]))
            fp, sid = ds["fingerprint"], man["scenario"]
            value = (man["seed"], man["sha256"], man["n_conditions"])
        except (KeyError, TypeError) as exc:
            problems.append(f"manifest {i}: missing {exc}")
            continue
        training = man.get("split") == "train" and man.get("use") == "training"  # train-missing: the train split
        if man.get("split", "test") != "test" and not training:
            problems.append(f"manifest {i} ({sid}): split {man.get('split')!r}; official scenarios use the test split")
            continue
        old_fp, scen = by_dataset.setdefault(key, (fp, {}))
        if old_fp != fp:
            problems.append(
                f"manifest {i} ({sid}): fingerprint {fp} differs from {old_fp} of another manifest "
                f"of {dataset_key(*key)}"
            )
            continue
        scen[sid] = value
    if problems:
        raise ModalbenchError("cannot register these manifests:\n" + "\n".join(problems))
    out = Path(path) if path is not None else DEFAULT_PATH
    for (name, version), (fp, scen) in sorted(by_dataset.items()):
        primary = (primary_metrics or {}).get(dataset_key(name, version))
        out = register_official(name, version, fp, scen, path=path, primary_metrics=primary)
    return out
