"""``full@v1``: every modality present; only the store's natural missingness applies."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Scenario, ScenarioFamily, SplitView, register_scenario
from .conditions import condition_dicts


@register_scenario
class Full(ScenarioFamily):
    family = "full"
    version = "v1"
    kind = "condition"
    description = "every modality present (natural missingness of the store only)"
    reference = "baseline condition of every missing-data protocol"
    #: fill the evaluator uses unless the user passes one: the training mean (EmbraceNet §6.4.1)
    protocol_fill = "mean"

    def _generate(self, view: SplitView, *, seed: int, params: dict[str, Any]) -> Scenario:
        table = np.ones((1, len(view.modalities)), dtype=bool)
        conds = condition_dicts(table, view.modalities, prefix="full")
        return self._scenario(
            view,
            seed=seed,
            params=params,
            conditions=conds,
            arrays={"condition_table": table, "natural_available": view.natural_available},
        )
