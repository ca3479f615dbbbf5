"""Names shared across the suite, defined once: fills, checksum verification modes, the standard scenario families."""

from __future__ import annotations

#: how masked (missing) values are filled before a model sees them (implemented in ``scenarios/fill.py``)
FILLS = ("mean", "zero", "ffill", "none", "knn", "regress", "interpolate")
#: what ``prepare`` does when a raw file's checksum is wrong or unknown
VERIFICATION_MODES = ("strict", "warn", "off")
#: the scenario families ``modalbench scenarios`` and ``evaluate`` run by default (those that apply to a dataset)
STANDARD_FAMILIES = ("full", "missing-modalities", "random-missing", "block-missing")
#: the robustness families that ``modalbench scenarios NAME`` and ``register-official`` also write: element-level
#: test families (``evaluate`` runs them when named in ``--scenarios``) and the training scenario ``train-missing``
#: (generated on the train split; ``train --train-scenario``)
ROBUSTNESS_FAMILIES = ("damaged-modality", "noisy-modality", "train-missing")
#: training regimes the trainer applies to any method (``modalbench train --regime``; recorded as ``regime``)
TRAINING_REGIMES = ("full-modality", "modality-dropout", "curriculum-dropout")
