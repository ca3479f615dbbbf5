"""Condition-level families: ``full@v1`` and ``missing-modalities@v1``.

``missing-modalities@v1`` follows the EmbraceNet evaluation (Choi & Lee, "EmbraceNet: A robust deep learning
architecture for multimodal classification", Information Fusion 51, 2019, §6.4.1): every test sample is
evaluated under every condition, a condition being a non-empty subset of present modalities. For each size
``k = 1..M`` all ``C(M, k)`` subsets are used when ``C(M, k) <= cap`` (default 1000), else ``cap`` distinct
subsets drawn uniformly with ``Generator(PCG64(seed))`` (see :mod:`.subsets`). 255 conditions for M = 8,
14,319 for M = 19. Natural missingness of the store is applied on top at read time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

from modalbench.errors import ModalbenchError

from .base import Scenario, ScenarioFamily, SplitView, register_scenario
from .rng import make_rng
from .subsets import MAX_MODALITIES, subset_table


def describe_subset(row: np.ndarray, names: list[str]) -> str:
    """Short text for a condition row: the present or the missing modalities, whichever list is shorter."""
    present = [n for n, p in zip(names, row) if p]
    missing = [n for n, p in zip(names, row) if not p]
    if not missing:
        return "all modalities present"
    if len(present) <= len(missing):
        return "present: " + ", ".join(present)
    return "missing: " + ", ".join(missing)


def _condition_dicts(table: np.ndarray, names: list[str], prefix: str | None) -> list[dict[str, Any]]:
    sizes = table.sum(axis=1)
    out = []
    within = 0
    for i, row in enumerate(table):
        k = int(sizes[i])
        within = within + 1 if i and int(sizes[i - 1]) == k else 0
        cid = prefix or f"k{k:02d}-{within:04d}"
        out.append({"id": cid, "description": describe_subset(row, names), "n_available": k,
                    "missing_rate": round(1.0 - k / len(names), 6)})
    return out


@register_scenario
class Full(ScenarioFamily):
    family = "full"
    version = "v1"
    kind = "condition"
    description = "every modality present (natural missingness of the store only)"
    reference = "baseline condition of every missing-data protocol"

    def _generate(self, view: SplitView, *, seed: int, params: dict[str, Any]) -> Scenario:
        table = np.ones((1, len(view.modalities)), dtype=bool)
        conds = _condition_dicts(table, view.modalities, prefix="full")
        return self._scenario(view, seed=seed, params=params, conditions=conds,
                              arrays={"condition_table": table, "natural_available": view.natural_available})


@register_scenario
class MissingModalities(ScenarioFamily):
    family = "missing-modalities"
    version = "v1"
    kind = "condition"
    description = "every non-empty modality subset per size k (at most `cap` per size, drawn uniformly)"
    reference = "Choi & Lee, EmbraceNet, Information Fusion 51 (2019), §6.4.1"

    def default_params(self, ds: xr.Dataset) -> dict[str, Any]:
        return {"cap": 1000}

    def validate_params(self, params: dict[str, Any]) -> None:
        cap = params["cap"]
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ModalbenchError(f"missing-modalities parameter cap must be a positive integer, got {cap!r}")

    def not_applicable(self, ds: xr.Dataset) -> str | None:
        m = len(ds.attrs.get("modalities", []))
        if m > MAX_MODALITIES:
            return f"missing-modalities supports at most {MAX_MODALITIES} modalities, {ds.attrs.get('dataset')} has {m}"
        return None

    def _generate(self, view: SplitView, *, seed: int, params: dict[str, Any]) -> Scenario:
        m = len(view.modalities)
        table = subset_table(m, params["cap"], make_rng(seed))
        conds = _condition_dicts(table, view.modalities, prefix=None)
        sampled = [k for k in range(1, m + 1) if math.comb(m, k) > params["cap"]]
        return self._scenario(view, seed=seed, params=params, conditions=conds,
                              arrays={"condition_table": table, "natural_available": view.natural_available},
                              extra={"sampled_sizes": sampled})
