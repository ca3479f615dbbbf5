"""Per-modality encoders picked from the store's modality kinds.

``series`` -> 1-D conv stack (or ``deepconvlstm``: DeepConvLSTM, Ordóñez & Roggen, Sensors 16(1):115, 2016, the
pre-processing of EmbraceNet's OPPORTUNITY models — 4 temporal convolutions of 64 filters with kernel 5, then 2 LSTM
layers of 128 units, the last step's state read out); ``image`` -> small CNN; ``vector`` -> MLP;
``spectrogram`` -> LeNet-style CNN (MFAS's unimodal spectrogram net; ``cnn2d`` selects the earlier 3×3 2-D CNN);
``skeleton`` (``[B, T, P, J, 3]``: bodies × joints × xyz per step) -> temporal conv
stack over the flattened joint coordinates (or ``gru``: a GRU over the same per-step vectors, the last state read
out); ``video`` (``[B, T, C, H, W]`` clips) -> small 3-D CNN (spatio-temporal 3×3×3 convolutions, global pooling);
``text`` with a vocabulary (``[B, L]`` token ids, as float32 from the reader) -> embedding, 1-D convolution and a
mean over the non-pad positions; ``text`` without one (feature vectors) -> MLP.
Every encoder maps ``[B, *shape]`` to ``[B, out_dim]``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from modalbench.meta import PAD_TOKEN_ID, ModalitySpec


class SeriesConvEncoder(nn.Module):
    """Conv1d stack over time: input ``[B, T, C]``."""

    def __init__(
        self,
        spec: ModalitySpec,
        out_dim: int,
        filters: int = 32,
        layers: int = 2,
        kernel: int = 5,
        lstm: bool = False,
        dropout: float = 0.0,
        lstm_units: int = 0,
        lstm_layers: int = 1,
    ) -> None:
        super().__init__()
        _, channels = spec.shape
        blocks: list[nn.Module] = []
        c_in = channels
        for _ in range(layers):
            blocks += [nn.Conv1d(c_in, filters, kernel, padding=kernel // 2), nn.ReLU()]
            c_in = filters
        self.conv = nn.Sequential(*blocks)
        units = int(lstm_units) or filters
        self.lstm = nn.LSTM(filters, units, num_layers=int(lstm_layers), batch_first=True) if lstm else None
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(units if lstm else filters, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2))  # [B, F, T]
        if self.lstm is not None:
            seq, _ = self.lstm(h.transpose(1, 2))
            h = seq[:, -1]
        else:
            h = h.mean(dim=2)
        return torch.relu(self.out(self.drop(h)))


class ImageCNNEncoder(nn.Module):
    """Small CNN for ``[B, C, H, W]`` images; pools only while the map is larger than 4 pixels."""

    def __init__(
        self, spec: ModalitySpec, out_dim: int, filters: int = 32, layers: int = 2, dropout: float = 0.0
    ) -> None:
        super().__init__()
        c_in, h, w = spec.shape
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [nn.Conv2d(c_in, filters * (2**i), 3, padding=1), nn.ReLU()]
            if min(h, w) >= 8:
                blocks.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c_in = filters * (2**i)
        self.conv = nn.Sequential(*blocks)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(c_in * h * w, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.out(self.drop(self.conv(x).flatten(1))))


class SpectrogramCNNEncoder(nn.Module):
    """2-D CNN with global average pooling for ``[B, C, F, T]`` spectrograms."""

    def __init__(
        self, spec: ModalitySpec, out_dim: int, filters: int = 32, layers: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__()
        c_in = spec.shape[0]
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [nn.Conv2d(c_in, filters, 3, padding=1), nn.BatchNorm2d(filters), nn.ReLU()]
            if i < layers - 1:
                blocks.append(nn.MaxPool2d(2, ceil_mode=True))
            c_in = filters
        self.conv = nn.Sequential(*blocks)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(filters, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.out(self.drop(self.conv(x).mean(dim=(2, 3)))))


class LeNetEncoder(nn.Module):
    """LeNet-style CNN for ``[B, C, F, T]`` spectrograms: the unimodal audio net of MFAS / CentralNet on AV-MNIST
    (Pérez-Rúa et al. 2019; Vielzeuf et al. 2018, ``models/central/avmnist.py``): blocks of a 5×5 convolution (padding
    2, no bias) → batch norm → ReLU → 2×2 max-pool, the channels doubling from ``filters`` each block, then global
    average pooling. ``layers`` = 5 blocks as their spectrogram net (3 for their 28×28 image net); a block pools only
    while both sides are at least 2, so small inputs keep every block."""

    def __init__(
        self, spec: ModalitySpec, out_dim: int, filters: int = 8, layers: int = 5, dropout: float = 0.0
    ) -> None:
        super().__init__()
        c_in, h, w = spec.shape
        blocks: list[nn.Module] = []
        for i in range(layers):
            c_out = filters * (2**i)
            blocks += [nn.Conv2d(c_in, c_out, 5, padding=2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            if min(h, w) >= 2:
                blocks.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c_in = c_out
        self.conv = nn.Sequential(*blocks)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(c_in, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.out(self.drop(self.conv(x).mean(dim=(2, 3)))))


class MLPEncoder(nn.Module):
    """MLP over the flattened input (``vector`` modalities, or any kind when asked for)."""

    def __init__(
        self, spec: ModalitySpec, out_dim: int, hidden: int = 128, layers: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__()
        d = math.prod(spec.shape)
        blocks: list[nn.Module] = [nn.Flatten()]
        for _ in range(layers):
            blocks += [nn.Linear(d, hidden), nn.ReLU(), nn.Dropout(dropout)]
            d = hidden
        blocks += [nn.Linear(d, out_dim), nn.ReLU()]
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TokenConvEncoder(nn.Module):
    """Token ids ``[B, L]`` (float or integer; 0 = ``<pad>``): embedding (``vocab_size`` from the store, the pad
    row kept at zero), one 1-D convolution with ReLU, then the mean over the non-pad positions (an all-pad row, e.g.
    a missing plot after the fill, gives zeros), a linear layer and ReLU."""

    def __init__(
        self,
        spec: ModalitySpec,
        out_dim: int,
        embedding: int = 64,
        filters: int = 64,
        kernel: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if spec.vocab_size < 2:
            raise ValueError(f"modality {spec.name!r}: a token encoder needs the store's vocab_size")
        self.vocab_size = int(spec.vocab_size)
        self.embed = nn.Embedding(self.vocab_size, embedding, padding_idx=PAD_TOKEN_ID)
        self.conv = nn.Conv1d(embedding, filters, kernel, padding=kernel // 2)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(filters, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = x.round().long().clamp(0, self.vocab_size - 1) if x.is_floating_point() else x.long()
        keep = (ids != PAD_TOKEN_ID).unsqueeze(1).to(self.out.weight.dtype)  # [B, 1, L]
        h = torch.relu(self.conv(self.embed(ids).transpose(1, 2))) * keep  # [B, F, L]
        pooled = h.sum(dim=2) / keep.sum(dim=2).clamp(min=1.0)
        return torch.relu(self.out(self.drop(pooled)))


class SkeletonTemporalEncoder(nn.Module):
    """Skeleton sequences ``[B, T, P, J, 3]``: every step's ``P·J·3`` coordinates as channels of a temporal
    Conv1d stack (BatchNorm, ReLU, stride-2 after the first layer), mean over time; ``gru=True`` replaces the stack
    by a GRU whose last hidden state is read out."""

    def __init__(
        self,
        spec: ModalitySpec,
        out_dim: int,
        filters: int = 64,
        layers: int = 3,
        kernel: int = 9,
        gru: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        channels = math.prod(spec.shape[1:])
        self.gru = nn.GRU(channels, filters, batch_first=True) if gru else None
        blocks: list[nn.Module] = []
        c_in = channels
        for i in range(0 if gru else layers):
            stride = 2 if i > 0 else 1
            blocks += [
                nn.Conv1d(c_in, filters, kernel, stride=stride, padding=kernel // 2),
                nn.BatchNorm1d(filters),
                nn.ReLU(),
            ]
            c_in = filters
        self.conv = nn.Sequential(*blocks)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(filters, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.flatten(2)  # [B, T, P*J*3]
        if self.gru is not None:
            _, h = self.gru(seq)
            feat = h[-1]
        else:
            feat = self.conv(seq.transpose(1, 2)).mean(dim=2)
        return torch.relu(self.out(self.drop(feat)))


class Video3DCNNEncoder(nn.Module):
    """Small 3-D CNN for clips ``[B, T, C, H, W]``: Conv3d 3×3×3 blocks (BatchNorm, ReLU), spatial max-pooling
    after every block (temporal pooling too while the clip has more than 2 steps), global average pooling."""

    def __init__(
        self, spec: ModalitySpec, out_dim: int, filters: int = 16, layers: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__()
        t, c_in, h, w = spec.shape
        blocks: list[nn.Module] = []
        width = c_in
        for i in range(layers):
            blocks += [nn.Conv3d(width, filters * 2**i, 3, padding=1), nn.BatchNorm3d(filters * 2**i), nn.ReLU()]
            kt = 2 if t > 2 else 1
            ks = 2 if min(h, w) >= 4 else 1
            blocks.append(nn.MaxPool3d((kt, ks, ks), ceil_mode=True))
            t, h, w = -(-t // kt), -(-h // ks), -(-w // ks)
            width = filters * 2**i
        self.conv = nn.Sequential(*blocks)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(width, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2))  # [B, C, T, H, W] for Conv3d
        return torch.relu(self.out(self.drop(h.mean(dim=(2, 3, 4)))))


#: DeepConvLSTM (Ordóñez & Roggen 2016): 4 conv layers × 64 filters, kernel 5, 2 LSTM layers × 128 units
DEEPCONVLSTM: dict[str, Any] = {
    "lstm": True,
    "layers": 4,
    "filters": 64,
    "kernel": 5,
    "lstm_units": 128,
    "lstm_layers": 2,
}

ENCODERS_BY_KIND: dict[str, type[nn.Module]] = {
    "series": SeriesConvEncoder,
    "image": ImageCNNEncoder,
    "vector": MLPEncoder,
    "spectrogram": LeNetEncoder,
    "text": MLPEncoder,
    "skeleton": SkeletonTemporalEncoder,
    "video": Video3DCNNEncoder,
}
ENCODER_NAMES: dict[str, type[nn.Module]] = {
    "conv1d": SeriesConvEncoder,
    "deepconvlstm": SeriesConvEncoder,
    "cnn": ImageCNNEncoder,
    "cnn2d": SpectrogramCNNEncoder,
    "lenet": LeNetEncoder,
    "mlp": MLPEncoder,
    "skeleton-tcn": SkeletonTemporalEncoder,
    "gru": SkeletonTemporalEncoder,
    "cnn3d": Video3DCNNEncoder,
    "token-conv": TokenConvEncoder,
}


def make_encoder(spec: ModalitySpec, out_dim: int, kind: str | None = None, **cfg: Any) -> nn.Module:
    """An encoder for ``spec`` producing ``out_dim`` features.

    ``kind`` overrides the default picked from ``spec.kind`` (``conv1d``, ``deepconvlstm``, ``cnn``, ``cnn2d``, ``lenet``,
    ``mlp``, ``skeleton-tcn``, ``gru``, ``cnn3d``, ``token-conv``); token ids (a ``vocab_size``) get
    :class:`TokenConvEncoder`.
    """
    if kind is None:
        cls = TokenConvEncoder if spec.vocab_size else ENCODERS_BY_KIND[spec.kind]
    else:
        if kind not in ENCODER_NAMES:
            raise ValueError(f"unknown encoder {kind!r}; choose from {sorted(ENCODER_NAMES)}")
        cls = ENCODER_NAMES[kind]
        if kind == "deepconvlstm":
            cfg = {**DEEPCONVLSTM, **cfg}
        if kind == "gru":
            cfg = {"gru": True, **cfg}
    return cls(spec, out_dim, **cfg)


def make_encoders(
    meta: Any, out_dim: int, encoder: dict[str, Any] | None = None, overrides: dict[str, dict[str, Any]] | None = None
) -> nn.ModuleList:
    """One encoder per modality of ``meta`` (modality order), each producing ``out_dim`` features.

    ``encoder`` holds keyword arguments shared by every encoder (``kind`` selects a non-default encoder);
    ``overrides`` maps a modality kind or name to extra arguments (name wins over kind), e.g.
    ``{"series": {"kind": "deepconvlstm"}, "BACK": {"filters": 16}}``. All values are plain JSON.
    """
    unknown = set(overrides or {}) - set(meta.modality_names) - {s.kind for s in meta.modalities}
    if unknown:
        raise ValueError(
            f"encoder overrides for unknown modalities/kinds {sorted(unknown)}; modalities: {meta.modality_names}"
        )
    mods = []
    for spec in meta.modalities:
        cfg = {**(encoder or {}), **(overrides or {}).get(spec.kind, {}), **(overrides or {}).get(spec.name, {})}
        mods.append(make_encoder(spec, out_dim, **cfg))
    return nn.ModuleList(mods)


def mlp_head(d_in: int, n_out: int, hidden: int = 128, dropout: float = 0.5) -> nn.Sequential:
    """Linear → ReLU → Dropout → Linear classification head (``hidden=0``: a single linear layer)."""
    if hidden <= 0:
        return nn.Sequential(nn.Linear(d_in, n_out))
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_out))


def module_list(modules: nn.ModuleDict, name: str) -> nn.ModuleList:
    """``modules[name]`` of a ModuleDict whose entries are ModuleLists (its items are typed as plain modules)."""
    entry = modules[name]
    if not isinstance(entry, nn.ModuleList):
        raise TypeError(f"{name!r} holds a {type(entry).__name__}, not a ModuleList")
    return entry


def first_linear(head: nn.Sequential) -> nn.Linear:
    """The input projection of an :func:`mlp_head` (its first layer)."""
    layer = head[0]
    if not isinstance(layer, nn.Linear):
        raise TypeError(f"the head starts with {type(layer).__name__}, not a Linear layer")
    return layer
