"""Compact multilinear pooling (Gao, Beijbom, Zhang & Darrell, CVPR 2016; Fukui et al. 2016; EmbraceNet §6.3.4).

Each modality's feature ``f_m`` (encoder output) is L2-normalised and count-sketched to ``D`` dimensions,
``ψ_m(x)_j = Σ_{i: h_m(i)=j} s_m(i) x_i`` with a fixed random hash ``h_m: [d] → [D]`` and signs ``s_m ∈ {±1}``
(Tensor Sketch, Pham & Pagh 2013). The sketch of the outer product of all modalities is the circular convolution
of the sketches, computed in the frequency domain:

    Φ = FFT⁻¹( Π_m FFT(ψ_m(f_m / ‖f_m‖)) ),

followed (``post_norm=True``, as in Gao et al.) by the signed square root and L2 normalisation, then the MLP head.
Hashes and signs are drawn per modality with ``numpy.random.Generator(PCG64(seed))`` and stored as buffers, so
they travel with the checkpoint.

Fast path: ``encode`` returns each modality's spectrum ``FFT(ψ_m(f_m/‖f_m‖))`` (complex); ``fuse`` multiplies the
spectra, inverts the FFT and runs the head.

Missing modalities: the paper's baseline has no native handling — with ``missing="fill"`` (default) masked
modalities contribute the sketch of the caller's filled values. ``missing="skip"`` (modalbench option) replaces a
missing modality's spectrum by 1, the identity of circular convolution, i.e. pools only the available modalities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta
from modalbench.params import Param

from .base import DROPOUT, ENCODER, ENCODER_OVERRIDES, FEATURE_DIM, HEAD_HIDDEN, embracenet_baseline_preset
from .encoders import mlp_head
from .intermediate import EncodedFusion
from .registry import register_baseline


def count_sketch(x: torch.Tensor, hashes: torch.Tensor, signs: torch.Tensor, dim: int) -> torch.Tensor:
    """Count sketch ``ψ(x) [B, dim]`` of ``x [B, d]`` (linear in ``x``)."""
    proj = F.one_hot(hashes, dim).to(x.dtype) * signs.to(x.dtype).unsqueeze(1)  # [d, dim]
    return x @ proj


def circular_convolution_fft(*vectors: torch.Tensor) -> torch.Tensor:
    """Circular convolution of sketches ``[B, D]`` via the FFT product (convolution theorem)."""
    n = vectors[0].shape[-1]
    spec = torch.fft.rfft(vectors[0], dim=-1)
    for v in vectors[1:]:
        spec = spec * torch.fft.rfft(v, dim=-1)
    return torch.fft.irfft(spec, n=n, dim=-1)


@register_baseline("cmp", aliases=("compact-multilinear-pooling",))
class CompactMultilinearPooling(EncodedFusion):
    """Tensor-sketch pooling of all modalities' features, then an MLP head."""

    params = (
        FEATURE_DIM,
        Param("sketch_dim", "int", 512, "count-sketch size D", min=1),
        Param("seed", "int", 0, "seed of the sketch hashes and signs", min=0),
        Param("post_norm", "bool", True, "signed square root + L2 normalisation after pooling"),
        Param(
            "missing",
            "choice",
            "fill",
            "fill: pool the evaluator's filled values; skip: pool only the available modalities",
            choices=("fill", "skip"),
        ),
        HEAD_HIDDEN,
        DROPOUT,
        ENCODER,
        ENCODER_OVERRIDES,
    )
    presets = {"paper": embracenet_baseline_preset}

    @property
    def handles_missing(self) -> bool:  # type: ignore[override]
        """Native only with ``missing="skip"`` (a missing modality's spectrum becomes the identity 1)."""
        return self.missing == "skip"

    def __init__(
        self,
        meta: DatasetMeta,
        feature_dim: int = 64,
        sketch_dim: int = 512,
        seed: int = 0,
        post_norm: bool = True,
        missing: str = "fill",
        head_hidden: int = 128,
        dropout: float = 0.5,
        encoder: dict[str, Any] | None = None,
        encoder_overrides: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        if missing not in ("fill", "skip"):
            raise ModalbenchError(f"cmp: missing must be 'fill' or 'skip', got {missing!r}")
        super().__init__(
            meta,
            feature_dim=feature_dim,
            encoder=encoder,
            encoder_overrides=encoder_overrides,
            sketch_dim=sketch_dim,
            seed=seed,
            post_norm=post_norm,
            missing=missing,
            head_hidden=head_hidden,
            dropout=dropout,
        )
        self.sketch_dim, self.post_norm, self.missing = int(sketch_dim), bool(post_norm), missing
        rng = np.random.Generator(np.random.PCG64(seed))
        for m in range(meta.n_modalities):
            self.register_buffer(f"sketch_hash_{m}", torch.as_tensor(rng.integers(0, sketch_dim, feature_dim)))
            self.register_buffer(
                f"sketch_sign_{m}", torch.as_tensor(rng.integers(0, 2, feature_dim) * 2 - 1, dtype=torch.float32)
            )
        self.head = mlp_head(self.sketch_dim, meta.n_classes, head_hidden, dropout)

    def sketch(self, m: int, x: torch.Tensor) -> torch.Tensor:
        """Count sketch of modality ``m``'s (normalised) feature."""
        return count_sketch(x, getattr(self, f"sketch_hash_{m}"), getattr(self, f"sketch_sign_{m}"), self.sketch_dim)

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Spectrum of each modality's count sketch: ``rfft(ψ_m(f_m / ‖f_m‖))``, complex ``[B, D//2 + 1]``."""
        emb = self.embeddings(inputs)
        with torch.autocast(device_type=next(iter(emb.values())).device.type, enabled=False):
            return {
                n: torch.fft.rfft(self.sketch(m, F.normalize(emb[n].float(), dim=1)), dim=-1)
                for m, n in enumerate(self.modality_names)
            }

    def pool(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        """``Φ`` before the head: ``[B, D]`` from the spectra of ``encode``."""
        spec = None
        for m, name in enumerate(self.modality_names):
            s = features[name]
            if self.missing == "skip":
                s = torch.where(available[:, m : m + 1], s, torch.ones_like(s))
            spec = s if spec is None else spec * s
        phi = torch.fft.irfft(spec, n=self.sketch_dim, dim=-1)
        if self.post_norm:
            phi = F.normalize(torch.sign(phi) * torch.sqrt(phi.abs() + 1e-8), dim=1)
        return phi

    def fuse(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=available.device.type, enabled=False):
            phi = self.pool(features, available)
        return self.head(phi)
