"""The fusion-model interface every baseline implements (and every user model may implement).

A fusion model is a ``torch.nn.Module`` whose ``forward(inputs, available)`` maps a dict of per-modality
tensors ``[B, *shape]`` and a bool availability mask ``[B, M]`` (modality order = ``meta.modality_names``)
to logits ``[B, C]``. Masked modalities hold filled values (see ``modalbench.scenarios.fill``).

Optional fast path for the evaluator: ``encode(inputs) -> dict[str, Tensor]`` (per-modality features,
independent of ``available``) and ``fuse(features, available) -> logits``; ``forward`` must equal
``fuse(encode(inputs), available)``.

Declarations every registered method makes (read by the registry, the trainer, the evaluator and the results):

* ``params``: its typed parameters (:class:`modalbench.params.Param`), the one place its defaults and ranges live;
  ``create_baseline`` validates through them;
* ``presets``: ``{"paper": fn(meta) -> {"hparams": …, "fill": …, "notes": […]}}``
  (see ``registry.resolve_preset``);
* ``handles_missing``: True only when ``forward`` honours ``available`` itself (the values of a masked modality do
  not change the output); False when the method relies on the evaluator's ``fill``;
* ``training_recipe()``: the optimizer set-up the trainer must use (``recipe`` hyperparameter over the class's
  ``default_recipe``);
* ``notes``: facts about the built model that results should record (e.g. MulMix's candidate cap).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from modalbench.meta import DatasetMeta
from modalbench.params import Param

#: parameters shared by many methods (``dataclasses.replace`` them for another default)
FEATURE_DIM = Param("feature_dim", "int", 64, "per-modality encoder output size", min=1)
HEAD_HIDDEN = Param("head_hidden", "int", 128, "hidden units of the MLP head (0: a single linear layer)", min=0)
DROPOUT = Param("dropout", "float", 0.5, "dropout rate", min=0.0, max=1.0, max_open=True)
ENCODER = Param(
    "encoder",
    "dict",
    None,
    'arguments of every modality encoder, e.g. {"kind": "deepconvlstm"} '
    "(kinds: conv1d, deepconvlstm, cnn, cnn2d, lenet, mlp; filters, layers, kernel, ...)",
    nullable=True,
)
ENCODER_OVERRIDES = Param(
    "encoder_overrides",
    "dict",
    None,
    'per modality kind or name: extra encoder arguments, e.g. {"series": {"kind": "deepconvlstm"}}',
    nullable=True,
)
ENCODED_PARAMS: tuple[Param, ...] = (FEATURE_DIM, HEAD_HIDDEN, DROPOUT, ENCODER, ENCODER_OVERRIDES)

#: the trainer's default recipe (EmbraceNet §6.2 set-up: Adam, β 0.9/0.999, ε 1e-2, lr 1e-3)
DEFAULT_RECIPE: dict[str, Any] = {
    "optimizer": "adam",
    "lr": 1e-3,
    "betas": [0.9, 0.999],
    "eps": 1e-2,
    "weight_decay": 0.0,
    "momentum": 0.0,
    "epochs": None,
    "batch_size": None,
}


def dataset_family(meta: DatasetMeta) -> str:
    """Which of the papers' set-ups a dataset matches, for the ``paper`` presets: ``opportunity``,
    ``gas-sensor``, ``image-halves`` (two image modalities of one shape: MNIST / digits halves) or ``other``."""
    name = meta.name.lower()
    if name.startswith("opportunity"):
        return "opportunity"
    if name.startswith("gas"):
        return "gas-sensor"
    if name == "mudestreda":
        return "mudestreda"
    kinds = {m.kind for m in meta.modalities}
    if meta.n_modalities == 2 and kinds == {"image"} and len({m.shape for m in meta.modalities}) == 1:
        return "image-halves"
    return "other"


#: DeepConvLSTM pre-processing of every series modality (EmbraceNet's OPPORTUNITY models)
SERIES_DEEPCONVLSTM: dict[str, Any] = {"series": {"kind": "deepconvlstm"}}

#: EmbraceNet §6.2 training set-up shared by its baselines (Adam, ε 1e-2 as implemented, lr 1e-3, batch 64)
EMBRACENET_RECIPE: dict[str, Any] = {"optimizer": "adam", "lr": 1e-3, "eps": 1e-2, "batch_size": 64}


def embracenet_baseline_preset(meta: DatasetMeta, encoder_param: str = "encoder_overrides") -> dict[str, Any]:
    """``paper`` preset of the baselines EmbraceNet compares with (§6.3): DeepConvLSTM on OPPORTUNITY series
    (the same pre-processing modules as EmbraceNet), EmbraceNet's training recipe, zero fill on image halves
    (Table 1: the missing half is zero-filled)."""
    fam = dataset_family(meta)
    hp: dict[str, Any] = {"recipe": dict(EMBRACENET_RECIPE)}
    notes = ["EmbraceNet §6.2 recipe: Adam lr 1e-3, batch 64"]
    if fam == "opportunity":
        hp[encoder_param] = {"kind": "deepconvlstm"} if encoder_param == "encoder" else dict(SERIES_DEEPCONVLSTM)
        notes.append("DeepConvLSTM pre-processing of each OPPORTUNITY modality (4 conv × 64, kernel 5, 2 LSTM × 128)")
    return {"hparams": hp, "fill": "zero" if fam == "image-halves" else None, "notes": notes}


def multilabel_loss(
    logits: torch.Tensor, target: torch.Tensor, pos_weight: torch.Tensor | None = None, reduction: str = "mean"
) -> torch.Tensor:
    """BCE-with-logits of multi-hot ``target``; ``pos_weight [C]`` weighs each class's positive term (MFAS on
    MM-IMDB: "weights to balance the dataset", n_negative / n_positive of the training split)."""
    weight = None if pos_weight is None else pos_weight.to(device=logits.device, dtype=logits.dtype)
    return nn.functional.binary_cross_entropy_with_logits(
        logits, target.to(logits.dtype), pos_weight=weight, reduction=reduction
    )


class FusionModel(nn.Module):
    """Base class: stores the dataset meta and the hyperparameters needed to rebuild the model."""

    registry_name: str = ""
    #: training regime recorded in checkpoints and results (the leaderboard separates regimes)
    regime: str = "full-modality"
    #: True when ``encode``/``fuse`` implement the two-stage fast path
    has_fast_path: bool = False
    #: declared parameters (``None``: not declared, hyperparameters are passed through unchecked)
    params: ClassVar[tuple[Param, ...] | None] = None
    #: preset name -> function of the dataset meta returning ``{"hparams": ..., "fill": ..., "notes": [...]}``
    presets: ClassVar[dict[str, Callable[[DatasetMeta], dict[str, Any]]]] = {}
    #: True when the method honours ``available`` natively (a property where it depends on hyperparameters)
    handles_missing: bool = False
    #: False when the method cannot train on samples with missing modalities (``--train-scenario`` refuses it);
    #: every built-in method trains on them: dropped modalities are filled and masked as at evaluation, and methods
    #: with per-modality losses (late fusion, CentralNet, two-stream) skip the absent ones
    trains_with_missing: bool = True
    #: the method's recipe before the ``recipe`` hyperparameter (keys of ``registry.RECIPE_PARAMS``)
    default_recipe: ClassVar[dict[str, Any]] = DEFAULT_RECIPE
    #: per-class positive weights of multi-label BCE (set by the trainer from the training split; not saved)
    label_pos_weight: torch.Tensor | None = None

    def __init__(self, meta: DatasetMeta, **hparams: Any) -> None:
        super().__init__()
        self.meta = meta
        self.hparams = dict(hparams)

    @property
    def modality_names(self) -> list[str]:
        return self.meta.modality_names

    def config(self) -> dict[str, Any]:
        """JSON-able config: ``create_baseline(config["name"], meta, **config["hparams"])`` rebuilds the model."""
        cfg = {"name": self.registry_name, "hparams": self.hparams, "regime": self.regime, "meta": self.meta.to_dict()}
        if self.notes:
            cfg["notes"] = list(self.notes)
        return cfg

    def training_recipe(self) -> dict[str, Any]:
        """The optimizer set-up the trainer must use: ``optimizer`` (adam|adamw|sgd), ``lr``, ``betas``, ``eps``,
        ``weight_decay``, ``momentum``, ``epochs`` and ``batch_size`` (``None``: the command line's value)."""
        return {**DEFAULT_RECIPE, **self.default_recipe, **(self.hparams.get("recipe") or {})}

    @property
    def notes(self) -> list[str]:
        """Facts about the built model that results should record (empty unless a method adds some)."""
        return []

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        if self.has_fast_path:
            return self.fuse(self.encode(inputs), available)
        raise NotImplementedError

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def fuse(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def training_loss(
        self, inputs: dict[str, torch.Tensor], available: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and logits of one training batch; methods with their own objective override this."""
        logits = self(inputs, available)
        if self.meta.task_type == "multilabel":
            loss = multilabel_loss(logits, target, self.label_pos_weight)
        else:
            loss = nn.functional.cross_entropy(logits, target)
        return loss, logits

    def set_label_pos_weight(self, weights: torch.Tensor | None) -> None:
        """Weigh each class's positive term of the multi-label loss (``None``: unweighted BCE)."""
        self.label_pos_weight = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)

    def predict_proba(self, logits: torch.Tensor) -> torch.Tensor:
        """Class scores from logits (softmax, or sigmoid for multi-label)."""
        if self.meta.task_type == "multilabel":
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=-1)
