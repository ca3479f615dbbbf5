"""Filling missing inputs at batch time, for models that cannot take availability masks.

Strategies (the dataset itself is never modified or copied; every call returns new batch arrays):

* ``mean``  – the training-set mean of each channel (``attrs["normalisation"][m]["scaled_mean"]``), as in
  EmbraceNet (Choi & Lee, Information Fusion 51, 2019, §6.4.1);
* ``zero``  – 0 (the scaled value; for min-max scaling to [-1, 1] that is mid-range);
* ``ffill`` – the previous observed value within the recording, the OPPORTUNITY challenge procedure
  (Chavarriaga et al., Pattern Recognition Letters 34, 2013); at a recording start, where nothing was
  observed yet, the ``mean`` is used. Only series have a time axis; other kinds fall back to ``mean``;
* ``none``  – values untouched (the model gets the mask only);
* ``interpolate`` (v1) – series: linear interpolation along time across the missing steps of the window (the
  nearest observed value before the first / after the last one; the mean when none); other kinds: ``mean``;
* ``knn`` (v1, ``k`` = 5) and ``regress`` (v1, ``alpha`` = 1.0) – fitted on the complete training samples
  (:mod:`.imputers`): the missing modalities from the available ones; pass the fitted ``imputer``.

Missing means: the modality is unavailable for the sample (``available``), the time step is removed
(``timestep_mask``, block-missing), or the value is NaN in the store (natural gaps get the same treatment).

Batch layouts (docs/store-format.md): series ``(B, L, C)`` (channels last), image ``(B, C, H, W)``,
spectrogram ``(B, C, F, T)``, vector ``(B, F)`` (channels on axis 1), skeleton ``(B, T, P, J, 3)`` (channels last),
video ``(B, T, C, H, W)`` (channels on axis 2). Inputs may be numpy arrays or torch
tensors (the result has the same type and device). Everything is vectorised (no per-sample loops).

Window-level ``ffill`` only sees the window: values before the window start come from ``history``
(the last observed value per channel before the window, NaN when none). For block-missing, where gaps cross
window boundaries, use :func:`ffill_streams` on the continuous split stream and :func:`modalbench.windows.cut_windows`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modalbench.errors import ModalbenchError
from modalbench.vocabulary import FILLS

STRATEGIES = FILLS
_KIND_BY_NDIM = {2: "vector", 3: "series", 4: "image"}


def _is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _like(arr: Any, x: Any, dtype: Any = None) -> Any:
    """``arr`` converted to the array type (and device) of ``x``."""
    if _is_torch(x):
        import torch

        if _is_torch(arr):
            return arr.to(device=x.device, dtype=dtype) if dtype is not None else arr.to(device=x.device)
        return torch.as_tensor(np.asarray(arr), device=x.device, dtype=dtype)
    if _is_torch(arr):
        arr = arr.detach().cpu().numpy()
    return np.asarray(arr, dtype=dtype)


def _bool_like(arr: Any, x: Any) -> Any:
    """``arr`` as a bool array of the type (and device) of ``x`` (0/1 integers are accepted)."""
    if _is_torch(x):
        import torch

        return _like(arr, x) != 0 if not (_is_torch(arr) and arr.dtype == torch.bool) else arr.to(x.device)
    return _like(arr, x).astype(bool)


def _isnan(x: Any) -> Any:
    if _is_torch(x):
        import torch

        return torch.isnan(x)
    return np.isnan(x)


def _where(cond: Any, a: Any, b: Any) -> Any:
    if _is_torch(cond) or _is_torch(a):
        import torch

        return torch.where(cond, a, b)
    return np.where(cond, a, b)


def _kind(name: str, x: Any, kinds: Mapping[str, str] | None) -> str:
    if kinds and name in kinds:
        return kinds[name]
    kind = _KIND_BY_NDIM.get(len(x.shape))
    if kind is None:
        raise ModalbenchError(f"fill: input {name!r} has shape {tuple(x.shape)}; pass its kind in kinds=")
    return kind


def _batch_channel_axis(kind: str, ndim: int) -> int:
    """Channel axis of a batch: last for series and skeleton (x, y, z), 2 for video ``(B, T, C, H, W)``, else 1."""
    if kind in ("series", "skeleton"):
        return ndim - 1
    return 2 if kind == "video" else 1


def _channel_shape(kind: str, ndim: int, n: int) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector over a batch of this kind."""
    shape = [1] * ndim
    shape[_batch_channel_axis(kind, ndim)] = n
    return tuple(shape)


