"""Modality subsets of the missing-modalities protocol (Choi & Lee, EmbraceNet, Information Fusion 2019, §6.4.1).

For each size ``k = 1..M`` the protocol takes all ``C(M, k)`` subsets when ``C(M, k) <= cap`` and otherwise
``cap`` distinct subsets drawn uniformly. Subsets are handled through their *lexicographic rank*
(the combinatorial number system): drawing ``cap`` distinct ranks and unranking them is exact and fast
for any ``M`` up to :data:`MAX_MODALITIES`. The condition order is by ``k``, then lexicographic in the
sorted modality indices.
"""

from __future__ import annotations

import math

import numpy as np

from .rng import sample_distinct

MAX_MODALITIES = 60  # C(60, 30) < 2**63: ranks fit int64


def _binomial_table(n: int) -> np.ndarray:
    table = np.zeros((n + 1, n + 1), dtype=np.int64)
    for a in range(n + 1):
        for b in range(a + 1):
            table[a, b] = math.comb(a, b)
    return table


def condition_count(m: int, cap: int) -> int:
    """Number of conditions: ``sum_k min(cap, C(m, k))`` for ``k = 1..m``."""
    return sum(min(cap, math.comb(m, k)) for k in range(1, m + 1))


def unrank_combinations(ranks: np.ndarray, n: int, k: int) -> np.ndarray:
    """The ``k``-subsets of ``range(n)`` with the given lexicographic ranks, as a ``(len(ranks), k)`` int64 array.

    Rank 0 is ``(0, 1, …, k-1)``; rank ``C(n, k) - 1`` is ``(n-k, …, n-1)``.
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    if n > MAX_MODALITIES:
        raise ValueError(f"at most {MAX_MODALITIES} modalities supported, got {n}")
    total = math.comb(n, k)
    if ranks.size and (int(ranks.min()) < 0 or int(ranks.max()) >= total):
        raise ValueError(f"ranks must lie in [0, C({n}, {k}) = {total})")
    table = _binomial_table(n)
    r = ranks.copy()
    out = np.empty((ranks.size, k), dtype=np.int64)
    prev = np.full(ranks.size, -1, dtype=np.int64)
    for i in range(k):
        c = prev + 1
        active = np.ones(ranks.size, dtype=bool)
        while active.any():
            idx = np.flatnonzero(active)
            # number of subsets whose i-th element is c[idx] (given the previous elements)
            cnt = table[n - 1 - c[idx], k - 1 - i]
            step = r[idx] >= cnt
            r[idx[step]] -= cnt[step]
            c[idx[step]] += 1
            active[idx[~step]] = False
        out[:, i] = c
        prev = c
    return out


def subset_table(m: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """The ``(K, m)`` bool condition table (True = modality present) of missing-modalities.

    Randomness is consumed only for sizes with ``C(m, k) > cap``, in increasing ``k``.
    """
    if m < 1:
        raise ValueError("need at least one modality")
    if cap < 1:
        raise ValueError("cap must be >= 1")
    blocks = []
    for k in range(1, m + 1):
        ranks = sample_distinct(rng, math.comb(m, k), cap)
        combos = unrank_combinations(ranks, m, k)
        rows = np.zeros((combos.shape[0], m), dtype=bool)
        rows[np.arange(combos.shape[0])[:, None], combos] = True
        blocks.append(rows)
    return np.concatenate(blocks, axis=0)
