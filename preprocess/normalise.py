"""Per-channel scaling from train-only statistics (min/max to a range, or standardisation)."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np

from modalbench.errors import ModalbenchError
from modalbench.meta import PAD_TOKEN_ID, UNK_TOKEN_ID, ModalitySpec

METHODS = ("minmax", "standard", "none")


def stat_graph(arrays: list[Any], channel_axis: int) -> dict[str, da.Array]:
    """Lazy per-channel nanmin/nanmax/nanmean/nanstd over the train arrays (float64 accumulation)."""
    xs = [da.asarray(a).astype(np.float64) for a in arrays]
    xs = [da.moveaxis(x, channel_axis, -1) for x in xs]
    flat = da.concatenate([x.reshape(-1, x.shape[-1]) for x in xs], axis=0)
    return {
        "min": da.nanmin(flat, axis=0),
        "max": da.nanmax(flat, axis=0),
        "mean": da.nanmean(flat, axis=0),
        "std": da.nanstd(flat, axis=0),
        "count": da.sum(~da.isnan(flat), axis=0),
    }


def channel_histogram(block: np.ndarray, channel_axis: int) -> np.ndarray:
    """``(C, 256)`` int64 counts of each uint8 value per channel of one block."""
    x = np.moveaxis(np.asarray(block, dtype=np.uint8), channel_axis, -1)
    flat = x.reshape(-1, x.shape[-1])
    return np.stack([np.bincount(flat[:, c], minlength=256) for c in range(flat.shape[1])]).astype(np.int64)


def histogram_moments(hist: np.ndarray) -> dict[str, np.ndarray]:
    """``min, max, mean, std, count`` per channel (as :func:`stat_graph` gives them) from ``(C, 256)`` counts."""
    values = np.arange(hist.shape[1], dtype=np.float64)
    count = hist.sum(axis=1)
    n = count.astype(np.float64)
    ok = count > 0
    mean = np.divide(hist @ values, n, out=np.full_like(n, np.nan), where=ok)
    centred = (values[None, :] - np.where(ok, mean, 0.0)[:, None]) ** 2
    var = np.divide((hist * centred).sum(axis=1), n, out=np.full_like(n, np.nan), where=ok)
    seen = hist > 0
    lo = np.where(ok, seen.argmax(axis=1), np.nan).astype(np.float64)
    hi = np.where(ok, hist.shape[1] - 1 - seen[:, ::-1].argmax(axis=1), np.nan).astype(np.float64)
    return {"min": lo, "max": hi, "mean": mean, "std": np.sqrt(var), "count": count}


def histogram_stat_graph(arrays: list[Any], channel_axis: int) -> Any:
    """Lazy per-channel stats of uint8 train arrays from 256-bin histograms: one small task per chunk, no float
    copy (a ``Delayed`` of the :func:`stat_graph` dict)."""
    import dask

    parts = [
        dask.delayed(channel_histogram, pure=True)(block, channel_axis)
        for a in arrays
        for block in da.asarray(a).to_delayed().ravel()
    ]
    return dask.delayed(histogram_moments, pure=True)(dask.delayed(sum, pure=True)(parts))


def finalize_stats(raw: dict[str, np.ndarray], scaling: dict[str, Any]) -> dict[str, Any]:
    """JSON-able stats plus ``scaled_mean`` (the train mean after scaling: what the ``mean`` fill writes)."""
    count = np.asarray(raw["count"])
    clean = {k: np.where(count > 0, np.asarray(raw[k], dtype=np.float64), 0.0) for k in ("min", "max", "mean", "std")}
    stats: dict[str, Any] = {"method": scaling["method"]}
    stats.update({k: [float(v) for v in clean[k]] for k in clean})
    stats["count"] = [int(c) for c in count]
    a, b = affine(stats, scaling)
    stats["scaled_mean"] = [float(v) for v in np.asarray(clean["mean"]) * a + b]
    if scaling.get("clip"):
        lo, hi = scaling["range"]
        stats["scaled_mean"] = [float(min(max(v, lo), hi)) for v in stats["scaled_mean"]]
    return stats


def reader_scaled_stats(raw: dict[str, np.ndarray], scale: float) -> dict[str, Any]:
    """Stats of a modality stored unscaled (uint8) and scaled by the reader: ``scaled = scale * x``.

    ``min/max/mean/std`` stay in stored units; ``scaled_mean`` is what the reader returns for the train mean.
    """
    stats = finalize_stats(raw, {"method": "none"})
    stats["method"] = "reader_scale"
    stats["reader_scale"] = float(scale)
    stats["scaled_mean"] = [float(np.float32(v) * np.float32(scale)) for v in stats["mean"]]
    return stats


def token_stats(spec: ModalitySpec) -> dict[str, Any]:
    """The "statistics" of a token-id modality (int32, kind ``text``): none are computed and nothing is scaled;
    ``scaled_mean`` (what the ``mean`` fill writes) is the pad id at every position, so a filled plot is empty."""
    return {
        "method": "tokens",
        "pad_id": PAD_TOKEN_ID,
        "unk_id": UNK_TOKEN_ID,
        "vocab_size": int(spec.vocab_size),
        "scaled_mean": [float(PAD_TOKEN_ID)] * int(spec.shape[0]),
    }


def affine(stats: dict[str, Any], scaling: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(a, b)`` with ``scaled = a * x + b``; constant channels map to the range's low end."""
    method = scaling["method"]
    if method not in METHODS:
        raise ModalbenchError(f"scaling.method {method!r} is not one of {METHODS}")
    mn, mx = np.asarray(stats["min"]), np.asarray(stats["max"])
    mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])
    if method == "minmax":
        lo, hi = (float(v) for v in scaling["range"])
        span = np.where(mx > mn, mx - mn, 1.0)
        a = (hi - lo) / span
        b = lo - mn * a
    elif method == "standard":
        a = 1.0 / np.where(std > 0, std, 1.0)
        b = -mean * a
    else:
        a, b = np.ones_like(mn), np.zeros_like(mn)
    return a.astype(np.float32), b.astype(np.float32)


