"""What the engine and the application use of a fusion model, as types.

A fusion model is any ``torch.nn.Module`` with a ``meta`` (:class:`~modalbench.meta.DatasetMeta`) whose
``forward(inputs, available)`` returns logits; the registered methods add the hooks below through
:class:`modalbench.baselines.base.FusionModel`, a user's model may have some of them. The engine checks for a hook
with ``isinstance`` (the protocols are runtime-checkable), so that a stage depends on the core only.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from .errors import ModalbenchError
from .meta import DatasetMeta


def model_meta(model: nn.Module) -> DatasetMeta:
    """The dataset meta a model was built for (its ``.meta``); a model without one is an error."""
    meta = getattr(model, "meta", None)
    if not isinstance(meta, DatasetMeta):
        raise ModalbenchError(f"model {type(model).__name__}: no .meta (the DatasetMeta it was built for)")
    return meta


@runtime_checkable
class FastPathModel(Protocol):
    """The evaluator's two-stage fast path: ``forward == fuse(encode(inputs), available)`` when ``has_fast_path``."""

    has_fast_path: bool

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...

    def fuse(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class ConditionFuser(Protocol):
    """Fuses many conditions at once: ``available [Kc, B, M]`` -> logits ``[Kc, B, C]``."""

    def fuse_conditions(
        self, real: dict[str, torch.Tensor], masked: dict[str, torch.Tensor], available: torch.Tensor
    ) -> torch.Tensor: ...


@runtime_checkable
class TrainableModel(Protocol):
    """What the trainer needs: the loss and logits of one training batch."""

    def training_loss(
        self, inputs: dict[str, torch.Tensor], available: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class RebuildableModel(Protocol):
    """What a checkpoint records: the training regime and a JSON-able config the model is rebuilt from."""

    regime: str

    def config(self) -> dict[str, Any]: ...


@runtime_checkable
class PretrainableModel(Protocol):
    """A stage run before classification (multimodal autoencoder): ``pretrain_epochs`` of ``pretrain_loss``."""

    def pretrain_loss(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class CalibratedModel(Protocol):
    """Calibrated after training with each modality's validation score when it is the only one available."""

    def calibrate(self, per_modality: list[float]) -> None: ...
