"""Late integration: one network per modality, class probabilities combined by a validation-F1-weighted sum.

The "late integration" baseline of EmbraceNet (Choi & Lee, Information Fusion 2019, §6.3.2): modality ``m`` has
its own encoder and classifier giving probabilities ``p_m``; the fused prediction is

    p = Σ_m w_m a_m p_m / Σ_m w_m a_m,

with ``w_m`` the weighted F1 of modality ``m`` alone on the validation split (set by the trainer through
:meth:`LateFusion.calibrate`, saved as the buffer ``modality_weights``; 1 before calibration) and ``a_m`` the
availability: missing modalities leave the sum (native missing-modality handling). With one modality left,
``p = p_m`` exactly. A sample with nothing available gets the uniform distribution. Logits are ``log p``
(multi-label: per-label sigmoid probabilities combined the same way, logits ``logit(p)``).
Training: every modality's network minimises its own cross-entropy on the samples where it is available.
Fast path: ``encode`` returns every modality's own classifier logits; ``fuse`` only combines them.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta

from .base import embracenet_baseline_preset, multilabel_loss
from .intermediate import HeadedFusion
from .mul import BatchedHeads
from .registry import register_baseline


@register_baseline("late")
class LateFusion(HeadedFusion):
    """Per-modality classifiers, probabilities averaged with validation-F1 weights over available modalities."""

    handles_missing = True
    presets = {"paper": embracenet_baseline_preset}
    #: registered buffer ``[M]``: ``w_m``, each modality's validation F1 after calibration
    modality_weights: torch.Tensor

    def build_head(self, meta: DatasetMeta, feature_dim: int, head_hidden: int, dropout: float) -> None:
        """One classifier per modality and the modality weights ``w_m`` (1 until calibrated)."""
        self.heads = BatchedHeads(meta.n_modalities, feature_dim, meta.n_classes, head_hidden, dropout)
        self.register_buffer("modality_weights", torch.ones(meta.n_modalities))

    def calibrate(self, per_modality_val_f1: list[float]) -> None:
        """Set ``w_m`` to each modality's validation F1 (EmbraceNet §6.3.2)."""
        w = torch.as_tensor(per_modality_val_f1, dtype=torch.float32)
        if w.shape != (self.meta.n_modalities,) or not torch.isfinite(w).all() or (w < 0).any():
            raise ModalbenchError(
                f"late fusion calibrate: expected {self.meta.n_modalities} finite F1 values >= 0, "
                f"got {per_modality_val_f1!r}"
            )
        self.modality_weights.copy_(w)

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every modality's own classifier logits ``[B, C]`` (encoder + head of that modality)."""
        z = self.heads(self.stack(self.embeddings(inputs)))
        return {n: z[:, m] for m, n in enumerate(self.modality_names)}

    def modality_logits(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """The per-modality logits of ``encode`` stacked: ``[B, M, C]``."""
        return self.stack(features)

    def combine(self, logits: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
        """Fused logits from per-modality logits ``[B, M, C]`` and availability ``[B, M]``."""
        return self.mix(self.probabilities(logits), available)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-modality class probabilities (softmax, or sigmoid for multi-label) of logits ``[..., M, C]``."""
        if self.meta.task_type == "multilabel":
            return torch.sigmoid(logits.float())
        return torch.softmax(logits.float(), dim=-1)

    def mix(self, probs: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
        """Fused logits: the F1-weighted mean of ``probs [B, M, C]`` over the available modalities ``[..., B, M]``."""
        multilabel = self.meta.task_type == "multilabel"
        w = self.modality_weights.float() * available.float()  # [..., B, M]
        total = w.sum(dim=-1, keepdim=True)
        # all available weights 0 (e.g. every F1 was 0): plain average of the available modalities
        w = torch.where(total > 0, w, available.float())
        total = w.sum(dim=-1, keepdim=True)
        fallback = 0.5 if multilabel else 1.0 / probs.shape[-1]
        p = (w.unsqueeze(-2) @ probs).squeeze(-2)  # [..., B, C], one batched matmul
        p = torch.where(total > 0, p / total.clamp_min(1e-12), torch.full_like(p, fallback))
        p = p.clamp(1e-12, 1.0 - 1e-7) if multilabel else p.clamp_min(1e-12)
        return torch.logit(p) if multilabel else torch.log(p)

    def fuse_conditions(
        self, real: dict[str, torch.Tensor], masked: dict[str, torch.Tensor], available: torch.Tensor
    ) -> torch.Tensor:
        """Logits ``[K, B, C]`` for availability ``[K, B, M]``: probabilities once, one weighted mix per condition."""
        return self.mix(self.probabilities(self.modality_logits(real)), available)

    def fuse(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        return self.combine(self.modality_logits(features), available)

    def training_loss(
        self, inputs: dict[str, torch.Tensor], available: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.modality_logits(self.encode(inputs))  # [B, M, C]
        b, m, c = logits.shape
        if self.meta.task_type == "multilabel":
            per = multilabel_loss(
                logits, target.unsqueeze(1).expand(b, m, c), self.label_pos_weight, reduction="none"
            ).mean(-1)
        else:
            per = F.cross_entropy(logits.reshape(b * m, c), target.repeat_interleave(m), reduction="none").view(b, m)
        loss = (per * available.to(per.dtype)).sum() / b
        return loss, self.combine(logits.detach(), available)
