"""Minape (Truchan et al., ICONIP 2023): a light-weight multimodal isotropic patch-embedding network.

Modalities are grouped by type; each group gets an isotropic ConvMixer-style pathway (Trockman & Kolter 2022):

    z_0 = BN(GELU(Conv2d_{kernel=stride=P}(x)))                          patch embedding, F filters
    z_l' = BN(GELU(DepthwiseConv_{k×k, 'same'}(z_{l−1}))) + z_{l−1}       l = 1..D  (spatial mixing + residual)
    z_l  = BN(GELU(Conv_{1×1}(z_l')))                                   (channel mixing)
    p    = GlobalAvgPool(z_D)

Time-series modalities first become log-mel spectrograms (:mod:`modalbench.baselines.spectrogram`: torchaudio
``MelSpectrogram`` + ``AmplitudeToDB``, Hann window; the paper names the log-mel front end but not its
parameters, so the per-dataset values are modalbench's); same-type tensors with the same
spatial size (images; spectrograms, including converted series) are stacked as channels into one group.
``vector`` modalities (not in the paper) form one group with a Linear → GELU → BN pathway.

The pathway outputs (F features each) are concatenated along a sequence axis, ``[B, F, G]`` for G groups, and fed
to the "TempMixer" (4 × [Conv1d(64 filters, kernel 3, 'same') → GELU → BN], mixing across the pathway sequence),
flattened, then a linear classifier. (The paper gives the block, not its exact input layout; this is our reading.)

Presets: ``paper`` — depth 16, kernel 13 (from the paper), F = 64 and patch 7 chosen to respect the paper's headline
of < 1 M parameters / < 12 MB; ``small`` (default) — depth 4, kernel 5, F = 32, patch 2 for small data/CPU. The paper
trains with AdamW, lr 1e-3. ``n_parameters()`` and ``size_mb()`` report the model size.

Missing modality: Minape has no native handling (stacked channels mix modalities); it relies on the evaluator's
``fill`` strategy, and ``available`` is ignored.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta, ModalitySpec
from modalbench.params import Param

from .base import FusionModel, dataset_family
from .registry import register_baseline
from .spectrogram import LogMelFrontEnd, params_for

PRESETS: dict[str, dict[str, int]] = {
    "paper": {"dim": 64, "depth": 16, "kernel": 13, "patch": 7},
    "small": {"dim": 32, "depth": 4, "kernel": 5, "patch": 2},
}


#: Truchan et al. 2023: AdamW, lr 1e-3 (weight decay not stated: torch's AdamW default 0.01)
MINAPE_RECIPE: dict[str, Any] = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.01}


def paper_preset(meta: DatasetMeta) -> dict[str, Any]:
    """Minape's ``paper`` architecture (depth 16, kernel 13) and AdamW; per-dataset depth/width only where known."""
    notes = [
        "AdamW lr 1e-3 (paper); weight decay not stated: 0.01 (torch default)",
        "depth 16 / kernel 13 from the paper; F = 64 and patch 7 are ours (paper: < 1 M parameters)",
    ]
    if dataset_family(meta) != "mudestreda":
        notes.append(f"{meta.name}: not a dataset of the paper; its architecture applied unchanged")
    return {"hparams": {"preset": "paper", "recipe": dict(MINAPE_RECIPE)}, "notes": notes}


class Residual(nn.Module):
    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x) + x


