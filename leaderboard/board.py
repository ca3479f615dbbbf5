"""The leaderboard directory and its aggregated index ``leaderboard.json``.

Layout of a leaderboard directory (the repository's ``leaderboard/`` by default)::

    official.json                                       registered fingerprints and scenario hashes
    submissions/<dataset>/<task>/<model>--<regime>.json accepted result files
    reference/reported.json                             numbers reported in the papers (never ranked)
    leaderboard.json                                    index rebuilt from the above, byte-deterministic

Ranking: results are only ranked against results measured the same way. A ranking group is one
(dataset, version, task, scenario id with its version, fill with its parameters, training regime): a mean-filled
result is never ranked against a forward-filled one, nor a knn fill with k=5 against one with k=10, nor a modality-dropout model against full-modality ones, nor missing-modalities@v1
against @v2. Within a group, ranked entries (:func:`modalbench.results.ranking_problems` is empty: schema v2,
>= 3 seeds that are distinct trained models) are ordered by the mean over seeds of the condition-mean of the task's
primary metric — the one its store declares and ``register-official`` copies into official.json
(``primary_metrics``; HIGGS: ROC AUC), else the main metric (weighted F1, EmbraceNet eq. 9) — best first (highest,
or lowest for :data:`modalbench.results.LOWER_IS_BETTER` metrics such as the error rate); equal means share a rank
(competition ranking 1, 1, 3).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modalbench.errors import ModalbenchError
from modalbench.fills import canonical_fill_params, fill_label
from modalbench.jsonio import read_json as strict_read_json
from modalbench.results import LOWER_IS_BETTER, MAIN_METRIC, MIN_RANKED_SEEDS, higher_is_better, ranking_problems

from .official import load_official, primary_metric

PACKAGE_DIR = Path(__file__).parent
#: Default leaderboard directory: this package's folder (``leaderboard/`` of the source checkout).
DEFAULT_DIR = PACKAGE_DIR
LEADERBOARD_FILE = "leaderboard.json"
SUBMISSIONS = "submissions"
FORMAT_VERSION = 2
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def resolve_dir(leaderboard_dir: str | os.PathLike[str] | None) -> Path:
    """The leaderboard directory: the argument, else :data:`DEFAULT_DIR`."""
    return Path(leaderboard_dir) if leaderboard_dir not in (None, "") else DEFAULT_DIR


def official_path(leaderboard_dir: Path) -> Path:
    """``<dir>/official.json`` when present, else the packaged official values."""
    p = Path(leaderboard_dir) / "official.json"
    return p if p.exists() else PACKAGE_DIR / "official.json"


def reported_path(leaderboard_dir: Path) -> Path:
    """``<dir>/reference/reported.json`` when present, else the packaged reference rows."""
    p = Path(leaderboard_dir) / "reference" / "reported.json"
    return p if p.exists() else PACKAGE_DIR / "reference" / "reported.json"


def path_component_problem(value: Any, field: str) -> str | None:
    """Why ``value`` cannot be a file-name component (None when it can)."""
    if not isinstance(value, str) or not value:
        return f"{field}: expected a non-empty string usable as a file name"
    if "/" in value or "\\" in value or "\x00" in value or (os.altsep and os.altsep in value):
        return f"{field}: {value!r} contains a path separator"
    if not _SAFE.match(value) or value in (".", ".."):
        return f"{field}: {value!r} must start with a letter or digit and use only letters, digits, '.', '_', '+', '-'"
    if "--" in value and field in ("model.name", "regime"):
        return f"{field}: {value!r} must not contain '--' (it separates model and regime in file names)"
    return None


def training_label(result: Any) -> str | None:
    """``"<family>-<condition>"`` of a result's training scenario (``train-missing-mcar-p0.30``); None without one."""
    ts = result.get("training_scenario") if isinstance(result, dict) else None
    if not isinstance(ts, dict) or not isinstance(ts.get("id"), str) or not isinstance(ts.get("condition"), str):
        return None
    return f"{ts['id'].split('@', 1)[0]}-{ts['condition']}"


def entry_key(dataset: str, task: str, model: str, regime: str, training: str | None = None) -> str:
    """``"<dataset>/<task>/<model>--<regime>"`` (``--<training scenario>`` appended for results trained on one): one
    entry per (model, dataset, task, training regime, training scenario)."""
    return f"{dataset}/{task}/{model}--{regime}" + (f"--{training}" if training else "")


def submission_path(
    leaderboard_dir: Path, dataset: str, task: str, model: str, regime: str, training: str | None = None
) -> Path:
    """Where an accepted submission lives; raises ModalbenchError for unsafe names."""
    problems = [
        p
        for p in (
            path_component_problem(dataset, "dataset.name"),
            path_component_problem(task, "task"),
            path_component_problem(model, "model.name"),
            path_component_problem(regime, "regime"),
            path_component_problem(training, "training_scenario") if training is not None else None,
        )
        if p
    ]
    if problems:
        raise ModalbenchError("unsafe names for a submission file:\n" + "\n".join(problems))
    name = f"{model}--{regime}" + (f"--{training}" if training else "")
    return Path(leaderboard_dir) / SUBMISSIONS / dataset / task / f"{name}.json"


