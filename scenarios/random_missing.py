"""``random-missing@v1``: per-sample missing-completely-at-random (MCAR) masks.

Conditions, in this order:

* ``mcar-p<p>`` for p in ``rates`` (default 0.1 … 0.9): every modality of every sample is dropped
  independently with probability p;
* ``drop-<modality>-p<p>`` (when ``per_modality``), modality by modality, then by p: only that modality is
  dropped, with probability p.

At least one modality is kept per sample: when the drops (combined with the store's natural availability)
leave a sample with no modality, **one of its naturally available modalities is restored, chosen uniformly
at random** (no resampling, so the procedure always terminates, also for M = 1). The expected fraction of
dropped entries under MCAR is therefore ``p - p**M / M`` for a sample with all M modalities naturally
present. Each condition draws from its own stream ``PCG64([seed, 1, condition_index])``.
MCAR in the sense of Rubin, "Inference and missing data", Biometrika 63 (1976).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from modalbench.errors import ModalbenchError

from .base import Scenario, ScenarioFamily, SplitView, register_scenario
from .params import DEFAULT_RATES, validate_rates
from .rng import integers, make_rng, uniform

_STREAM_TAG = 1


def rate_label(p: float) -> str:
    return f"p{float(p):.2f}"


def keep_at_least_one(mask: np.ndarray, natural: np.ndarray, rng: np.random.Generator) -> int:
    """Restore, in place, one uniformly chosen naturally available modality for samples left with none.

    Returns the number of samples restored. Samples without any natural modality are left alone.
    """
    candidates = natural & ~mask
    bad = ~(mask & natural).any(axis=1) & natural.any(axis=1)
    rows = np.flatnonzero(bad)
    if rows.size == 0:
        return 0
    counts = candidates[rows].sum(axis=1)
    pick = integers(rng, rows.size, counts)  # the pick-th candidate modality of each row
    rank = np.cumsum(candidates[rows], axis=1) - 1
    cols = np.argmax(candidates[rows] & (rank == pick[:, None]), axis=1)
    mask[rows, cols] = True
    return int(rows.size)


@register_scenario
class RandomMissing(ScenarioFamily):
    family = "random-missing"
    version = "v1"
    kind = "sample"
    description = "per-sample MCAR drops at rate p (all modalities, or one modality at a time); >= 1 modality kept"
    reference = "Rubin, Biometrika 63 (1976) (MCAR); drop-rate grid as in EmbraceNet, Information Fusion 51 (2019)"
    #: fill the evaluator uses unless the user passes one: the training mean (EmbraceNet §6.4.1)
    protocol_fill = "mean"
    #: PCG64 stream tag: condition ``i`` draws from ``PCG64([seed, stream_tag, i])``
    stream_tag = _STREAM_TAG

    def default_params(self, ds: xr.Dataset) -> dict[str, Any]:
        return {"rates": list(DEFAULT_RATES), "per_modality": True}

    def validate_params(self, params: dict[str, Any]) -> None:
        validate_rates(self.id, params["rates"])
        if not isinstance(params["per_modality"], bool):
            raise ModalbenchError(f"{self.id} parameter per_modality must be true or false")
        params["rates"] = [round(float(r), 6) for r in params["rates"]]

    def _generate(self, view: SplitView, *, seed: int, params: dict[str, Any]) -> Scenario:
        n, m = view.n_samples, len(view.modalities)
        natural = view.natural_available
        rates = params["rates"]
        specs: list[tuple[int | None, float]] = [(None, p) for p in rates]
        if params["per_modality"]:
            specs += [(j, p) for j in range(m) for p in rates]
        masks = np.ones((len(specs), n, m), dtype=bool)
        conds: list[dict[str, Any]] = []
        for ci, (j, p) in enumerate(specs):
            rng = make_rng(seed, self.stream_tag, ci)
            mask = masks[ci]
            if j is None:
                mask[:] = uniform(rng, n * m).reshape(n, m) >= p
            else:
                mask[:, j] = uniform(rng, n) >= p
            dropped_before = int((~mask).sum())
            restored = keep_at_least_one(mask, natural, rng)
            dropped = int((~mask).sum())
            if j is None:
                cid, desc = f"mcar-{rate_label(p)}", f"each modality missing independently with p={p}"
                denom = n * m
            else:
                name = view.modalities[j]
                cid, desc = f"drop-{name}-{rate_label(p)}", f"only {name} missing, with p={p}"
                denom = n
            conds.append(
                {
                    "id": cid,
                    "description": desc + " (at least one modality kept)",
                    "missing_rate": p,
                    "modality": None if j is None else view.modalities[j],
                    "achieved_rate": round(dropped / denom, 6) if denom else 0.0,
                    "n_restored": restored,
                    "n_dropped_before_restore": dropped_before,
                }
            )
        return self._scenario(
            view, seed=seed, params=params, conditions=conds, arrays={"masks": masks, "natural_available": natural}
        )
