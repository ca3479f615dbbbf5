"""Condition tables: one availability row per condition, shared by every sample, and their descriptions.

Used by the condition-kind families ``full`` and ``missing-modalities``; ``missing-modalities@v1`` follows the
EmbraceNet evaluation (Choi & Lee, "EmbraceNet: A robust deep learning
architecture for multimodal classification", Information Fusion 51, 2019, §6.4.1): every test sample is
evaluated under every condition, a condition being a non-empty subset of present modalities. For each size
``k = 1..M`` all ``C(M, k)`` subsets are used when ``C(M, k) <= cap`` (default 1000), else ``cap`` distinct
subsets drawn uniformly with ``Generator(PCG64(seed))`` (see :mod:`.subsets`). 255 conditions for M = 8,
14,319 for M = 19. Natural missingness of the store is applied on top at read time. ``missing-modalities@v2``
(the standard) follows the paper further and leaves out the test samples with natural gaps, so that a k-modality
condition scores only samples with exactly k modalities; in every family a sample left with no modality is not scored.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def describe_subset(row: np.ndarray, names: list[str]) -> str:
    """Short text for a condition row: the present or the missing modalities, whichever list is shorter."""
    present = [n for n, p in zip(names, row) if p]
    missing = [n for n, p in zip(names, row) if not p]
    if not missing:
        return "all modalities present"
    if len(present) <= len(missing):
        return "present: " + ", ".join(present)
    return "missing: " + ", ".join(missing)


def condition_dicts(table: np.ndarray, names: list[str], prefix: str | None) -> list[dict[str, Any]]:
    """Manifest entries (id, description, n_available, missing_rate) of a ``(K, M)`` condition table."""
    sizes = table.sum(axis=1)
    out = []
    within = 0
    for i, row in enumerate(table):
        k = int(sizes[i])
        within = within + 1 if i and int(sizes[i - 1]) == k else 0
        cid = prefix or f"k{k:02d}-{within:04d}"
        out.append(
            {
                "id": cid,
                "description": describe_subset(row, names),
                "n_available": k,
                "missing_rate": round(1.0 - k / len(names), 6),
            }
        )
    return out
