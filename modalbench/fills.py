"""Fill parameters: what each fill takes, how user values are parsed and checked, how results label a fill.

The fills themselves are implemented in ``scenarios/fill.py`` and ``scenarios/imputers.py``; this core module only
declares their versions and parameters (as :class:`~modalbench.params.Param`), so the command line, experiment
files, results and the leaderboard (which may import only the core) agree on them:

* ``knn@v1``: ``k`` (int >= 1, default 5), the number of nearest complete training samples averaged;
* ``regress@v1``: ``alpha`` (float > 0, default 1.0), the ridge penalty;
* every other fill (``mean``, ``zero``, ``ffill``, ``none``, ``interpolate@v1``) takes no parameter.

Results record a fitted fill's parameters as used, defaults filled in (``fill_params``, plus ``n_fit``, the number
of training samples it was fitted on). Results whose fill or fill parameters differ are never ranked together:
:func:`fill_label` (``knn@v1(k=10)``) is part of the leaderboard's ranking group.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ModalbenchError
from .params import Param, parse_params
from .vocabulary import FILLS

#: fills with a version: results record them as ``name@version``
FILL_VERSIONS: dict[str, str] = {"interpolate": "v1", "knn": "v1", "regress": "v1"}
#: the parameters each fill takes (fills not listed take none)
FILL_PARAMS: dict[str, tuple[Param, ...]] = {
    "knn": (Param("k", "int", 5, "nearest complete training samples averaged", min=1),),
    "regress": (Param("alpha", "float", 1.0, "ridge regression penalty", min=0, min_open=True),),
}
#: what results record next to the parameters: not a parameter, never set by the user
FIT_COUNT_KEY = "n_fit"


def fill_defaults(fill: str) -> dict[str, Any]:
    """The default parameters of a fill (by name, ``knn``, or as recorded, ``knn@v1``); empty for the others."""
    return {p.name: p.default for p in FILL_PARAMS.get(base_fill(fill), ())}


def base_fill(fill: str) -> str:
    """The fill's name without its version: ``knn@v1`` → ``knn``."""
    return fill.split("@", 1)[0]


def recorded_fill(fill: str) -> str:
    """The name results record: the versioned fills with their version (``knn@v1``), the others as given."""
    return f"{fill}@{FILL_VERSIONS[fill]}" if fill in FILL_VERSIONS else fill


def _params_text() -> str:
    return "; ".join(f"{f}: {', '.join(p.name for p in ps)}" for f, ps in FILL_PARAMS.items())


def resolve_fill_params(fill: str, params: Mapping[str, Any] | None, *, owner: str | None = None) -> dict[str, Any]:
    """Typed parameters of ``fill`` with its defaults filled in (declaration order); ``params`` holds strings from
    the command line or typed values. Parameters for a fill that takes none, unknown names and bad values raise one
    line naming ``owner`` (default ``fill <name>``)."""
    name = base_fill(fill)
    who = owner or f"fill {name}"
    if name not in FILLS:
        raise ModalbenchError(f"{who}: unknown fill {fill!r}; expected one of {', '.join(FILLS)}")
    decls = FILL_PARAMS.get(name, ())
    if params and not decls:
        raise ModalbenchError(
            f"{who}: fill {name!r} takes no parameters, got {', '.join(sorted(params))} "
            f"(fills with parameters: {_params_text()})"
        )
    return parse_params(decls, dict(params or {}), owner=who)


def parse_fill_param_options(items: Iterable[str] | None, option: str = "--fill-param") -> dict[str, str]:
    """``["k=10", ...]`` (repeatable ``--fill-param NAME=VALUE``) → ``{"k": "10"}``; typed later by
    :func:`resolve_fill_params`. A missing ``=``, an empty name or a name given twice is one line naming ``option``."""
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ModalbenchError(f"{option} {item!r}: expected NAME=VALUE, e.g. {option} k=10")
        if name in out:
            raise ModalbenchError(f"{option} {item!r}: {name!r} is given twice")
        out[name] = value.strip()
    return out


def fill_params_problem(fill: str, params: Any) -> str | None:
    """Why a result's recorded ``fill_params`` (its fill's parameters, defaults filled in, plus ``n_fit``) are not
    valid for ``fill`` (as recorded, ``knn@v1``); None when they are."""
    name = base_fill(fill)
    decls = FILL_PARAMS.get(name)
    if params is None:
        return f"fill {fill}: fill_params missing (expected {fill_defaults(name)} or other values)" if decls else None
    if not isinstance(params, dict):
        return f"expected an object, got {params!r}"
    given = {k: v for k, v in params.items() if k != FIT_COUNT_KEY}
    if not decls:
        return f"fill {fill!r} takes no parameters, got {', '.join(sorted(params)) or 'an empty object'}"
    missing = [p.name for p in decls if p.name not in given]
    if missing:
        return f"fill {fill}: parameter(s) {', '.join(missing)} missing (results record every parameter as used)"
    for p in decls:
        value = given[p.name]
        if isinstance(value, (bool, str)) or (p.type == "int" and not isinstance(value, int)):
            return f"fill {fill}: parameter {p.name!r}: expected a JSON {p.type}, got {value!r}"
    try:
        resolve_fill_params(name, given, owner=f"fill {fill}")
    except ModalbenchError as exc:
        return str(exc)
    n_fit = params.get(FIT_COUNT_KEY)
    if n_fit is not None and (isinstance(n_fit, bool) or not isinstance(n_fit, int) or n_fit < 1):
        return f"fill {fill}: {FIT_COUNT_KEY} must be a positive integer, got {n_fit!r}"
    return None


def canonical_fill_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters proper (``n_fit`` left out), keys sorted; what identifies how a fill was configured."""
    given = params or {}
    return {k: given[k] for k in sorted(given) if k != FIT_COUNT_KEY}


def fill_label(fill: str, params: Mapping[str, Any] | None = None, *, only_if_not_default: bool = False) -> str:
    """``knn@v1(k=10)``: the fill as recorded with its parameters (``n_fit`` left out); a fill without parameters
    is its name. ``only_if_not_default``: the bare name when the parameters are the defaults (tables for people)."""
    shown = canonical_fill_params(params)
    try:  # typed as declared: alpha 1 and 1.0 are one label
        shown = canonical_fill_params(resolve_fill_params(fill, shown))
    except ModalbenchError:
        pass
    if not shown or (only_if_not_default and shown == canonical_fill_params(fill_defaults(fill))):
        return fill
    return f"{fill}(" + ",".join(f"{k}={_value_text(v)}" for k, v in shown.items()) + ")"


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
