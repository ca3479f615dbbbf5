"""One trainer for every fusion model.

Adam (β = (0.9, 0.999), ε = 1e-2 and lr = 1e-3 by default, the settings of EmbraceNet, Choi & Lee 2019 §6.2),
early stopping on the validation main metric (weighted F1 = EmbraceNet eq. 9; micro F1 for multi-label tasks),
the best epoch's weights kept and saved. Models may define:

* ``training_loss(inputs, available, target) -> (loss, logits)`` — their own objective (Mul, late fusion, ...);
* ``pretrain_epochs`` + ``pretrain_loss(inputs, available)`` — a stage run before classification (multimodal
  autoencoder);
* ``calibrate(per_modality_val_f1)`` (+ optional ``wants_calibration``) — called after training with each
  modality's validation score when it is the only modality available (late fusion weights, EmbraceNet adj_post).

Deterministic on CPU for a seed (``torch.manual_seed`` + deterministic algorithms); CUDA with AMP (float16
autocast + gradient scaling) when asked for. Data-parallel: when ``torch.distributed`` is initialised (``torchrun``),
the model is trained through :class:`~torch.nn.parallel.DistributedDataParallel` — each rank feeds its own batches
(``train_batches`` of that rank: disjoint chunks), gradients are averaged over ranks, ranks with fewer batches join
early (:class:`~torch.distributed.algorithms.join.Join`), and every rank keeps identical weights. The step loop has no per-sample Python work and
synchronises with the device only every ``log_every`` steps.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from modalbench.errors import ModalbenchError
from modalbench.fusion import CalibratedModel, PretrainableModel, TrainableModel, model_meta
from modalbench.vocabulary import TRAINING_REGIMES

from .checkpoint import parameter_count, save_checkpoint, write_jsonl_atomic
from .evaluation import Batch, FillFn, check_batch, evaluate_batches, per_modality_scores
from .metrics import main_metric

__all__ = [
    "REGIMES",
    "ModalityDropout",
    "TrainResult",
    "distributed_world",
    "fit",
    "make_regime",
    "positive_class_weights",
    "resolve_device",
    "seed_torch",
    "training_warnings",
]

#: training regimes the trainer applies to any model (recorded in checkpoints and results as ``regime``)
REGIMES = TRAINING_REGIMES
#: the regime parameters (``--set`` keys taken by the regime, not by the method)
REGIME_PARAMS = ("p_drop",)
DEFAULT_P_DROP = 0.5


@dataclass
class ModalityDropout:
    """Training-time modality dropout for every method (generalises EmbraceNet's ``adj_pre``).

    Each training batch loses each modality of each sample independently with probability ``rate(epoch)``; a sample
    left with no modality gets one of its available modalities back, chosen uniformly at random (the rule of
    ``random-missing``). Dropped modalities are marked unavailable and filled with the run's fill (the training mean
    by default), as at evaluation. ``modality-dropout``: ``rate = p_drop`` throughout; ``curriculum-dropout``: the
    rate ramps linearly from 0 at the first epoch to ``p_drop`` at the last (curriculum modality dropout, as in
    MuteBench 2026). Draws come from a generator seeded with the training seed, so runs are reproducible.
    """

    regime: str
    p_drop: float
    epochs: int

    def rate(self, epoch: int) -> float:
        """The drop probability in (0-based) training epoch ``epoch``."""
        if self.regime == "curriculum-dropout":
            return self.p_drop * (epoch / (self.epochs - 1) if self.epochs > 1 else 1.0)
        return self.p_drop

    def record(self) -> dict[str, Any]:
        """What config.json records under ``training_regime``."""
        schedule = "linear 0 -> p_drop over the epochs" if self.regime == "curriculum-dropout" else "constant"
        return {"name": self.regime, "p_drop": self.p_drop, "schedule": schedule}

    def drop(
        self,
        inputs: dict[str, torch.Tensor],
        available: torch.Tensor,
        epoch: int,
        generator: torch.Generator,
        fill: FillFn | None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """``(inputs, available)`` of a batch after dropping modalities at ``rate(epoch)``."""
        p = self.rate(epoch)
        if p <= 0:
            return inputs, available
        draws = torch.rand(available.shape, generator=generator, device=generator.device).to(available.device)
        kept = available & (draws >= p)
        empty = ~kept.any(dim=1) & available.any(dim=1)
        if bool(empty.any()):
            pick = torch.rand(available.shape, generator=generator, device=generator.device).to(available.device)
            choice = torch.where(available, pick, torch.full_like(pick, -1.0)).argmax(dim=1)
            restore = torch.nn.functional.one_hot(choice, available.shape[1]).bool() & empty.unsqueeze(1)
            kept = kept | restore
        if fill is not None:
            inputs = fill(inputs, kept)
        return inputs, kept


def make_regime(regime: str | None, params: dict[str, Any] | None, epochs: int) -> ModalityDropout | None:
    """The trainer-side regime for ``regime`` (None for ``full-modality``); bad names or values are one line."""
    params = dict(params or {})
    regime = regime or "full-modality"
    if regime not in REGIMES:
        raise ModalbenchError(f"--regime {regime!r}: expected one of {', '.join(REGIMES)}")
    unknown = sorted(set(params) - set(REGIME_PARAMS))
    if unknown:
        raise ModalbenchError(f"regime {regime}: unknown parameter(s) {', '.join(unknown)}; expected p_drop")
    if regime == "full-modality":
        if params:
            raise ModalbenchError("p_drop is a parameter of --regime modality-dropout or curriculum-dropout")
        return None
    p = params.get("p_drop", DEFAULT_P_DROP)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < float(p) < 1.0:
        raise ModalbenchError(f"regime {regime}: p_drop must be a number in (0, 1), got {p!r}")
    return ModalityDropout(regime, round(float(p), 6), int(epochs))


@dataclass
class TrainResult:
    """What :func:`fit` did: per-epoch losses and validation scores, the best epoch (1-based), calibration."""

    model: nn.Module
    metric: str
    best_epoch: int
    best_score: float
    train_losses: list[float]
    val_scores: list[float]
    epochs_run: int
    stopped_early: bool
    final_val: dict[str, float]
    calibration: list[float] | None = None
    pretrain_losses: list[float] = field(default_factory=list)
    out_dir: Path | None = None
    log: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


#: a best validation score below this multiple of chance (1 / n_classes) is reported as near chance
NEAR_CHANCE_FACTOR = 1.5


def training_warnings(
    val_scores: list[float], best_epoch: int, n_classes: int, task_type: str, stopped_early: bool = False
) -> list[str]:
    """Warnings about a finished training run (one line each).

    * the best epoch is the last one of several (the validation score was still improving: train longer);
    * multi-class tasks: the best validation weighted F1 is below ``NEAR_CHANCE_FACTOR`` × 1/n_classes. For
      balanced classes a model guessing one class or at random scores at most about 1/n_classes weighted F1, so
      anything under 1.5× that has learnt little (raise the learning rate or the epochs). Multi-label tasks
      (micro F1) have no such single chance level and get no chance warning.
    """
    found = []
    if len(val_scores) > 1 and best_epoch == len(val_scores) and not stopped_early:
        found.append(
            f"the best validation epoch is the last one ({best_epoch}): the model was still improving; "
            "train longer (--epochs) or with a larger --lr"
        )
    best = max(val_scores) if val_scores else float("nan")
    if task_type == "multiclass" and n_classes >= 2 and math.isfinite(best):
        chance = 1.0 / n_classes
        if best < NEAR_CHANCE_FACTOR * chance:
            found.append(
                f"the best validation score {best:.3f} is near chance (< {NEAR_CHANCE_FACTOR} x 1/"
                f"{n_classes} = {NEAR_CHANCE_FACTOR * chance:.3f}): the model has learnt little; check "
                "--lr and --epochs"
            )
    return found


def positive_class_weights(labels: np.ndarray) -> np.ndarray:
    """Per-class positive weights ``n_negative / n_positive`` of multi-hot training labels ``[N, C]`` (float32).

    MFAS trains on MM-IMDB with "weights to balance the dataset" (Pérez-Rúa et al. 2019, §4.2): BCE whose positive
    term of class ``c`` is weighted so that its positives weigh as much as its negatives. A class without
    positives (or without negatives) gets weight 1.
    """
    y = np.asarray(labels)
    if y.ndim != 2:
        raise ModalbenchError(f"multi-label training labels must be [N, C], got shape {y.shape}")
    pos = (y > 0).sum(axis=0).astype(np.float64)
    neg = y.shape[0] - pos
    weights = np.ones(y.shape[1], dtype=np.float64)
    ok = (pos > 0) & (neg > 0)
    weights[ok] = neg[ok] / pos[ok]
    return weights.astype(np.float32)


def seed_torch(seed: int) -> None:
    """Seed torch's generators (CPU and CUDA) — call before building a model so its initialisation is reproducible."""
    torch.manual_seed(int(seed))


