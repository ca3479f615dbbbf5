"""Multimodal autoencoder (Jaques, Taylor, Sano & Picard, 2017; as used in EmbraceNet §6.3.5).

Inputs are mapped to [0, 1] (``input_scaling``: ``"minus1_1"`` for stores scaled to [−1, 1] → ``(x + 1)/2``;
``"zero_one"`` → clipped as is; ``"standard"`` for standardised inputs → ``σ(x)``), flattened and concatenated.
Stage 1 (``pretrain_loss``, run by the trainer for ``pretrain_epochs`` epochs): a denoising autoencoder
reconstructs the complete inputs from inputs in which a random 50 % of the modalities (each independently with
probability ``corrupt_prob``, at least one kept) are replaced by the constant −1, a value outside [0, 1] that marks
"missing"; the reconstruction loss is the binary cross-entropy between the decoder's sigmoid output and the
[0, 1] inputs, over the modalities that are really present. Stage 2: the decoder is replaced by the
classification head and the network is fine-tuned end to end with the same corruption.

Missing modalities (native): at test time every unavailable modality is replaced by −1, the corruption value the
network was trained on. No fast path (the first layer mixes all modalities).
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import nn
from torch.nn import functional as F

from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta
from modalbench.params import Param

from .base import EMBRACENET_RECIPE, FusionModel
from .encoders import mlp_head
from .registry import register_baseline

SCALINGS = ("minus1_1", "zero_one", "standard")


def corrupt_mask(available: torch.Tensor, prob: float) -> torch.Tensor:
    """Keep mask ``[B, M]``: each available modality dropped with ``prob``; at least one available one kept."""
    keep = available & (torch.rand(available.shape, device=available.device) >= prob)
    none = ~keep.any(dim=1) & available.any(dim=1)
    if none.any():
        pick = (torch.rand(available.shape, device=available.device) + 1.0) * available  # only available win
        keep = keep | (none.unsqueeze(1) & F.one_hot(pick.argmax(dim=1), available.shape[1]).bool())
    return keep


@register_baseline("mae", aliases=("multimodal-autoencoder",))
class MultimodalAutoencoder(FusionModel):
    """Denoising multimodal autoencoder pretrained on reconstruction, then fine-tuned as a classifier."""

    params = (
        Param(
            "hidden",
            "list",
            [256, 64],
            "encoder layer sizes (the decoder mirrors them)",
            item="int",
            min=1,
            min_items=1,
        ),
        Param("pretrain_epochs", "int", 10, "epochs of denoising reconstruction before classification", min=0),
        Param(
            "corrupt_prob",
            "float",
            0.5,
            "probability of hiding each modality (at least one kept)",
            min=0.0,
            max=1.0,
            max_open=True,
        ),
        Param("input_scaling", "choice", "minus1_1", "how inputs map to [0, 1]", choices=SCALINGS),
        Param("head_hidden", "int", 0, "hidden units of the classification head (0: linear)", min=0),
        Param("dropout", "float", 0.0, "dropout rate in the head", min=0.0, max=1.0, max_open=True),
    )
    handles_missing = True
    presets = {
        "paper": lambda meta: {
            "hparams": {"recipe": dict(EMBRACENET_RECIPE)},
            "notes": ["EmbraceNet §6.3.5 set-up; layer sizes are not stated there: ours"],
        }
    }

    def __init__(
        self,
        meta: DatasetMeta,
        hidden: list[int] | tuple[int, ...] = (256, 64),
        pretrain_epochs: int = 10,
        corrupt_prob: float = 0.5,
        input_scaling: str = "minus1_1",
        head_hidden: int = 0,
        dropout: float = 0.0,
    ) -> None:
        if input_scaling not in SCALINGS:
            raise ModalbenchError(f"mae: input_scaling must be one of {SCALINGS}, got {input_scaling!r}")
        if not 0.0 <= corrupt_prob < 1.0:
            raise ModalbenchError(f"mae: corrupt_prob must be in [0, 1), got {corrupt_prob!r}")
        hidden = [int(h) for h in hidden]
        if not hidden:
            raise ModalbenchError("mae: hidden must list at least one layer size")
        super().__init__(
            meta,
            hidden=hidden,
            pretrain_epochs=pretrain_epochs,
            corrupt_prob=corrupt_prob,
            input_scaling=input_scaling,
            head_hidden=head_hidden,
            dropout=dropout,
        )
        self.pretrain_epochs = int(pretrain_epochs)
        self.corrupt_prob = float(corrupt_prob)
        self.input_scaling = input_scaling
        self.sizes = [math.prod(m.shape) for m in meta.modalities]
        d = sum(self.sizes)
        enc: list[nn.Module] = []
        for a, b in pairwise([d, *hidden]):
            enc += [nn.Linear(a, b), nn.ReLU()]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = []
        rev = [*hidden[::-1], d]
        for i, (a, b) in enumerate(pairwise(rev)):
            dec.append(nn.Linear(a, b))
            if i < len(rev) - 2:
                dec.append(nn.ReLU())
        self.decoder = nn.Sequential(*dec)  # outputs logits of the [0, 1] reconstruction
        self.head = mlp_head(hidden[-1], meta.n_classes, head_hidden, dropout)

    def scaled(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """All modalities mapped to [0, 1] and concatenated: ``[B, D]``."""
        x = torch.cat([inputs[n].flatten(1) for n in self.modality_names], dim=1)
        if self.input_scaling == "minus1_1":
            return ((x + 1.0) * 0.5).clamp(0.0, 1.0)
        if self.input_scaling == "zero_one":
            return x.clamp(0.0, 1.0)
        return torch.sigmoid(x)

    def expand(self, mask: torch.Tensor) -> torch.Tensor:
        """Per-modality mask ``[B, M]`` → per-input-column mask ``[B, D]``."""
        return torch.repeat_interleave(mask, torch.tensor(self.sizes, device=mask.device), dim=1)

    def corrupted(self, x01: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return torch.where(self.expand(keep), x01, torch.full_like(x01, -1.0))

    def pretrain_loss(self, inputs: dict[str, torch.Tensor], available: torch.Tensor | None = None) -> torch.Tensor:
        """Stage 1 loss: BCE reconstruction of the present modalities from a corrupted copy."""
        x01 = self.scaled(inputs)
        if available is None:
            available = torch.ones(x01.shape[0], self.meta.n_modalities, dtype=torch.bool, device=x01.device)
        keep = corrupt_mask(available, self.corrupt_prob)
        recon = self.decoder(self.encoder(self.corrupted(x01, keep)))
        bce = F.binary_cross_entropy_with_logits(recon.float(), x01.float(), reduction="none")
        w = self.expand(available).to(bce.dtype)
        return (bce * w).sum() / w.sum().clamp_min(1.0)

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        keep = corrupt_mask(available, self.corrupt_prob) if self.training else available
        return self.head(self.encoder(self.corrupted(self.scaled(inputs), keep)))
