"""Per-channel partial moments (count, sum, centred sum of squares, min, max) and their exact-order combination.

Train statistics are accumulated as partial moments per block of data and combined in a fixed block order with the
pairwise update of Chan, Golub & LeVeque, "Updating formulae and a pairwise algorithm for computing sample variances"
(1979), eq. 2.1:  n = n_a + n_b,  M2 = M2_a + M2_b + (mean_b - mean_a)^2 * n_a * n_b / n.
The order is fixed by the caller's plan, not by scheduling, so local and distributed runs give identical floats.
"""

from __future__ import annotations

import numpy as np

PARTIAL_KEYS = ("count", "sum", "m2", "min", "max")


def partial_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel partial moments of a ``(T, C)`` block (float64; NaN ignored)."""
    x = np.asarray(x, dtype=np.float64)
    valid = ~np.isnan(x)
    count = valid.sum(axis=0).astype(np.int64)
    total = np.where(valid, x, 0.0).sum(axis=0)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    m2 = np.where(valid, (x - mean) ** 2, 0.0).sum(axis=0)
    return {
        "count": count,
        "sum": total,
        "m2": m2,
        "min": np.fmin.reduce(x, axis=0, initial=np.inf),
        "max": np.fmax.reduce(x, axis=0, initial=-np.inf),
    }


def finite_partial_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`partial_stats` of a ``(T, C)`` block known to hold no NaN: the same numbers, bit for bit, ~3× faster.

    The same float64 sums in the same order, without the NaN masks: one float64 copy, centred and squared in place.
    The caller vouches for the absence of NaN (e.g. a parser that refused non-finite values).
    """
    count = np.full(x.shape[1], x.shape[0], dtype=np.int64)
    work = x.astype(np.float64)  # always a copy: the input is never changed
    low, high = _column_extreme(work, np.minimum, np.inf), _column_extreme(work, np.maximum, -np.inf)
    total = work.sum(axis=0)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    np.subtract(work, mean, out=work)
    np.square(work, out=work)
    return {"count": count, "sum": total, "m2": work.sum(axis=0), "min": low, "max": high}


def _column_extreme(x: np.ndarray, op: np.ufunc, initial: float, fold: int = 16) -> np.ndarray:
    """``op.reduce(x, axis=0)`` of a C-contiguous ``(T, C)`` array, 2× faster: ``fold`` rows side by side make the
    inner loop ``fold × C`` long. Exact (min and max do not depend on the order)."""
    n = len(x) // fold * fold
    head = op.reduce(x[:n].reshape(n // fold, fold * x.shape[1]), axis=0, initial=initial).reshape(fold, -1)
    return op.reduce(np.concatenate([head, x[n:]]), axis=0, initial=initial)


def merge_partials(a: dict[str, np.ndarray] | None, b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Combine two partials (``a`` first); ``None`` is the empty partial."""
    if a is None:
        return b
    na, nb = a["count"].astype(np.float64), b["count"].astype(np.float64)
    n = na + nb
    mean_a = np.divide(a["sum"], na, out=np.zeros_like(na), where=na > 0)
    mean_b = np.divide(b["sum"], nb, out=np.zeros_like(nb), where=nb > 0)
    corr = np.divide((mean_b - mean_a) ** 2 * na * nb, n, out=np.zeros_like(n), where=n > 0)
    return {
        "count": a["count"] + b["count"],
        "sum": a["sum"] + b["sum"],
        "m2": a["m2"] + b["m2"] + corr,
        "min": np.fmin(a["min"], b["min"]),
        "max": np.fmax(a["max"], b["max"]),
    }


def raw_stats(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``min, max, mean, std, count`` (population std) from a combined partial; NaN where a channel has no value."""
    count = p["count"]
    n = count.astype(np.float64)
    ok = count > 0
    mean = np.divide(p["sum"], n, out=np.full_like(n, np.nan), where=ok)
    var = np.divide(p["m2"], n, out=np.full_like(n, np.nan), where=ok)
    return {
        "min": np.where(ok, p["min"], np.nan),
        "max": np.where(ok, p["max"], np.nan),
        "mean": mean,
        "std": np.sqrt(np.maximum(var, 0.0)),
        "count": count,
    }


def merge_named(parts: list[dict[str, dict[str, np.ndarray]]], names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """``{name: partial}`` dicts (one per block, say) combined name by name in list order; a name no part has is
    left out."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in names:
        acc = None
        for part in parts:
            if name in part:
                acc = merge_partials(acc, part[name])
        if acc is not None:
            out[name] = acc
    return out
