"""Sliding windows over continuous recordings; windows never cross a recording boundary."""

from __future__ import annotations

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


def window_available(stream: np.ndarray, offsets: np.ndarray, window: int) -> np.ndarray:
    """``(N,)`` bool: the window at each offset of a ``(T, C)`` block has at least one non-NaN value.

    Equal to checking every materialised window for an all-NaN ``(window, C)`` block, without building them.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    if len(offsets) == 0:
        return np.zeros(0, dtype=bool)
    empty_row = np.isnan(stream).all(axis=1) if stream.shape[1] else np.ones(stream.shape[0], dtype=bool)
    counts = np.concatenate([[0], np.cumsum(empty_row, dtype=np.int64)])
    return counts[offsets + window] - counts[offsets] < window