def apply_scaling(x: da.Array, stats: dict[str, Any], scaling: dict[str, Any], channel_axis: int) -> da.Array:
    """Lazy ``a * x + b`` per channel (clipped to the range when ``clip``); NaN stays NaN."""
    a, b = affine(stats, scaling)
    shape = [1] * x.ndim
    shape[channel_axis] = -1
    y = x.astype(np.float32) * a.reshape(shape) + b.reshape(shape)
    if scaling.get("clip") and scaling["method"] == "minmax":
        lo, hi = (np.float32(v) for v in scaling["range"])
        y = da.clip(y, lo, hi)
    return y


# ---------------------------------------------------------------- grouped (numpy, inside one dask task per group)
# Partial moments per group of recordings, combined in plan order: see :mod:`modalbench.moments`.


def scale_block(x: np.ndarray, a: np.ndarray, b: np.ndarray, clip: tuple[float, float] | None) -> np.ndarray:
    """numpy twin of :func:`apply_scaling` for a ``(T, C)`` block: ``a * x + b`` in float32, then the optional clip."""
    y = np.asarray(x).astype(np.float32) * a.reshape(1, -1) + b.reshape(1, -1)
    if clip is not None:
        y = np.clip(y, np.float32(clip[0]), np.float32(clip[1]))
    return y


def scaling_terms(
    stats: dict[str, Any], scaling: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, tuple[float, float] | None]:
    """``(a, b, clip)`` for :func:`scale_block`, the same terms :func:`apply_scaling` uses."""
    a, b = affine(stats, scaling)
    clip = None
    if scaling.get("clip") and scaling["method"] == "minmax":
        lo, hi = (float(v) for v in scaling["range"])
        clip = (lo, hi)
    return a, b, clip
