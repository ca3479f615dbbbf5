"""Train and evaluate workflows behind ``modalbench train`` and ``modalbench evaluate``.

They join the store reader (:mod:`modalbench.data`), the scenarios (:mod:`modalbench.scenarios`), the methods
(:mod:`modalbench.baselines`), the trainer and evaluator (:mod:`modalbench.engine`) and the results document
(:mod:`modalbench.results`, validated by ``leaderboard/schema/result-v2.json``).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modalbench import __version__, fills
from modalbench.baselines.mfas import load_arch
from modalbench.baselines.registry import create_baseline, resolve_preset
from modalbench.checksums import verify_store
from modalbench.data import ChunkBatches, NumpyBatch, StoreReader, batch_loader, open_reader
from modalbench.datasets import get_dataset
from modalbench.engine.checkpoint import CONFIG_FILE, MODEL_FILE, load_checkpoint, parameter_count
from modalbench.engine.evaluation import evaluate_batches, evaluate_conditions
from modalbench.engine.trainer import fit, make_regime, positive_class_weights, resolve_device
from modalbench.errors import ModalbenchError
from modalbench.fusion import model_meta
from modalbench.hardware import hardware_info, usable_cpus
from modalbench.jsonio import read_json
from modalbench.meta import DatasetMeta
from modalbench.results import ConditionResult, DatasetRef, ModelInfo, ResultDocument, ScenarioResult, TrainedModel
from modalbench.scenarios import Skipped, generate_scenarios, get_scenario, load_scenario
from modalbench.scenarios.base import TRAINING_SPLITS
from modalbench.scenarios.fill import ffill_streams, fill, means_from_attrs
from modalbench.scenarios.imputers import FITTED_FILLS, fit_imputer
from modalbench.vocabulary import STANDARD_FAMILIES
from modalbench.windows import cut_windows


def default_threads(cpus: int | None = None) -> int:
    """torch intra-op threads when ``--threads`` is not given.

    Measured on a 2-core VM (benchmarks/test_bench_threads.py): the suite's models are small, and with torch's
    default (all cores) training ran 6x and evaluation 8x slower than with one thread. One thread per process up to
    4 usable CPUs; beyond that half of them (the data reader and the other processes keep the rest).
    """
    cpus = usable_cpus() if cpus is None else cpus
    return 1 if cpus <= 4 else cpus // 2


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (``None``: :func:`default_threads`); returns the number set."""
    n = default_threads() if threads is None else int(threads)
    if n < 1:
        raise ModalbenchError(f"--threads must be >= 1 (got {n})")
    torch.set_num_threads(n)
    return n


def make_fill(attrs: dict[str, Any], meta: DatasetMeta, strategy: str, imputer: Any = None) -> Callable[..., Any]:
    """The batch-time fill of the store's scenario engine, columns in the meta's modality order (``imputer``: the
    fitted ``knn`` / ``regress`` model, :func:`fit_train_imputer`)."""
    kinds = {m.name: m.kind for m in meta.modalities}
    return partial(
        fill,
        strategy=strategy,
        means=means_from_attrs(attrs),
        modalities=meta.modality_names,
        kinds=kinds,
        imputer=imputer,
    )


def fit_train_imputer(reader: StoreReader, strategy: str, seed: int = 0, params: dict[str, Any] | None = None) -> Any:
    """The ``knn`` / ``regress`` imputer (with ``params``, defaults for the rest) fitted on the complete samples of
    ``reader``'s store's train split (None for the other fills)."""
    if strategy not in FITTED_FILLS:
        return None
    tokens = [m.name for m in reader.meta.modalities if m.vocab_size]
    if tokens:
        raise ModalbenchError(
            f"--fill {strategy}: modality {tokens[0]!r} holds token ids, which cannot be imputed from other "
            "modalities; use --fill mean (token modalities are filled with the pad id)"
        )
    train = StoreReader(reader.path, split="train", task=reader.meta.task, storage_options=reader.storage_options)
    inputs, avail, _ = train.read_all()
    means = means_from_attrs(train.attrs)
    names = train.meta.modality_names
    kinds = {m.name: m.kind for m in train.meta.modalities}
    inputs = fill(inputs, np.ones_like(avail, dtype=bool), "mean", means=means, modalities=names, kinds=kinds)
    return fit_imputer(strategy, names, inputs, avail, params, seed=seed)


def recorded_fill(strategy: str) -> str:
    """The fill name results record: the imputation fills with their version (``knn@v1``), the others as given."""
    return fills.recorded_fill(strategy)


def resolve_option_fill_params(fill_name: str | None, raw: dict[str, Any] | None) -> dict[str, Any]:
    """``--fill-param`` values typed for ``--fill`` with its defaults filled in (empty for fills without
    parameters); parameters without a fill that takes them are one line naming the option."""
    if raw and fill_name is None:
        raise ModalbenchError(
            f"--fill-param {', '.join(sorted(raw))}: give the fill they belong to (--fill knn or --fill regress); "
            "the protocol fills take no parameters"
        )
    return fills.resolve_fill_params(fill_name, raw, owner="--fill-param") if fill_name is not None else {}