def read_json(path: Path) -> Any:
    """Parse a JSON file strictly (:func:`modalbench.jsonio.read_json`: duplicate keys, non-regular or oversized
    files are refused); errors name the file, line and column or key. ``NaN`` / ``Infinity`` are read as floats
    so that the submission checks name the field that holds them."""
    return strict_read_json(path, allow_nan=True)


def submission_files(leaderboard_dir: Path) -> list[Path]:
    """Every submission file, sorted by relative path (stable across file systems)."""
    root = Path(leaderboard_dir) / SUBMISSIONS
    if not root.is_dir():
        return []
    files = [p for p in root.glob("*/*/*.json") if p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def iter_submissions(leaderboard_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """``(path, result)`` of every submission file."""
    for path in submission_files(leaderboard_dir):
        obj = read_json(path)
        if not isinstance(obj, dict):
            raise ModalbenchError(f"{path}: expected a result object")
        yield path, obj


def load_reported(leaderboard_dir: Path | None = None) -> dict[str, Any]:
    """The reference rows ``{"papers": {...}, "rows": [...]}`` (see reference/convert.py)."""
    path = reported_path(resolve_dir(leaderboard_dir))
    obj = read_json(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("rows"), list) or not isinstance(obj.get("papers"), dict):
        raise ModalbenchError(f"{path}: expected an object with 'papers' and 'rows'")
    return obj


def _entry(
    leaderboard_dir: Path, path: Path, result: dict[str, Any], official: dict[str, Any] | None = None
) -> dict[str, Any]:
    try:
        ds, model = result["dataset"], result["model"]
        training = training_label(result)
        key = entry_key(ds["name"], result["task"], model["name"], result["regime"], training)
        seeds = list(result["seeds"])
        scenarios = {}
        for sc in result["scenarios"]:
            agg = result["aggregates"][sc["id"]]
            scenarios[sc["id"]] = {
                "seed": sc["seed"],
                "sha256": sc["sha256"],
                "fill": sc["fill"],
                **({"fill_params": canonical_fill_params(sc["fill_params"])} if sc.get("fill_params") else {}),
                "group": ranking_group(
                    sc["id"], fill_label(sc["fill"], sc.get("fill_params")), result["regime"], training
                ),
                "n_conditions": len(sc["conditions"]),
                "metrics": agg["metrics"],
                "n_scored": agg.get("n_scored"),
                "n_excluded": agg.get("n_excluded"),
                "by_n_available": agg["by_n_available"],
                "by_missing_rate": agg["by_missing_rate"],
                "rank": None,
            }
        reasons = ranking_problems(result)
    except (KeyError, TypeError) as exc:
        raise ModalbenchError(f"{path}: not a valid result file (missing {exc}); run the CI check") from None
    return {
        "key": key,
        "file": path.relative_to(leaderboard_dir).as_posix(),
        "dataset": ds["name"],
        "dataset_version": ds["version"],
        "fingerprint": ds["fingerprint"],
        "task": result["task"],
        "model": {
            k: model.get(k)
            for k in ("name", "description", "code_url", "paper", "parameter_count", "external_data", "official")
        },
        "regime": result["regime"],
        **({"training_scenario": result["training_scenario"]} if result.get("training_scenario") else {}),
        "primary_metric": primary_metric(official or {}, ds["name"], ds["version"], result["task"]),
        "schema_version": result.get("schema_version"),
        "handles_missing": model.get("handles_missing"),
        "seeds": seeds,
        "n_seeds": len(seeds),
        "ranked": not reasons,
        "unranked_reasons": reasons,
        "modalbench_version": result.get("modalbench_version"),
        "date": result.get("date"),
        "hardware": hardware_summary(result.get("hardware")),
        "wall_seconds_per_seed": wall_seconds_per_seed(result),
        "scenarios": scenarios,
    }


def hardware_summary(hardware: Any) -> str | None:
    """One line: the GPU (or CPU model), usable CPUs, torch threads, torch version; None when nothing is recorded."""
    if not isinstance(hardware, dict) or not hardware:
        return None
    chip = hardware.get("gpu") or hardware.get("cpu") or hardware.get("processor") or hardware.get("machine")
    parts = [str(chip)] if chip else []
    if hardware.get("usable_cpus"):
        parts.append(f"{hardware['usable_cpus']} CPUs")
    if hardware.get("threads"):
        parts.append(f"{hardware['threads']} thread{'s' if hardware['threads'] != 1 else ''}")
    if hardware.get("torch"):
        parts.append(f"torch {hardware['torch']}")
    return " · ".join(parts) or None


def wall_seconds_per_seed(result: dict[str, Any]) -> float | None:
    """Training + evaluation wall time per seed (``hardware.wall_seconds`` / seeds); None when not recorded."""
    hardware = result.get("hardware")
    wall = hardware.get("wall_seconds") if isinstance(hardware, dict) else None
    seeds = result.get("seeds")
    if isinstance(wall, bool) or not isinstance(wall, (int, float)) or not isinstance(seeds, list) or not seeds:
        return None
    return round(float(wall) / len(seeds), 1)


def main_score(entry: dict[str, Any], scenario_id: str) -> float | None:
    """Mean of the entry's ranking metric (its task's primary metric, else the main metric) on a scenario (None
    when absent)."""
    sc = entry["scenarios"].get(scenario_id)
    metric = entry.get("primary_metric") or MAIN_METRIC
    if sc is None or metric not in sc["metrics"]:
        return None
    return float(sc["metrics"][metric]["mean"])


def sort_score(entry: dict[str, Any], scenario_id: str) -> float:
    """A key that sorts entries best first: the negated score for higher-is-better metrics."""
    score = main_score(entry, scenario_id)
    if score is None:
        return math.inf
    return -score if higher_is_better(entry.get("primary_metric") or MAIN_METRIC) else score


def ranking_group(scenario_id: str, fill: str, regime: str, training: str | None = None) -> str:
    """The label of a ranking group within a (dataset, version, task): scenario version, fill (with its parameters,
    :func:`modalbench.fills.fill_label`: ``knn@v1(k=10)``), regime and, for results
    trained on a training scenario, that scenario and condition (never ranked against complete-data training)."""
    return f"{scenario_id} · fill {fill} · {regime}" + (f" · trained on {training}" if training else "")


def _assign_ranks(entries: list[dict[str, Any]]) -> None:
    groups: dict[tuple[str, str, str, str, str], list[dict[str, Any]]] = {}
    for e in entries:
        if not e["ranked"]:
            continue
        for sid, sc in e["scenarios"].items():
            if main_score(e, sid) is not None:
                groups.setdefault((e["dataset"], e["dataset_version"], e["task"], sid, sc["group"]), []).append(e)
    for (_, _, _, sid, _), members in sorted(groups.items()):
        members.sort(key=lambda e: (sort_score(e, sid), e["key"]))
        previous, rank = None, 0
        for i, e in enumerate(members, start=1):
            score = main_score(e, sid)
            if score != previous:
                rank, previous = i, score
            e["scenarios"][sid]["rank"] = rank


def _official_or_empty(root: Path) -> dict[str, Any]:
    """The leaderboard's official values (for the declared primary metrics); empty when there are none."""
    path = official_path(root)
    return load_official(path) if path.exists() else {"datasets": {}, "scenarios": {}}


def build_leaderboard(
    leaderboard_dir: str | os.PathLike[str] | None = None, extra: tuple[Path, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The index of a leaderboard directory: reproduced entries (ranked) and reported rows (never ranked).

    ``extra`` = ``(path, result)`` adds or replaces one submission in memory (used by ``submit`` to build the
    new index before anything is written).
    """
    root = resolve_dir(leaderboard_dir)
    subs = dict(iter_submissions(root))
    if extra is not None:
        subs[extra[0]] = extra[1]
    official = _official_or_empty(root)
    entries = [_entry(root, p, r, official) for p, r in subs.items()]
    seen: dict[str, str] = {}
    for e in entries:
        if e["key"] in seen:
            raise ModalbenchError(f"{e['file']}: same key {e['key']!r} as {seen[e['key']]}")
        seen[e["key"]] = e["file"]
    entries.sort(key=lambda e: e["key"])
    _assign_ranks(entries)
    reported = load_reported(root)
    return {
        "format_version": FORMAT_VERSION,
        "main_metric": MAIN_METRIC,
        "lower_is_better": sorted(LOWER_IS_BETTER),
        "min_ranked_seeds": MIN_RANKED_SEEDS,
        "entries": entries,
        "reported": {"papers": reported["papers"], "rows": reported["rows"]},
    }


def leaderboard_bytes(board: dict[str, Any]) -> bytes:
    """Canonical file bytes of an index (sorted keys, 2-space indent, trailing newline, no timestamps)."""
    return (json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode()


def load_leaderboard(leaderboard_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``leaderboard.json`` of a directory, or the index built in memory when the file does not exist."""
    root = resolve_dir(leaderboard_dir)
    path = root / LEADERBOARD_FILE
    if not path.exists():
        return build_leaderboard(root)
    obj = read_json(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("entries"), list):
        raise ModalbenchError(f"{path}: not a leaderboard index (no 'entries'); rebuild it")
    return obj