DEVICE_FORMS = "auto, cpu, cuda, cuda:N or mps"


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` → CUDA when available else CPU; ``cpu``, ``cuda``, ``cuda:N``, ``mps``. A device torch cannot use
    here (no CUDA, N beyond the GPUs present, no MPS) or any other name is one :class:`ModalbenchError` line."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ModalbenchError(f"--device {device!r}: expected {DEVICE_FORMS}") from None
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ModalbenchError(f"--device {device!r}: expected {DEVICE_FORMS}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ModalbenchError(f"--device {device}: torch sees no CUDA device (use --device cpu or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModalbenchError(
                f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) present (cuda:0 .. "
                f"cuda:{torch.cuda.device_count() - 1})"
            )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ModalbenchError(f"--device {device}: torch sees no MPS device (use --device cpu or auto)")
    return dev


def _resolve_amp(amp: str | bool, dev: torch.device) -> bool:
    if amp in ("auto", None):
        return dev.type == "cuda"
    if amp in (True, "on", "true", "1"):
        if dev.type != "cuda":
            raise ModalbenchError(f"--amp: automatic mixed precision needs a CUDA device, got --device {dev}")
        return True
    if amp in (False, "off", "false", "0"):
        return False
    raise ModalbenchError(f"amp must be auto, on or off, got {amp!r}")


def _to_device(batch: Any, dev: torch.device, names: list[str], where: str) -> Batch:
    inputs, available, target = check_batch(batch, names, where)
    if dev.type == "cuda":  # pinned host memory makes the non-blocking copies asynchronous
        return (
            {n: inputs[n].pin_memory().to(dev, non_blocking=True) for n in names},
            available.pin_memory().to(dev, non_blocking=True),
            target.pin_memory().to(dev, non_blocking=True),
        )
    return (
        {n: inputs[n].to(dev) for n in names},
        available.to(dev),
        target.to(dev),
    )


OPTIMIZERS = ("adam", "adamw", "sgd")


def make_optimizer(params: list[nn.Parameter], lr: float, recipe: dict[str, Any]) -> torch.optim.Optimizer:
    """The optimizer a method's training recipe names (``FusionModel.training_recipe()``): ``optimizer``
    adam | adamw | sgd with ``betas``, ``eps``, ``weight_decay`` and ``momentum``; ``lr`` is given separately."""
    kind = str(recipe.get("optimizer", "adam"))
    wd = float(recipe.get("weight_decay", 0.0) or 0.0)
    if kind in ("adam", "adamw"):
        betas = tuple(float(b) for b in recipe.get("betas", (0.9, 0.999)))
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return cls(params, lr=lr, betas=(betas[0], betas[1]), eps=float(recipe.get("eps", 1e-2)), weight_decay=wd)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(recipe.get("momentum", 0.0) or 0.0), weight_decay=wd)
    raise ModalbenchError(f"training recipe: unknown optimizer {kind!r}; expected one of {', '.join(OPTIMIZERS)}")


class _LossModule(nn.Module):
    """``forward(inputs, available, target) -> loss`` of a model's objective, so that DistributedDataParallel sees
    (and synchronises) the model's own ``training_loss`` / ``pretrain_loss`` hooks."""

    def __init__(self, model: nn.Module, pretrain: bool) -> None:
        super().__init__()
        self.model, self.pretrain = model, pretrain

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.pretrain:
            return self.model.pretrain_loss(inputs, available)  # type: ignore[operator]
        return self.model.training_loss(inputs, available, target)[0]  # type: ignore[operator]


def distributed_world() -> tuple[int, int]:
    """``(rank, world_size)`` of an initialised ``torch.distributed`` process group, else ``(0, 1)``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _loss_fn(
    model: nn.Module, pretrain: bool, dev: torch.device
) -> tuple[Callable[..., torch.Tensor], Callable[[], Any]]:
    """The loss callable of the step loop and the Join context (DDP over ranks, or the plain model)."""
    module = _LossModule(model, pretrain)
    if distributed_world()[1] == 1:
        return module, contextlib.nullcontext
    from torch.distributed.algorithms.join import Join
    from torch.nn.parallel import DistributedDataParallel

    ddp = DistributedDataParallel(
        module,
        device_ids=[dev.index] if dev.type == "cuda" and dev.index is not None else None,
        find_unused_parameters=True,  # modality dropout and per-modality heads leave parameters unused in a step
    )
    return ddp, (lambda: Join([ddp]))


class _Stepper:
    """Optimiser step with optional AMP; accumulates the loss on the device (no per-step sync)."""

    def __init__(
        self, params: list[nn.Parameter], lr: float, recipe: dict[str, Any], amp: bool, dev: torch.device
    ) -> None:
        self.opt = make_optimizer(params, lr, recipe)
        self.amp = amp
        self.dev = dev
        self.scaler = torch.amp.GradScaler("cuda") if amp else None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def step(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            self.opt.step()


def _run_epoch(
    model: nn.Module,
    batches: Iterable[Batch],
    stepper: _Stepper,
    loss_fn: tuple[Callable[..., torch.Tensor], Callable[[], Any]],
    names: list[str],
    where: str,
    on_progress: Callable[[float], None],
    log_every: int,
) -> float:
    model.train()
    total = torch.zeros((), device=stepper.dev, dtype=torch.float64)
    steps = 0
    step_loss, join = loss_fn
    with join():
        steps = _steps(batches, stepper, step_loss, names, where, on_progress, log_every, total)
    if steps == 0:
        raise ModalbenchError(f"{where}: the training batch iterable yielded no batches")
    value = float(total) / steps
    if not math.isfinite(value):
        raise ModalbenchError(f"{where}: non-finite training loss; lower --lr or check the inputs")
    return value


def _steps(
    batches: Iterable[Batch],
    stepper: _Stepper,
    loss_fn: Callable[..., torch.Tensor],
    names: list[str],
    where: str,
    on_progress: Callable[[float], None],
    log_every: int,
    total: torch.Tensor,
) -> int:
    steps = 0
    for i, batch in enumerate(batches):
        inputs, available, target = _to_device(batch, stepper.dev, names, f"{where}, batch {i}")
        with stepper.autocast():
            loss = loss_fn(inputs, available, target)
        stepper.step(loss)
        total += loss.detach()
        steps += 1
        if steps % log_every == 0:
            value = float(total) / steps
            if not math.isfinite(value):
                raise ModalbenchError(f"{where}: non-finite training loss by batch {i}; lower --lr or check inputs")
            on_progress(value)
    return steps


def fit(
    model: nn.Module,
    train_batches: Callable[[int], Iterable[Batch]],
    val_batches: Callable[[], Iterable[Batch]],
    *,
    epochs: int,
    lr: float = 1e-3,
    eps: float = 1e-2,
    weight_decay: float = 0.0,
    patience: int | None = None,
    seed: int,
    device: str | torch.device = "cpu",
    out_dir: str | Path | None = None,
    progress: bool = True,
    amp: str | bool = "auto",
    fill: FillFn | None = None,
    log_every: int = 50,
    extra_config: dict[str, Any] | None = None,
    optimizer: dict[str, Any] | None = None,
    regime: ModalityDropout | None = None,
) -> TrainResult:
    """Train ``model``, keep the best validation epoch, calibrate, and (with ``out_dir``) save the checkpoint.

    ``train_batches(epoch)`` yields ``(inputs, available, label)`` batches (the reader reshuffles per epoch);
    ``val_batches()`` yields validation batches. ``fill`` fills masked modalities for the per-modality calibration
    pass (default: values kept). ``extra_config`` is merged into ``config.json`` (e.g. the CLI command).
    ``optimizer`` is a training recipe (see :func:`make_optimizer`; default: Adam with ``eps`` and
    ``weight_decay``, EmbraceNet's set-up). ``regime`` (:func:`make_regime`) drops modalities of the training
    batches (``modality-dropout``, ``curriculum-dropout``); dropped modalities are filled with ``fill``. A model with
    its own training-time regime (EmbraceNet ``adj_pre``) is refused a second one.
    """
    if int(epochs) < 1:
        raise ModalbenchError(f"epochs must be >= 1, got {epochs!r}")
    if not lr > 0 or not eps > 0 or weight_decay < 0:
        raise ModalbenchError(f"need lr > 0, eps > 0, weight_decay >= 0 (got {lr}, {eps}, {weight_decay})")
    if patience is not None and int(patience) < 1:
        raise ModalbenchError(f"patience must be >= 1 or None, got {patience!r}")
    recipe = (
        dict(optimizer) if optimizer is not None else {"optimizer": "adam", "eps": eps, "weight_decay": weight_decay}
    )
    if not isinstance(model, TrainableModel):
        raise ModalbenchError(f"{type(model).__name__}: the trainer needs training_loss(inputs, available, target)")
    dev = resolve_device(device)
    use_amp = _resolve_amp(amp, dev)
    meta = model_meta(model)
    names = meta.modality_names
    metric = main_metric(meta.task_type)
    name = getattr(model, "registry_name", "") or type(model).__name__
    out = Path(out_dir) if out_dir is not None else None
    own_regime = str(getattr(model, "regime", "full-modality"))
    if regime is not None and own_regime != "full-modality":
        raise ModalbenchError(
            f"--regime {regime.regime}: {name} already trains with its own regime {own_regime!r} "
            "(e.g. EmbraceNet adj_pre); use one or the other"
        )
    drop_gen: torch.Generator | None = None
    if regime is not None:
        drop_gen = torch.Generator(device=torch.device(resolve_device(device)))
        drop_gen.manual_seed(int(seed) + 7919)  # a stream apart from the model's initialisation

    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(int(seed))
    model.to(dev)
    log: list[dict[str, Any]] = []
    t0 = time.monotonic()

    def flush_log() -> None:
        if out is not None:
            write_jsonl_atomic(out / "train_log.jsonl", log)

    from modalbench.progress import make_progress

    try:
        with make_progress(progress) as bar:
            pretrainable = isinstance(model, PretrainableModel)
            pre_epochs = int(getattr(model, "pretrain_epochs", 0) or 0) if pretrainable else 0
            pretrain_losses: list[float] = []
            if isinstance(model, PretrainableModel) and pre_epochs > 0:
                task = bar.add_task(f"{name} pretrain", total=pre_epochs)
                stepper = _Stepper(list(model.parameters()), lr, recipe, use_amp, dev)
                pretrain_loss = _loss_fn(model, True, dev)
                for e in range(pre_epochs):
                    where = f"pretrain epoch {e + 1}"

                    def show_pretrain(v: float, e: int = e) -> None:
                        bar.update(task, description=f"{name} pretrain {e + 1}/{pre_epochs} loss {v:.4f}")

                    loss = _run_epoch(
                        model,
                        train_batches(e),
                        stepper,
                        pretrain_loss,
                        names,
                        where,
                        show_pretrain,
                        log_every,
                    )
                    pretrain_losses.append(loss)
                    log.append(
                        {
                            "stage": "pretrain",
                            "epoch": e + 1,
                            "loss": loss,
                            "elapsed_s": round(time.monotonic() - t0, 3),
                        }
                    )
                    bar.update(task, advance=1, description=f"{name} pretrain {e + 1}/{pre_epochs} loss {loss:.4f}")
                    flush_log()

            stepper = _Stepper(list(model.parameters()), lr, recipe, use_amp, dev)
            step_loss, join = _loss_fn(model, False, dev)
            task = bar.add_task(f"{name} train", total=int(epochs))
            best_score, best_epoch, best_state = -math.inf, 0, None
            train_losses: list[float] = []
            val_scores: list[float] = []
            stopped_early = False
            for e in range(int(epochs)):
                where = f"epoch {e + 1}"

                def show(v: float, e: int = e, best: float = max(best_score, 0.0)) -> None:
                    bar.update(task, description=f"{name} {e + 1}/{epochs} loss {v:.4f} val {metric} {best:.4f}")

                def train_loss(x: Any, a: Any, t: Any, e: int = e) -> torch.Tensor:
                    if regime is not None and drop_gen is not None:
                        x, a = regime.drop(x, a, e, drop_gen, fill)
                    return step_loss(x, a, t)

                loss = _run_epoch(
                    model,
                    train_batches(pre_epochs + e),
                    stepper,
                    (train_loss, join),
                    names,
                    where,
                    show,
                    log_every,
                )
                val = evaluate_batches(model, val_batches(), device=dev, binary_scores=False)
                score = val[metric]
                train_losses.append(loss)
                val_scores.append(score)
                improved = score > best_score
                if improved:
                    best_score, best_epoch = score, e + 1
                    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                log.append(
                    {
                        "stage": "train",
                        "epoch": e + 1,
                        "loss": loss,
                        "val": val,
                        "best": improved,
                        "elapsed_s": round(time.monotonic() - t0, 3),
                    }
                )
                bar.update(
                    task,
                    advance=1,
                    description=f"{name} {e + 1}/{epochs} loss {loss:.4f} "
                    f"val {metric} {score:.4f} (best {best_score:.4f})",
                )
                flush_log()
                if patience is not None and (e + 1) - best_epoch >= int(patience):
                    stopped_early = e + 1 < int(epochs)
                    break

        assert best_state is not None
        model.load_state_dict(best_state)
        calibration = None
        if isinstance(model, CalibratedModel) and getattr(model, "wants_calibration", True):
            calibration = per_modality_scores(model, val_batches(), fill=fill, metric=metric, device=dev)
            model.calibrate(calibration)
            log.append({"stage": "calibrate", "per_modality_val": calibration})
        final_val = evaluate_batches(model, val_batches(), device=dev, binary_scores=False)
        log.append(
            {"stage": "final", "val": final_val, "best_epoch": best_epoch, "elapsed_s": round(time.monotonic() - t0, 3)}
        )
        warnings = training_warnings(val_scores, best_epoch, meta.n_classes, meta.task_type, stopped_early)
        for message in warnings:
            sys.stderr.write(f"warning: {name}: {message}\n")
            log.append({"stage": "warning", "message": message})
        model.eval()
        if out is not None:
            training = {
                "epochs": int(epochs),
                "lr": lr,
                "optimizer": recipe,
                "patience": patience,
                "device": str(dev),
                "amp": use_amp,
                "pretrain_epochs": pre_epochs,
            }
            regime_record = regime.record() if regime is not None else {"name": own_regime}
            extra = {
                "training": training,
                "seed": int(seed),
                "val_metric": metric,
                "best_epoch": best_epoch,
                "best_val_score": best_score,
                "val_scores": val_scores,
                "train_losses": train_losses,
                "epochs_run": len(val_scores),
                "stopped_early": stopped_early,
                "final_val": final_val,
                "calibration": calibration,
                "warnings": warnings,
                "training_regime": regime_record,
                "train_seconds": round(time.monotonic() - t0, 3),  # wall time; never part of a fingerprint
                **(extra_config or {}),
            }
            save_checkpoint(model, out, extra=_jsonable(extra), log=log)
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)

    return TrainResult(
        model=model,
        metric=metric,
        best_epoch=best_epoch,
        best_score=best_score,
        train_losses=train_losses,
        val_scores=val_scores,
        epochs_run=len(val_scores),
        stopped_early=stopped_early,
        final_val=final_val,
        calibration=calibration,
        pretrain_losses=pretrain_losses,
        out_dir=out,
        log=log,
        warnings=warnings,
    )


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def parameters_of(model: nn.Module) -> int:
    """Number of parameters (recorded in results and checkpoints)."""
    return parameter_count(model)
