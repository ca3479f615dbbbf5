"""Intermediate integration: per-modality encoders, concatenated embeddings, one shared head.

The "intermediate integration" baseline of EmbraceNet (Choi & Lee, Information Fusion 2019, §6.3.3):
``z = [f_1(x_1); …; f_M(x_M)]``, ``y = g(z)`` with ``f_m`` the kind-specific encoder of modality ``m`` and ``g``
an MLP head. Missing modalities: no native handling — the model sees whatever the caller's ``fill`` wrote into a
masked modality (``available`` is ignored), exactly like the paper's baseline.

:class:`EncodedFusion` is the shared base of every method here that encodes each modality separately; its
``encode`` is the evaluator's fast path (features depend only on the modality's own input).

Fast path of intermediate integration: the head's first layer is linear in the concatenation,
``W [f_1; …; f_M] = Σ_m W_m f_m``, so ``encode`` returns each modality's block product ``W_m f_m`` and ``fuse``
adds them (plus bias) before the rest of the head — the same function as concatenation → head, at a fraction of
the cost per missing-modality condition.
"""

from __future__ import annotations

from typing import Any

import torch

from modalbench.meta import DatasetMeta

from .base import ENCODED_PARAMS, FusionModel, embracenet_baseline_preset
from .encoders import first_linear, make_encoders, mlp_head
from .registry import register_baseline


class EncodedFusion(FusionModel):
    """A fusion model with one encoder per modality; ``encode`` maps each modality to ``feature_dim`` features."""

    has_fast_path = True

    def __init__(
        self,
        meta: DatasetMeta,
        *,
        feature_dim: int = 64,
        encoder: dict[str, Any] | None = None,
        encoder_overrides: dict[str, dict[str, Any]] | None = None,
        **hparams: Any,
    ) -> None:
        super().__init__(meta, feature_dim=feature_dim, encoder=encoder, encoder_overrides=encoder_overrides, **hparams)
        self.feature_dim = feature_dim
        self.encoders = make_encoders(meta, feature_dim, encoder, encoder_overrides)

    def embeddings(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each modality's encoder output ``[B, feature_dim]``."""
        return {name: enc(inputs[name]) for name, enc in zip(self.modality_names, self.encoders)}

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.embeddings(inputs)

    def stack(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Features as one tensor ``[B, M, D]`` in modality order."""
        return torch.stack([features[n] for n in self.modality_names], dim=1)


class HeadedFusion(EncodedFusion):
    """An :class:`EncodedFusion` whose hyperparameters are exactly ``ENCODED_PARAMS`` (encoders, then a head):
    the one constructor of the methods that differ only in their head, which ``build_head`` adds."""

    params = ENCODED_PARAMS

    def __init__(
        self,
        meta: DatasetMeta,
        feature_dim: int = 64,
        head_hidden: int = 128,
        dropout: float = 0.5,
        encoder: dict[str, Any] | None = None,
        encoder_overrides: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(
            meta,
            feature_dim=feature_dim,
            encoder=encoder,
            encoder_overrides=encoder_overrides,
            head_hidden=head_hidden,
            dropout=dropout,
        )
        self.build_head(meta, feature_dim, head_hidden, dropout)

    def build_head(self, meta: DatasetMeta, feature_dim: int, head_hidden: int, dropout: float) -> None:
        """Add the method's head (after the encoders, so parameters are created in the same order)."""
        raise NotImplementedError


@register_baseline("intermediate")
class IntermediateFusion(HeadedFusion):
    """Concatenate per-modality embeddings, then an MLP head."""

    handles_missing = False
    presets = {"paper": embracenet_baseline_preset}

    def build_head(self, meta: DatasetMeta, feature_dim: int, head_hidden: int, dropout: float) -> None:
        """One MLP head over the concatenated embeddings."""
        self.head = mlp_head(feature_dim * meta.n_modalities, meta.n_classes, head_hidden, dropout)

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``W_m f_m``: modality ``m``'s block of the head's first linear layer applied to its embedding."""
        first = first_linear(self.head)
        d = self.feature_dim
        emb = self.embeddings(inputs)
        return {n: emb[n] @ first.weight[:, m * d : (m + 1) * d].T for m, n in enumerate(self.modality_names)}

    def fuse(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        z = first_linear(self.head).bias + sum(features[n] for n in self.modality_names)  # = W [f_1; …; f_M] + b
        return self.head[1:](z)

    def fuse_conditions(
        self, real: dict[str, torch.Tensor], masked: dict[str, torch.Tensor], available: torch.Tensor
    ) -> torch.Tensor:
        """Logits ``[K, B, C]`` for availability ``[K, B, M]`` at once (evaluator hook, same values as ``fuse``).

        ``Σ_m [a_m W_m f_m + (1 − a_m) W_m f̃_m] = Σ_m W_m f̃_m + Σ_m a_m (W_m f_m − W_m f̃_m)``: one batched matmul.
        """
        names = self.modality_names
        base = first_linear(self.head).bias + sum(masked[n] for n in names)  # [B, H]
        delta = torch.stack([real[n] - masked[n] for n in names], dim=1)  # [B, M, H]
        z = base.unsqueeze(0) + torch.bmm(available.permute(1, 0, 2).to(delta.dtype), delta).transpose(0, 1)
        k, b, h = z.shape
        return self.head[1:](z.reshape(k * b, h)).view(k, b, -1)
