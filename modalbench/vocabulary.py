"""Names shared across the suite, defined once: fills, checksum verification modes, the standard scenario families."""

from __future__ import annotations

#: how masked (missing) values are filled before a model sees them (implemented in ``scenarios/fill.py``)
FILLS = ("mean", "zero", "ffill", "none")
#: what ``prepare`` does when a raw file's checksum is wrong or unknown
VERIFICATION_MODES = ("strict", "warn", "off")
#: the scenario families ``modalbench scenarios`` and ``evaluate`` run by default (those that apply to a dataset)
STANDARD_FAMILIES = ("full", "missing-modalities", "random-missing", "block-missing")
