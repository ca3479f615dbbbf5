"""Generate result files with seeded random metrics and correct aggregates (schema example, test fixtures).

``python -m modalbench.leaderboard.example [--out PATH]`` regenerates ``schema/example-result.json``.
The metrics are random (``numpy.random.Generator(PCG64(seed))``), never measured results: use them only as
examples of the format and as test data.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modalbench.results import (
    BINARY_METRICS,
    MULTICLASS_METRICS,
    MULTILABEL_METRICS,
    ConditionResult,
    DatasetRef,
    ModelInfo,
    ResultDocument,
    ScenarioResult,
    TrainedModel,
)

from .official import dataset_key
from .schema import example_path


def fake_digest(text: str) -> str:
    """A placeholder sha256 (of ``text``) for examples; official values come from real stores/scenarios."""
    return hashlib.sha256(text.encode()).hexdigest()


def digits_scenarios() -> list[dict[str, Any]]:
    """Scenario specs shaped like the scenario engine's output for ``digits`` (two image halves, left/right):
    missing-modalities@v1 (3 subsets) and random-missing@v1 (MCAR at nine rates)."""
    mm = [
        {"id": "k01-0000", "description": "present: left", "n_available": 1, "missing_rate": 0.5},
        {"id": "k01-0001", "description": "present: right", "n_available": 1, "missing_rate": 0.5},
        {"id": "k02-0000", "description": "all modalities present", "n_available": 2, "missing_rate": 0.0},
    ]
    rm = [
        {
            "id": f"mcar-p{p / 10:.2f}",
            "description": f"each modality missing independently with p={p / 10:.1f} (at least one modality kept)",
            "n_available": None,
            "missing_rate": round(p / 10, 1),
        }
        for p in range(1, 10)
    ]
    return [
        {
            "id": "missing-modalities@v1",
            "seed": 0,
            "sha256": fake_digest("digits@v1/missing-modalities@v1/0"),
            "fill": "mean",
            "conditions": mm,
        },
        {
            "id": "random-missing@v1",
            "seed": 0,
            "sha256": fake_digest("digits@v1/random-missing@v1/0"),
            "fill": "mean",
            "conditions": rm,
        },
    ]


def make_result(
    *,
    rng_seed: int = 0,
    dataset: str = "digits",
    version: str = "v1",
    fingerprint: str | None = None,
    task: str = "digit",
    task_type: str = "multiclass",
    model: str = "example-model",
    regime: str = "full-modality",
    seeds: Sequence[int] = (0, 1, 2),
    scenarios: Sequence[Mapping[str, Any]] | None = None,
    n_modalities: int = 2,
    skill: float = 0.8,
    fill: str | None = None,
    handles_missing: bool = False,
    n_samples: int = 100,
) -> dict[str, Any]:
    """A complete, schema-valid (v2) result with random metrics (seeded by ``rng_seed``) and exact aggregates.

    ``task_type``: ``multiclass``, ``binary`` (adds ``error_rate`` and ``roc_auc``) or ``multilabel``.
    ``skill`` in [0, 1] sets the metric level with all modalities; metrics fall with fewer modalities
    or higher missing rates, plus seeded noise, clipped to [0, 1]. ``fill`` overrides every scenario's fill.
    Each seed gets a distinct placeholder weights sha256; ``n_samples`` are all scored.
    """
    rng = np.random.Generator(np.random.PCG64(rng_seed))
    names = {"multiclass": MULTICLASS_METRICS, "binary": BINARY_METRICS}.get(task_type, MULTILABEL_METRICS)
    specs = digits_scenarios() if scenarios is None else scenarios
    out_scenarios = []
    for spec in specs:
        conditions = []
        for cond in spec["conditions"]:
            if cond.get("n_available") is not None:
                quality = cond["n_available"] / n_modalities
            elif cond.get("missing_rate") is not None:
                quality = 1.0 - cond["missing_rate"]
            else:
                quality = 1.0
            level = skill * (0.5 + 0.5 * quality)
            metrics = {
                m: [float(np.clip(round(level + rng.normal(0, 0.02), 6), 0.0, 1.0)) for _ in seeds] for m in names
            }
            if "error_rate" in metrics:  # two classes: the error rate is 1 - accuracy
                metrics["error_rate"] = [round(1.0 - a, 6) for a in metrics["accuracy"]]
            conditions.append(
                ConditionResult(
                    id=cond["id"],
                    description=cond.get("description", ""),
                    n_available=cond.get("n_available"),
                    missing_rate=cond.get("missing_rate"),
                    n_scored=n_samples,
                    n_excluded=0,
                    metrics=metrics,
                )
            )
        out_scenarios.append(
            ScenarioResult(
                id=spec["id"],
                seed=spec["seed"],
                sha256=spec["sha256"],
                fill=fill or spec.get("fill", "mean"),
                conditions=conditions,
            )
        )
    seeds = [int(s) for s in seeds]
    doc = ResultDocument.build(
        modalbench_version="0.1.0",
        dataset=DatasetRef(
            name=dataset, version=version, fingerprint=fingerprint or fake_digest(f"{dataset}@{version}")
        ),
        task=task,
        model=ModelInfo(
            name=model,
            description="Example entry with seeded random metrics (not a measured result).",
            code_url="https://example.org/modalbench/example-model",
            paper=None,
            parameter_count=12345,
            external_data=False,
            official=False,
            handles_missing=handles_missing,
        ),
        regime=regime,
        trained_models=[
            TrainedModel(seed=s, training_seed=s, weights_sha256=fake_digest(f"{model}/{regime}/seed-{s}"))
            for s in seeds
        ],
        scenarios=out_scenarios,
        hardware={"device": "cpu", "cpu": "example"},
        date="2026-01-01T00:00:00Z",
        command=f"modalbench evaluate {dataset} --model {model} --regime {regime} --seeds "
        + ",".join(str(s) for s in seeds),
    )
    return doc.to_json()


def official_for(result: Mapping[str, Any]) -> dict[str, Any]:
    """The official.json content under which ``result`` is valid (for tests and the example)."""
    key = dataset_key(result["dataset"]["name"], result["dataset"]["version"])
    return {
        "datasets": {key: {"fingerprint": result["dataset"]["fingerprint"]}},
        "scenarios": {
            key: {
                sc["id"]: {"seed": sc["seed"], "sha256": sc["sha256"], "n_conditions": len(sc["conditions"])}
                for sc in result["scenarios"]
            }
        },
    }


def example_bytes() -> bytes:
    """The canonical bytes of ``schema/example-result.json``."""
    return (json.dumps(make_result(), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=example_path())
    args = parser.parse_args(argv)
    from modalbench.atomic import write_bytes_atomic

    write_bytes_atomic(args.out, example_bytes())
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
