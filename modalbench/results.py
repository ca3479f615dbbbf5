"""Aggregates of a result file: per scenario, mean and unbiased std over model seeds of the condition-mean.

For a scenario with conditions c = 1..K and model seeds s = 1..S, metric values v[c, s]:

* condition-mean per seed   m_s = (1/K) Σ_c v[c, s]
* aggregate                 mean = (1/S) Σ_s m_s,   std = sqrt(Σ_s (m_s - mean)² / (S - 1))   (null when S = 1)

The robustness curves apply the same formula to the subsets of conditions sharing one ``n_available``
(F1 against the number of available modalities, EmbraceNet Choi & Lee 2019 §6.4.1) or one ``missing_rate``
(F1 against the block-missing / random-missing rate, §6.4.2); conditions whose value is null are left out.
When the conditions carry ``n_scored`` / ``n_excluded`` (result schema v2), the scenario aggregate adds their sums
over conditions (scored and excluded sample-condition pairs).
The evaluator should call :func:`compute_aggregates` so that submissions agree with :mod:`.submit`'s check.

The results document itself (``results.json``, schema ``leaderboard/schema/result-v2.json``) is defined once here as
typed dataclasses (:class:`ResultDocument` and its parts); the evaluator builds one and writes ``to_json()``, the
leaderboard validates files against the JSON schema, and a test checks that both list the same fields and types.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from modalbench.errors import ModalbenchError

#: Version of the results document written by this modalbench (``leaderboard/schema/result-v<N>.json``).
RESULT_SCHEMA_VERSION = 2
#: A result is ranked only with at least this many distinct trained models (seeds).
MIN_RANKED_SEEDS = 3
MAIN_METRIC = "f1_weighted"
MULTICLASS_METRICS = ("accuracy", "f1_weighted", "f1_macro")
MULTILABEL_METRICS = ("f1_micro", "f1_macro", "f1_weighted", "f1_samples")
ALL_METRICS = ("accuracy", "f1_weighted", "f1_macro", "f1_micro", "f1_samples", "error_rate", "roc_auc")
#: Two-class tasks (class 1 positive): Mul (Liu et al. 2018, Table 2) reports the error rate and the ROC AUC.
BINARY_METRICS = ("accuracy", "error_rate", "roc_auc", "f1_weighted", "f1_macro")
#: The one place that says which metrics are better when lower (every other metric is better when higher).
LOWER_IS_BETTER = frozenset({"error_rate"})
#: Other spellings of the canonical metric names (papers' tables, other tools); refused with a did-you-mean.
METRIC_ALIASES = {
    "weighted_f1": "f1_weighted",
    "macro_f1": "f1_macro",
    "micro_f1": "f1_micro",
    "samples_f1": "f1_samples",
    "f1": "f1_weighted",
    "acc": "accuracy",
    "error": "error_rate",
    "err": "error_rate",
    "auc": "roc_auc",
    "roc-auc": "roc_auc",
    "auroc": "roc_auc",
}
#: Wall times in ``hardware`` (seconds, summed over the document's seeds; never part of a fingerprint).
TIMING_FIELDS = ("train_seconds", "evaluate_seconds", "wall_seconds")
#: Tolerance for aggregates recomputed from the per-seed values.
TOLERANCE = 1e-6


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (False for :data:`LOWER_IS_BETTER`, e.g. the error rate)."""
    return metric not in LOWER_IS_BETTER


