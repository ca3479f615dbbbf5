"""Classification metrics, vectorised over many evaluation conditions.

Weighted F1 is EmbraceNet's eq. 9 (Choi & Lee, Information Fusion 2019):
``F1 = Σ_c (n_c / N) · 2 · prec_c · rec_c / (prec_c + rec_c)`` with ``n_c`` the true count of class ``c`` —
identical to scikit-learn's ``f1_score(average="weighted")``. Per-class F1 is computed as
``2 tp / (2 tp + fp + fn)`` (= 2PR/(P+R), 0 when undefined, scikit-learn's ``zero_division=0``).
Macro F1 averages over the classes present in the true or predicted labels (scikit-learn's label set).
Multi-label tasks threshold scores at 0.5 and report micro, macro, weighted and samples F1 (scikit-learn's
definitions over all label columns).

Everything is computed from confusion counts so that thousands of conditions (14,319 for OPPORTUNITY's
19 modalities) are one array operation: ``multiclass_from_confusion(conf[K, C, C])``.
"""

from __future__ import annotations

import numpy as np

from modalbench.errors import ModalbenchError

MULTICLASS_METRICS = ("accuracy", "f1_weighted", "f1_macro")
MULTILABEL_METRICS = ("f1_micro", "f1_macro", "f1_weighted", "f1_samples")


def main_metric(task_type: str) -> str:
    """The model-selection metric: weighted F1 (multi-class) or micro F1 (multi-label)."""
    return "f1_micro" if task_type == "multilabel" else "f1_weighted"


def metric_names(task_type: str) -> tuple[str, ...]:
    return MULTILABEL_METRICS if task_type == "multilabel" else MULTICLASS_METRICS


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den == 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``[C, C]`` counts, rows = true class, columns = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ModalbenchError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ModalbenchError(f"{name} holds class indices outside [0, {n_classes})")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def multiclass_from_confusion(conf: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, weighted F1 (eq. 9) and macro F1 from confusion matrices ``[..., C, C]`` (vectorised)."""
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diagonal(conf, axis1=-2, axis2=-1)
    support = conf.sum(axis=-1)  # true counts per class
    predicted = conf.sum(axis=-2)
    n = support.sum(axis=-1)
    f1 = _div(2 * tp, support + predicted)  # = 2 tp / (2 tp + fp + fn)
    present = (support + predicted) > 0
    return {
        "accuracy": _div(tp.sum(axis=-1), n),
        "f1_weighted": _div((f1 * support).sum(axis=-1), n),
        "f1_macro": _div((f1 * present).sum(axis=-1), present.sum(axis=-1)),
    }


def multilabel_counts(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, np.ndarray]:
    """Per-label tp/fp/fn ``[..., L]`` and the sum of per-sample F1 from 0/1 matrices ``[..., N, L]``."""
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    if t.shape != p.shape:
        raise ModalbenchError(f"y_true shape {t.shape} != y_pred shape {p.shape}")
    tp_s = (t & p).sum(axis=-1)
    fp_s = (~t & p).sum(axis=-1)
    fn_s = (t & ~p).sum(axis=-1)
    return {
        "tp": (t & p).sum(axis=-2), "fp": (~t & p).sum(axis=-2), "fn": (t & ~p).sum(axis=-2),
        "support": t.sum(axis=-2),
        "samples_f1_sum": _div(2 * tp_s, 2 * tp_s + fp_s + fn_s).sum(axis=-1),
        "n": np.full(t.shape[:-2], t.shape[-2], dtype=np.int64),
    }


def multilabel_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, samples_f1_sum: np.ndarray,
                           n: np.ndarray) -> dict[str, np.ndarray]:
    """Micro, macro, weighted and samples F1 from counts (``tp/fp/fn`` ``[..., L]``; vectorised)."""
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    f1 = _div(2 * tp, 2 * tp + fp + fn)
    support = tp + fn
    return {
        "f1_micro": _div(2 * tp.sum(-1), (2 * tp + fp + fn).sum(-1)),
        "f1_macro": f1.mean(axis=-1),
        "f1_weighted": _div((f1 * support).sum(-1), support.sum(-1)),
        "f1_samples": _div(samples_f1_sum, n),
    }


def multiclass_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """Accuracy, weighted and macro F1 of one prediction vector."""
    out = multiclass_from_confusion(confusion_matrix(y_true, y_pred, n_classes))
    return {k: float(v) for k, v in out.items()}


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Micro/macro/weighted/samples F1 of 0/1 label matrices ``[N, L]``."""
    c = multilabel_counts(y_true, y_pred)
    out = multilabel_from_counts(c["tp"], c["fp"], c["fn"], c["samples_f1_sum"], c["n"])
    return {k: float(v) for k, v in out.items()}
