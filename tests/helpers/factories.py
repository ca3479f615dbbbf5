"""``--model package.module:factory`` targets for evaluation tests (random, untrained: for protocol checks only)."""

from __future__ import annotations

import math

import torch
from torch import nn

from modalbench.meta import DatasetMeta


class MaskedLinear(nn.Module):
    """A linear model on the concatenated inputs that zeroes unavailable modalities itself."""

    handles_missing = True
    regime = "full-modality"

    def __init__(self, meta: DatasetMeta) -> None:
        super().__init__()
        self.meta = meta
        self.sizes = [math.prod(s.shape) for s in meta.modalities]
        self.head = nn.Linear(sum(self.sizes), meta.n_classes)

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        parts = [
            inputs[n].reshape(len(available), -1) * available[:, j : j + 1].to(inputs[n].dtype)
            for j, n in enumerate(self.meta.modality_names)
        ]
        return self.head(torch.nan_to_num(torch.cat(parts, dim=1)))


class PlainLinear(MaskedLinear):
    """The same network, but it reads its inputs as they are and ignores ``available``."""

    handles_missing = False

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        x = torch.cat([inputs[n].reshape(len(available), -1) for n in self.meta.modality_names], dim=1)
        return self.head(torch.nan_to_num(x))


def masked_linear(meta: DatasetMeta) -> nn.Module:
    """Factory: :class:`MaskedLinear` (initialised from torch's global seed, which the evaluator sets per seed)."""
    return MaskedLinear(meta)


def plain_linear(meta: DatasetMeta) -> nn.Module:
    """Factory: :class:`PlainLinear`."""
    return PlainLinear(meta)