def _numpy_fill(fill_fn: Callable[..., Any]) -> Callable[[NumpyBatch], NumpyBatch]:
    def transform(batch: NumpyBatch) -> NumpyBatch:
        inputs, avail, label = batch
        return fill_fn(inputs, avail), avail, label

    return transform


def _drop_classes(
    transform: Callable[[NumpyBatch], NumpyBatch], excluded: list[int]
) -> Callable[[NumpyBatch], NumpyBatch]:
    """``transform``, then drop the rows whose label is one of ``excluded`` (multi-class validation only)."""
    drop = np.asarray(excluded, dtype=np.int64)

    def filtered(batch: NumpyBatch) -> NumpyBatch:
        inputs, avail, label = transform(batch)
        keep = ~np.isin(np.asarray(label), drop)
        return {k: v[keep] for k, v in inputs.items()}, avail[keep], label[keep]

    return filtered


# ---------------------------------------------------------------- training


@dataclass
class TrainSpec:
    baseline: str
    dataset: str
    root: str | None = None
    task: str | None = None
    epochs: int | None = None  # None: the dataset's training_defaults()
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    device: str = "auto"
    out: Path | None = None
    hparams: dict[str, Any] | None = None
    fill: str = "mean"
    #: parameters of a fitted fill (``knn``: k, ``regress``: alpha; strings from ``--fill-param`` or typed values)
    fill_params: dict[str, Any] | None = None
    num_workers: int = 0
    patience: int | None = None
    progress: bool = True
    command: str = ""
    arch: Path | None = None
    preset: str = "default"  # "paper": the paper's model and recipe where it states them (docs/protocols.md)
    #: trainer-side regime (``modality-dropout`` | ``curriculum-dropout``; None: the method's own) and its parameters
    regime: str | None = None
    regime_params: dict[str, Any] | None = None
    #: ``train-missing[@v1]:<condition>``: the training split loses modalities by that training scenario's mask
    train_scenario: str | None = None
    train_scenario_seed: int = 0
    amp: bool = False  # automatic mixed precision (CUDA only)


@dataclass
class Batches:
    """A dataset's train/val batch factories, as the trainer and the MFAS search take them."""

    meta: DatasetMeta
    fingerprint: str
    fill: Callable[..., Any]
    train: Callable[[int], Iterable[Any]]
    val: Callable[[], Iterable[Any]]


class MaskedTrainReader:
    """A train-split :class:`StoreReader` whose availability is ANDed with a training scenario's ``(N, M)`` mask
    (rows in split order); everything else is the wrapped reader's."""

    def __init__(self, reader: StoreReader, mask: np.ndarray) -> None:
        if mask.shape != (len(reader), len(reader.meta.modality_names)):
            raise ModalbenchError(
                f"training scenario mask has shape {mask.shape}, the train split {(len(reader), len(reader.meta.modality_names))}"
            )
        self._reader, self._mask = reader, np.ascontiguousarray(mask, dtype=bool)

    def __getattr__(self, name: str) -> Any:
        if name in ("_reader", "_mask"):  # not yet set (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._reader, name)

    def __len__(self) -> int:
        return len(self._reader)

    def read_lazy(self, start: int, stop: int) -> Any:
        """The wrapped reader's rows ``[start, stop)`` with the training scenario's modalities removed."""
        inputs, avail, label = self._reader.read_lazy(start, stop)
        return inputs, np.asarray(avail, dtype=bool) & self._mask[start:stop], label


@dataclass
class TrainingScenario:
    """The training-split mask of one condition of a training scenario and what results record about it."""

    mask: np.ndarray
    record: dict[str, Any]


def load_training_scenario(root: str | None, dataset: str, text: str, seed: int = 0) -> TrainingScenario:
    """``train-missing[@v1]:<condition>`` → the condition's ``(N_train, M)`` mask (generated when absent)."""
    scenario_id, sep, condition = text.partition(":")
    fam = get_scenario(scenario_id)
    if fam.splits != TRAINING_SPLITS:
        raise ModalbenchError(
            f"--train-scenario {text!r}: {fam.id} is a test scenario; expected a training scenario "
            "(train-missing:<condition>, e.g. train-missing:mcar-p0.30)"
        )
    generate_scenarios(root, dataset, [fam.id], seed=seed)
    reader = load_scenario(root, dataset, fam.id, seed, split="train")
    ids = [str(c["id"]) for c in reader.conditions]
    if not sep or condition not in ids:
        raise ModalbenchError(
            f"--train-scenario {text!r}: expected {fam.family}:<condition>, the condition one of {', '.join(ids)}"
        )
    c = ids.index(condition)
    mask = reader.availability(c, reader.sample_indices(), natural=False)
    record = {"id": fam.id, "condition": condition, "seed": int(seed), "sha256": reader.sha256}
    return TrainingScenario(mask, record)


