"""modalbench.baselines: the fusion methods, one module each.

Importing the package registers every built-in method with :func:`~modalbench.baselines.registry.register_baseline`
(the package is the ``builtin`` entry point of the ``modalbench.methods`` group).
"""

from __future__ import annotations

from . import (  # noqa: F401  (registration)
    centralnet,
    cmp,
    dmf,
    early,
    embracenet,
    gmu,
    intermediate,
    late,
    mae,
    mfas,
    minape,
    mul,
    two_stream,
)
from .registry import (
    BASELINES,
    baseline_names,
    canonical_name,
    create_baseline,
    describe_method_params,
    preset_params,
    register_baseline,
    resolve_preset,
)

__all__ = [
    "BASELINES",
    "baseline_names",
    "canonical_name",
    "create_baseline",
    "describe_method_params",
    "preset_params",
    "register_baseline",
    "resolve_preset",
]
