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
        "tp": (t & p).sum(axis=-2),
        "fp": (~t & p).sum(axis=-2),
        "fn": (t & ~p).sum(axis=-2),
        "support": t.sum(axis=-2),
        "samples_f1_sum": _div(2 * tp_s, 2 * tp_s + fp_s + fn_s).sum(axis=-1),
        "n": np.full(t.shape[:-2], t.shape[-2], dtype=np.int64),
    }


def multilabel_from_counts(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, samples_f1_sum: np.ndarray, n: np.ndarray
) -> dict[str, np.ndarray]:
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


# ---------------------------------------------------------------- binary tasks (two classes, class 1 = positive)
#
# Mul (Liu et al. 2018, Table 2) reports the error rate and the ROC AUC on HIGGS. The ROC AUC is the
# Mann-Whitney statistic: AUC = (R_+ − n_+(n_+ + 1)/2) / (n_+ n_−), with R_+ the sum of the positives' ranks among
# all scores (ties get their average rank) — identical to scikit-learn's ``roc_auc_score`` (trapezoidal ROC area).
# The score of a sample is anything monotone in P(class 1): the evaluator uses logit_1 − logit_0.

BINARY_METRICS = ("accuracy", "error_rate", "roc_auc", "f1_weighted", "f1_macro")


def is_binary_task(task_type: str, n_classes: int) -> bool:
    """A single-label task with two classes (class 1 = positive): it reports :data:`BINARY_METRICS`."""
    return task_type != "multilabel" and int(n_classes) == 2


def task_metric_names(task_type: str, n_classes: int) -> tuple[str, ...]:
    """The metrics the evaluator reports for a task: binary, multi-class or multi-label."""
    return BINARY_METRICS if is_binary_task(task_type, n_classes) else metric_names(task_type)


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray | float:
    """ROC AUC of ``scores [..., N]`` (higher = class 1) for labels ``y_true [N]`` in {0, 1}; vectorised.

    Raises :class:`ModalbenchError` when ``y_true`` holds one class only (the AUC is undefined).
    """
    from scipy.stats import rankdata

    y = np.asarray(y_true).ravel()
    s = np.asarray(scores, dtype=np.float64)
    if s.shape[-1] != y.size:
        raise ModalbenchError(f"y_true has {y.size} labels but scores have {s.shape[-1]} per row")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ModalbenchError("y_true of a binary task must hold only 0 and 1")
    pos = y == 1
    n_pos = int(pos.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ModalbenchError(f"ROC AUC is undefined: y_true holds only class {int(y[0]) if y.size else '-'}")
    ranks = rankdata(s, axis=-1)  # average ranks for ties
    auc = (ranks[..., pos].sum(axis=-1) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return float(auc) if np.ndim(auc) == 0 else auc


def binary_from_scores(y_true: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, error rate, ROC AUC, weighted and macro F1 of ``scores [K, N]`` (prediction: score > 0)."""
    y = np.asarray(y_true, dtype=np.int64).ravel()
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    pred = (s > 0).astype(np.int64)
    codes = (np.arange(s.shape[0])[:, None] * 2 + y[None, :]) * 2 + pred
    conf = np.bincount(codes.ravel(), minlength=s.shape[0] * 4).reshape(s.shape[0], 2, 2)
    out = multiclass_from_confusion(conf)
    out["error_rate"] = 1.0 - out["accuracy"]
    out["roc_auc"] = np.asarray(roc_auc(y, s), dtype=np.float64).reshape(s.shape[0])
    return {k: out[k] for k in BINARY_METRICS}


def binary_metrics(y_true: np.ndarray, prob_positive: np.ndarray) -> dict[str, float]:
    """Accuracy, error rate, ROC AUC, weighted and macro F1 of one vector of P(class 1) (predicted 1 when > 0.5)."""
    p = np.asarray(prob_positive, dtype=np.float64).ravel()
    out = binary_from_scores(y_true, (p - 0.5)[None, :])
    return {k: float(v[0]) for k, v in out.items()}


class BinaryScoreAccumulator:
    """Keeps every score of ``K`` conditions (``[K, N]`` float32) for the exact ROC AUC at the end.

    Memory is ``4 K N`` bytes (HIGGS: 500,000 test events × 3 missing-modality conditions = 6 MB). ``add`` takes
    the logits ``[Kc, B, 2]`` of conditions ``start..start+Kc`` for targets ``[B]``, batch after batch, in the
    same sample order for every condition.
    """

    def __init__(self, n_conditions: int) -> None:
        self.k = int(n_conditions)
        self._scores: list[list[np.ndarray]] = [[] for _ in range(self.k)]
        self._targets: list[np.ndarray] = []
        self._seen = np.zeros(self.k, dtype=np.int64)

    def add(self, start: int, logits: np.ndarray, target: np.ndarray) -> None:
        """Record the scores ``logit_1 − logit_0`` of a batch; targets are kept once per batch."""
        lg = np.asarray(logits, dtype=np.float32)
        if lg.ndim != 3 or lg.shape[-1] != 2:
            raise ModalbenchError(f"binary scores need logits [Kc, B, 2], got shape {lg.shape}")
        t = np.asarray(target, dtype=np.int64).ravel()
        if start == 0:
            self._targets.append(t)
        for j in range(lg.shape[0]):
            self._scores[start + j].append(lg[j, :, 1] - lg[j, :, 0])
            self._seen[start + j] += lg.shape[1]

    def result(self) -> dict[str, np.ndarray]:
        """Metrics ``{name: array[K]}`` (:data:`BINARY_METRICS`)."""
        y = np.concatenate(self._targets) if self._targets else np.empty(0, np.int64)
        if (self._seen != y.size).any():
            raise ModalbenchError(
                f"binary scores: conditions saw {sorted(set(self._seen.tolist()))} samples, targets {y.size}"
            )
        scores = np.stack([np.concatenate(s) for s in self._scores]) if y.size else np.empty((self.k, 0))
        return binary_from_scores(y, scores)