def _means_for(name: str, kind: str, x: Any, means: Mapping[str, Any] | None) -> Any:
    if means is None or name not in means:
        raise ModalbenchError(
            f"fill: strategy needs the training means of {name!r} (means[{name!r}], the store's "
            f"normalisation[{name!r}]['scaled_mean'])"
        )
    mu = np.asarray(means[name], dtype=np.float64).reshape(-1)
    axis = _batch_channel_axis(kind, len(x.shape))
    if mu.size != x.shape[axis]:
        raise ModalbenchError(f"fill: means[{name!r}] has {mu.size} values, the input has {x.shape[axis]} channels")
    return _like(mu.reshape(_channel_shape(kind, len(x.shape), mu.size)), x, dtype=x.dtype)


def means_from_attrs(attrs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Per-channel training means (after scaling) of every modality from a store's attributes."""
    norm = attrs.get("normalisation") or {}
    out = {}
    for m in attrs.get("modalities", []):
        entry = norm.get(m["name"])
        if not entry or "scaled_mean" not in entry:
            raise ModalbenchError(f"store attribute normalisation[{m['name']!r}]['scaled_mean'] is missing")
        out[m["name"]] = np.asarray(entry["scaled_mean"], dtype=np.float32)
    return out


def missing_mask(x: Any, available: Any, kind: str, timestep_mask: Any = None) -> Any:
    """Bool array shaped like ``x``: True where the value counts as missing."""
    shape = (len(available),) + (1,) * (len(x.shape) - 1)
    miss = ~_bool_like(available, x).reshape(shape)
    if timestep_mask is not None:
        if kind != "series":
            raise ModalbenchError("fill: timestep_mask applies to series inputs only")
        miss = miss | ~_bool_like(timestep_mask, x).reshape(tuple(x.shape[:2]) + (1,))
    return miss | _isnan(x)


def ffill_series(x: Any, missing: Any, fallback: Any) -> Any:
    """Forward-fill ``(B, L, C)`` along time; positions before the first observed value get ``fallback`` ``(B|1, 1, C)``."""
    steps = x.shape[1]
    if _is_torch(x):
        import torch

        t = torch.arange(steps, device=x.device).reshape(1, steps, 1)
        idx = torch.where(~missing, t, torch.full_like(t, -1))
        idx = torch.cummax(idx, dim=1).values
        got = torch.gather(x, 1, idx.clamp(min=0))
        return _where(idx >= 0, got, fallback)
    pos = np.arange(steps).reshape(1, steps, 1)
    last = np.maximum.accumulate(np.where(~missing, pos, -1), axis=1)
    return _where(last >= 0, np.take_along_axis(x, np.clip(last, 0, None), axis=1), fallback)


def fill(
    inputs: Mapping[str, Any],
    available: Any,
    strategy: str,
    *,
    means: Mapping[str, Any] | None = None,
    timestep_mask: Any = None,
    history: Mapping[str, Any] | None = None,
    modalities: Sequence[str] | None = None,
    kinds: Mapping[str, str] | None = None,
    imputer: Any = None,
) -> dict[str, Any]:
    """Fill the missing values of a batch.

    ``inputs``: modality -> batch array. ``available``: ``(B, M)`` bool, columns in the order of
    ``modalities`` (default: ``inputs``' key order). ``timestep_mask``: optional ``(B, L, M)`` bool for series.
    ``means``: modality -> per-channel training means (needed by ``mean`` and ``ffill``). ``history``:
    modality -> ``(B, C)`` last observed value before each window (NaN: none, e.g. the window starts its
    recording) for ``ffill``. ``kinds``: modality -> kind when it cannot be inferred from ``ndim``.
    Inputs not listed in ``modalities`` are returned unchanged. ``imputer``: the fitted
    :class:`~.imputers.Imputer` of ``knn`` / ``regress`` (:func:`~.imputers.fit_imputer`).
    """
    if strategy not in STRATEGIES:
        raise ModalbenchError(f"unknown fill strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if strategy in ("knn", "regress"):
        if imputer is None or getattr(imputer, "strategy", None) != strategy:
            raise ModalbenchError(f"fill {strategy}: needs an imputer fitted on the training split (fit_imputer)")
        return _imputed(
            inputs,
            available,
            means=means,
            timestep_mask=timestep_mask,
            modalities=modalities,
            kinds=kinds,
            imputer=imputer,
        )
    names = list(modalities) if modalities is not None else list(inputs)
    missing_names = [n for n in names if n not in inputs]
    if missing_names:
        raise ModalbenchError(f"fill: no input for modalities {missing_names}")
    avail_shape = tuple(available.shape)
    if len(avail_shape) != 2 or avail_shape[1] != len(names):
        raise ModalbenchError(f"fill: available must be (B, {len(names)}) for modalities {names}, got {avail_shape}")
    if timestep_mask is not None and (len(timestep_mask.shape) != 3 or timestep_mask.shape[2] != len(names)):
        raise ModalbenchError(f"fill: timestep_mask must be (B, L, {len(names)}), got {tuple(timestep_mask.shape)}")
    out = dict(inputs)
    if strategy == "none":
        return out
    for j, name in enumerate(names):
        x = inputs[name]
        if x.shape[0] != avail_shape[0]:
            raise ModalbenchError(f"fill: input {name!r} has batch size {x.shape[0]}, available has {avail_shape[0]}")
        if not (x.dtype.is_floating_point if _is_torch(x) else np.issubdtype(x.dtype, np.floating)):
            raise ModalbenchError(f"fill: input {name!r} must be floating point, got {x.dtype}")
        kind = _kind(name, x, kinds)
        tsm = None
        if timestep_mask is not None and kind == "series":
            if timestep_mask.shape[1] != x.shape[1]:
                raise ModalbenchError(
                    f"fill: timestep_mask has {timestep_mask.shape[1]} steps, {name!r} has {x.shape[1]}"
                )
            tsm = timestep_mask[:, :, j]
        miss = missing_mask(x, available[:, j], kind, tsm)
        if strategy == "zero":
            out[name] = _where(miss, _like(np.zeros((), dtype=np.float64), x, dtype=x.dtype), x)
            continue
        mu = _means_for(name, kind, x, means)
        if strategy == "mean" or kind != "series":
            out[name] = _where(miss, mu, x)
            continue
        if strategy == "interpolate":
            out[name] = _interpolated(x, miss, mu)
            continue
        fallback = mu
        if history is not None and name in history:
            h = _like(history[name], x, dtype=x.dtype).reshape(x.shape[0], 1, x.shape[2])
            fallback = _where(_isnan(h), mu, h)
        out[name] = ffill_series(x, miss, fallback)
    return out


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if _is_torch(x) else np.asarray(x)


def _interpolated(x: Any, miss: Any, mu: Any) -> Any:
    """:func:`~.imputers.interpolate_series` on numpy or torch ``(B, L, C)`` batches."""
    from .imputers import interpolate_series

    xn = _numpy(x)
    missing = np.broadcast_to(_numpy(miss), xn.shape)
    fallback = np.broadcast_to(_numpy(mu), (1, 1, xn.shape[2]))
    return _like(interpolate_series(xn, missing, fallback), x, dtype=x.dtype)


def _imputed(
    inputs: Mapping[str, Any],
    available: Any,
    *,
    means: Mapping[str, Any] | None,
    timestep_mask: Any,
    modalities: Sequence[str] | None,
    kinds: Mapping[str, str] | None,
    imputer: Any,
) -> dict[str, Any]:
    """``knn`` / ``regress``: the mean fill first (natural NaNs, removed steps), then the imputer's values for the
    missing modalities of samples that have at least one."""
    names = list(modalities) if modalities is not None else list(inputs)
    base = fill(inputs, available, "mean", means=means, timestep_mask=timestep_mask, modalities=names, kinds=kinds)
    imputed = imputer.impute({n: _numpy(base[n]) for n in names}, _numpy(available))
    out = dict(base)
    for n in names:
        out[n] = _like(imputed[n], base[n], dtype=base[n].dtype)
    return out


# ---------------------------------------------------------------- stream level (block-missing)


def ffill_stream(stream: np.ndarray, present: np.ndarray, lengths: np.ndarray, *, mean: np.ndarray) -> np.ndarray:
    """Forward-fill a continuous ``(T, C)`` stream made of consecutive recordings of the given ``lengths``.

    ``present`` is ``(T,)`` or ``(T, C)`` bool (False = removed); NaNs count as missing too. Values never
    carry across a recording boundary: a recording's leading gap gets ``mean`` ``(C,)``.
    """
    stream = np.asarray(stream)
    lengths = np.asarray(lengths, dtype=np.int64)
    steps, channels = stream.shape
    if int(lengths.sum()) != steps:
        raise ModalbenchError(
            f"ffill_stream: recording lengths sum to {int(lengths.sum())}, the stream has {steps} steps"
        )
    present = np.asarray(present, dtype=bool)
    if present.ndim == 1:
        present = present[:, None]
    valid = present & ~np.isnan(stream)
    idx = np.maximum.accumulate(np.where(valid, np.arange(steps)[:, None], -1), axis=0)
    rec_start = np.repeat(np.cumsum(lengths) - lengths, lengths)[:, None]
    got = np.take_along_axis(stream, np.clip(idx, 0, None), axis=0)
    mu = np.asarray(mean, dtype=stream.dtype).reshape(1, channels)
    return np.where(idx >= rec_start, got, mu)


def ffill_streams(
    streams: Mapping[str, np.ndarray],
    stream_mask: np.ndarray,
    lengths: np.ndarray,
    modalities: Sequence[str],
    means: Mapping[str, Any],
) -> dict[str, np.ndarray]:
    """:func:`ffill_stream` for every modality; ``stream_mask`` is ``(T, M)`` with columns in ``modalities`` order."""
    return {
        m: ffill_stream(streams[m], stream_mask[:, j], lengths, mean=np.asarray(means[m]))
        for j, m in enumerate(modalities)
    }
