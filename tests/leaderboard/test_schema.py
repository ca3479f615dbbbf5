"""Result schema: good and bad examples, the committed example file, and hypothesis robustness of the validators."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modalbench.leaderboard.example import example_bytes, make_result, official_for
from modalbench.leaderboard.schema import example_path, load_schema, validate_schema
from modalbench.leaderboard.submit import Verdict, check_submission
from modalbench.results import compute_aggregates


def test_schema_is_draft_2020_12_and_versioned() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"] == {"const": 2, "description": "Version of this schema."}
    assert load_schema(1)["properties"]["schema_version"]["const"] == 1  # v1 stays readable
    schema["title"] = "changed"
    assert load_schema()["title"] != "changed"  # a fresh copy each call


def test_committed_example_is_valid_and_up_to_date() -> None:
    text = example_path().read_bytes()
    assert text == example_bytes(), "regenerate with: python -m modalbench.leaderboard.example"
    obj = json.loads(text)
    assert validate_schema(obj) == []
    assert obj["aggregates"] == compute_aggregates(obj["scenarios"], obj["seeds"])


@pytest.mark.parametrize("task_type", ["multiclass", "multilabel"])
def test_generated_results_are_valid(task_type: str) -> None:
    r = make_result(rng_seed=3, task_type=task_type, seeds=(1, 2, 3, 4))
    assert validate_schema(r) == []
    names = set(r["scenarios"][0]["conditions"][0]["metrics"])
    assert names == (
        {"accuracy", "f1_weighted", "f1_macro"}
        if task_type == "multiclass"
        else {"f1_micro", "f1_macro", "f1_weighted", "f1_samples"}
    )


def _mutate(path: str, value: Any) -> dict[str, Any]:
    r = make_result()
    target: Any = r
    keys = path.split("/")
    for k in keys[:-1]:
        target = target[int(k)] if isinstance(target, list) else target[k]
    last = keys[-1]
    if value is KeyError:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return r


BAD = [
    ("schema_version", 3, "$.schema_version"),
    ("dataset/fingerprint", "abc", "$.dataset.fingerprint"),
    ("dataset/name", "../etc", "$.dataset.name"),
    ("model/name", "a/b", "$.model.name"),
    ("model/official", "yes", "$.model.official"),
    ("model/code_url", "ftp://x", "$.model.code_url"),
    ("model/parameter_count", -1, "$.model.parameter_count"),
    ("model/description", KeyError, "'description' is a required property"),
    ("regime", "", "$.regime"),
    ("seeds", [0, 0, 1], "$.seeds"),
    ("seeds", [], "$.seeds"),
    ("scenarios/0/id", "missing modalities", "$.scenarios[0].id"),
    ("scenarios/0/fill", "median", "$.scenarios[0].fill"),
    ("scenarios/0/conditions/0/metrics/accuracy/1", 1.5, "$.scenarios[0].conditions[0].metrics.accuracy[1]"),
    ("scenarios/0/conditions/0/metrics/accuracy/1", -0.1, "$.scenarios[0].conditions[0].metrics.accuracy[1]"),
    ("scenarios/0/conditions/0/metrics/f1_micro", [0.5, 0.5, 0.5], "'f1_micro' is not one of"),
    ("scenarios/0/conditions/0/metrics/f1_macro", KeyError, "'f1_macro' is a required property"),
    ("scenarios/0/conditions/0/metrics/top5", [0.5, 0.5, 0.5], "$.scenarios[0].conditions[0].metrics"),
    ("scenarios/0/conditions/0/n_available", "one", "$.scenarios[0].conditions[0].n_available"),
    ("scenarios/0/conditions/0/missing_rate", 2, "$.scenarios[0].conditions[0].missing_rate"),
    ("aggregates/missing-modalities@v1/metrics/f1_weighted/std", -1, "$.aggregates"),
    ("date", "yesterday", "$.date"),
    ("command", "", "$.command"),
    ("hardware", "a laptop", "$.hardware"),
    ("extra_field", 1, "Additional properties are not allowed"),
    ("trained_models", KeyError, "'trained_models' is a required property"),
    ("trained_models/0/weights_sha256", "abc", "$.trained_models[0].weights_sha256"),
    ("trained_models/1/training_seed", "one", "$.trained_models[1].training_seed"),
    ("model/handles_missing", "yes", "$.model.handles_missing"),
    ("scenarios/0/conditions/0/n_scored", -1, "$.scenarios[0].conditions[0].n_scored"),
    ("scenarios/0/conditions/0/n_excluded", KeyError, "'n_excluded' is a required property"),
]


@pytest.mark.parametrize("path,value,expect", BAD, ids=[f"{p}={v!r}"[:60] for p, v, _ in BAD])
def test_bad_examples_are_rejected_naming_the_field(path: str, value: Any, expect: str) -> None:
    problems = validate_schema(_mutate(path, value))
    assert problems, f"{path}={value!r} accepted"
    assert any(expect in p for p in problems), problems


def test_all_problems_listed_not_just_the_first() -> None:
    r = make_result()
    r["schema_version"] = 7
    r["task"] = 3
    r["scenarios"][1]["sha256"] = "XYZ"
    problems = validate_schema(r)
    assert any(p.startswith("$.schema_version") for p in problems)
    assert any(p.startswith("$.task") for p in problems)
    assert any(p.startswith("$.scenarios[1].sha256") for p in problems)
    assert problems == sorted(problems)


def test_non_objects_are_problems_not_exceptions() -> None:
    for value in (None, 1, "x", [], [1, 2], True, 1.5):
        problems = validate_schema(value)
        assert problems and problems[0].startswith("$:")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)

_OFFICIAL = official_for(make_result())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_never_crashes(value: Any) -> None:
    problems = validate_schema(value)
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
    verdict = check_submission(value, "/nonexistent-leaderboard", _OFFICIAL)
    assert isinstance(verdict, Verdict) and verdict.problems  # arbitrary JSON is never a valid result


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


_BASE = make_result()
_BASE_PATHS = _paths(_BASE)[1:]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_BASE_PATHS), json_values)
def test_mutated_results_never_crash(path: tuple, value: Any) -> None:
    """Replace one node of a valid result by arbitrary JSON: the checker accepts or lists problems, never raises."""
    r = copy.deepcopy(_BASE)
    target: Any = r
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    problems = validate_schema(r)
    verdict = check_submission(r, "/nonexistent-leaderboard", _OFFICIAL)
    assert isinstance(problems, list) and isinstance(verdict.problems, list)
    assert set(problems) <= set(verdict.problems)
    if r == _BASE:
        assert verdict.problems == []
