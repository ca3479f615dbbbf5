"""modalbench.baselines: fusion baselines, one trainer, one evaluator.

Importing the package registers every built-in method with :func:`~modalbench.baselines.registry.register_baseline`.
Baselines II modules (two-stream, GMU, CentralNet, DMF, Minape, MFAS) are imported when their files exist.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from . import cmp, early, embracenet, intermediate, late, mae, mul  # noqa: F401  (registration)
from .registry import (BASELINES, baseline_names, canonical_name, create_baseline, describe_method_params,
                       preset_params, register_baseline, resolve_preset)

_OPTIONAL = ("two_stream", "gmu", "centralnet", "dmf", "minape", "mfas")
for _name in _OPTIONAL:
    if (Path(__file__).parent / f"{_name}.py").exists():
        importlib.import_module(f"{__name__}.{_name}")

__all__ = ["BASELINES", "baseline_names", "canonical_name", "create_baseline", "describe_method_params",
           "preset_params", "register_baseline", "resolve_preset"]