def metric_name_problem(name: str) -> str | None:
    """Why ``name`` is not a canonical metric name (with a did-you-mean), or None when it is one."""
    if name in ALL_METRICS:
        return None
    if name in METRIC_ALIASES:
        return f"{name!r} is not a metric name; did you mean {METRIC_ALIASES[name]!r}? (one spelling per metric)"
    close = difflib.get_close_matches(name, ALL_METRICS, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{name!r} is not a metric name; {hint}(known: {', '.join(ALL_METRICS)})"


def check_metric_name(name: str, where: str = "metric") -> str:
    """``name`` when it is a canonical metric name, else :class:`ModalbenchError` naming ``where``."""
    problem = metric_name_problem(name)
    if problem is not None:
        raise ModalbenchError(f"{where}: {problem}")
    return name


def summarize(values: Sequence[float]) -> dict[str, float | None]:
    """``{"mean", "std"}`` of per-seed values; ``std`` is unbiased (ddof=1) and None for a single value."""
    n = len(values)
    if n == 0:
        raise ValueError("summarize needs at least one value")
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return {"mean": mean, "std": std}


def _summaries(conditions: Sequence[Mapping[str, Any]], metric_names: Iterable[str], n_seeds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    k = len(conditions)
    for name in metric_names:
        per_seed = [math.fsum(float(c["metrics"][name][s]) for c in conditions) / k for s in range(n_seeds)]
        out[name] = summarize(per_seed)
    return out


def _curve(
    conditions: Sequence[Mapping[str, Any]], field: str, metric_names: Sequence[str], n_seeds: int
) -> list[dict[str, Any]]:
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for c in conditions:
        x = c.get(field)
        if x is not None:
            groups.setdefault(x, []).append(c)
    return [
        {field: x, "n_conditions": len(groups[x]), "metrics": _summaries(groups[x], metric_names, n_seeds)}
        for x in sorted(groups)
    ]


def scenario_aggregate(scenario: Mapping[str, Any], n_seeds: int) -> dict[str, Any]:
    """The aggregate block of one scenario (``metrics``, ``by_n_available``, ``by_missing_rate``)."""
    conditions = list(scenario["conditions"])
    if not conditions:
        raise ValueError(f"scenario {scenario.get('id')!r} has no conditions")
    names = [m for m in ALL_METRICS if m in conditions[0]["metrics"]]
    out: dict[str, Any] = {
        "metrics": _summaries(conditions, names, n_seeds),
        "by_n_available": _curve(conditions, "n_available", names, n_seeds),
        "by_missing_rate": _curve(conditions, "missing_rate", names, n_seeds),
    }
    for count in ("n_scored", "n_excluded"):
        if all(isinstance(c.get(count), int) and not isinstance(c.get(count), bool) for c in conditions):
            out[count] = sum(int(c[count]) for c in conditions)
    return out


def compute_aggregates(scenarios: Sequence[Mapping[str, Any]], seeds: Sequence[int]) -> dict[str, Any]:
    """``aggregates`` of a result file from its ``scenarios`` and ``seeds`` (see the module docstring)."""
    return {sc["id"]: scenario_aggregate(sc, len(seeds)) for sc in scenarios}


def compare_aggregates(given: Any, expected: Any, where: str, tol: float = TOLERANCE) -> list[str]:
    """Problems where ``given`` differs from ``expected`` (numbers within ``tol``, same keys and list lengths)."""
    if isinstance(expected, dict):
        if not isinstance(given, dict):
            return [f"{where}: expected an object, found {_short(given)}"]
        problems = []
        for key in sorted(set(expected) | set(given)):
            if key not in given:
                problems.append(f"{where}.{key}: missing (expected {_short(expected[key])})")
            elif key not in expected:
                problems.append(f"{where}.{key}: unexpected entry {_short(given[key])}")
            else:
                problems += compare_aggregates(given[key], expected[key], f"{where}.{key}", tol)
        return problems
    if isinstance(expected, list):
        if not isinstance(given, list) or len(given) != len(expected):
            return [f"{where}: expected {len(expected)} points {_short(expected)}, found {_short(given)}"]
        problems = []
        for i, (g, e) in enumerate(zip(given, expected)):
            problems += compare_aggregates(g, e, f"{where}[{i}]", tol)
        return problems
    if expected is None:
        return [] if given is None else [f"{where}: expected null (a single seed has no std), found {_short(given)}"]
    if (
        isinstance(given, bool)
        or not isinstance(given, (int, float))
        or (isinstance(given, float) and not math.isfinite(given))
    ):
        return [f"{where}: expected {expected!r}, found {_short(given)}"]
    try:
        value = float(given)
    except OverflowError:
        return [f"{where}: {_short(given)} disagrees with the per-seed values, which give {expected!r}"]
    if abs(value - float(expected)) > tol:
        return [f"{where}: {given!r} disagrees with the per-seed values, which give {expected!r} (tolerance {tol:g})"]
    return []


def _short(obj: Any, limit: int = 80) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- the results document (schema v2)


@dataclass
class DatasetRef:
    """The prepared store the model was evaluated on."""

    name: str
    version: str
    fingerprint: str


@dataclass
class ModelInfo:
    """The evaluated method; ``handles_missing``: the model handles missing modalities itself (no fill needed)."""

    name: str
    description: str
    code_url: str | None
    paper: str | None
    parameter_count: int
    external_data: bool
    official: bool
    handles_missing: bool


@dataclass
class TrainedModel:
    """Provenance of the model evaluated for one seed: its training seed and the sha256 of its weights."""

    seed: int
    training_seed: int | None
    weights_sha256: str


@dataclass
class ConditionResult:
    """One condition: ``metrics[name]`` has one value per seed; ``n_scored + n_excluded`` = the split's samples."""

    id: str
    description: str
    n_available: int | None
    missing_rate: float | None
    n_scored: int
    n_excluded: int
    metrics: dict[str, list[float]]


@dataclass
class ScenarioResult:
    """One scenario artifact (id, seed, sha256) and the fill actually used on it."""

    id: str
    seed: int
    sha256: str
    fill: str
    conditions: list[ConditionResult]
    #: parameters of a fitted fill (knn, regress) and its training-sample count; None (left out of the JSON) otherwise
    fill_params: dict[str, Any] | None = None


@dataclass
class ResultDocument:
    """``results.json``: one model (name + regime) on one dataset task, per scenario/condition/seed metrics."""

    schema_version: int
    modalbench_version: str
    dataset: DatasetRef
    task: str
    model: ModelInfo
    regime: str
    seeds: list[int]
    trained_models: list[TrainedModel]
    scenarios: list[ScenarioResult]
    aggregates: dict[str, Any]
    hardware: dict[str, Any]
    date: str
    command: str
    #: the training scenario the models were trained on (``train-missing``: id, condition, seed, sha256); None:
    #: the complete training split (then the field is left out of the JSON)
    training_scenario: dict[str, Any] | None = None

    @classmethod
    def build(
        cls,
        *,
        modalbench_version: str,
        dataset: DatasetRef,
        task: str,
        model: ModelInfo,
        regime: str,
        trained_models: list[TrainedModel],
        scenarios: list[ScenarioResult],
        hardware: dict[str, Any],
        date: str,
        command: str,
        training_scenario: dict[str, Any] | None = None,
    ) -> ResultDocument:
        """A document of the current schema version with its aggregates computed from the per-seed values."""
        seeds = [t.seed for t in trained_models]
        aggregates = compute_aggregates([asdict(s) for s in scenarios], seeds)
        return cls(
            schema_version=RESULT_SCHEMA_VERSION,
            modalbench_version=modalbench_version,
            dataset=dataset,
            task=task,
            model=model,
            regime=regime,
            seeds=seeds,
            trained_models=trained_models,
            scenarios=scenarios,
            aggregates=aggregates,
            hardware=hardware,
            date=date,
            command=command,
            training_scenario=training_scenario,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object (plain dicts and lists) written as ``results.json``."""
        doc = asdict(self)
        if doc["training_scenario"] is None:
            del doc["training_scenario"]
        for sc in doc["scenarios"]:
            if sc.get("fill_params") is None:
                sc.pop("fill_params", None)
        return doc


def ranking_problems(result: Mapping[str, Any]) -> list[str]:
    """Why a (schema-valid) result cannot be ranked; empty when it is ranked.

    Ranked: schema v2 (v1 files lack exclusion counts and per-seed provenance), at least
    :data:`MIN_RANKED_SEEDS` seeds, and the seeds are distinct trained models: distinct weight sha256 and distinct
    training seeds (a checkpoint replayed under several seeds is one model, not several).
    """
    reasons: list[str] = []
    if result.get("schema_version") != RESULT_SCHEMA_VERSION:
        reasons.append(
            f"schema_version {result.get('schema_version')!r}: only version {RESULT_SCHEMA_VERSION} "
            "results (with exclusion counts and per-seed provenance) are ranked"
        )
    listed = result.get("seeds")
    seeds = listed if isinstance(listed, list) else []
    if len(seeds) < MIN_RANKED_SEEDS:
        reasons.append(f"seeds: {len(seeds)} seed(s), ranking needs at least {MIN_RANKED_SEEDS}")
    trained = result.get("trained_models")
    if isinstance(trained, list) and trained:
        shas = [repr(t.get("weights_sha256")) for t in trained if isinstance(t, Mapping)]
        tseeds = [t.get("training_seed") for t in trained if isinstance(t, Mapping)]
        tseeds = [repr(x) if x is not None else None for x in tseeds]  # any JSON value, hashable
        if len(set(shas)) != len(shas):
            reasons.append(
                f"trained_models: {len(shas)} seeds but only {len(set(shas))} distinct weight files "
                "(a replayed checkpoint is one model)"
            )
        if None in tseeds or len(set(tseeds)) != len(tseeds):
            reasons.append(
                "trained_models: training seeds are unknown or repeated (each seed must be its own trained model)"
            )
    return reasons


def merge_seed_documents(docs: Sequence[Mapping[str, Any]], *, command: str, date: str) -> dict[str, Any]:
    """One results document over several seeds from per-seed documents of the same model, without re-evaluating.

    The documents must describe the same dataset, task, model and regime and the same scenarios (id, seed, sha256,
    fill) and conditions; their seeds must differ. Per condition the metric lists are concatenated in the order of
    ``docs``, ``trained_models`` likewise, and the aggregates are recomputed (:func:`compute_aggregates`), so the
    result equals evaluating the seeds' models together. ``hardware`` is the first document's, with the wall times
    (:data:`TIMING_FIELDS`) summed over the documents (None when one is unknown).
    Raises ``ValueError`` naming the first field that differs.
    """
    if not docs:
        raise ValueError("merge_seed_documents needs at least one document")
    first = docs[0]
    same = ("schema_version", "modalbench_version", "dataset", "task", "model", "regime")
    for i, doc in enumerate(docs[1:], start=1):
        for key in same:
            if doc.get(key) != first.get(key):
                raise ValueError(f"document {i}: {key} {doc.get(key)!r} differs from document 0's {first.get(key)!r}")
        if [_scenario_key(s) for s in doc["scenarios"]] != [_scenario_key(s) for s in first["scenarios"]]:
            raise ValueError(f"document {i}: scenarios or conditions differ from document 0's")
    seeds = [int(s) for doc in docs for s in doc["seeds"]]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {seeds}: each seed may appear in one document only")
    scenarios = []
    for k, sc in enumerate(first["scenarios"]):
        conditions = []
        for c, cond in enumerate(sc["conditions"]):
            metrics = {
                name: [v for doc in docs for v in doc["scenarios"][k]["conditions"][c]["metrics"][name]]
                for name in cond["metrics"]
            }
            conditions.append({**cond, "metrics": metrics})
        scenarios.append({**sc, "conditions": conditions})
    hardware = dict(first.get("hardware", {}))
    for key in TIMING_FIELDS:
        if key in hardware:
            values = [doc.get("hardware", {}).get(key) for doc in docs]
            known = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            hardware[key] = round(math.fsum(values), 3) if known else None
    merged = {
        **first,
        "hardware": hardware,
        "seeds": seeds,
        "trained_models": [t for doc in docs for t in doc["trained_models"]],
        "scenarios": scenarios,
        "aggregates": compute_aggregates(scenarios, seeds),
        "date": date,
        "command": command,
    }
    return merged


def _scenario_key(sc: Mapping[str, Any]) -> tuple[Any, ...]:
    """What must agree between per-seed documents for one scenario: its identity and its conditions' counts."""
    conds = tuple(
        (
            c["id"],
            c.get("n_available"),
            c.get("missing_rate"),
            c.get("n_scored"),
            c.get("n_excluded"),
            tuple(c["metrics"]),
        )
        for c in sc["conditions"]
    )
    params = json.dumps(sc.get("fill_params"), sort_keys=True)  # knn k=5 and k=10 seeds never merge
    return (sc["id"], sc.get("seed"), sc.get("sha256"), sc.get("fill"), params, conds)
