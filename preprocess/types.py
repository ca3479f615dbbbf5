"""What a dataset loader hands to the pipeline: continuous recordings or ready-made sample splits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Recording:
    """One continuous multimodal recording (a session), before scaling and windowing.

    ``streams`` maps each modality to a ``(T, C)`` float array (numpy or dask; NaN = missing);
    ``labels`` maps each task to a ``(T,)`` integer array of class indices (0 = null where the task has one).
    """

    id: str
    split: str
    streams: dict[str, Any]
    labels: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return int(next(iter(self.streams.values())).shape[0])


@dataclass
class SampleSplit:
    """All samples of one split for datasets made of independent samples (images, vectors).

    ``inputs`` maps each modality to an ``(N, *shape)`` array; ``labels`` maps each task to ``(N,)``
    (multiclass) or ``(N, K)`` (multilabel); ``available`` is an optional ``(N, M)`` bool array.
    ``extras`` maps further per-sample variables to ``(dims after "sample", (N, ...) array)``; they are stored
    as they are (not scaled), e.g. NTU's per-frame body mask.
    """

    split: str
    inputs: dict[str, Any]
    labels: dict[str, Any]
    available: Any | None = None
    extras: dict[str, tuple[tuple[str, ...], Any]] = field(default_factory=dict)
    #: optional lazy ``{modality: partial moments}`` (:mod:`modalbench.moments`) of this split, supplied by a loader
    #: that can compute them in one fused pass over data it reads anyway; the train statistics then use them
    #: instead of reducing ``inputs`` again
    moments: Any | None = None

    @property
    def n(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0])
