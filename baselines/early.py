"""Early integration: the raw inputs of all modalities concatenated and fed to one network.

The "early integration" baseline of EmbraceNet (Choi & Lee, Information Fusion 2019, §6.3.1). The joint input is
built from the raw modalities: series with a common window length are concatenated along channels (one 1-D conv
stack over ``[T, ΣC]``), images / spectrograms with a common spatial size along channels (one CNN), any other mix
is flattened and concatenated (one MLP). Missing modalities: no native handling — masked modalities hold the
caller's ``fill`` values and ``available`` is ignored. No fast path: the network mixes modalities from its first layer.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from modalbench.meta import DatasetMeta, ModalitySpec

from .base import DROPOUT, ENCODER, FEATURE_DIM, HEAD_HIDDEN, FusionModel, embracenet_baseline_preset
from .encoders import make_encoder, mlp_head
from .registry import register_baseline


def joint_spec(meta: DatasetMeta) -> tuple[ModalitySpec, str]:
    """The spec of the concatenated input and how it is built (``channels-last``, ``channels-first``, ``joints``:
    skeleton parts side by side on the joint axis, ``flat``)."""
    kinds = {m.kind for m in meta.modalities}
    if kinds == {"series"} and len({m.shape[0] for m in meta.modalities}) == 1:
        t = meta.modalities[0].shape[0]
        return ModalitySpec("joint", "series", (t, sum(m.shape[1] for m in meta.modalities))), "channels-last"
    if len(kinds) == 1 and kinds <= {"image", "spectrogram"} and len({m.shape[1:] for m in meta.modalities}) == 1:
        rest = meta.modalities[0].shape[1:]
        shape = (sum(m.shape[0] for m in meta.modalities), *rest)
        return ModalitySpec("joint", kinds.pop(), shape), "channels-first"
    if kinds == {"skeleton"} and len({(m.shape[:2], m.shape[3:]) for m in meta.modalities}) == 1:
        t, bodies, _, coords = meta.modalities[0].shape
        shape = (t, bodies, sum(m.shape[2] for m in meta.modalities), coords)
        return ModalitySpec("joint", "skeleton", shape), "joints"
    return ModalitySpec("joint", "vector", (sum(math.prod(m.shape) for m in meta.modalities),)), "flat"


@register_baseline("early")
class EarlyFusion(FusionModel):
    """One network over the concatenated raw inputs."""

    params = (FEATURE_DIM, HEAD_HIDDEN, DROPOUT, ENCODER)
    handles_missing = False
    presets = {"paper": lambda meta: embracenet_baseline_preset(meta, "encoder")}

    def __init__(
        self,
        meta: DatasetMeta,
        feature_dim: int = 64,
        head_hidden: int = 128,
        dropout: float = 0.5,
        encoder: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(meta, feature_dim=feature_dim, head_hidden=head_hidden, dropout=dropout, encoder=encoder)
        spec, self.layout = joint_spec(meta)
        self.encoder = make_encoder(spec, feature_dim, **(encoder or {}))
        self.head = mlp_head(feature_dim, meta.n_classes, head_hidden, dropout)

    def joint_input(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        xs = [inputs[n] for n in self.modality_names]
        if self.layout == "channels-last":
            return torch.cat(xs, dim=-1)
        if self.layout == "channels-first":
            return torch.cat(xs, dim=1)
        if self.layout == "joints":
            return torch.cat(xs, dim=3)
        return torch.cat([x.flatten(1) for x in xs], dim=1)

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.joint_input(inputs)))
