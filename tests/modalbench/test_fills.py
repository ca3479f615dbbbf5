"""Fill parameters: typing from the declared defaults, one-line errors, recorded-parameter checks, labels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modalbench.errors import ModalbenchError
from modalbench.fills import (
    canonical_fill_params,
    fill_defaults,
    fill_label,
    fill_params_problem,
    parse_fill_param_options,
    recorded_fill,
    resolve_fill_params,
)
from modalbench.vocabulary import FILLS


def test_values_are_typed_from_the_defaults_and_the_rest_filled_in() -> None:
    assert resolve_fill_params("knn", {"k": "10"}) == {"k": 10}
    assert resolve_fill_params("knn", None) == {"k": 5}
    assert resolve_fill_params("regress", {"alpha": "0.1"}) == {"alpha": 0.1}
    assert resolve_fill_params("regress", {"alpha": 2}) == {"alpha": 2.0}
    assert isinstance(resolve_fill_params("regress", {"alpha": 2})["alpha"], float)
    assert resolve_fill_params("knn@v1", {"k": 3}) == {"k": 3}  # as recorded
    for name in ("mean", "zero", "ffill", "none", "interpolate"):
        assert resolve_fill_params(name, None) == {} and fill_defaults(name) == {}


@pytest.mark.parametrize(
    ("fill", "params", "message"),
    [
        ("knn", {"k": "0"}, "--fill-param: parameter 'k': expected an integer >= 1, got '0'"),
        ("knn", {"k": "2.5"}, "--fill-param: parameter 'k': expected an integer >= 1, got '2.5'"),
        ("knn", {"k": "ten"}, "--fill-param: parameter 'k': expected an integer >= 1"),
        ("regress", {"alpha": "0"}, "--fill-param: parameter 'alpha': expected a number > 0, got '0'"),
        ("regress", {"alpha": "-1"}, "--fill-param: parameter 'alpha': expected a number > 0"),
        ("regress", {"k": "3"}, "--fill-param: unknown parameter 'k' (parameters: alpha)"),
        ("knn", {"kk": "3"}, "--fill-param: unknown parameter 'kk'; did you mean 'k'?"),
        ("mean", {"k": "3"}, "--fill-param: fill 'mean' takes no parameters, got k (fills with parameters: knn: k"),
        ("interpolate", {"x": "1"}, "--fill-param: fill 'interpolate' takes no parameters"),
    ],
)
def test_bad_parameters_are_one_line_naming_the_option(fill: str, params: dict, message: str) -> None:
    with pytest.raises(ModalbenchError) as info:
        resolve_fill_params(fill, params, owner="--fill-param")
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text, text


@given(k=st.integers())
def test_k_is_accepted_exactly_when_it_is_a_positive_integer(k: int) -> None:
    if k >= 1:
        assert resolve_fill_params("knn", {"k": str(k)}) == {"k": k}
    else:
        with pytest.raises(ModalbenchError, match="expected an integer >= 1"):
            resolve_fill_params("knn", {"k": str(k)})


def test_option_strings_become_a_name_value_mapping() -> None:
    assert parse_fill_param_options(["k=10", " alpha = 0.5 "]) == {"k": "10", "alpha": "0.5"}
    assert parse_fill_param_options(None) == {}
    for bad, message in (("k", "expected NAME=VALUE"), ("=3", "expected NAME=VALUE")):
        with pytest.raises(ModalbenchError, match=f"--fill-param '{bad}': {message}"):
            parse_fill_param_options([bad])
    with pytest.raises(ModalbenchError, match="'k' is given twice"):
        parse_fill_param_options(["k=1", "k=2"])


def test_recorded_fill_params_are_checked_against_their_fill() -> None:
    assert fill_params_problem("knn@v1", {"k": 10, "n_fit": 900}) is None
    assert fill_params_problem("regress@v1", {"alpha": 0.1, "n_fit": 900}) is None
    assert fill_params_problem("mean", None) is None
    assert "expected an integer >= 1, got 0" in str(fill_params_problem("knn@v1", {"k": 0, "n_fit": 900}))
    assert "unknown parameter 'j'" in str(fill_params_problem("knn@v1", {"k": 5, "j": 1, "n_fit": 900}))
    assert "k missing" in str(fill_params_problem("knn@v1", {"n_fit": 900}))
    assert "fill_params missing" in str(fill_params_problem("knn@v1", None))
    assert "takes no parameters" in str(fill_params_problem("mean", {"k": 5}))
    assert "expected a JSON int" in str(fill_params_problem("knn@v1", {"k": "5"}))
    assert "expected a JSON int" in str(fill_params_problem("knn@v1", {"k": 5.0}))
    assert "expected a JSON float" in str(fill_params_problem("regress@v1", {"alpha": True}))
    assert "n_fit must be a positive integer" in str(fill_params_problem("knn@v1", {"k": 5, "n_fit": 0}))
    assert "expected an object" in str(fill_params_problem("knn@v1", [5]))


def test_labels_name_the_parameters_without_the_fit_count() -> None:
    assert fill_label("knn@v1", {"k": 10, "n_fit": 1000}) == "knn@v1(k=10)"
    assert fill_label("knn@v1", {"k": 5, "n_fit": 1000}) == "knn@v1(k=5)"
    assert fill_label("knn@v1", {"k": 5, "n_fit": 1000}, only_if_not_default=True) == "knn@v1"
    assert fill_label("knn@v1", {"k": 10}, only_if_not_default=True) == "knn@v1(k=10)"
    assert fill_label("regress@v1", {"alpha": 1}) == fill_label("regress@v1", {"alpha": 1.0}) == "regress@v1(alpha=1.0)"
    assert fill_label("mean", None) == "mean"
    assert canonical_fill_params({"n_fit": 3, "k": 2}) == {"k": 2}
    assert [recorded_fill(f) for f in FILLS] == [
        "mean",
        "zero",
        "ffill",
        "none",
        "knn@v1",
        "regress@v1",
        "interpolate@v1",
    ]
