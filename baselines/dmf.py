"""Dense Multimodal Fusion (Hu et al., ICASSP 2019, "Dense multimodal fusion for hierarchically joint
representation").

Modality-specific pathways ``h_m^1 = x_m`` (the flattened input, or an encoder embedding with ``front="encoder"``)
and ``h_m^l = f(W_m^{l−1} h_m^{l−1})`` for l = 2..L; a shared pathway densely connected to every depth:

    s_1 = f(Σ_m W_m^{1→s} h_m^1 + b_1),
    s_l = f(Σ_m W_m^{l→s} h_m^l + W_s^{l−1} s_{l−1} + b_l),   l = 2..L,

and the classifier reads ``s_L``. The activation ``f`` is ``activation``: the paper's eq. 1 uses the sigmoid
(``activation="sigmoid"``, the ``paper`` preset); the default is ReLU, which trains faster from scratch.
Sizes follow the paper's MNIST-halves model: modality pathway [d_m, 512, 128] (``d_m`` taken from the store's
modality shape) and shared pathway [512, 256, 64], so
``len(shared_sizes) == len(modality_sizes) + 1 == L``. With L = 1 the model is intermediate fusion: a linear
layer on the concatenated embeddings (``Σ_m W_m h_m = [W_1 … W_M][h_1; …; h_M]``), ReLU, classifier.

Generative variant (``generative=True``, the paper's cross-modal generation setting): a decoder per modality reconstructs ``x_m`` from ``s_L``
(MLP mirroring the shared pathway); training adds ``recon_weight`` × the mean squared reconstruction error of the
modalities present in the data, computed on inputs where modalities are randomly hidden (each available modality
is hidden with probability ``drop_prob``, at least one kept; seeded generator). As an encoder–decoder it imputes
a missing modality: pass 1 runs with the missing modalities zeroed, their reconstructions replace them, pass 2
(repeated ``impute_steps`` times) gives the prediction.

Missing modality: the plain variant has no native handling and relies on the evaluator's ``fill`` strategy; the
generative variant ignores the filled values and imputes missing modalities with its decoders as above.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta
from modalbench.params import Param

from .base import FusionModel, dataset_family
from .encoders import make_encoder, module_list
from .registry import register_baseline
from .two_stream import task_loss

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}


@register_baseline("dmf")
class DenseMultimodalFusion(FusionModel):
    """Dense multimodal fusion; optional generative decoder used to impute missing modalities."""

    has_fast_path = True
    params = (
        Param(
            "modality_sizes",
            "list",
            None,
            "modality pathway sizes after the input (none: [512, 128])",
            item="int",
            min=1,
            nullable=True,
        ),
        Param(
            "shared_sizes",
            "list",
            None,
            "shared pathway sizes, one more than modality_sizes (none: [512, 256, 64])",
            item="int",
            min=1,
            nullable=True,
            min_items=1,
        ),
        Param(
            "front",
            "choice",
            "flatten",
            "first modality layer: the flattened input or an encoder",
            choices=("flatten", "encoder"),
        ),
        Param("front_dim", "int", 128, "encoder output size with front=encoder", min=1),
        Param("generative", "bool", False, "decoders from s_L impute missing modalities"),
        Param("recon_weight", "float", 1.0, "weight of the reconstruction loss (generative)", min=0.0),
        Param(
            "drop_prob",
            "float",
            0.5,
            "probability of hiding a modality in generative training",
            min=0.0,
            max=1.0,
            max_open=True,
        ),
        Param("impute_steps", "int", 1, "imputation passes (generative)", min=1),
        Param("dropout", "float", 0.0, "dropout rate", min=0.0, max=1.0, max_open=True),
        Param("seed", "int", 0, "seed of the generative training's hiding draws", min=0),
        Param("encoder", "dict", None, "arguments of every modality encoder (front=encoder)", nullable=True),
        Param(
            "activation",
            "choice",
            "relu",
            "activation f of both pathways (paper eq. 1: sigmoid)",
            choices=("relu", "sigmoid"),
        ),
    )

    presets = {
        "paper": lambda meta: {
            "hparams": {"activation": "sigmoid", "modality_sizes": [512, 128], "shared_sizes": [512, 256, 64]},
            "fill": "zero" if dataset_family(meta) == "image-halves" else None,
            "notes": [
                "sigmoid activations (eq. 1); MNIST-halves sizes [d, 512, 128] / [512, 256, 64]; Table 1 zeroes "
                "the damaged half; optimizer not stated: modalbench's Adam"
            ],
        }
    }

    @property
    def handles_missing(self) -> bool:  # type: ignore[override]
        """Native only for the generative variant (it zeroes missing modalities and imputes them)."""
        return bool(self.hparams["generative"])

    def __init__(
        self,
        meta: DatasetMeta,
        modality_sizes: list[int] | None = None,
        shared_sizes: list[int] | None = None,
        front: str = "flatten",
        front_dim: int = 128,
        generative: bool = False,
        recon_weight: float = 1.0,
        drop_prob: float = 0.5,
        impute_steps: int = 1,
        dropout: float = 0.0,
        seed: int = 0,
        encoder: dict[str, Any] | None = None,
        activation: str = "relu",
    ) -> None:
        msz = [512, 128] if modality_sizes is None else [int(v) for v in modality_sizes]
        ssz = [512, 256, 64] if shared_sizes is None else [int(v) for v in shared_sizes]
        if len(ssz) != len(msz) + 1 or not ssz:
            raise ModalbenchError(
                f"dmf: shared_sizes (L = {len(ssz)}) must have one more entry than "
                f"modality_sizes ({len(msz)}): the first modality layer is the input"
            )
        if front not in ("flatten", "encoder"):
            raise ModalbenchError(f"dmf: front must be 'flatten' or 'encoder', got {front!r}")
        if activation not in ACTIVATIONS:
            raise ModalbenchError(f"dmf: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if generative and front != "flatten":
            raise ModalbenchError("dmf: generative=True reconstructs the raw inputs and needs front='flatten'")
        super().__init__(
            meta,
            modality_sizes=msz,
            shared_sizes=ssz,
            front=front,
            front_dim=front_dim,
            generative=generative,
            recon_weight=recon_weight,
            drop_prob=drop_prob,
            impute_steps=impute_steps,
            dropout=dropout,
            seed=seed,
            encoder=dict(encoder or {}),
            activation=activation,
        )
        act = ACTIVATIONS[activation]
        self.has_fast_path = not generative
        names = meta.modality_names
        self.input_dims = {s.name: (math.prod(s.shape) if front == "flatten" else front_dim) for s in meta.modalities}
        if front == "encoder":
            self.fronts = nn.ModuleDict(
                {s.name: make_encoder(s, front_dim, **(encoder or {})) for s in meta.modalities}
            )
        else:
            self.fronts = nn.ModuleDict({s.name: nn.Flatten() for s in meta.modalities})
        self.pathways = nn.ModuleDict()
        self.to_shared = nn.ModuleDict()
        for n in names:
            dims = [self.input_dims[n]] + msz
            self.pathways[n] = nn.ModuleList(
                [nn.Sequential(nn.Linear(dims[i], dims[i + 1]), act(), nn.Dropout(dropout)) for i in range(len(msz))]
            )
            self.to_shared[n] = nn.ModuleList([nn.Linear(dims[i], ssz[i], bias=False) for i in range(len(ssz))])
        self.shared_bias = nn.ParameterList([nn.Parameter(torch.zeros(d)) for d in ssz])
        self.shared_rec = nn.ModuleList([nn.Linear(ssz[i - 1], ssz[i], bias=False) for i in range(1, len(ssz))])
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(ssz[-1], meta.n_classes)
        if generative:
            self.decoders = nn.ModuleDict()
            for n in names:
                dims = list(reversed(ssz)) + [self.input_dims[n]]
                layers: list[nn.Module] = []
                for i in range(len(dims) - 1):
                    layers.append(nn.Linear(dims[i], dims[i + 1]))
                    if i < len(dims) - 2:
                        layers.append(nn.ReLU())
                self.decoders[n] = nn.Sequential(*layers)
            self._gen = torch.Generator().manual_seed(int(seed))

    # ---- pathways -------------------------------------------------------------------------------------------
    def _front(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {n: self.fronts[n](inputs[n]) for n in self.modality_names}

    def _pathway(self, h1: dict[str, torch.Tensor]) -> dict[str, list[torch.Tensor]]:
        out = {}
        for n in self.modality_names:
            hs = [h1[n]]
            for layer in module_list(self.pathways, n):
                hs.append(layer(hs[-1]))
            out[n] = hs
        return out

    def _shared(self, hs: dict[str, list[torch.Tensor]]) -> torch.Tensor:
        s: torch.Tensor | None = None
        for l, bias in enumerate(self.shared_bias):
            pre = bias + sum(module_list(self.to_shared, n)[l](hs[n][l]) for n in self.modality_names)
            if s is not None:
                pre = pre + self.shared_rec[l - 1](s)
            s = torch.sigmoid(pre) if self.hparams["activation"] == "sigmoid" else torch.relu(pre)
        assert s is not None
        return s

    # ---- fast path (plain variant) ------------------------------------------------------------------------
    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Concatenated pathway activations ``[h_m^1; …; h_m^L]`` per modality."""
        return {n: torch.cat(hs, dim=1) for n, hs in self._pathway(self._front(inputs)).items()}

    def fuse(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        if self.hparams["generative"]:
            raise ModalbenchError("dmf: the generative variant has no encode/fuse fast path; call forward")
        widths = [0] + [int(v) for v in self.hparams["modality_sizes"]]
        hs = {}
        for n in self.modality_names:
            sizes = [self.input_dims[n]] + widths[1:]
            hs[n] = list(torch.split(features[n], sizes, dim=1))
        return self.classifier(self.drop(self._shared(hs)))

    # ---- generative variant --------------------------------------------------------------------------------
    def _run(self, h1: dict[str, torch.Tensor]) -> torch.Tensor:
        return self._shared(self._pathway(h1))

    def reconstruct(self, s_last: torch.Tensor) -> dict[str, torch.Tensor]:
        """Decoder outputs (flattened inputs) of every modality from ``s_L``."""
        return {n: self.decoders[n](s_last) for n in self.modality_names}

    def _impute(
        self, h1: dict[str, torch.Tensor], available: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """(final s_L, first-pass s_L, first-pass reconstructions) with missing modalities imputed."""
        a = available.bool()
        cur = {n: h1[n] * a[:, i : i + 1].to(h1[n].dtype) for i, n in enumerate(self.modality_names)}
        s = s_first = self._run(cur)
        rec_first = self.reconstruct(s_first)
        if bool((~a).any()):
            rec = rec_first
            for _ in range(int(self.hparams["impute_steps"])):
                cur = {n: torch.where(a[:, i : i + 1], h1[n], rec[n]) for i, n in enumerate(self.modality_names)}
                s = self._run(cur)
                rec = self.reconstruct(s)
        return s, s_first, rec_first

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        if not self.hparams["generative"]:
            return self.fuse(self.encode(inputs), available)
        s, _, _ = self._impute(self._front(inputs), available)
        return self.classifier(self.drop(s))

    def training_loss(
        self, inputs: dict[str, torch.Tensor], available: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.hparams["generative"]:
            return super().training_loss(inputs, available, target)
        a = available.bool()
        drop = torch.rand(a.shape, generator=self._gen).to(a.device) < float(self.hparams["drop_prob"])
        keep = a & ~drop
        # keep at least one available modality: restore the first available one where all were hidden
        lost = ~keep.any(dim=1) & a.any(dim=1)
        first = torch.argmax(a.to(torch.int8), dim=1)
        keep[lost, first[lost]] = True
        h1 = self._front(inputs)
        s, s_first, rec = self._impute(h1, keep)
        logits = self.classifier(self.drop(s))
        loss = task_loss(self.meta, logits, target, pos_weight=self.label_pos_weight)
        w = float(self.hparams["recon_weight"])
        for i, n in enumerate(self.modality_names):
            err = (rec[n] - h1[n]).pow(2).mean(dim=1)
            m = a[:, i].to(err.dtype)
            loss = loss + w * (err * m).sum() / m.sum().clamp_min(1.0) / self.meta.n_modalities
        return loss, logits
