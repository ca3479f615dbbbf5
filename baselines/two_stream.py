"""Two-stream fusion (Simonyan & Zisserman, NeurIPS 2014; the baseline of MFAS, Pérez-Rúa et al. CVPR 2019).

One unimodal network per modality, each with its own classifier ``p_m = g_m(f_m(x_m))``; the fused prediction is
a linear layer on the concatenated unimodal logits (``fuse_on="logits"``, the classical late two-stream fusion) or
on the concatenated last features (``fuse_on="features"``):

    y = W [a_1 · u_1; …; a_M · u_M; a] + b,     u_m = logits_m (or features_m),   a_m ∈ {0, 1} availability.

Training loss (``training_loss``): cross-entropy of ``y`` plus ``unimodal_weight`` × the mean unimodal
cross-entropy of every stream on the samples where its modality is available (the streams of Simonyan & Zisserman
are trained on their own labels; training them jointly with the fusion layer keeps one trainer for all baselines).

Missing modality (native, as in the issue): the missing stream's logits/features are zero-filled and the
availability flags ``a`` are extra inputs of the fusion layer, so it can learn a per-pattern bias.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta
from modalbench.params import Param

from .base import FusionModel, multilabel_loss
from .encoders import make_encoder
from .registry import register_baseline


def task_loss(
    meta: DatasetMeta,
    logits: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy (BCE-with-logits for multi-label) over the samples where ``mask`` is True.

    Returns 0 (with a graph) when no sample is selected.
    """
    if meta.task_type == "multilabel":
        per = multilabel_loss(logits, target, pos_weight, reduction="none").mean(dim=1)
    else:
        per = nn.functional.cross_entropy(logits, target, reduction="none")
    if mask is None:
        return per.mean()
    m = mask.to(per.dtype)
    return (per * m).sum() / m.sum().clamp_min(1.0)


@register_baseline("two-stream")
class TwoStream(FusionModel):
    """Unimodal streams + a linear fusion layer on their zero-filled logits (or features) and availability flags."""

    has_fast_path = True
    handles_missing = True
    params = (
        Param("emb_dim", "int", 64, "stream feature size", min=1),
        Param("fuse_on", "choice", "logits", "what the fusion layer reads", choices=("logits", "features")),
        Param("unimodal_weight", "float", 1.0, "weight of the streams' own losses", min=0.0),
        Param("dropout", "float", 0.0, "dropout before each stream classifier", min=0.0, max=1.0, max_open=True),
        Param("encoder", "dict", None, "arguments of every stream encoder", nullable=True),
    )

    def __init__(
        self,
        meta: DatasetMeta,
        emb_dim: int = 64,
        fuse_on: str = "logits",
        unimodal_weight: float = 1.0,
        dropout: float = 0.0,
        encoder: dict[str, Any] | None = None,
    ) -> None:
        if fuse_on not in ("logits", "features"):
            raise ModalbenchError(f"two-stream: fuse_on must be 'logits' or 'features', got {fuse_on!r}")
        super().__init__(
            meta,
            emb_dim=emb_dim,
            fuse_on=fuse_on,
            unimodal_weight=unimodal_weight,
            dropout=dropout,
            encoder=dict(encoder or {}),
        )
        c = meta.n_classes
        self.encoders = nn.ModuleDict({m.name: make_encoder(m, emb_dim, **(encoder or {})) for m in meta.modalities})
        self.classifiers = nn.ModuleDict(
            {m.name: nn.Sequential(nn.Dropout(dropout), nn.Linear(emb_dim, c)) for m in meta.modalities}
        )
        width = c if fuse_on == "logits" else emb_dim
        self.fusion = nn.Linear(width * meta.n_modalities + meta.n_modalities, c)

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {n: self.encoders[n](inputs[n]) for n in self.modality_names}

    def stream_logits(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Unimodal logits of every stream (independent of availability)."""
        return {n: self.classifiers[n](features[n]) for n in self.modality_names}

    def _fuse(
        self, features: dict[str, torch.Tensor], available: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        uni = self.stream_logits(features)
        src = uni if self.hparams["fuse_on"] == "logits" else features
        a = available.to(next(iter(src.values())).dtype)
        parts = [src[n] * a[:, i : i + 1] for i, n in enumerate(self.modality_names)]
        return self.fusion(torch.cat(parts + [a], dim=1)), uni

    def fuse(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        return self._fuse(features, available)[0]

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.encode(inputs), available)

    def training_loss(
        self, inputs: dict[str, torch.Tensor], available: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits, uni = self._fuse(self.encode(inputs), available)
        loss = task_loss(self.meta, logits, target, pos_weight=self.label_pos_weight)
        w = float(self.hparams["unimodal_weight"])
        if w:
            for i, n in enumerate(self.modality_names):
                uni_loss = task_loss(self.meta, uni[n], target, available[:, i], self.label_pos_weight)
                loss = loss + w * uni_loss / self.meta.n_modalities
        return loss, logits
