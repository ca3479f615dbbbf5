"""``train-missing@v1``: the training split itself loses modalities (a training scenario, not a test scenario).

Conditions, as in ``random-missing`` but on the **train** split and at rates ``rates`` (default 0.1, 0.3, 0.5, 0.7):

* ``mcar-p<p>``: every modality of every training sample missing independently with probability p (per-sample
  MCAR, Rubin 1976);
* ``drop-<modality>-p<p>`` (when ``per_modality``): only that modality is absent, for a fraction p of the training
  samples (whole-modality absence).

At least one modality is kept per sample (the ``random-missing`` rule). Condition ``i`` draws from
``PCG64([seed, 5, i])``. ``modalbench train --train-scenario train-missing:<condition>`` makes the trainer AND the
condition's ``(N_train, M)`` mask into the availability of every training batch (masked modalities are filled like
natural gaps; methods that honour ``available`` in their losses, e.g. late fusion, skip them); validation stays
complete. The result records the training scenario (id, condition, seed, sha256), and the leaderboard ranks only
results trained on the same training scenario and condition.
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from .base import TRAINING_SPLITS, register_scenario
from .random_missing import RandomMissing

DEFAULT_TRAIN_RATES = [0.1, 0.3, 0.5, 0.7]


@register_scenario
class TrainMissing(RandomMissing):
    family = "train-missing"
    version = "v1"
    kind = "sample"
    description = "training samples lose modalities: per-sample MCAR at rate p, or one modality for a fraction p"
    reference = "MCAR: Rubin, Biometrika 63 (1976); missing modalities during training as in MuteBench (2026)"
    applies_to = "every dataset (generated on its train split; the trainer reads it with --train-scenario)"
    splits = TRAINING_SPLITS
    stream_tag = 5
    #: what the manifest records as the scenario's use (official.json accepts train-split manifests with it)
    use = "training"

    def default_params(self, ds: xr.Dataset) -> dict[str, Any]:
        return {"rates": list(DEFAULT_TRAIN_RATES), "per_modality": True}

    def _generate(self, view: Any, *, seed: int, params: dict[str, Any]) -> Any:
        scen = super()._generate(view, seed=seed, params=params)
        scen.extra["use"] = self.use
        return scen
