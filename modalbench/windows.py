"""Windows cut from continuous streams when read (windowed stores, store format 2).

A windowed store keeps each modality's scaled continuous stream ``stream_<m>`` ``(step, C)`` and, per sample, the
recording and offset of its window; sample ``i`` is rows ``[g_i, g_i + L)`` of the stream with
``g_i = recording_start[recording[i]] + offset[i]``. Readers never materialise more windows than they hand out:
:class:`WindowSet` keeps a block of stream rows plus window starts, and copies windows out only for a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import StoreError


def global_starts(recording: np.ndarray, offset: np.ndarray, recording_start: np.ndarray) -> np.ndarray:
    """First stream row of each window: ``recording_start[recording] + offset`` (int64)."""
    return np.asarray(recording_start, dtype=np.int64)[np.asarray(recording, dtype=np.int64)] + np.asarray(
        offset, dtype=np.int64
    )


def window_rows(starts: np.ndarray, length: int) -> np.ndarray:
    """The ``n * length`` block rows of windows at ``starts``, window after window (an index for ``np.take``)."""
    return (np.asarray(starts, dtype=np.int64)[:, None] + np.arange(length, dtype=np.int64)).ravel()


def _check_rows(starts: np.ndarray, length: int, rows: int) -> None:
    if starts.size and (starts.min() < 0 or starts.max() + length > rows):
        raise StoreError(
            f"window rows [{starts.min()}, {starts.max() + length}) lie outside the {rows} stream rows read"
        )


def cut_windows(
    block: np.ndarray, starts: np.ndarray, length: int, out: np.ndarray | None = None, rows: np.ndarray | None = None
) -> np.ndarray:
    """``(n, length, C)`` windows of a ``(R, C)`` block at ``starts`` (rows of the block), in one copy.

    ``out`` (C-contiguous) receives them without an intermediate array; ``rows`` is :func:`window_rows` of
    ``starts`` when the caller already has it (modalities of one batch share it).
    """
    starts = np.asarray(starts, dtype=np.int64)
    _check_rows(starts, length, block.shape[0])
    if out is None:
        if block.shape[0] < length:
            return np.zeros((0, length, *block.shape[1:]), dtype=block.dtype)
        # a fancy index of the (R - L + 1, L, C) sliding view: one copy, ~2x np.take of the rows
        return np.lib.stride_tricks.sliding_window_view(block, length, axis=0).transpose(0, 2, 1)[starts]
    if len(starts):  # np.take into ``out`` (np.take would copy a non-contiguous view whole)
        rows = window_rows(starts, length) if rows is None else rows
        np.take(np.ascontiguousarray(block), rows, axis=0, out=out.reshape(len(rows), *block.shape[1:]), mode="clip")
    return out


@dataclass
class WindowSet:
    """Lazy ``(n, length, C)`` windows of one modality: a block of stream rows and the window starts in it.

    Indexing (``ws[idx]``) copies the selected windows out as a numpy array; :func:`select_all` keeps them lazy.
    """

    block: np.ndarray
    starts: np.ndarray
    length: int

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.starts), self.length, *self.block.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.block.dtype

    def __getitem__(self, idx: Any) -> np.ndarray:
        return cut_windows(self.block, np.atleast_1d(self.starts[idx]), self.length)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = cut_windows(self.block, self.starts, self.length)
        return out if dtype is None else out.astype(dtype)

    def take_into(self, idx: Any, out: np.ndarray, rows: np.ndarray | None = None) -> None:
        """Windows ``idx`` copied into ``out`` ``(k, length, C)`` (C-contiguous) without an intermediate array."""
        cut_windows(self.block, np.atleast_1d(self.starts[idx]), self.length, out=out, rows=rows)


def select_all(inputs: dict[str, Any], idx: Any) -> dict[str, Any]:
    """Rows ``idx`` of every input: :class:`WindowSet` s stay lazy (modalities that shared their starts array
    still share it, so a batch computes its row index once), numpy arrays are copied."""
    shared: dict[int, np.ndarray] = {}
    out: dict[str, Any] = {}
    for k, v in inputs.items():
        if isinstance(v, WindowSet):
            if id(v.starts) not in shared:
                shared[id(v.starts)] = np.atleast_1d(v.starts[idx])
            out[k] = WindowSet(v.block, shared[id(v.starts)], v.length)
        else:
            out[k] = v[idx]
    return out


def concat_all(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Concatenate inputs along the sample axis; :class:`WindowSet` blocks are placed one after another and
    their starts shifted (modalities with equal block lengths and shared starts keep sharing them)."""
    out: dict[str, Any] = {}
    shared: dict[tuple[int, ...], np.ndarray] = {}
    for k in parts[0]:
        values = [p[k] for p in parts]
        if not isinstance(values[0], WindowSet):
            out[k] = np.concatenate(values)
            continue
        if len(values) == 1:
            out[k] = values[0]
            continue
        key = tuple(id(v.starts) for v in values) + tuple(v.block.shape[0] for v in values)
        if key not in shared:
            shifts = np.cumsum([0] + [v.block.shape[0] for v in values[:-1]])
            shared[key] = np.concatenate([v.starts + d for v, d in zip(values, shifts, strict=True)])
        out[k] = WindowSet(np.concatenate([v.block for v in values], axis=0), shared[key], values[0].length)
    return out
