"""Sliding windows over continuous recordings; windows never cross a recording boundary."""

from __future__ import annotations

import dask.array as da
import numpy as np

from modalbench.errors import ModalbenchError

LABEL_RULES = ("last", "middle", "mode")


def window_offsets(length: int, window: int, step: int) -> np.ndarray:
    """Start offsets of every full window: ``0, step, …`` while ``offset + window <= length``.

    The count is ``max(0, (length - window) // step + 1)``.
    """
    if window < 1 or step < 1:
        raise ModalbenchError(f"window length and step must be >= 1 (got length={window}, step={step})")
    if length < window:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, length - window + 1, step, dtype=np.int64)


def window_labels(labels: np.ndarray, offsets: np.ndarray, window: int, rule: str) -> np.ndarray:
    """The label of each window: its ``last`` sample, its ``middle`` sample, or the ``mode`` (ties → smallest class).

    ``labels`` is ``(T,)`` for multiclass or ``(T, K)`` for multi-label (``mode`` then votes per class).
    """
    if rule == "last":
        return labels[offsets + window - 1]
    if rule == "middle":
        return labels[offsets + window // 2]
    if rule == "mode":
        if len(offsets) == 0:
            return labels[:0]
        idx = offsets[:, None] + np.arange(window)[None, :]
        win = labels[idx]
        if labels.ndim == 2:
            return (win.mean(axis=1) >= 0.5).astype(labels.dtype)
        n_classes = int(labels.max()) + 1 if labels.size else 1
        counts = np.zeros((len(offsets), n_classes), dtype=np.int32)
        np.add.at(counts, (np.repeat(np.arange(len(offsets)), window), win.ravel()), 1)
        return counts.argmax(axis=1).astype(labels.dtype)
    raise ModalbenchError(f"unknown label rule {rule!r}; expected one of {LABEL_RULES}")


def window_array(stream: da.Array, offsets: np.ndarray, window: int) -> da.Array:
    """Lazy ``(N, window, C)`` windows of a ``(T, C)`` dask stream at ``offsets`` (regular step)."""
    n = len(offsets)
    if n == 0:
        return da.zeros((0, window, stream.shape[1]), dtype=stream.dtype, chunks=(1, window, stream.shape[1]))
    step = int(offsets[1] - offsets[0]) if n > 1 else 1
    # each output chunk needs a contiguous input slice: build it from block-local numpy windows
    rows_per_chunk = max(1, min(n, 4096))
    parts = []
    for s in range(0, n, rows_per_chunk):
        e = min(n, s + rows_per_chunk)
        lo = int(offsets[s])
        hi = int(offsets[e - 1]) + window
        piece = stream[lo:hi]
        parts.append(
            piece.rechunk((hi - lo, stream.shape[1])).map_blocks(
                _windows_of_block, window, step, e - s,
                chunks=((e - s,), (window,), (stream.shape[1],)), new_axis=[1], dtype=stream.dtype,
                meta=np.empty((0, 0, 0), dtype=stream.dtype),
            )
        )
    return da.concatenate(parts, axis=0)


def _windows_of_block(block: np.ndarray, window: int, step: int, n: int) -> np.ndarray:
    view = np.lib.stride_tricks.sliding_window_view(block, window, axis=0)[::step][:n]  # (n, C, window)
    return np.ascontiguousarray(view.transpose(0, 2, 1))


def windows_of(stream: np.ndarray, offsets: np.ndarray, window: int) -> np.ndarray:
    """numpy ``(N, window, C)`` windows of a ``(T, C)`` block at ``offsets`` (relative to the block's first row)."""
    if len(offsets) == 0:
        return np.zeros((0, window, stream.shape[1]), dtype=stream.dtype)
    view = np.lib.stride_tricks.sliding_window_view(stream, window, axis=0).transpose(0, 2, 1)  # (T-w+1, w, C) view
    return np.ascontiguousarray(view[np.asarray(offsets)])  # one copy: only the output is allocated
