"""``missing-modalities``: every non-empty modality subset per size (EmbraceNet §6.4.1); see :mod:`.conditions`.

* ``missing-modalities@v1``: every test sample is scored under every condition, its natural gaps ANDed in, so a
  "k-modality" condition may leave a sample with fewer than k modalities (kept readable; results stay v1).
* ``missing-modalities@v2`` (the standard): the paper's rule — "we left out the test data that have missing parts in
  the original data, to accurately control the number of employed modalities" (EmbraceNet §6.4.1). Samples with any
  natural gap are excluded from every condition, so every scored sample has exactly the condition's k modalities.
  The array ``scored_samples`` ``(N,)`` (covered by the sha256) marks the samples that are scored, and every
  condition records ``n_scored`` and ``n_excluded`` in the manifest.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
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
    applies_to = "every dataset (at most 60 modalities)"
    #: fill the evaluator uses unless the user passes one: the training mean (EmbraceNet §6.4.1)
    protocol_fill = "mean"
    #: whether test samples with any natural gap are left out of every condition
    excludes_natural_gaps = False

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
        return self._scenario(
            view,
            seed=seed,
            params=params,
            conditions=conds,
            arrays={"condition_table": table, "natural_available": view.natural_available},
            extra={"sampled_sizes": sampled},
        )


@register_scenario
class MissingModalitiesV2(MissingModalities):
    """v2: test samples with natural gaps are excluded (EmbraceNet §6.4.1), so k-modality conditions score k."""

    version = "v2"
    description = (
        "every non-empty modality subset per size k (at most `cap` per size, drawn uniformly); test "
        "samples with any natural gap are excluded"
    )
    excludes_natural_gaps = True

    def _generate(self, view: SplitView, *, seed: int, params: dict[str, Any]) -> Scenario:
        m = len(view.modalities)
        table = subset_table(m, params["cap"], make_rng(seed))
        scored = np.ascontiguousarray(view.natural_available.all(axis=1))
        n_scored = int(scored.sum())
        conds = condition_dicts(table, view.modalities, prefix=None)
        for c in conds:
            c.update(n_scored=n_scored, n_excluded=view.n_samples - n_scored)
        sampled = [k for k in range(1, m + 1) if math.comb(m, k) > params["cap"]]
        return self._scenario(
            view,
            seed=seed,
            params=params,
            conditions=conds,
            arrays={"condition_table": table, "natural_available": view.natural_available, "scored_samples": scored},
            extra={
                "sampled_sizes": sampled,
                "excluded_rule": "samples with any natural gap",
                "n_excluded_natural_gaps": view.n_samples - n_scored,
            },
        )
