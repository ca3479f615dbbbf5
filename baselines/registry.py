"""Registry of fusion baselines: ``@register_baseline("name", aliases=(...))``, ``create_baseline(name, meta,
**hparams)`` (validated through the method's declared :class:`~modalbench.params.Param`\\ s) and the presets
(``default``, ``paper``) of :func:`resolve_preset` / :func:`preset_params`.

Every method accepts the common parameter ``recipe`` (:data:`RECIPE_PARAMS`): the training recipe the trainer reads
from :meth:`~modalbench.baselines.base.FusionModel.training_recipe` (optimizer, lr, weight decay, momentum, …).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta
from modalbench.params import Param, describe_params, parse_params
from modalbench.plugins import load_plugins
from modalbench.registry import Registry

BASELINES: Registry[Callable[..., Any]] = Registry("baseline")

PRESET_NAMES = ("default", "paper")

#: keys of a training recipe (all optional; missing keys mean "the trainer's default / the command line")
RECIPE_PARAMS: tuple[Param, ...] = (
    Param("optimizer", "choice", "adam", "optimizer the trainer builds", choices=("adam", "adamw", "sgd")),
    Param("lr", "float", 1e-3, "learning rate", min=0.0, min_open=True),
    Param("weight_decay", "float", 0.0, "weight decay (L2 for adam/sgd, decoupled for adamw)", min=0.0),
    Param("momentum", "float", 0.0, "SGD momentum", min=0.0, max=1.0, max_open=True),
    Param(
        "betas", "list", [0.9, 0.999], "Adam/AdamW betas", item="float", min=0.0, max=1.0, max_open=True, min_items=2
    ),
    Param("eps", "float", 1e-2, "Adam/AdamW epsilon", min=0.0, min_open=True),
    Param("epochs", "int", None, "training epochs (none: the command line's)", min=1, nullable=True),
    Param("batch_size", "int", None, "training batch size (none: the command line's)", min=1, nullable=True),
)

#: parameters every registered method accepts in addition to its own
COMMON_PARAMS: tuple[Param, ...] = (
    Param(
        "recipe",
        "dict",
        None,
        "training recipe overrides (optimizer, lr, weight_decay, momentum, betas, eps, "
        "epochs, batch_size); read by the trainer through training_recipe()",
        nullable=True,
    ),
)


def parse_recipe(raw: dict[str, Any] | None, owner: str) -> dict[str, Any]:
    """A recipe dict checked against :data:`RECIPE_PARAMS` (only the given keys)."""
    return parse_params(RECIPE_PARAMS, dict(raw or {}), owner=f"{owner} recipe", fill_defaults=False)


def register_baseline(name: str, aliases: tuple[str, ...] = ()) -> Callable[[Any], Any]:
    """Class decorator registering a :class:`~modalbench.baselines.base.FusionModel` subclass under ``name``.

    ``aliases`` (e.g. the long names of reference rows, ``compact-multilinear-pooling``) resolve to ``name``.
    """

    def deco(cls: Any) -> Any:
        BASELINES.add(name, cls, aliases)
        cls.registry_name = name
        return cls

    return deco


def canonical_name(name: str) -> str:
    """The registered method name for ``name`` or one of its aliases (unknown names suggest close ones)."""
    load_plugins("modalbench.methods")
    return BASELINES.canonical(name)


def method_params(name: str) -> tuple[Param, ...] | None:
    """The declared parameters of a method (its own, then :data:`COMMON_PARAMS`); ``None`` if it declares none."""
    cls = BASELINES.get(canonical_name(name))
    own = getattr(cls, "params", None)
    if own is None:
        return None
    return tuple(own) + COMMON_PARAMS


def describe_method_params(name: str) -> list[dict[str, Any]]:
    """Rows for ``modalbench train METHOD --help`` (see :func:`modalbench.params.describe_params`)."""
    decls = method_params(name)
    return describe_params(decls) if decls is not None else []


def validate_hparams(name: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """Parse and range-check ``hparams`` (strings or typed values) for method ``name``; returns only the given keys.

    Methods that declare no ``params`` (user models registered without them) get ``hparams`` unchanged.
    """
    canon = canonical_name(name)
    decls = method_params(canon)
    if decls is None:
        return dict(hparams)
    out = parse_params(decls, hparams, owner=canon, fill_defaults=False)
    if out.get("recipe") is not None:
        out["recipe"] = parse_recipe(out["recipe"], canon)
    return out


def create_baseline(name: str, meta: DatasetMeta, **hparams: Any) -> Any:
    """Instantiate the baseline ``name`` (or an alias) for a dataset, hyperparameters validated and typed.

    Unknown names and parameters suggest close matches; wrong types and out-of-range values raise one-line
    :class:`~modalbench.errors.ModalbenchError`\\ s.
    """
    canon = canonical_name(name)
    cls = BASELINES.get(canon)
    hp = validate_hparams(canon, hparams)
    recipe = hp.pop("recipe", None)
    model = cls(meta, **hp)
    if recipe is not None or getattr(cls, "params", None) is not None:
        model.hparams["recipe"] = recipe
    return model


def baseline_names() -> list[str]:
    load_plugins("modalbench.methods")
    return BASELINES.names()


@dataclass
class Preset:
    """A method's preset for one dataset: hyperparameters (incl. ``recipe``), recommended ``fill``, notes."""

    method: str
    preset: str
    hparams: dict[str, Any]
    fill: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record for results (``{"preset": ..., "hparams": ..., "fill": ..., "notes": ...}``)."""
        return {
            "method": self.method,
            "preset": self.preset,
            "hparams": self.hparams,
            "fill": self.fill,
            "notes": list(self.notes),
        }


def resolve_preset(method: str, preset: str, meta: DatasetMeta) -> Preset:
    """The ``preset`` (``default`` or ``paper``) of ``method`` for the dataset ``meta``.

    ``default`` is today's small/fast defaults (no hyperparameters set). ``paper`` comes from the method's
    ``presets["paper"](meta)``: a dict with keys ``hparams``, optional ``fill`` and ``notes`` (see
    ``docs/protocols.md`` for what each paper states and what modalbench chose where it does not).
    """
    canon = canonical_name(method)
    if preset not in PRESET_NAMES:
        from modalbench.registry import did_you_mean

        raise ModalbenchError(
            f"--preset {preset!r}: expected one of {', '.join(PRESET_NAMES)}{did_you_mean(preset, PRESET_NAMES)}"
        )
    if preset == "default":
        return Preset(canon, preset, {})
    cls = BASELINES.get(canon)
    make = (getattr(cls, "presets", None) or {}).get(preset)
    if make is None:
        return Preset(canon, preset, {}, notes=[f"{canon}: no {preset} preset declared; defaults used"])
    spec = make(meta)
    hp = validate_hparams(canon, dict(spec.get("hparams", {})))
    return Preset(canon, preset, hp, spec.get("fill"), list(spec.get("notes", [])))


def preset_params(method: str, preset: str, meta: DatasetMeta) -> dict[str, Any]:
    """The hyperparameters of ``preset`` for ``method`` on ``meta`` (pass them to :func:`create_baseline`)."""
    return resolve_preset(method, preset, meta).hparams
