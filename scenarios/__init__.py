"""modalbench.scenarios: versioned, seeded, checksummed missing-modality and block-missing test scenarios.

Families (see scenarios/README.md): ``full@v1``, ``missing-modalities@v1`` and ``block-missing@v1`` after
EmbraceNet (Choi & Lee, Information Fusion 51, 2019, §6.4), ``random-missing@v1`` (MCAR, Rubin 1976).
Attributes are imported lazily (PEP 562) so that the command line stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "SCENARIOS": ".base",
    "Scenario": ".base",
    "ScenarioFamily": ".base",
    "family_names": ".base",
    "get_scenario": ".base",
    "masks_sha256": ".base",
    "register_scenario": ".base",
    "scenario_sha256": ".base",
    "NotApplicableError": ".base",
    "ScenarioIntegrityError": ".artifacts",
    "read_verified": ".artifacts",
    "STANDARD_FAMILIES": ".generate",
    "Skipped": ".generate",
    "generate_scenarios": ".generate",
    "GenerateResult": ".artifacts",
    "artifact_dir": ".artifacts",
    "ensure_scenario": ".artifacts",
    "list_artifacts": ".artifacts",
    "save_scenario": ".artifacts",
    "verify_artifact": ".artifacts",
    "STRATEGIES": ".fill",
    "ffill_stream": ".fill",
    "ffill_streams": ".fill",
    "fill": ".fill",
    "means_from_attrs": ".fill",
    "ScenarioReader": ".reader",
    "load_scenario": ".reader",
}

__all__ = sorted(_EXPORTS)

# ``fill`` is both a submodule and a function: bind the function eagerly, or importing the submodule first
# (``modalbench.scenarios.fill``) would leave the module in its place and skip the lazy lookup below.
from .fill import fill  # noqa: E402, F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
