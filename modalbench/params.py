"""Typed method parameters: declarations, parsing of ``--set key=value`` strings, range checks.

A method declares its parameters once as a tuple of :class:`Param`; :func:`parse_params` turns user input (strings
from the command line, or already-typed values from Python / a checkpoint config) into typed values with the
declared defaults filled in, and raises a one-line :class:`~modalbench.errors.ModalbenchError` naming the owner, the
parameter and what was expected. :func:`describe_params` lists the declarations for ``--help`` output.

Types: ``int``, ``float``, ``bool`` (``true/false/1/0/yes/no/on/off``, any case), ``str``, ``choice`` (one of
``choices``), ``list`` (a JSON list or comma-separated string; items typed by ``item``), ``dict`` (a JSON object)
and ``object`` (a Python object passed through unchecked; API use only, not settable from the command line).
``nullable=True`` also accepts ``None`` (strings ``none``/``null``).

No torch import here: this module is part of the core.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ModalbenchError
from .registry import did_you_mean

PARAM_TYPES = ("int", "float", "bool", "str", "choice", "list", "dict", "object")
ITEM_TYPES = ("int", "float", "str", "bool", "any")
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
NULL_WORDS = ("none", "null")


@dataclass(frozen=True)
class Param:
    """One declared method parameter.

    ``min``/``max`` bound ``int``/``float`` values (and the items of a numeric ``list``); ``min_open``/``max_open``
    make a bound exclusive. ``length`` fixes a list's length (``"modalities"``: one value per modality, checked by
    the method). ``choices`` lists the values of a ``choice`` (or allowed items of a ``list`` of ``str``).
    """

    name: str
    type: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    choices: tuple[Any, ...] = ()
    item: str = "any"
    nullable: bool = False
    min_items: int = 0

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"Param {self.name!r}: type {self.type!r} not in {PARAM_TYPES}")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"Param {self.name!r}: a choice needs choices")
        if self.item not in ITEM_TYPES:
            raise ValueError(f"Param {self.name!r}: item type {self.item!r} not in {ITEM_TYPES}")

    def range_text(self) -> str:
        """The allowed range as text, e.g. ``>= 1``, ``in [0, 1)``, ``one of 'fill', 'skip'``."""
        if self.type == "choice" or (self.type == "list" and self.choices):
            return "one of " + ", ".join(repr(c) for c in self.choices)
        lo, hi = self.min, self.max
        if lo is not None and hi is not None:
            return f"in {'(' if self.min_open else '['}{_num(lo)}, {_num(hi)}{')' if self.max_open else ']'}"
        if lo is not None:
            return f"{'>' if self.min_open else '>='} {_num(lo)}"
        if hi is not None:
            return f"{'<' if self.max_open else '<='} {_num(hi)}"
        return ""

    def parse(self, value: Any, owner: str) -> Any:
        """The typed, range-checked value of ``value`` (a string from the command line or a typed value)."""
        where = f"{owner}: parameter {self.name!r}"
        if value is None or (
            isinstance(value, str)
            and value.strip().lower() in NULL_WORDS
            and (self.nullable or self.type not in ("str", "choice"))
        ):
            if self.nullable or self.type == "object":
                return None
            raise ModalbenchError(f"{where}: expected {self._expected()}, got {value!r} (no value)")
        if self.type == "object":
            return value
        if self.type == "list":
            return self._parse_list(value, where)
        if self.type == "dict":
            v = _json_if_str(value)
            if not isinstance(v, Mapping):
                raise ModalbenchError(f"{where}: expected a JSON object like '{{\"key\": 1}}', got {value!r}")
            return dict(v)
        if self.type == "choice":
            v = _scalar(value, _choice_type(self.choices), where, self._expected())
            if v not in self.choices:
                raise ModalbenchError(
                    f"{where}: expected {self.range_text()}, got {value!r}"
                    f"{did_you_mean(str(value), [str(c) for c in self.choices])}"
                )
            return v
        v = _scalar(value, self.type, where, self._expected())
        self._check_range(v, where, value)
        return v

    def _expected(self) -> str:
        rng = self.range_text()
        kind = {
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "str": "a string",
            "choice": "a value",
            "list": "a list",
            "dict": "a JSON object",
        }.get(self.type, self.type)
        text = f"{kind} {rng}".strip() if self.type not in ("choice",) else rng
        return text + (" or none" if self.nullable else "")

    def _check_range(self, v: Any, where: str, raw: Any, expected: str | None = None) -> None:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return
        lo, hi = self.min, self.max
        bad = (lo is not None and (v < lo or (self.min_open and v == lo))) or (
            hi is not None and (v > hi or (self.max_open and v == hi))
        )
        if bad or (isinstance(v, float) and math.isnan(v)):
            raise ModalbenchError(f"{where}: expected {expected or self._expected()}, got {raw!r}")

    def _parse_list(self, value: Any, where: str) -> list[Any]:
        v = value
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                try:
                    v = json.loads(text)
                except json.JSONDecodeError as e:
                    raise ModalbenchError(f"{where}: not a valid JSON list ({e.msg}): {value!r}") from None
            else:
                v = [s.strip() for s in text.split(",")] if text else []
        if not isinstance(v, (list, tuple)):
            raise ModalbenchError(f"{where}: expected a list (JSON '[1, 2]' or '1,2'), got {value!r}")
        if len(v) < self.min_items:
            raise ModalbenchError(f"{where}: expected at least {self.min_items} item(s), got {value!r}")
        out = []
        for i, item in enumerate(v):
            w = f"{where} item {i}"
            if self.item == "any":
                out.append(item)
                continue
            kind = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}[self.item]
            expected = f"{kind} {self.range_text()}".strip()
            x = _scalar(item, self.item, w, expected)
            if self.choices and x not in self.choices:
                raise ModalbenchError(f"{w}: expected {self.range_text()}, got {item!r}")
            self._check_range(x, w, item, expected)
            out.append(x)
        return out


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _choice_type(choices: tuple[Any, ...]) -> str:
    if all(isinstance(c, bool) for c in choices):
        return "bool"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in choices):
        return "int"
    return "str"


def _json_if_str(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _scalar(value: Any, kind: str, where: str, expected: str) -> Any:
    """``value`` as a Python scalar of ``kind`` (int, float, bool, str); strings are parsed."""

    def fail() -> ModalbenchError:
        return ModalbenchError(f"{where}: expected {expected}, got {value!r}")

    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = value.strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
        raise fail()
    if kind == "int":
        if isinstance(value, bool):
            raise fail()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise fail()
    if kind == "float":
        if isinstance(value, bool):
            raise fail()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise fail()
    if kind == "str":
        if isinstance(value, str):
            return value
        raise fail()
    return value


def parse_params(
    decls: Iterable[Param], raw: Mapping[str, Any], *, owner: str = "embracenet", fill_defaults: bool = True
) -> dict[str, Any]:
    """Typed values for ``raw`` (strings or typed values) checked against ``decls``.

    Unknown keys raise with a "did you mean" suggestion; wrong types and out-of-range values raise naming the
    parameter and the expected type/range. With ``fill_defaults`` every declared parameter not in ``raw`` gets its
    default. The result keeps the declaration order.
    """
    by_name = {d.name: d for d in decls}
    unknown = [k for k in raw if k not in by_name]
    if unknown:
        k = unknown[0]
        known = ", ".join(by_name) or "none"
        raise ModalbenchError(
            f"{owner}: unknown parameter {k!r}{did_you_mean(str(k), list(by_name))} (parameters: {known})"
        )
    out: dict[str, Any] = {}
    for name, d in by_name.items():
        if name in raw:
            out[name] = d.parse(raw[name], owner)
        elif fill_defaults:
            out[name] = d.default
    return out


def describe_params(decls: Iterable[Param]) -> list[dict[str, Any]]:
    """One JSON-able row per parameter (name, type, default, range, help) for ``train METHOD --help``."""
    rows = []
    for d in decls:
        rows.append(
            {
                "name": d.name,
                "type": d.type if d.type != "list" else f"list[{d.item}]",
                "default": d.default,
                "range": d.range_text(),
                "nullable": d.nullable,
                "help": d.help,
                "settable": d.type != "object",
            }
        )
    return rows
