"""The typed results document (modalbench.results) and leaderboard/schema/result-v2.json agree."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from modalbench.leaderboard.example import make_result
from modalbench.leaderboard.schema import load_schema, validate_schema
from modalbench.results import (
    RESULT_SCHEMA_VERSION,
    ConditionResult,
    DatasetRef,
    ModelInfo,
    ResultDocument,
    ScenarioResult,
    TrainedModel,
    ranking_problems,
)

JSON_TYPES = {
    str: {"string"},
    int: {"integer"},
    float: {"number", "integer"},
    bool: {"boolean"},
    list: {"array"},
    dict: {"object"},
    type(None): {"null"},
}


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _schema_types(schema: dict[str, Any], node: dict[str, Any]) -> set[str]:
    node = _resolve(schema, node)
    if "anyOf" in node:
        return set().union(*(_schema_types(schema, n) for n in node["anyOf"]))
    if "const" in node:
        return {"integer" if isinstance(node["const"], int) else "string"}
    if "enum" in node:
        return {"string"}
    t = node["type"]
    return set(t) if isinstance(t, list) else {t}


def _annotation_types(tp: Any) -> set[str]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_annotation_types(a) for a in typing.get_args(tp)))
    if dataclasses.is_dataclass(tp):
        return {"object"}
    return set(JSON_TYPES[origin or tp]) - ({"integer"} if (origin or tp) is float else set())


PARTS = [
    (ResultDocument, ()),
    (DatasetRef, ("properties", "dataset")),
    (ModelInfo, ("properties", "model")),
    (TrainedModel, ("$defs", "trained_model")),
    (ScenarioResult, ("$defs", "scenario")),
    (ConditionResult, ("$defs", "condition")),
]


def test_typed_definition_and_json_schema_list_the_same_fields_and_types() -> None:
    schema = load_schema()
    assert schema["properties"]["schema_version"]["const"] == RESULT_SCHEMA_VERSION == 2
    for cls, path in PARTS:
        node: dict[str, Any] = schema
        for key in path:
            node = node[key]
        node = _resolve(schema, node)
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        # fields defaulting to None are left out of the JSON when None (training_scenario, fill_params): optional
        optional = {f.name for f in dataclasses.fields(cls) if f.default is None}
        assert set(names) == set(node["properties"]), cls.__name__
        assert set(node["required"]) == set(names) - optional, cls.__name__
        assert node["additionalProperties"] is False
        for name in names:
            want = _annotation_types(hints[name])
            got = _schema_types(schema, node["properties"][name])
            assert got <= want | ({"integer"} if "number" in want else set()), (cls.__name__, name, got, want)
            if name not in optional:
                assert ("null" in got) == ("null" in want), (cls.__name__, name)


def test_a_built_document_validates_and_is_ranked() -> None:
    r = make_result()
    assert validate_schema(r) == [] and ranking_problems(r) == []
    assert r["aggregates"]["missing-modalities@v1"]["n_scored"] == 300


def test_per_seed_documents_merge_into_the_joint_document() -> None:
    import copy

    import pytest

    from modalbench.results import compute_aggregates, merge_seed_documents

    a, b = make_result(seeds=(0,), rng_seed=0), make_result(seeds=(1,), rng_seed=1)
    b["trained_models"][0]["weights_sha256"] = "1" * 64
    a["hardware"].update(train_seconds=2.0, evaluate_seconds=0.5, wall_seconds=2.5)
    b["hardware"].update(train_seconds=3.0, evaluate_seconds=0.25, wall_seconds=3.25)
    merged = merge_seed_documents([a, b], command="modalbench reproduce x", date="2026-12-01T00:00:00Z")
    assert validate_schema(merged) == [] and merged["seeds"] == [0, 1]
    cond = merged["scenarios"][1]["conditions"][0]
    assert cond["metrics"]["accuracy"] == [
        a["scenarios"][1]["conditions"][0]["metrics"]["accuracy"][0],
        b["scenarios"][1]["conditions"][0]["metrics"]["accuracy"][0],
    ]
    assert merged["aggregates"] == compute_aggregates(merged["scenarios"], [0, 1])
    assert [t["seed"] for t in merged["trained_models"]] == [0, 1]
    assert merged["hardware"]["wall_seconds"] == 5.75 and merged["hardware"]["train_seconds"] == 5.0
    assert merged["command"] == "modalbench reproduce x"
    other = copy.deepcopy(b)
    other["scenarios"][0]["fill"] = "zero"
    with pytest.raises(ValueError, match="document 1: scenarios or conditions differ"):
        merge_seed_documents([a, other], command="c", date="2026-12-01")
    knn_a, knn_b = copy.deepcopy(a), copy.deepcopy(b)
    for doc, k in ((knn_a, 5), (knn_b, 10)):
        doc["scenarios"][0].update(fill="knn@v1", fill_params={"k": k, "n_fit": 100})
    with pytest.raises(ValueError, match="document 1: scenarios or conditions differ"):  # k=5 and k=10 never merge
        merge_seed_documents([knn_a, knn_b], command="c", date="2026-12-01")
    knn_b["scenarios"][0]["fill_params"]["k"] = 5
    assert merge_seed_documents([knn_a, knn_b], command="c", date="d")["scenarios"][0]["fill_params"]["k"] == 5
    with pytest.raises(ValueError, match=r"seeds \[0, 0\]"):
        merge_seed_documents([a, a], command="c", date="2026-12-01")