def batches_for(
    root: str | None,
    dataset: str,
    task: str | None,
    *,
    batch_size: int,
    seed: int,
    fill: str = "mean",
    fill_params: dict[str, Any] | None = None,
    num_workers: int = 0,
    train_mask: np.ndarray | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> Batches:
    """Chunk-aware shuffled train batches (reshuffled per epoch) and sequential val batches, NaNs filled.

    ``train_mask`` ``(N_train, M)``: a training scenario's availability, ANDed into every training batch (masked
    modalities are filled like natural gaps); validation stays complete. With ``world_size`` > 1 the train batches
    are this rank's (disjoint chunks); every rank sees all val batches.
    """
    train_reader = open_reader(root, dataset, "train", task)
    val_reader = StoreReader(train_reader.path, split="val", task=task, storage_options=train_reader.storage_options)
    meta = train_reader.meta
    if meta.n_classes < 2:
        raise ModalbenchError(f"{dataset}: task {meta.task!r} has fewer than two classes")
    if len(train_reader) == 0 or len(val_reader) == 0:
        raise ModalbenchError(f"{dataset}: the train and val splits must not be empty")
    fill_fn = make_fill(train_reader.attrs, meta, fill, fit_train_imputer(train_reader, fill, seed, fill_params))
    transform = _numpy_fill(fill_fn)
    source: Any = MaskedTrainReader(train_reader, train_mask) if train_mask is not None else train_reader
    train_ds = ChunkBatches(
        source,
        batch_size=batch_size,
        shuffle=True,
        seed=seed,
        transform=transform,
        rank=rank,
        world_size=world_size,
    )
    excluded = train_reader.attrs.get("tasks", {}).get(meta.task, {}).get("val_excluded_classes", [])
    val_transform = _drop_classes(transform, excluded) if excluded else transform
    val_ds = ChunkBatches(val_reader, batch_size=max(256, batch_size), shuffle=False, transform=val_transform)

    loaders: list[Iterable[Any]] = []  # one loader for all epochs: its workers persist

    def train_batches(epoch: int) -> Iterable[Any]:
        train_ds.set_epoch(epoch)
        if not loaders:
            loaders.append(_loader(train_ds, num_workers))
        return loaders[0]

    def val_batches() -> Iterable[Any]:
        return _loader(val_ds, 0)

    return Batches(meta, train_reader.attrs["fingerprint"], fill_fn, train_batches, val_batches)


def training_settings(spec: TrainSpec, recipe: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"epochs", "lr", "batch_size", "from_dataset", "from_preset"}``: the spec's values; missing ones from the
    preset's training recipe when it states them (``--preset paper``), else from the dataset's
    :meth:`~modalbench.datasets.DatasetBuilder.training_defaults`."""
    defaults = get_dataset(spec.dataset).training_defaults().as_dict()
    given = {"epochs": spec.epochs, "lr": spec.lr, "batch_size": spec.batch_size}
    stated = {k: (recipe or {}).get(k) for k in given}
    settings: dict[str, Any] = {
        k: v if v is not None else stated[k] if stated[k] is not None else defaults[k] for k, v in given.items()
    }
    settings["from_preset"] = [k for k, v in given.items() if v is None and stated[k] is not None]
    settings["from_dataset"] = [k for k, v in given.items() if v is None and stated[k] is None]
    return settings


@dataclass
class TrainingPlan:
    """What a training run will use: the preset, the built model, its optimizer recipe and the budget."""

    preset: Any
    model: torch.nn.Module
    recipe: dict[str, Any] | None
    settings: dict[str, Any]


def plan_training(spec: TrainSpec) -> TrainingPlan:
    """Resolve the preset (``default`` | ``paper``), build the model (seeded) and settle epochs, lr and batch size:
    given values, then the paper preset's recipe where it states them, then the dataset's training defaults."""
    meta = open_reader(spec.root, spec.dataset, "train", spec.task).meta
    preset = resolve_preset(spec.baseline, spec.preset, meta)
    hparams = {**preset.hparams, **(spec.hparams or {})}
    if spec.arch is not None:
        if spec.baseline != "mfas":
            raise ModalbenchError("--arch is only for `modalbench train mfas`")
        hparams = {**load_arch(spec.arch), **hparams}
    torch.manual_seed(spec.seed)
    model = create_baseline(spec.baseline, meta, **hparams)
    recipe = model.training_recipe() if hasattr(model, "training_recipe") else None
    settings = training_settings(spec, recipe if spec.preset != "default" else None)
    return TrainingPlan(preset, model, recipe, settings)


def apply_label_weights(
    root: str | Path | None, dataset: str, task: str | None, model: torch.nn.Module
) -> list[float] | None:
    """Multi-label tasks: give ``model`` the per-class positive weights of the training split's labels
    (:func:`~modalbench.engine.trainer.positive_class_weights`) and return them; ``None`` for other tasks."""
    reader = open_reader(root, dataset, "train", task)
    setter = getattr(model, "set_label_pos_weight", None)
    if reader.meta.task_type != "multilabel" or not callable(setter):
        return None
    weights = positive_class_weights(np.asarray(reader.array(reader.label_var)[reader.start : reader.stop]))
    setter(torch.from_numpy(weights))
    return [round(float(w), 6) for w in weights]


def run_training(spec: TrainSpec) -> Any:
    """Train one baseline on a prepared dataset; returns the trainer's ``TrainResult`` (checkpoint in ``spec.out``).

    Epochs, learning rate and batch size left ``None`` in ``spec`` come from the dataset's training defaults; the
    settings used and torch's thread count are recorded in the checkpoint's ``config.json``.
    """
    rank, world_size, device = init_distributed(spec.device)
    plan = plan_training(spec)
    preset, model, recipe, settings = plan.preset, plan.model, plan.recipe, plan.settings
    if settings["batch_size"] % world_size:
        raise ModalbenchError(
            f"--batch-size {settings['batch_size']}: the global batch must divide among {world_size} ranks"
        )
    regime = make_regime(spec.regime, spec.regime_params, settings["epochs"])
    fill_params = resolve_option_fill_params(spec.fill, spec.fill_params)
    training_scenario = None
    if spec.train_scenario:
        if not getattr(model, "trains_with_missing", True):
            raise ModalbenchError(
                f"--train-scenario: {spec.baseline} cannot train on samples with missing modalities "
                "(trains_with_missing is false); train it on complete data"
            )
        training_scenario = load_training_scenario(
            spec.root, spec.dataset, spec.train_scenario, spec.train_scenario_seed
        )
    label_weights = apply_label_weights(spec.root, spec.dataset, spec.task, model)
    b = batches_for(
        spec.root,
        spec.dataset,
        spec.task,
        batch_size=settings["batch_size"] // world_size,
        seed=spec.seed,
        fill=spec.fill,
        fill_params=fill_params,
        num_workers=spec.num_workers,
        train_mask=training_scenario.mask if training_scenario is not None else None,
        rank=rank,
        world_size=world_size,
    )
    extra = {
        "training_scenario": training_scenario.record if training_scenario is not None else None,
        "dataset": {"name": b.meta.name, "version": b.meta.version, "task": b.meta.task, "fingerprint": b.fingerprint},
        "fill": spec.fill,
        **({"fill_params": fill_params} if fill_params else {}),
        "command": spec.command,
        "batch_size": settings["batch_size"],
        "training_settings": settings,
        "preset": preset.to_dict(),
        "notes": list(getattr(model, "notes", [])),
        "hardware": {"threads": torch.get_num_threads(), "world_size": world_size},
        **({"label_pos_weight": label_weights} if label_weights is not None else {}),
    }
    return fit(
        model,
        b.train,
        b.val,
        epochs=settings["epochs"],
        lr=settings["lr"],
        seed=spec.seed,
        device=device,
        out_dir=spec.out if rank == 0 else None,  # one checkpoint: every rank holds the same weights
        progress=spec.progress,
        patience=spec.patience,
        fill=b.fill,
        extra_config=extra,
        optimizer=recipe,
        regime=regime,
        amp="on" if spec.amp else "off",
    )


def init_distributed(device: str) -> tuple[int, int, str]:
    """``(rank, world_size, device)``: under ``torchrun`` (``WORLD_SIZE`` > 1) join the process group (NCCL on
    CUDA, one GPU per local rank; gloo on the CPU); otherwise ``(0, 1, device)``."""
    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world_size <= 1:
        return 0, 1, device
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), str(dev)


def check_amp(amp: bool, device: str) -> None:
    """``--amp`` on a device other than CUDA is one :class:`ModalbenchError` line (before anything runs)."""
    if amp and (dev := resolve_device(device)).type != "cuda":
        resolved = "" if str(dev) == device else f" ({dev})"
        raise ModalbenchError(f"--amp: automatic mixed precision needs a CUDA device, got --device {device}{resolved}")


def _loader(ds: ChunkBatches, num_workers: int) -> Iterable[Any]:
    return batch_loader(ds, num_workers)


# ---------------------------------------------------------------- models for evaluation


def checkpoint_dirs(path: Path) -> list[tuple[int, Path]]:
    """``(seed, dir)`` of a checkpoint directory, or of its ``seed-<k>/`` sub-directories."""
    path = Path(path)
    if (path / "config.json").is_file():
        cfg = read_json(path / "config.json")
        return [(int(cfg.get("seed", 0)), path)]
    subs = sorted(p for p in path.glob("seed-*") if (p / "config.json").is_file())
    if not subs:
        raise ModalbenchError(f"{path}: no checkpoint (config.json) here nor in seed-*/ sub-directories")
    return [(int(read_json(p / "config.json").get("seed", i)), p) for i, p in enumerate(subs)]


ModelFactory = Callable[[DatasetMeta], torch.nn.Module]


def load_factory(spec: str, *, root: str | None = None) -> ModelFactory:
    """``package.module:factory`` → a checked factory ``build(meta)`` returning a trained model.

    The current directory is importable (``--model my_model:make_model`` finds ``./my_model.py``). The user's
    factory is called as ``factory(meta)``, or ``factory(meta, root=root)`` when it has a ``root`` parameter (the
    data root, to read the prepared train split); its model is checked by :func:`check_model`.
    """
    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise ModalbenchError(f"--model {spec!r}: expected package.module:factory (e.g. my_model:make_model)")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        raise ModalbenchError(
            f"--model {spec!r}: cannot import {mod_name!r} from the current directory {cwd} or "
            f"the installed packages ({e})"
        ) from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ModalbenchError(f"--model {spec!r}: {mod_name} has no callable {attr!r}")
    try:
        takes_root = "root" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        takes_root = False

    def build(meta: DatasetMeta) -> torch.nn.Module:
        model = factory(meta, root=root) if takes_root else factory(meta)
        return check_model(model, meta, f"--model {spec}")

    return build


def check_model(model: Any, meta: DatasetMeta, where: str) -> torch.nn.Module:
    """Check that ``model`` follows the model interface for ``meta``; returns it with ``.meta`` set.

    The interface: a ``torch.nn.Module`` whose ``forward(inputs, available)`` maps ``{modality: [B, *shape]}`` and
    a ``[B, M]`` boolean availability to logits ``[B, n_classes]``. A module without ``.meta`` gets ``meta``; one
    with another dataset's modalities is an error. One forward pass on two zero samples checks the output shape.
    """
    if not isinstance(model, torch.nn.Module):
        raise ModalbenchError(
            f"{where}: the factory returned {type(model).__name__}, expected a torch.nn.Module "
            "with forward(inputs: dict[str, Tensor], available: BoolTensor) -> logits"
        )
    own = getattr(model, "meta", None)
    if own is None:
        model.meta = meta  # type: ignore[assignment]  # torch types Module.__setattr__ for tensors and modules only
    elif list(getattr(own, "modality_names", [])) != list(meta.modality_names):
        raise ModalbenchError(
            f"{where}: the model's .meta has modalities {list(getattr(own, 'modality_names', []))}, "
            f"the dataset {meta.name} has {meta.modality_names}"
        )
    try:
        inspect.signature(model.forward).bind({}, None)
    except TypeError:
        raise ModalbenchError(
            f"{where}: {type(model).__name__}.forward must take (inputs, available): a dict of "
            "[B, *shape] tensors per modality and a [B, M] boolean availability"
        ) from None
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    inputs = {m.name: torch.zeros((2, *m.shape), device=device) for m in meta.modalities}
    available = torch.ones((2, meta.n_modalities), dtype=torch.bool, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(inputs, available)
    except Exception as exc:  # the user's code: report what failed, in one line
        raise ModalbenchError(
            f"{where}: forward on a batch of 2 {meta.name} samples failed: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    finally:
        model.train(was_training)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (2, meta.n_classes):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ModalbenchError(
            f"{where}: forward must return logits of shape [B, {meta.n_classes}] "
            f"({meta.name} has {meta.n_classes} classes), got {shape}"
        )
    return model


# ---------------------------------------------------------------- evaluation


@dataclass
class TestData:
    """The test split in memory (OPPORTUNITY's test set is ~66 MB)."""

    reader: StoreReader
    inputs: dict[str, np.ndarray]
    natural: np.ndarray
    labels: np.ndarray
    indices: np.ndarray  # global sample indices
    #: fitted knn / regress imputers by fill name and parameters (each fitted once per evaluation)
    imputers: dict[tuple[str, str], Any] = field(default_factory=dict)

    def imputer(self, strategy: str, params: dict[str, Any] | None = None) -> Any:
        """The fitted imputer of a ``knn`` / ``regress`` fill with ``params`` (defaults for the rest; None for the
        other fills)."""
        if strategy not in FITTED_FILLS:
            return None
        full = fills.resolve_fill_params(strategy, params)
        key = (strategy, json.dumps(full, sort_keys=True))
        if key not in self.imputers:
            self.imputers[key] = fit_train_imputer(self.reader, strategy, params=full)
        return self.imputers[key]


def load_test(root: str | None, dataset: str, task: str | None, split: str = "test") -> TestData:
    reader = open_reader(root, dataset, split, task)
    inputs, natural, labels = reader.read_all()
    return TestData(reader, inputs, natural, labels, np.arange(reader.start, reader.stop))


def _torch(inputs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}


def _batches(inputs: dict[str, Any], avail: np.ndarray, labels: np.ndarray, batch_size: int) -> Iterable[Any]:
    n = len(labels)
    for s in range(0, n, batch_size):
        e = min(n, s + batch_size)
        yield (
            {k: torch.from_numpy(np.ascontiguousarray(v[s:e])) for k, v in inputs.items()},
            torch.from_numpy(np.ascontiguousarray(avail[s:e])),
            torch.from_numpy(labels[s:e]),
        )


@dataclass
class ScenarioScores:
    """Per-condition metrics of one model on one scenario and how many samples each condition scored."""

    metrics: list[dict[str, float]]
    n_scored: list[int]


def scenario_excludes_natural_gaps(scenario: Any) -> bool:
    """Whether the scenario's family leaves out samples with natural gaps (``missing-modalities@v2``)."""
    return bool(getattr(get_scenario(scenario.scenario_id), "excludes_natural_gaps", False))


def evaluate_scenario(
    model: torch.nn.Module,
    test: TestData,
    scenario: Any,
    fill_name: str,
    *,
    batch_size: int = 512,
    use_fast_path: bool = True,
    threshold: float = 0.5,
    fill_params: dict[str, Any] | None = None,
) -> ScenarioScores:
    """Per-condition metrics of ``model`` on one scenario (a :class:`~modalbench.scenarios.ScenarioReader`).

    Samples with no available modality under a condition are never scored (in every family); under a family that
    excludes natural gaps only samples with every modality naturally present are scored.
    """
    meta = model_meta(model)
    attrs = test.reader.attrs
    fill_fn = make_fill(attrs, meta, fill_name, test.imputer(fill_name, fill_params))
    names = meta.modality_names
    if fill_name in FITTED_FILLS:  # a filled modality depends on the others present: the fast path is not exact
        use_fast_path = False
    if scenario.kind == "condition":
        table = torch.from_numpy(np.ascontiguousarray(scenario.condition_table, dtype=bool))
        eligible = (
            torch.from_numpy(np.ascontiguousarray(test.natural.all(axis=1)))
            if scenario_excludes_natural_gaps(scenario)
            else None
        )
        res, n_scored = evaluate_conditions(
            model,
            _torch(test.inputs),
            torch.from_numpy(test.natural),
            torch.from_numpy(test.labels),
            table,
            batch_size=batch_size,
            fill=fill_fn,
            use_fast_path=use_fast_path,
            eligible=eligible,
            return_counts=True,
            threshold=threshold,
        )
        return ScenarioScores(
            [{k: float(v[i]) for k, v in res.items()} for i in range(table.shape[0])], [int(x) for x in n_scored]
        )
    out, counts = [], []
    streams = None
    for c in range(scenario.n_conditions):
        avail = scenario.availability(c, test.indices)
        inputs: dict[str, np.ndarray] = test.inputs
        if scenario.kind == "element":  # damaged or noisy inputs: the plain path, one condition at a time
            changed = scenario.apply_elements(c, test.inputs, names)
            res, n = evaluate_batches(
                model, _batches(changed, avail, test.labels, batch_size), fill=fill_fn, return_counts=True
            )
        elif scenario.kind == "stream":
            if fill_name == "ffill":
                if streams is None:
                    steps = scenario.stream_steps()
                    grp = test.reader.group
                    streams = {m: grp[f"stream_{m}"][int(steps[0]) : int(steps[-1]) + 1] for m in names}
                means = {m: np.asarray(attrs["normalisation"][m]["scaled_mean"], np.float32) for m in names}
                filled = ffill_streams(streams, scenario.stream_mask(c), scenario.recording_lengths(), names, means)
                starts = scenario.window_starts(test.indices)
                inputs = {m: cut_windows(filled[m], starts, scenario.window_length) for m in names}
                inputs = fill_fn(inputs, avail)  # natural gaps at recording starts get the mean
            else:
                tm = scenario.timestep_mask(c, test.indices)
                inputs = fill_fn(test.inputs, avail, timestep_mask=tm)
            res, n = evaluate_batches(
                model, _batches(inputs, avail, test.labels, batch_size), return_counts=True, threshold=threshold
            )
        else:
            res, n = evaluate_batches(
                model,
                _batches(inputs, avail, test.labels, batch_size),
                fill=fill_fn,
                return_counts=True,
                threshold=threshold,
            )
        out.append(res)
        counts.append(n)
    return ScenarioScores(out, counts)


def _condition_fields(scenario: Any, cond: dict[str, Any], n_mod: int) -> dict[str, Any]:
    n_av = cond.get("n_available")
    rate = cond.get("missing_rate")
    if rate is None and n_av is not None:
        rate = round(1.0 - n_av / n_mod, 6)
    return {
        "id": str(cond["id"]),
        "description": str(cond.get("description", "")),
        "n_available": int(n_av) if n_av is not None else None,
        "missing_rate": float(rate) if rate is not None else None,
    }


@dataclass
class EvalSpec:
    dataset: str
    root: str | None = None
    task: str | None = None
    checkpoint: Path | None = None
    model: str | None = None
    scenarios: tuple[str, ...] | None = None
    #: None: each scenario family's protocol fill (``protocol_fill``); else this fill on every scenario
    fill: str | None = None
    #: parameters of ``fill`` (``knn``: k, ``regress``: alpha; strings from ``--fill-param`` or typed values)
    fill_params: dict[str, Any] | None = None
    seeds: tuple[int, ...] | None = None
    scenario_seed: int = 0
    split: str = "test"
    batch_size: int = 512
    device: str = "cpu"
    regime: str | None = None
    model_name: str | None = None
    command: str = ""
    use_fast_path: bool = True
    #: multi-label tasks: a label is predicted when its probability exceeds this (GMU / MFAS: 0.5)
    threshold: float = 0.5


def equivalent_command(spec: EvalSpec) -> str:
    """The ``modalbench evaluate`` command line equivalent to an API call (recorded in results.json)."""
    parts = ["modalbench evaluate", f"--dataset {spec.dataset}"]
    if spec.checkpoint is not None:
        parts.append(f"--checkpoint {spec.checkpoint}")
    if spec.model is not None:
        parts.append(f"--model {spec.model}")
    if spec.scenarios:
        parts.append("--scenarios " + ",".join(spec.scenarios))
    if spec.seeds:
        parts.append("--seeds " + ",".join(map(str, spec.seeds)))
    if spec.fill is not None:
        parts.append(f"--fill {spec.fill}")
    for name, value in sorted((spec.fill_params or {}).items()):
        parts.append(f"--fill-param {name}={value}")
    if spec.threshold != 0.5:
        parts.append(f"--threshold {spec.threshold:g}")
    return " ".join(parts)


def protocol_fill(scenario_id: str) -> str:
    """The fill a scenario family's protocol prescribes (``protocol_fill`` of the family; default ``mean``)."""
    return str(getattr(get_scenario(scenario_id), "protocol_fill", "mean"))


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def state_dict_sha256(model: torch.nn.Module) -> str:
    """sha256 over a model's state dict: per entry, in order, its name, dtype and shape, then its C-order bytes."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        a = t.detach().cpu().contiguous()
        h.update(json.dumps([name, str(a.dtype), list(a.shape)]).encode() + b"\n")
        h.update(a.view(torch.uint8).numpy().tobytes() if a.numel() else b"")
    return h.hexdigest()


def _checkpoint_model(seed: int, directory: Path, device: str) -> tuple[int, torch.nn.Module, TrainedModel]:
    cfg = read_json(Path(directory) / CONFIG_FILE)
    training_seed = cfg.get("seed")
    model = load_checkpoint(directory, create_baseline, device=device)
    trained_regime = (cfg.get("training_regime") or {}).get("name")
    if isinstance(trained_regime, str) and trained_regime != "full-modality":
        setattr(model, "regime", trained_regime)  # noqa: B010 - a trainer-side regime labels the results
    setattr(model, "training_scenario", cfg.get("training_scenario"))  # noqa: B010 - recorded in the results
    prov = TrainedModel(
        seed=seed,
        training_seed=int(training_seed) if isinstance(training_seed, int) else None,
        weights_sha256=file_sha256(Path(directory) / MODEL_FILE),
    )
    return seed, model, prov


def _models(spec: EvalSpec, meta: DatasetMeta) -> list[tuple[int, torch.nn.Module, TrainedModel]]:
    if (spec.checkpoint is None) == (spec.model is None):
        raise ModalbenchError("pass exactly one of --checkpoint DIR or --model package.module:factory")
    if spec.checkpoint is not None:
        found = checkpoint_dirs(spec.checkpoint)
        if spec.seeds and len(found) == 1 and list(spec.seeds) != [found[0][0]]:
            raise ModalbenchError(
                f"--seeds {','.join(map(str, spec.seeds))}: {spec.checkpoint} is one checkpoint (training seed "
                f"{found[0][0]}); evaluating it under several seeds replays one model. Train one model per seed "
                "(modalbench train --seeds ...) and pass their parent directory, or drop --seeds"
            )
        if spec.seeds:
            found = [(s, d) for s, d in found if s in spec.seeds]
            if not found:
                raise ModalbenchError(f"{spec.checkpoint}: no checkpoint for seeds {list(spec.seeds)}")
        return [_checkpoint_model(s, d, spec.device) for s, d in found]
    factory = load_factory(spec.model, root=spec.root)  # type: ignore[arg-type]
    out = []
    for s in spec.seeds or (0,):
        torch.manual_seed(s)
        model = factory(meta)
        out.append((s, model, TrainedModel(seed=s, training_seed=s, weights_sha256=state_dict_sha256(model))))
    return out


def handles_missing(model: torch.nn.Module) -> bool:
    """Whether a model declares that it handles missing modalities itself (``handles_missing`` attribute)."""
    return bool(getattr(model, "handles_missing", False))


def check_fill_for_model(fill_name: str | None, model: torch.nn.Module) -> None:
    """``--fill none`` leaves the masked values in the tensors: refuse it for models that ignore ``available``."""
    if fill_name == "none" and not handles_missing(model):
        name = getattr(model, "registry_name", "") or type(model).__name__
        raise ModalbenchError(
            f"--fill none: model {name!r} does not handle missing data itself (handles_missing is "
            "not true), so the 'missing' values would stay in its inputs; use --fill mean|zero|ffill "
            "or omit --fill for the protocol fill"
        )


def _timings(spec: EvalSpec, seeds: list[int], eval_seconds: dict[int, float]) -> dict[str, float | None]:
    """Wall time of the document's seeds: ``train_seconds`` (from each checkpoint's ``config.json``; None when a
    seed's is unknown), ``evaluate_seconds`` and their sum ``wall_seconds`` (None without training times)."""
    evaluate = round(sum(eval_seconds.get(s, 0.0) for s in seeds), 3)
    train: float | None = None
    if spec.checkpoint is not None:
        recorded = {s: read_json(d / CONFIG_FILE).get("train_seconds") for s, d in checkpoint_dirs(spec.checkpoint)}
        values = [recorded.get(s) for s in seeds]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            train = round(float(sum(values)), 3)  # type: ignore[arg-type]
    return {
        "train_seconds": train,
        "evaluate_seconds": evaluate,
        "wall_seconds": None if train is None else round(train + evaluate, 3),
    }


def run_evaluation(spec: EvalSpec, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate on the standard scenarios; returns a ``results.json`` document (leaderboard schema v2).

    Each scenario is evaluated with ``spec.fill`` when given, else with its family's protocol fill; the fill used
    is recorded per scenario.
    """
    chosen_params = resolve_option_fill_params(spec.fill, spec.fill_params)  # a bad --fill-param: before any work
    verify_store(spec.root, spec.dataset, split=spec.split).raise_for_problems()  # corrupt data never gets a score
    test = load_test(spec.root, spec.dataset, spec.task, spec.split)
    meta = test.reader.meta
    models = _models(spec, meta)
    for _, m, _ in models:
        own = getattr(m, "meta", None)
        if not isinstance(own, DatasetMeta) or list(own.modality_names) != meta.modality_names:
            raise ModalbenchError(f"the model's modalities do not match {spec.dataset}'s {meta.modality_names}")
        check_fill_for_model(spec.fill, m)
        m.eval()
    explicit = spec.scenarios is not None
    families = list(spec.scenarios) if spec.scenarios is not None else list(STANDARD_FAMILIES)
    ids = [get_scenario(f).id for f in families]
    training_ids = [i for i in ids if get_scenario(i).splits == TRAINING_SPLITS]
    if training_ids:
        raise ModalbenchError(
            f"--scenarios {training_ids[0]}: a training scenario is not evaluated; train with "
            f"`modalbench train METHOD --train-scenario {training_ids[0].split('@')[0]}:<condition>` and evaluate "
            "the checkpoint on test scenarios"
        )
    trained_on = {json.dumps(getattr(m, "training_scenario", None), sort_keys=True) for _, m, _ in models}
    if len(trained_on) > 1:
        raise ModalbenchError(
            f"the checkpoints were trained on different training scenarios ({', '.join(sorted(trained_on))}); "
            "evaluate each training scenario separately"
        )
    applicable = {
        r.scenario_id
        for r in generate_scenarios(
            spec.root, spec.dataset, families if explicit else None, seed=spec.scenario_seed, split=spec.split
        )
        if not isinstance(r, Skipped)
    }
    seeds = [s for s, _, _ in models]
    if len(set(seeds)) != len(seeds):
        raise ModalbenchError(f"duplicate model seeds {seeds}: each seed must have its own checkpoint")
    n_test = len(test.labels)
    eval_seconds: dict[int, float] = {}
    scenarios_out = []
    for sid in ids:
        if sid not in applicable:
            continue  # not applicable (e.g. block-missing on images)
        reader = load_scenario(spec.root, spec.dataset, sid, spec.scenario_seed, split=spec.split)
        if reader.manifest["dataset"]["fingerprint"] != test.reader.attrs["fingerprint"]:
            raise ModalbenchError(
                f"scenario {sid} was generated for another store; run: modalbench scenarios {spec.dataset}"
            )
        fill_name = spec.fill if spec.fill is not None else protocol_fill(sid)
        per_seed: list[ScenarioScores] = []
        for seed, model, _ in models:
            if progress:
                shown = fills.fill_label(recorded_fill(fill_name), chosen_params if spec.fill is not None else None)
                progress(f"{sid} seed {seed}: {reader.n_conditions} conditions, fill {shown}")
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            per_seed.append(
                evaluate_scenario(
                    model,
                    test,
                    reader,
                    fill_name,
                    batch_size=spec.batch_size,
                    use_fast_path=spec.use_fast_path,
                    threshold=spec.threshold,
                    fill_params=chosen_params if spec.fill is not None else None,
                )
            )
            eval_seconds[seed] = eval_seconds.get(seed, 0.0) + time.perf_counter() - t0
        conditions = []
        for c, cond in enumerate(reader.conditions):
            n_scored = per_seed[0].n_scored[c]
            conditions.append(
                ConditionResult(
                    **_condition_fields(reader, cond, meta.n_modalities),
                    n_scored=n_scored,
                    n_excluded=n_test - n_scored,
                    metrics={
                        k: [round(float(ps.metrics[c][k]), 10) for ps in per_seed] for k in per_seed[0].metrics[c]
                    },
                )
            )
        imputer = test.imputer(fill_name, chosen_params if spec.fill is not None else None)
        scenarios_out.append(
            ScenarioResult(
                id=sid,
                seed=spec.scenario_seed,
                sha256=reader.sha256,
                fill=recorded_fill(fill_name),
                conditions=conditions,
                fill_params=imputer.describe()["params"] | {"n_fit": imputer.describe()["n_fit"]} if imputer else None,
            )
        )
    first = models[0][1]
    cfg_name = getattr(first, "registry_name", "") or type(first).__name__.lower()
    doc = (type(first).__doc__ or "").strip().splitlines()
    result = ResultDocument.build(
        modalbench_version=__version__,
        dataset=DatasetRef(name=meta.name, version=meta.version, fingerprint=test.reader.attrs["fingerprint"]),
        task=meta.task,
        model=ModelInfo(
            name=spec.model_name or cfg_name,
            description=doc[0] if doc else cfg_name,
            code_url=None,
            paper=getattr(first, "paper", None),
            parameter_count=int(parameter_count(first)),
            external_data=False,
            official=False,
            handles_missing=handles_missing(first),
        ),
        regime=spec.regime or str(getattr(first, "regime", "full-modality")),
        training_scenario=getattr(first, "training_scenario", None),
        trained_models=[prov for _, _, prov in models],
        scenarios=scenarios_out,
        hardware={**hardware_info(spec.device), **_timings(spec, seeds, eval_seconds)},
        date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        command=spec.command or equivalent_command(spec),
    )
    return result.to_json()
