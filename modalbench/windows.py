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
    return np.asarray(recording_start, dtype=np.int64)[np.asarray(recording, dtype=np.int64)] \
        + np.asarray(offset, dtype=np.int64)


def cut_windows(block: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """``(n, length, C)`` windows of a ``(R, C)`` block at ``starts`` (rows of the block); one copy."""
    starts = np.asarray(starts, dtype=np.int64)
    if starts.size and (starts.min() < 0 or starts.max() + length > block.shape[0]):
        raise StoreError(f"window rows [{starts.min()}, {starts.max() + length}) lie outside the "
                         f"{block.shape[0]} stream rows read")
    if block.shape[0] < length:
        return np.zeros((0, length, *block.shape[1:]), dtype=block.dtype)
    view = np.lib.stride_tricks.sliding_window_view(block, length, axis=0)  # (R - L + 1, C, L), no copy
    return np.ascontiguousarray(view[starts].transpose(0, 2, 1))


@dataclass
class WindowSet:
    """Lazy ``(n, length, C)`` windows of one modality: a block of stream rows and the window starts in it.

    Indexing (``ws[idx]``) copies the selected windows out as a numpy array; :meth:`select` keeps them lazy.
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

    def select(self, idx: Any) -> "WindowSet":
        return WindowSet(self.block, np.atleast_1d(self.starts[idx]), self.length)

    @staticmethod
    def concat(sets: Sequence["WindowSet"]) -> "WindowSet":
        """One set over the blocks placed one after another (starts shifted accordingly)."""
        if len(sets) == 1:
            return sets[0]
        shifts = np.cumsum([0] + [s.block.shape[0] for s in sets[:-1]])
        return WindowSet(np.concatenate([s.block for s in sets], axis=0),
                         np.concatenate([s.starts + k for s, k in zip(sets, shifts, strict=True)]), sets[0].length)


def select(value: Any, idx: Any) -> Any:
    """Rows ``idx`` kept lazy for a :class:`WindowSet`, copied for numpy."""
    return value.select(idx) if isinstance(value, WindowSet) else value[idx]


def concat(values: Sequence[Any]) -> Any:
    """Concatenate numpy arrays or :class:`WindowSet` s along the sample axis."""
    if isinstance(values[0], WindowSet):
        return WindowSet.concat(values)
    return np.concatenate(values)
