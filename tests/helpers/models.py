"""Shared model-test data: a toy four-kind meta and batches, availability patterns, digits halves as tensors."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import torch

from modalbench.meta import DatasetMeta, ModalitySpec


def toy_meta(task_type: str = "multiclass") -> DatasetMeta:
    """Four modalities, one of each kind."""
    return DatasetMeta(
        "toy",
        (
            ModalitySpec("acc", "series", (64, 3)),
            ModalitySpec("cam", "image", (1, 8, 4)),
            ModalitySpec("feat", "vector", (5,)),
            ModalitySpec("spec", "spectrogram", (2, 16, 9)),
        ),
        ("a", "b", "c"),
        task_type=task_type,
    )


def toy_batch(meta: DatasetMeta, b: int, seed: int = 0) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    inputs = {s.name: torch.randn(b, *s.shape, generator=g) for s in meta.modalities}
    target = torch.randint(0, meta.n_classes, (b,), generator=g)
    return inputs, target


def all_patterns(m: int) -> torch.Tensor:
    """Every availability pattern of ``m`` modalities, ``[2^m, m]`` (includes all-missing)."""
    return torch.tensor(list(itertools.product([False, True], repeat=m)))


def digits_meta() -> DatasetMeta:
    return DatasetMeta(
        "digits",
        (ModalitySpec("left", "image", (1, 8, 4)), ModalitySpec("right", "image", (1, 8, 4))),
        tuple(str(i) for i in range(10)),
    )


def digits_tensors() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """sklearn ``load_digits`` as left/right (1, 8, 4) halves scaled to [0, 1], and labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    return x[..., :4].contiguous(), x[..., 4:].contiguous(), torch.tensor(d.target)


def digits_batches(rows: slice, bs: int = 100) -> Callable[..., Iterator[Any]]:
    """A callable yielding ``(inputs, available, label)`` batches of the given rows (fixed order)."""
    left, right, y = digits_tensors()
    idx = torch.arange(len(y))[rows]

    def gen(*_: Any) -> Iterator[Any]:
        for i in range(0, len(idx), bs):
            j = idx[i : i + bs]
            yield {"left": left[j], "right": right[j]}, torch.ones(len(j), 2, dtype=torch.bool), y[j]

    return gen
