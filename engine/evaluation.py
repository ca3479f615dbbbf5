"""Evaluation core: metrics of a fusion model under many missing-modality conditions.

Condition ``k`` of a condition table ``[K, M]`` makes modality ``m`` available for sample ``i`` iff
``natural[i, m] & conditions[k, m]``; masked modality inputs are replaced by the caller's
``fill(inputs, available)`` (default: inputs kept as they are). A sample is **scored** under a condition only when it
has at least one available modality (a prediction from no data at all is never counted) and, when the caller passes
``eligible``, it is eligible (``missing-modalities@v2`` leaves out samples with natural gaps). Metrics per
condition come from confusion counts (:mod:`modalbench.engine.metrics`), accumulated over batches without
per-sample Python loops.

Fast path (models with ``has_fast_path``): every test batch is encoded once with its naturally-available values
and once fully masked (``fill(inputs, all False)``); a condition's features pick, per sample and modality, the
real or the masked features, and only ``fuse`` runs per condition — several conditions at once, stacked along the
batch dimension (up to ``max_rows`` rows, or the model's ``max_fuse_rows`` hint if smaller). This is exact when (a) ``encode`` maps each modality's input to that
modality's features independently of the other modalities, of ``available`` and of the other samples (eval mode),
and (b) ``fill`` acts per sample and modality (``mean``, ``zero``, ``none``); for a history-dependent fill pass
``use_fast_path=False``. A model may also offer ``fuse_conditions(real, masked, available[Kc, B, M]) ->
logits [Kc, B, C]`` to fuse many conditions without materialising the stacked features. Models that expose ``set_sample_keys`` (EmbraceNet's random selection) receive the
test-set index of every row, so their draws are identical on both paths and for any batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from modalbench.data import Batch
from modalbench.errors import ModalbenchError
from modalbench.fusion import ConditionFuser, FastPathModel, model_meta

from .metrics import is_binary_task, multiclass_from_confusion, multilabel_from_counts, roc_auc

FillFn = Callable[[dict[str, torch.Tensor], torch.Tensor], dict[str, torch.Tensor]]


def model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode + inference mode for the block; the previous training flag is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


@contextmanager
def sample_keys(model: nn.Module, keys: torch.Tensor | None) -> Iterator[None]:
    """Give stochastic models (``set_sample_keys``) the test-set index of every row for the block."""
    setter = getattr(model, "set_sample_keys", None)
    if setter is None:
        yield
        return
    setter(keys)
    try:
        yield
    finally:
        setter(None)


def multilabel_logit_threshold(threshold: float) -> float:
    """The logit a multi-label score must exceed for a probability above ``threshold`` (0.5 -> 0)."""
    t = float(threshold)
    if not 0.0 < t < 1.0:
        raise ModalbenchError(f"the multi-label threshold must be in (0, 1), got {threshold!r}")
    return float(np.log(t) - np.log1p(-t))


class ConditionAccumulator:
    """Confusion counts for ``K`` conditions (multi-class ``[K, C, C]``; multi-label tp/fp/fn ``[K, L]``).

    ``binary`` (two classes, class 1 positive): the scores ``logit_1 − logit_0`` of every scored sample are kept
    per condition as well (float32, ``4 N`` bytes a condition), for the exact ROC AUC and the error rate.
    """

    def __init__(
        self, n_conditions: int, n_classes: int, multilabel: bool, threshold: float = 0.5, binary: bool = False
    ) -> None:
        self.k, self.c, self.multilabel = n_conditions, n_classes, multilabel
        #: multi-label: a label is predicted when its probability exceeds ``threshold`` (logit > logit(threshold))
        self.logit_threshold = multilabel_logit_threshold(threshold)
        self.binary = bool(binary) and not multilabel and n_classes == 2
        self.n_scored = torch.zeros(n_conditions, dtype=torch.int64)
        self.scores: list[list[np.ndarray]] = [[] for _ in range(n_conditions)] if self.binary else []
        self.targets: list[list[np.ndarray]] = [[] for _ in range(n_conditions)] if self.binary else []
        if multilabel:
            self.tp = torch.zeros(n_conditions, n_classes, dtype=torch.int64)
            self.fp = torch.zeros_like(self.tp)
            self.fn = torch.zeros_like(self.tp)
            self.samples_f1 = torch.zeros(n_conditions, dtype=torch.float64)
            self.n = torch.zeros(n_conditions, dtype=torch.int64)
        else:
            self.conf = torch.zeros(n_conditions, n_classes, n_classes, dtype=torch.int64)

    def add(self, start: int, logits: torch.Tensor, target: torch.Tensor, keep: torch.Tensor | None = None) -> None:
        """Add the logits ``[Kc, B, C]`` of conditions ``start..start+Kc`` for targets ``[B]`` / ``[B, L]``.

        ``keep`` ``[Kc, B]`` bool: only those rows are scored (default: all).
        """
        kc, b = logits.shape[:2]
        if keep is None:
            keep = torch.ones(kc, b, dtype=torch.bool, device=logits.device)
        keep = keep.to(logits.device)
        self.n_scored[start : start + kc] += keep.sum(1).cpu()
        if self.multilabel:
            pred = (logits > self.logit_threshold) & keep.unsqueeze(-1)  # probability > threshold; excluded rows: 0
            t = target.to(logits.device).bool().unsqueeze(0) & keep.unsqueeze(-1)
            tp_s = (pred & t).sum(-1)
            fp_s = (pred & ~t).sum(-1)
            fn_s = (~pred & t).sum(-1)
            sl = slice(start, start + kc)
            self.tp[sl] += (pred & t).sum(1).cpu()
            self.fp[sl] += (pred & ~t).sum(1).cpu()
            self.fn[sl] += (~pred & t).sum(1).cpu()
            den = (2 * tp_s + fp_s + fn_s).double()
            f1 = torch.where(den > 0, 2 * tp_s.double() / den.clamp_min(1), torch.zeros_like(den))
            self.samples_f1[sl] += f1.sum(1).cpu()
            self.n[sl] += keep.sum(1).cpu()
        else:
            pred = logits.argmax(dim=-1)  # [Kc, B]
            y = target.to(logits.device).view(1, b)
            k_idx = torch.arange(kc, device=logits.device).view(kc, 1)
            codes = (k_idx * self.c + y) * self.c + pred
            counts = torch.bincount(codes[keep], minlength=kc * self.c * self.c)
            self.conf[start : start + kc] += counts.view(kc, self.c, self.c).cpu()
            if self.binary:
                self._add_scores(start, logits, target, keep)

    def _add_scores(self, start: int, logits: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> None:
        score = (logits[..., 1] - logits[..., 0]).float().cpu().numpy()  # [Kc, B]; > 0 iff argmax is class 1
        kept = keep.cpu().numpy()
        y = target.reshape(-1).cpu().numpy()
        for j in range(score.shape[0]):
            self.scores[start + j].append(score[j][kept[j]])
            self.targets[start + j].append(y[kept[j]])

    def result(self) -> dict[str, np.ndarray]:
        """Metrics ``{name: array[K]}``; binary tasks add ``error_rate`` and ``roc_auc`` (scikit-learn's)."""
        if self.multilabel:
            return multilabel_from_counts(
                self.tp.numpy(), self.fp.numpy(), self.fn.numpy(), self.samples_f1.numpy(), self.n.numpy()
            )
        out = multiclass_from_confusion(self.conf.numpy())
        if not self.binary:
            return out
        aucs = np.empty(self.k, dtype=np.float64)
        for k in range(self.k):
            y = np.concatenate(self.targets[k]) if self.targets[k] else np.empty(0, np.int64)
            s = np.concatenate(self.scores[k]) if self.scores[k] else np.empty(0, np.float32)
            try:
                aucs[k] = roc_auc(y, s)
            except ModalbenchError as exc:
                raise ModalbenchError(f"condition {k} ({y.size} scored samples): {exc}") from None
        return {
            "accuracy": out["accuracy"],
            "error_rate": 1.0 - out["accuracy"],
            "roc_auc": aucs,
            "f1_weighted": out["f1_weighted"],
            "f1_macro": out["f1_macro"],
        }


def check_batch(batch: Any, names: list[str], where: str) -> Batch:
    """``(inputs, available, label)`` of a batch, or a clear error naming ``where`` and what is wrong."""
    try:
        inputs, available, target = batch
    except (TypeError, ValueError):
        raise ModalbenchError(f"{where}: expected a tuple (inputs, available, label)") from None
    missing = [n for n in names if n not in inputs]
    if missing:
        raise ModalbenchError(f"{where}: inputs lack modalities {missing} (expected {names})")
    if available.dtype != torch.bool or available.dim() != 2 or available.shape[1] != len(names):
        raise ModalbenchError(
            f"{where}: available must be a bool tensor [B, {len(names)}], "
            f"got {available.dtype} {tuple(available.shape)}"
        )
    return inputs, available, target


def _to(inputs: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in inputs.items()}


def evaluate_condition_batches(
    model: nn.Module,
    batches: Iterable[Batch],
    conditions: torch.Tensor,
    *,
    fill: FillFn | None = None,
    use_fast_path: bool = True,
    max_rows: int = 8192,
    device: torch.device | str | None = None,
    eligible: torch.Tensor | None = None,
    return_counts: bool = False,
    threshold: float = 0.5,
    binary_scores: bool = True,
) -> Any:
    """Metrics ``{name: array[K]}`` of ``model`` on ``batches`` under each row of ``conditions [K, M]``.

    Rows with no available modality under a condition are not scored; ``eligible`` ``[N]`` bool (rows of all
    batches in order) restricts scoring further. ``return_counts=True`` returns ``(metrics, n_scored[K])``.
    A two-class task adds ``error_rate`` and ``roc_auc`` (:data:`~modalbench.engine.metrics.BINARY_METRICS`) unless
    ``binary_scores=False`` (model selection needs only the confusion counts); the ROC AUC of a condition whose
    scored samples hold one class only is undefined and raises :class:`ModalbenchError`.
    """
    meta = model_meta(model)
    names = meta.modality_names
    conditions = torch.as_tensor(conditions)
    if conditions.dtype != torch.bool or conditions.dim() != 2 or conditions.shape[1] != len(names):
        raise ModalbenchError(
            f"conditions must be a bool tensor [K, {len(names)}], got {conditions.dtype} {tuple(conditions.shape)}"
        )
    dev = torch.device(device) if device is not None else model_device(model)
    n_cond = conditions.shape[0]
    multilabel = meta.task_type == "multilabel"
    binary = binary_scores and is_binary_task(meta.task_type, meta.n_classes)
    acc = ConditionAccumulator(n_cond, meta.n_classes, multilabel, threshold, binary=binary)
    fast_model = model if isinstance(model, FastPathModel) and model.has_fast_path else None
    fast = use_fast_path and fast_model is not None and n_cond > 1
    max_rows = min(int(max_rows), int(getattr(model, "max_fuse_rows", max_rows)))
    cond_dev = conditions.to(dev)
    offset = 0
    with eval_mode(model):
        for bi, batch in enumerate(batches):
            inputs, natural, target = check_batch(batch, names, f"batch {bi}")
            inputs, natural = _to(inputs, dev), natural.to(dev)
            b = natural.shape[0]
            keys = torch.arange(offset, offset + b, device=dev)
            ok = (
                eligible[offset : offset + b].to(dev)
                if eligible is not None
                else torch.ones(b, dtype=torch.bool, device=dev)
            )
            if ok.shape[0] != b:
                raise ModalbenchError(f"eligible has {eligible.shape[0]} rows, fewer than the batches")  # type: ignore
            if fast and fast_model is not None:
                real_in = fill(inputs, natural) if fill is not None else inputs
                real = fast_model.encode(real_in)
                if fill is not None:
                    masked = fast_model.encode(fill(inputs, torch.zeros_like(natural)))
                else:
                    masked = real
                kc_max = max(1, max_rows // max(b, 1))
                for start in range(0, n_cond, kc_max):
                    cond = cond_dev[start : start + kc_max]
                    kc = cond.shape[0]
                    avail = natural.unsqueeze(0) & cond.unsqueeze(1)  # [Kc, B, M]
                    if isinstance(model, ConditionFuser):  # optional model hook: all Kc conditions at once
                        with sample_keys(model, keys.repeat(kc)):
                            logits = model.fuse_conditions(real, masked, avail)
                        acc.add(start, logits.float().view(kc, b, -1), target, avail.any(-1) & ok)
                        continue
                    feats = {}
                    for m, name in enumerate(names):
                        r, f = real[name], masked[name]
                        sel = avail[:, :, m].view(kc, b, *([1] * (r.dim() - 1)))
                        feats[name] = torch.where(sel, r.unsqueeze(0), f.unsqueeze(0)).reshape(kc * b, *r.shape[1:])
                    with sample_keys(model, keys.repeat(kc)):
                        logits = fast_model.fuse(feats, avail.reshape(kc * b, -1))
                    acc.add(start, logits.float().view(kc, b, -1), target, avail.any(-1) & ok)
            else:
                for k in range(n_cond):
                    avail = natural & cond_dev[k].unsqueeze(0)
                    x = fill(inputs, avail) if fill is not None else inputs
                    with sample_keys(model, keys):
                        logits = model(x, avail)
                    acc.add(k, logits.float().unsqueeze(0), target, (avail.any(-1) & ok).unsqueeze(0))
            offset += b
    if eligible is not None and offset != eligible.shape[0]:
        raise ModalbenchError(f"eligible has {eligible.shape[0]} rows, the batches {offset}")
    result = acc.result()
    return (result, acc.n_scored.numpy()) if return_counts else result


def _slices(n: int, batch_size: int) -> Iterator[slice]:
    for s in range(0, n, batch_size):
        yield slice(s, min(n, s + batch_size))


def evaluate_conditions(
    model: nn.Module,
    inputs: dict[str, torch.Tensor],
    natural_available: torch.Tensor,
    labels: torch.Tensor,
    conditions: torch.Tensor,
    *,
    batch_size: int = 512,
    fill: FillFn | None = None,
    use_fast_path: bool = True,
    max_rows: int = 8192,
    device: torch.device | str | None = None,
    eligible: torch.Tensor | None = None,
    return_counts: bool = False,
    threshold: float = 0.5,
) -> Any:
    """Metrics arrays ``[K]`` for in-memory test tensors (``inputs[m]: [N, *shape]``, ``natural [N, M]``).

    ``eligible`` and ``return_counts``: see :func:`evaluate_condition_batches`.
    """
    n = natural_available.shape[0]
    bad = [k for k, v in inputs.items() if v.shape[0] != n]
    if bad or labels.shape[0] != n:
        raise ModalbenchError(
            f"evaluate_conditions: {n} availability rows but inputs {bad} / labels "
            f"({labels.shape[0]}) have a different sample count"
        )
    batches = (({k: v[s] for k, v in inputs.items()}, natural_available[s], labels[s]) for s in _slices(n, batch_size))
    return evaluate_condition_batches(
        model,
        batches,
        conditions,
        fill=fill,
        use_fast_path=use_fast_path,
        max_rows=max_rows,
        device=device,
        eligible=eligible,
        return_counts=return_counts,
        threshold=threshold,
    )


def evaluate_batches(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    fill: FillFn | None = None,
    device: torch.device | str | None = None,
    return_counts: bool = False,
    threshold: float = 0.5,
    binary_scores: bool = True,
) -> Any:
    """Metrics of ``model`` on batches whose availability already differs per sample (random/block missing).

    Samples without any available modality are not scored; ``return_counts=True`` returns ``(metrics, n_scored)``;
    ``binary_scores``: see :func:`evaluate_condition_batches`.
    """
    m = model_meta(model).n_modalities
    out, n_scored = evaluate_condition_batches(
        model,
        batches,
        torch.ones(1, m, dtype=torch.bool),
        fill=fill,
        use_fast_path=False,
        device=device,
        return_counts=True,
        threshold=threshold,
        binary_scores=binary_scores,
    )
    metrics = {k: float(v[0]) for k, v in out.items()}
    return (metrics, int(n_scored[0])) if return_counts else metrics


def per_modality_scores(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    fill: FillFn | None = None,
    metric: str | None = None,
    device: torch.device | str | None = None,
) -> list[float]:
    """Each modality's score when it is the only one available (late fusion / EmbraceNet adj_post calibration)."""
    from .metrics import main_metric

    meta = model_meta(model)
    metric = metric or main_metric(meta.task_type)
    eye = torch.eye(meta.n_modalities, dtype=torch.bool)
    scores = evaluate_condition_batches(model, batches, eye, fill=fill, device=device, binary_scores=False)
    return [float(v) for v in scores[metric]]