def conv_mixer_pathway(in_ch: int, dim: int, depth: int, kernel: int, patch: int) -> nn.Sequential:
    """Isotropic patch-embedding pathway (ConvMixer) ending in global average pooling -> ``[B, dim]``."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, dim, kernel_size=patch, stride=patch), nn.GELU(), nn.BatchNorm2d(dim)]
    for _ in range(depth):
        layers += [
            Residual(
                nn.Sequential(nn.Conv2d(dim, dim, kernel, groups=dim, padding="same"), nn.GELU(), nn.BatchNorm2d(dim))
            ),
            nn.Conv2d(dim, dim, 1),
            nn.GELU(),
            nn.BatchNorm2d(dim),
        ]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


class TempMixer(nn.Module):
    """4 × [Conv1d(filters, 'same') → GELU → BN] over the sequence of pathway outputs ``[B, F, G]``, flattened."""

    def __init__(self, in_dim: int, filters: int = 64, kernel: int = 3, layers: int = 4) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c_in = in_dim
        for _ in range(layers):
            blocks += [nn.Conv1d(c_in, filters, kernel, padding="same"), nn.GELU(), nn.BatchNorm1d(filters)]
            c_in = filters
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).flatten(1)


@register_baseline("minape")
class Minape(FusionModel):
    """Grouped ConvMixer pathways (log-mel front end for series) + TempMixer + linear classifier."""

    handles_missing = False
    presets = {"paper": paper_preset}
    params = (
        Param("preset", "choice", "small", "architecture preset (paper: depth 16, kernel 13)", choices=tuple(PRESETS)),
        Param("dim", "int", None, "pathway filters F (none: the preset's)", min=1, nullable=True),
        Param("depth", "int", None, "ConvMixer blocks per pathway (none: the preset's)", min=0, nullable=True),
        Param("kernel", "int", None, "depthwise kernel size (none: the preset's)", min=1, nullable=True),
        Param("patch", "int", None, "patch size P (none: the preset's)", min=1, nullable=True),
        Param("temp_filters", "int", 64, "TempMixer filters", min=1),
        Param("temp_kernel", "int", 3, "TempMixer kernel size", min=1),
        Param(
            "spectrogram",
            "dict",
            None,
            "per series modality: log-mel parameters (n_fft, hop_length, n_mels, ...)",
            nullable=True,
        ),
    )

    def __init__(
        self,
        meta: DatasetMeta,
        preset: str = "small",
        dim: int | None = None,
        depth: int | None = None,
        kernel: int | None = None,
        patch: int | None = None,
        temp_filters: int = 64,
        temp_kernel: int = 3,
        spectrogram: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        if preset not in PRESETS:
            raise ModalbenchError(f"minape: unknown preset {preset!r}; choose from {sorted(PRESETS)}")
        p = dict(PRESETS[preset])
        for k, v in (("dim", dim), ("depth", depth), ("kernel", kernel), ("patch", patch)):
            if v is not None:
                p[k] = int(v)
        spectrogram = dict(spectrogram or {})
        unknown = set(spectrogram) - {s.name for s in meta.modalities if s.kind == "series"}
        if unknown:
            raise ModalbenchError(
                f"minape: spectrogram parameters given for {sorted(unknown)}, which are not "
                f"series modalities of {meta.name!r}"
            )
        super().__init__(
            meta,
            preset=preset,
            dim=p["dim"],
            depth=p["depth"],
            kernel=p["kernel"],
            patch=p["patch"],
            temp_filters=temp_filters,
            temp_kernel=temp_kernel,
            spectrogram=spectrogram,
        )
        self.fronts = nn.ModuleDict()
        groups: dict[str, list[str]] = {}
        shapes: dict[str, tuple[int, ...]] = {}
        for s in meta.modalities:
            shape = self._group_shape(meta, s, spectrogram.get(s.name))
            key = (
                "vector"
                if len(shape) == 1
                else f"{'spec' if s.kind in ('series', 'spectrogram') else 'img'}_{shape[1]}x{shape[2]}"
            )
            groups.setdefault(key, []).append(s.name)
            shapes[s.name] = shape
        self.groups = groups
        self.pathways = nn.ModuleDict()
        for key, names in groups.items():
            if key == "vector":
                d = sum(shapes[n][0] for n in names)
                self.pathways[key] = nn.Sequential(nn.Linear(d, p["dim"]), nn.GELU(), nn.BatchNorm1d(p["dim"]))
            else:
                c = sum(shapes[n][0] for n in names)
                h, w = shapes[names[0]][1:]
                patch_ = max(1, min(p["patch"], h, w))
                self.pathways[key] = conv_mixer_pathway(c, p["dim"], p["depth"], p["kernel"], patch_)
        self.temp_mixer = TempMixer(p["dim"], temp_filters, temp_kernel)
        self.classifier = nn.Linear(temp_filters * len(groups), meta.n_classes)

    def _group_shape(self, meta: DatasetMeta, s: ModalitySpec, override: dict[str, Any] | None) -> tuple[int, ...]:
        if s.kind == "series":
            fe = LogMelFrontEnd(params_for(meta, s, override))
            self.fronts[s.name] = fe
            return fe.output_shape(s)
        if s.kind in ("image", "spectrogram"):
            return tuple(s.shape)
        return (math.prod(s.shape),)

    def group_inputs(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Front-end outputs stacked per group (channels for 2-D groups, features for the vector group)."""
        out = {}
        for key, names in self.groups.items():
            xs = []
            for n in names:
                x = self.fronts[n](inputs[n]) if n in self.fronts else inputs[n]
                xs.append(x.flatten(1) if key == "vector" else x)
            out[key] = torch.cat(xs, dim=1)
        return out

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        g = self.group_inputs(inputs)
        z = torch.stack([self.pathways[k](g[k]) for k in self.groups], dim=2)  # [B, F, G]
        return self.classifier(self.temp_mixer(z))

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def size_mb(self) -> float:
        """Size of all parameters and buffers (e.g. BN statistics, mel filterbanks) in MiB."""
        n = sum(t.numel() * t.element_size() for t in list(self.parameters()) + list(self.buffers()))
        return n / 2**20
