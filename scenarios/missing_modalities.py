"""``missing-modalities@v1``: every non-empty modality subset per size (EmbraceNet §6.4.1); see :mod:`.conditions`."""

from __future__ import annotations

import math
from typing import Any

import xarray as xr

from modalbench.errors import ModalbenchError

from .base import Scenario, ScenarioFamily, SplitView, register_scenario
from .conditions import condition_dicts
from .rng import make_rng
from .subsets import MAX_MODALITIES, subset_table


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
        conds = condition_dicts(table, view.modalities, prefix=None)
        sampled = [k for k in range(1, m + 1) if math.comb(m, k) > params["cap"]]
        return self._scenario(view, seed=seed, params=params, conditions=conds,
                              arrays={"condition_table": table, "natural_available": view.natural_available},
                              extra={"sampled_sizes": sampled})
