"""MFAS fusion networks (Pérez-Rúa, Vielzeuf, Pateux, Baccouche & Jurie, "MFAS: Multimodal Fusion Architecture
Search", CVPR 2019), generalised to M modalities as in MultiBench (Liang et al. 2021).

Each modality m has a pretrained, frozen unimodal backbone exposing L_m layer features ``x^m_1..x^m_{L_m}``, each
global-average-pooled to a vector (:class:`LayeredBackbone`). A fusion architecture is a sequence of L triplets
``(γ^1_l, …, γ^M_l, σ_l)`` (0-based layer indices, activation in {relu, sigmoid, leakyrelu}); the fusion network is
(the paper's fusion layers, with M inputs instead of two):

    h_1 = σ_1(W_1 [x^1_{γ^1_1}; …; x^M_{γ^M_1}]),
    h_l = σ_l(W_l [x^1_{γ^1_l}; …; x^M_{γ^M_l}; h_{l−1}]),   l = 2..L,

followed by a linear classifier on ``h_L``. The search space of one layer has Π_m L_m × |activations| triplets.
:mod:`modalbench.baselines.search` finds an architecture; :func:`save_arch`/:func:`load_arch` store it as JSON that
``MFASNet(meta, **load_arch(path))`` rebuilds.

Backbones: when ``backbones`` (modules) or ``backbones_file`` (weights saved by :func:`save_backbones`) are given
they are pretrained (see ``search.pretrain_backbones``) and frozen, as in the paper (``freeze_backbones=True`` is recorded in the config so a rebuilt model keeps them frozen after
``load_state_dict``). Without them, fresh backbones are built from ``encoders.make_encoder`` and trained end to end
unless ``freeze_backbones=True``.

Final stage of the search (Algorithm 1, last step): the chosen architecture is fine-tuned with the backbones
unfrozen and the multitask loss ``L = L_fusion + w · mean_m L_m``, ``L_m`` the cross-entropy of a linear unimodal
head on modality m's backbone embedding (``multitask_weight = w``; 0 builds no unimodal heads).

Missing modality: MFAS has no native handling; it relies on the evaluator's ``fill`` strategy and ignores
``available``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modalbench.atomic import write_bytes_atomic, write_json_atomic
from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta, ModalitySpec
from modalbench.params import Param

from .base import FusionModel, multilabel_loss
from .encoders import make_encoder
from .registry import register_baseline

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "leakyrelu": nn.LeakyReLU}
ACTIVATION_NAMES: tuple[str, ...] = tuple(ACTIVATIONS)

Arch = list[list[Any]]  # [[γ^1, …, γ^M, activation], …]


class LayeredBackbone(nn.Module):
    """A unimodal encoder (from :func:`encoders.make_encoder`) exposing its intermediate layer outputs.

    The layers are the outputs of every ``nn.ReLU`` module inside the encoder plus its final embedding (when that is
    not already the last ReLU output); each is averaged over its non-channel axes (time / height × width) to a
    vector. ``layer_dims`` lists their sizes (L_m = ``len(layer_dims)``).
    """

    def __init__(self, spec: ModalitySpec, emb_dim: int = 64, encoder: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.emb_dim = int(emb_dim)
        self.encoder_cfg = dict(encoder or {})
        self.encoder = make_encoder(spec, emb_dim, **(encoder or {}))
        self._taps: list[torch.Tensor] = []
        for mod in self.encoder.modules():
            if isinstance(mod, nn.ReLU):
                mod.register_forward_hook(self._tap)
        with torch.no_grad():
            was = self.encoder.training
            self.encoder.eval()
            feats = self.layer_features(torch.zeros(2, *spec.shape))
            self.encoder.train(was)
        self.layer_dims: list[int] = [int(f.shape[1]) for f in feats]

    def _tap(self, module: nn.Module, inp: Any, out: torch.Tensor) -> None:
        self._taps.append(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's final embedding."""
        return self.encoder(x)

    def layer_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Pooled features of every layer, shallow to deep, each ``[B, d_l]``."""
        self._taps = []
        out = self.encoder(x)
        taps, self._taps = self._taps, []
        if not taps or taps[-1] is not out:
            taps.append(out)
        return [t.mean(dim=tuple(range(2, t.dim()))) if t.dim() > 2 else t for t in taps]


def build_backbones(
    meta: DatasetMeta, emb_dim: int = 64, encoder: dict[str, Any] | None = None
) -> dict[str, LayeredBackbone]:
    """Fresh (untrained) layered backbones, one per modality."""
    return {s.name: LayeredBackbone(s, emb_dim, encoder) for s in meta.modalities}


def validate_arch(arch: Any, layer_counts: list[int], names: list[str], where: str = "arch") -> Arch:
    """Check an architecture against the backbones' layer counts; returns it as a list of lists."""
    if not isinstance(arch, (list, tuple)) or not arch:
        raise ModalbenchError(f"{where}: expected a non-empty list of [γ^1, …, γ^M, activation] triplets")
    m = len(layer_counts)
    out: Arch = []
    for l, t in enumerate(arch):
        if not isinstance(t, (list, tuple)) or len(t) != m + 1:
            raise ModalbenchError(
                f"{where}[{l}]: expected {m} layer indices (for {names}) and an activation, got {t!r}"
            )
        *gammas, act = t
        for j, g in enumerate(gammas):
            if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g < layer_counts[j]:
                raise ModalbenchError(
                    f"{where}[{l}][{j}]: layer index of {names[j]!r} must be an int in "
                    f"[0, {layer_counts[j]}), got {g!r}"
                )
        if act not in ACTIVATIONS:
            raise ModalbenchError(f"{where}[{l}][{m}]: activation must be one of {ACTIVATION_NAMES}, got {act!r}")
        out.append([int(g) for g in gammas] + [str(act)])
    return out


