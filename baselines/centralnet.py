"""CentralNet (Vielzeuf, Lechervy, Pateux & Jurie, ECCV-W 2018, arXiv:1808.07275).

Every modality has a branch of ``depth`` hidden layers of equal width: ``h_m^0 = enc_m(x_m)`` and
``h_m^{i+1} = Block_m^i(h_m^i)``, each branch ending in its own classifier. A central branch with the same depth
structure fuses the branches at every depth (the paper's central layer):

    c_0 = 0,   c_{i+1} = CentralBlock_i(α_c^i c_i + Σ_m α_m^i h_m^i),   i = 0..depth,

with learned scalar weights α (initialised to 1), and a central classifier on ``c_{depth+1}``. The loss is the
central loss plus the weighted unimodal losses (the paper's training objective):

    L = L_central + Σ_m λ_m L_m      (``unimodal_weights`` = (λ_1..λ_M), default all 1).

Each unimodal loss averages over the samples where that modality is available.

Missing modality: CentralNet has no native handling. At test time it relies on the evaluator's ``fill`` strategy
(the missing modality's filled values pass through its branch); ``available`` only masks the unimodal losses.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta
from modalbench.params import Param

from .base import FusionModel
from .encoders import make_encoder, module_list
from .registry import register_baseline
from .two_stream import task_loss


def _block(width: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout))


@register_baseline("centralnet")
class CentralNet(FusionModel):
    """Unimodal branches + a central branch fused at every depth with learned α; combined central/unimodal loss."""

    has_fast_path = True
    handles_missing = False
    params = (
        Param("width", "int", 64, "width of every branch layer", min=1),
        Param("depth", "int", 2, "hidden layers per branch", min=0),
        Param("unimodal_weights", "list", None, "λ_m per modality (none: all 1)", item="float", min=0.0, nullable=True),
        Param("dropout", "float", 0.0, "dropout rate", min=0.0, max=1.0, max_open=True),
        Param("encoder", "dict", None, "arguments of every modality encoder", nullable=True),
    )

    def __init__(
        self,
        meta: DatasetMeta,
        width: int = 64,
        depth: int = 2,
        unimodal_weights: list[float] | None = None,
        dropout: float = 0.0,
        encoder: dict[str, Any] | None = None,
    ) -> None:
        m = meta.n_modalities
        lam = [1.0] * m if unimodal_weights is None else [float(v) for v in unimodal_weights]
        if len(lam) != m:
            raise ModalbenchError(
                f"centralnet: unimodal_weights needs {m} values (one per modality "
                f"{meta.modality_names}), got {len(lam)}"
            )
        if depth < 0:
            raise ModalbenchError(f"centralnet: depth must be >= 0, got {depth}")
        super().__init__(
            meta, width=width, depth=depth, unimodal_weights=lam, dropout=dropout, encoder=dict(encoder or {})
        )
        names = meta.modality_names
        self.encoders = nn.ModuleDict({s.name: make_encoder(s, width, **(encoder or {})) for s in meta.modalities})
        self.branches = nn.ModuleDict({n: nn.ModuleList([_block(width, dropout) for _ in range(depth)]) for n in names})
        self.classifiers = nn.ModuleDict({n: nn.Linear(width, meta.n_classes) for n in names})
        self.central = nn.ModuleList([_block(width, dropout) for _ in range(depth + 1)])
        self.central_classifier = nn.Linear(width, meta.n_classes)
        # alpha[i] = (α_c^i, α_1^i, …, α_M^i); α_c^0 multiplies c_0 = 0 and is kept for a uniform layout
        self.alpha = nn.Parameter(torch.ones(depth + 1, m + 1))

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Branch activations ``[B, depth+1, width]`` (h_m^0..h_m^depth) per modality."""
        out = {}
        for n in self.modality_names:
            h = self.encoders[n](inputs[n])
            hs = [h]
            for blk in module_list(self.branches, n):
                h = blk(h)
                hs.append(h)
            out[n] = torch.stack(hs, dim=1)
        return out

    def all_logits(self, features: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Central logits and unimodal logits from :meth:`encode` features."""
        names = self.modality_names
        first = features[names[0]]
        c = torch.zeros(first.shape[0], first.shape[2], dtype=first.dtype, device=first.device)  # c_0 = 0
        for i, blk in enumerate(self.central):
            mix = self.alpha[i, 0] * c
            for j, n in enumerate(names):
                mix = mix + self.alpha[i, j + 1] * features[n][:, i]
            c = blk(mix)
        uni = {n: self.classifiers[n](features[n][:, -1]) for n in names}
        return self.central_classifier(c), uni

    def fuse(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        return self.all_logits(features)[0]

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.encode(inputs), available)

    def combined_loss(
        self, central: torch.Tensor, unimodal: dict[str, torch.Tensor], available: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """``L_central + Σ_m λ_m L_m``; ``L_m`` averages over samples with modality m available."""
        loss = task_loss(self.meta, central, target, pos_weight=self.label_pos_weight)
        for j, n in enumerate(self.modality_names):
            lam = float(self.hparams["unimodal_weights"][j])
            if lam:
                loss = loss + lam * task_loss(self.meta, unimodal[n], target, available[:, j], self.label_pos_weight)
        return loss

    def training_loss(
        self, inputs: dict[str, torch.Tensor], available: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        central, uni = self.all_logits(self.encode(inputs))
        return self.combined_loss(central, uni, available, target), central
