"""Gated Multimodal Unit (Arevalo, Solorio, Montes-y-Gómez & González, ICLR-W 2017, arXiv:1702.01992).

Per modality ``h_m = tanh(W_m x_m)`` (eqs. 1–2; ``x_m`` is the modality's encoder feature), a gate computed from
all inputs ``z = σ(W_z [x_1; …; x_M])`` (eq. 3) and the fused representation ``h = z ⊙ h_1 + (1 − z) ⊙ h_2``
(eq. 4). For M > 2 the gate becomes a softmax over modalities per hidden unit,
``z_m = softmax_m(W_z^m [x_1; …; x_M])``, ``h = Σ_m z_m ⊙ h_m``. For M = 2 the gate logits are ``(a, 0)`` so
``softmax = (σ(a), 1 − σ(a))``: exactly the paper's unit.

Missing modality (native): a missing modality is excluded from the gate's normalisation (its logit is −∞, so the
weights of the available modalities sum to 1) and its features are zeroed in the gate input ``[x_1; …; x_M]``.
A sample with no modality available gets ``h = 0`` (no NaN).

Head: ``"linear"`` (default for single-label tasks) or ``"maxout"``, the paper's MM-IMDB head
BN → maxout → BN → maxout → BN → linear, with a sigmoid (BCE-with-logits) for multi-label tasks (default there).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta
from modalbench.params import Param

from .base import FusionModel
from .encoders import make_encoder
from .registry import register_baseline


class Maxout(nn.Module):
    """Maxout layer (Goodfellow et al. 2013): max over ``pieces`` affine maps."""

    def __init__(self, d_in: int, d_out: int, pieces: int = 2) -> None:
        super().__init__()
        self.d_out, self.pieces = d_out, pieces
        self.lin = nn.Linear(d_in, d_out * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).view(x.shape[0], self.d_out, self.pieces).amax(dim=2)


def maxout_head(d_in: int, hidden: int, n_out: int, pieces: int = 2, dropout: float = 0.0) -> nn.Sequential:
    """BN → maxout → BN → maxout → BN → linear (Arevalo et al. 2017, MM-IMDB experiments)."""
    return nn.Sequential(
        nn.BatchNorm1d(d_in),
        Maxout(d_in, hidden, pieces),
        nn.Dropout(dropout),
        nn.BatchNorm1d(hidden),
        Maxout(hidden, hidden, pieces),
        nn.Dropout(dropout),
        nn.BatchNorm1d(hidden),
        nn.Linear(hidden, n_out),
    )


@register_baseline("gmu")
class GMU(FusionModel):
    """Gated multimodal unit over per-modality encoder features, then a linear or maxout head."""

    has_fast_path = True
    handles_missing = True
    params = (
        Param("emb_dim", "int", 64, "encoder feature size", min=1),
        Param("hidden", "int", 64, "GMU hidden size", min=1),
        Param(
            "head",
            "choice",
            None,
            "classification head (none: maxout for multi-label, else linear)",
            choices=("linear", "maxout"),
            nullable=True,
        ),
        Param("head_hidden", "int", 128, "maxout head width", min=1),
        Param("maxout_pieces", "int", 2, "affine pieces per maxout unit", min=1),
        Param("dropout", "float", 0.0, "dropout rate", min=0.0, max=1.0, max_open=True),
        Param("encoder", "dict", None, "arguments of every modality encoder", nullable=True),
    )

    def __init__(
        self,
        meta: DatasetMeta,
        emb_dim: int = 64,
        hidden: int = 64,
        head: str | None = None,
        head_hidden: int = 128,
        maxout_pieces: int = 2,
        dropout: float = 0.0,
        encoder: dict[str, Any] | None = None,
    ) -> None:
        head = head or ("maxout" if meta.task_type == "multilabel" else "linear")
        if head not in ("linear", "maxout"):
            raise ModalbenchError(f"gmu: head must be 'linear' or 'maxout', got {head!r}")
        super().__init__(
            meta,
            emb_dim=emb_dim,
            hidden=hidden,
            head=head,
            head_hidden=head_hidden,
            maxout_pieces=maxout_pieces,
            dropout=dropout,
            encoder=dict(encoder or {}),
        )
        m = meta.n_modalities
        self.encoders = nn.ModuleDict({s.name: make_encoder(s, emb_dim, **(encoder or {})) for s in meta.modalities})
        self.proj = nn.ModuleDict({s.name: nn.Linear(emb_dim, hidden, bias=False) for s in meta.modalities})
        # M = 2: one gate per hidden unit (the paper's sigmoid); M > 2: one logit per modality and unit
        self.gate = nn.Linear(emb_dim * m, hidden * (1 if m == 2 else m))
        if head == "linear":
            self.head: nn.Module = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, meta.n_classes))
        else:
            self.head = maxout_head(hidden, head_hidden, meta.n_classes, maxout_pieces, dropout)

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {n: self.encoders[n](inputs[n]) for n in self.modality_names}

    def gate_weights(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        """Gate ``z`` as ``[B, M, hidden]``; sums to 1 over available modalities (0 where none is available)."""
        a = available.bool()
        x = torch.cat(
            [features[n] * a[:, i : i + 1].to(features[n].dtype) for i, n in enumerate(self.modality_names)], dim=1
        )
        g = self.gate(x)
        b, m, h = g.shape[0], self.meta.n_modalities, int(self.hparams["hidden"])
        logits = torch.stack([g, torch.zeros_like(g)], dim=1) if m == 2 else g.view(b, m, h)
        none = ~a.any(dim=1)
        mask = (a | none[:, None])[:, :, None]  # rows with nothing available: plain softmax, zeroed below
        z = torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=1)
        return z * (~none).to(z.dtype)[:, None, None]

    def fused(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        """The GMU output ``h = Σ_m z_m ⊙ tanh(W_m x_m)`` (``[B, hidden]``)."""
        z = self.gate_weights(features, available)
        hs = torch.stack([torch.tanh(self.proj[n](features[n])) for n in self.modality_names], dim=1)
        return (z * hs).sum(dim=1)

    def fuse(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        return self.head(self.fused(features, available))

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.encode(inputs), available)