@register_baseline("mfas")
class MFASNet(FusionModel):
    """Fusion network defined by an MFAS architecture over frozen layered unimodal backbones."""

    has_fast_path = True
    handles_missing = False
    presets = {
        "paper": lambda meta: {
            "hparams": {},
            "notes": [
                "architecture, fusion width and recipe come from `modalbench search mfas --budget paper` (Algorithm 1)"
            ],
        }
    }
    params = (
        Param(
            "arch", "list", None, "architecture [[γ^1, …, γ^M, activation], …] (none: last layers, relu)", nullable=True
        ),
        Param("hidden", "int", 64, "fusion layer width", min=1),
        Param("emb_dim", "int", 64, "backbone embedding size", min=1),
        Param("encoder", "dict", None, "arguments of every backbone encoder", nullable=True),
        Param("freeze_backbones", "bool", None, "freeze the backbones (none: frozen when pretrained)", nullable=True),
        Param("dropout", "float", 0.0, "dropout before the classifier", min=0.0, max=1.0, max_open=True),
        Param("backbones_file", "str", None, "pretrained backbone weights written by the search", nullable=True),
        Param("backbones", "object", None, "pretrained LayeredBackbone modules (Python API only)", nullable=True),
        Param("multitask_weight", "float", 0.0, "weight w of the unimodal heads' losses (fine-tuning stage)", min=0.0),
    )

    def __init__(
        self,
        meta: DatasetMeta,
        arch: Arch | None = None,
        hidden: int = 64,
        emb_dim: int = 64,
        encoder: dict[str, Any] | None = None,
        freeze_backbones: bool | None = None,
        dropout: float = 0.0,
        backbones_file: str | None = None,
        backbones: dict[str, LayeredBackbone] | None = None,
        multitask_weight: float = 0.0,
    ) -> None:
        if backbones is not None:
            missing = set(meta.modality_names) - set(backbones)
            if missing:
                raise ModalbenchError(f"mfas: backbones missing for modalities {sorted(missing)}")
        pretrained = backbones is not None or backbones_file is not None
        freeze = pretrained if freeze_backbones is None else bool(freeze_backbones)
        if backbones is not None:
            bbs = backbones
        else:
            bbs = build_backbones(meta, emb_dim, encoder)
            if backbones_file is not None:
                load_backbones(backbones_file, bbs)
        counts = [len(bbs[n].layer_dims) for n in meta.modality_names]
        if arch is None:
            arch = [[c - 1 for c in counts] + ["relu"]]
        arch = validate_arch(arch, counts, meta.modality_names)
        super().__init__(
            meta,
            arch=arch,
            hidden=hidden,
            emb_dim=emb_dim,
            encoder=dict(encoder or {}),
            freeze_backbones=freeze,
            dropout=dropout,
            backbones_file=None if backbones_file is None else str(backbones_file),
            multitask_weight=float(multitask_weight),
        )
        self.backbones = nn.ModuleDict({n: bbs[n] for n in meta.modality_names})
        if freeze:
            for p in self.backbones.parameters():
                p.requires_grad_(False)
        self.layer_dims = {n: list(bbs[n].layer_dims) for n in meta.modality_names}
        self.fusion = nn.ModuleList()
        self.activations = nn.ModuleList()
        for l, (in_dim, _) in enumerate(self.fusion_shapes()):
            self.fusion.append(nn.Linear(in_dim, hidden))
            self.activations.append(ACTIVATIONS[arch[l][-1]]())
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, meta.n_classes)
        if float(multitask_weight) > 0:
            self.unimodal_heads = nn.ModuleDict(
                {n: nn.Linear(self.layer_dims[n][-1], meta.n_classes) for n in meta.modality_names}
            )

    def fusion_shapes(self) -> list[tuple[int, int]]:
        """``(in_dim, out_dim)`` of every fusion layer ``W_l`` (used for weight sharing during the search)."""
        hidden = int(self.hparams["hidden"])
        shapes = []
        for l, t in enumerate(self.hparams["arch"]):
            d = sum(self.layer_dims[n][g] for n, g in zip(self.modality_names, t[:-1]))
            shapes.append((d + (hidden if l else 0), hidden))
        return shapes

    def config(self) -> dict[str, Any]:
        """Checkpoint config; ``backbones_file`` is dropped because the state dict already holds the backbone
        weights (a rebuilt model gets fresh backbones, frozen as recorded, then ``load_state_dict``)."""
        cfg = super().config()
        cfg["hparams"] = {k: v for k, v in cfg["hparams"].items() if k != "backbones_file"}
        return cfg

    def train(self, mode: bool = True) -> MFASNet:
        super().train(mode)
        if self.hparams["freeze_backbones"]:
            self.backbones.eval()  # frozen backbones keep their BN statistics
        return self

    def backbone(self, name: str) -> LayeredBackbone:
        """Modality ``name``'s backbone."""
        backbone = self.backbones[name]
        if not isinstance(backbone, LayeredBackbone):
            raise TypeError(f"backbone {name!r} is a {type(backbone).__name__}, not a LayeredBackbone")
        return backbone

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """All pooled layer features of each modality, concatenated (``[B, Σ_l d_{m,l}]``)."""
        out = {}
        for n in self.modality_names:
            if self.hparams["freeze_backbones"]:
                with torch.no_grad():
                    feats = self.backbone(n).layer_features(inputs[n])
            else:
                feats = self.backbone(n).layer_features(inputs[n])
            out[n] = torch.cat(feats, dim=1)
        return out

    def fuse(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        split = {n: torch.split(features[n], self.layer_dims[n], dim=1) for n in self.modality_names}
        h: torch.Tensor | None = None
        for l, t in enumerate(self.hparams["arch"]):
            parts = [split[n][g] for n, g in zip(self.modality_names, t[:-1])]
            if h is not None:
                parts.append(h)
            h = self.activations[l](self.fusion[l](torch.cat(parts, dim=1)))
        assert h is not None
        return self.classifier(self.drop(h))

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.encode(inputs), available)

    def training_loss(
        self, inputs: dict[str, torch.Tensor], available: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fusion loss, plus ``multitask_weight`` × the mean unimodal loss when the unimodal heads exist."""
        feats = self.encode(inputs)
        logits = self.fuse(feats, available)
        loss = _task_loss(self.meta, logits, target, self.label_pos_weight)
        w = float(self.hparams.get("multitask_weight", 0.0))
        if w > 0:
            uni: torch.Tensor | float = 0.0
            for n in self.modality_names:
                emb = feats[n][:, -self.layer_dims[n][-1] :]  # the backbone's final embedding (last layer feature)
                uni = uni + _task_loss(self.meta, self.unimodal_heads[n](emb), target, self.label_pos_weight)
            loss = loss + w * uni / len(self.modality_names)
        return loss, logits


def _task_loss(
    meta: DatasetMeta, logits: torch.Tensor, target: torch.Tensor, pos_weight: torch.Tensor | None = None
) -> torch.Tensor:
    if meta.task_type == "multilabel":
        return multilabel_loss(logits, target, pos_weight)
    return nn.functional.cross_entropy(logits, target)


def save_arch(path: str | Path, arch: Arch, hparams: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """Write an MFAS architecture config (atomic JSON): ``{"name": "mfas", "hparams": {...}, ...extra}``."""
    cfg = {"name": "mfas", "hparams": {**hparams, "arch": arch}, **(extra or {})}
    write_json_atomic(Path(path), cfg)


def save_backbones(path: str | Path, backbones: dict[str, LayeredBackbone]) -> None:
    """Save pretrained backbones' weights (a plain state dict, loadable with ``weights_only=True``), atomically."""
    buf = io.BytesIO()
    torch.save({n: {k: v.detach().cpu() for k, v in bb.state_dict().items()} for n, bb in backbones.items()}, buf)
    write_bytes_atomic(Path(path), buf.getvalue())


def load_backbones(path: str | Path, backbones: dict[str, LayeredBackbone]) -> None:
    """Load weights saved by :func:`save_backbones` into ``backbones`` (``weights_only=True``)."""
    p = Path(path)
    if not p.exists():
        raise ModalbenchError(f"{p}: MFAS backbone weights not found (written next to the architecture by the search)")
    states = torch.load(p, weights_only=True, map_location="cpu")
    missing = set(backbones) - set(states)
    if missing:
        raise ModalbenchError(f"{p}: no backbone weights for modalities {sorted(missing)}")
    for n, bb in backbones.items():
        try:
            bb.load_state_dict(states[n])
        except RuntimeError as e:
            raise ModalbenchError(
                f"{p}: backbone weights of {n!r} do not fit this backbone "
                f"(emb_dim/encoder differ): {str(e).splitlines()[0]}"
            ) from None


def load_arch(path: str | Path) -> dict[str, Any]:
    """The MFASNet hyperparameters stored by :func:`save_arch` (``MFASNet(meta, **load_arch(p))``).

    A relative ``backbones_file`` is resolved against the config file's folder.
    """
    p = Path(path)
    try:
        cfg = json.loads(p.read_text())
    except FileNotFoundError:
        raise ModalbenchError(f"{p}: MFAS architecture file not found") from None
    except json.JSONDecodeError as e:
        raise ModalbenchError(f"{p}:{e.lineno}: not valid JSON ({e.msg})") from None
    if (
        not isinstance(cfg, dict)
        or cfg.get("name") != "mfas"
        or not isinstance(cfg.get("hparams"), dict)
        or "arch" not in cfg["hparams"]
    ):
        raise ModalbenchError(f"{p}: expected an object with name 'mfas' and hparams.arch (written by mfas search)")
    hp = dict(cfg["hparams"])
    if hp.get("backbones_file") and not Path(hp["backbones_file"]).is_absolute():
        hp["backbones_file"] = str((p.parent / hp["backbones_file"]).resolve())
    return hp
