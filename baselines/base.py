"""The fusion-model interface every baseline implements (and every user model may implement).

A fusion model is a ``torch.nn.Module`` whose ``forward(inputs, available)`` maps a dict of per-modality
tensors ``[B, *shape]`` and a bool availability mask ``[B, M]`` (modality order = ``meta.modality_names``)
to logits ``[B, C]``. Masked modalities hold filled values (see ``modalbench.scenarios.fill``).

Optional fast path for the evaluator: ``encode(inputs) -> dict[str, Tensor]`` (per-modality features,
independent of ``available``) and ``fuse(features, available) -> logits``; ``forward`` must equal
``fuse(encode(inputs), available)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modalbench.meta import DatasetMeta


class FusionModel(nn.Module):
    """Base class: stores the dataset meta and the hyperparameters needed to rebuild the model."""

    registry_name: str = ""
    #: training regime recorded in checkpoints and results (the leaderboard separates regimes)
    regime: str = "full-modality"
    #: True when ``encode``/``fuse`` implement the two-stage fast path
    has_fast_path: bool = False

    def __init__(self, meta: DatasetMeta, **hparams: Any) -> None:
        super().__init__()
        self.meta = meta
        self.hparams = dict(hparams)

    @property
    def modality_names(self) -> list[str]:
        return self.meta.modality_names

    def config(self) -> dict[str, Any]:
        """JSON-able config: ``create_baseline(config["name"], meta, **config["hparams"])`` rebuilds the model."""
        return {"name": self.registry_name, "hparams": self.hparams, "regime": self.regime,
                "meta": self.meta.to_dict()}

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        if self.has_fast_path:
            return self.fuse(self.encode(inputs), available)
        raise NotImplementedError

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def fuse(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def training_loss(
        self, inputs: dict[str, torch.Tensor], available: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and logits of one training batch; methods with their own objective override this."""
        logits = self(inputs, available)
        if self.meta.task_type == "multilabel":
            loss = nn.functional.binary_cross_entropy_with_logits(logits, target.float())
        else:
            loss = nn.functional.cross_entropy(logits, target)
        return loss, logits

    def predict_proba(self, logits: torch.Tensor) -> torch.Tensor:
        """Class scores from logits (softmax, or sigmoid for multi-label)."""
        if self.meta.task_type == "multilabel":
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=-1)
