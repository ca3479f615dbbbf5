"""Parameter grids and checks shared by the scenario families."""

from __future__ import annotations

from typing import Any

from modalbench.errors import ModalbenchError

#: The missing-rate grid 0.1 … 0.9 of EmbraceNet §6.4 (exact decimals, JSON-stable).
DEFAULT_RATES = [round(0.1 * i, 1) for i in range(1, 10)]


def validate_rates(family: str, rates: Any) -> None:
    """``rates`` must be a non-empty list of distinct numbers in (0, 1)."""
    if not isinstance(rates, (list, tuple)) or not rates:
        raise ModalbenchError(f"{family} parameter rates must be a non-empty list of numbers in (0, 1), got {rates!r}")
    for r in rates:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0.0 < float(r) < 1.0:
            raise ModalbenchError(f"{family} parameter rates: {r!r} is not a number in (0, 1)")
    if len(set(float(r) for r in rates)) != len(rates):
        raise ModalbenchError(f"{family} parameter rates has duplicates: {rates!r}")
