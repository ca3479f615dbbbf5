"""Registry of fusion baselines: ``@register_baseline("name")`` and ``create_baseline(name, meta, **hparams)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modalbench.meta import DatasetMeta
from modalbench.plugins import load_plugins
from modalbench.registry import Registry

BASELINES: Registry[Callable[..., Any]] = Registry("baseline")


def register_baseline(name: str) -> Callable[[Any], Any]:
    """Class decorator registering a :class:`~modalbench.baselines.base.FusionModel` subclass under ``name``."""

    def deco(cls: Any) -> Any:
        BASELINES.add(name, cls)
        cls.registry_name = name
        return cls

    return deco


def create_baseline(name: str, meta: DatasetMeta, **hparams: Any) -> Any:
    """Instantiate the baseline ``name`` for a dataset; unknown names suggest close matches."""
    load_plugins("modalbench.methods")
    cls = BASELINES.get(name)
    return cls(meta, **hparams)


def baseline_names() -> list[str]:
    load_plugins("modalbench.methods")
    return BASELINES.names()
