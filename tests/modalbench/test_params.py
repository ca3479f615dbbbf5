"""Typed method parameters: string parsing, range checks, one-line errors with suggestions."""

from __future__ import annotations

import pytest

from modalbench.errors import ModalbenchError
from modalbench.params import Param, describe_params, parse_params

DECLS = (
    Param("embrace_dim", "int", 256, "docking size", min=1),
    Param("adj_pre", "bool", False, "modality dropout"),
    Param("adj_post", "bool", False, "F1-weighted selection"),
    Param("p_missing", "float", 0.5, "missing share", min=0.0, max=1.0, max_open=True),
    Param("missing", "choice", "fill", "how to pool", choices=("fill", "skip")),
    Param("hidden", "list", [256, 64], "layer sizes", item="int", min=1, min_items=1),
    Param("weights", "list", None, "per modality", item="float", min=0.0, nullable=True),
    Param("encoder", "dict", None, "encoder arguments", nullable=True),
    Param("name", "str", "x", "a label"),
)


@pytest.mark.parametrize(
    "text,value",
    [
        ("true", True),
        ("False", False),
        ("1", True),
        ("0", False),
        ("yes", True),
        ("NO", False),
        ("on", True),
        ("off", False),
        (True, True),
        (0, False),
    ],
)
def test_bool_strings_parse_to_booleans(text: object, value: bool) -> None:
    assert parse_params(DECLS, {"adj_pre": text})["adj_pre"] is value


def test_adj_pre_false_string_is_false_not_truthy() -> None:
    assert parse_params(DECLS, {"adj_pre": "False"})["adj_pre"] is False


def test_defaults_filled_in_declaration_order_and_typed_values_kept() -> None:
    out = parse_params(
        DECLS,
        {
            "embrace_dim": "512",
            "hidden": "128,32",
            "weights": "[0.5, 1]",
            "encoder": '{"kind": "cnn"}',
            "p_missing": "0.25",
        },
    )
    assert list(out) == [d.name for d in DECLS]
    assert out["embrace_dim"] == 512 and out["hidden"] == [128, 32] and out["weights"] == [0.5, 1.0]
    assert out["encoder"] == {"kind": "cnn"} and out["p_missing"] == 0.25 and out["missing"] == "fill"
    assert parse_params(DECLS, {"weights": "none"})["weights"] is None
    assert parse_params(DECLS, {}, fill_defaults=False) == {}


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"adjpre": "true"}, r"^embracenet: unknown parameter 'adjpre'; did you mean 'adj_pre'"),
        ({"embrace_dim": "abc"}, r"^embracenet: parameter 'embrace_dim': expected an integer >= 1, got 'abc'$"),
        ({"embrace_dim": 0}, r"^embracenet: parameter 'embrace_dim': expected an integer >= 1, got 0$"),
        ({"embrace_dim": True}, r"parameter 'embrace_dim': expected an integer"),
        ({"embrace_dim": "2.5"}, r"parameter 'embrace_dim': expected an integer"),
        ({"adj_pre": "maybe"}, r"parameter 'adj_pre': expected true or false, got 'maybe'"),
        ({"p_missing": "1"}, r"parameter 'p_missing': expected a number in \[0, 1\), got '1'"),
        ({"p_missing": "-0.1"}, r"parameter 'p_missing': expected a number in \[0, 1\)"),
        ({"p_missing": "nan"}, r"parameter 'p_missing'"),
        ({"missing": "skp"}, r"parameter 'missing': expected one of 'fill', 'skip', got 'skp'; did you mean 'skip'"),
        ({"hidden": "[1, 0]"}, r"parameter 'hidden' item 1: expected an integer >= 1, got 0"),
        ({"hidden": "[]"}, r"parameter 'hidden': expected at least 1 item"),
        ({"hidden": "[1,"}, r"parameter 'hidden': not a valid JSON list"),
        ({"encoder": "cnn"}, r"parameter 'encoder': expected a JSON object"),
        ({"embrace_dim": None}, r"parameter 'embrace_dim': expected an integer >= 1, got None"),
    ],
)
def test_bad_values_raise_one_line_errors(raw: dict, message: str) -> None:
    with pytest.raises(ModalbenchError, match=message) as e:
        parse_params(DECLS, raw, owner="embracenet")
    assert "\n" not in str(e.value)


def test_owner_names_the_method() -> None:
    with pytest.raises(ModalbenchError, match=r"^cmp: unknown parameter 'sketch'"):
        parse_params(DECLS, {"sketch": 1}, owner="cmp")


def test_every_default_passes_its_own_validation() -> None:
    for d in DECLS:
        assert d.parse(d.default, "t") == d.default


def test_describe_params_lists_type_default_range_and_help() -> None:
    rows = {r["name"]: r for r in describe_params(DECLS)}
    assert rows["p_missing"]["range"] == "in [0, 1)" and rows["p_missing"]["default"] == 0.5
    assert rows["hidden"]["type"] == "list[int]" and rows["missing"]["range"] == "one of 'fill', 'skip'"
    assert rows["embrace_dim"]["help"] == "docking size" and rows["weights"]["nullable"] is True


def test_declaration_errors_are_caught_early() -> None:
    with pytest.raises(ValueError):
        Param("x", "integer", 1, "bad type")
    with pytest.raises(ValueError):
        Param("x", "choice", "a", "no choices")
