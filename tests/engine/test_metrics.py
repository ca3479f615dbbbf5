"""Metrics equal scikit-learn's (EmbraceNet eq. 9 weighted F1, macro F1, accuracy, multi-label F1 variants)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from modalbench.engine import metrics as M
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, f1_score

from modalbench.errors import ModalbenchError


def _sk(y, p, average):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return f1_score(y, p, average=average, zero_division=0)


@pytest.mark.parametrize("seed", range(25))
def test_multiclass_equals_sklearn_with_absent_classes(seed: int) -> None:
    rng = np.random.Generator(np.random.PCG64(seed))
    c = int(rng.integers(2, 12))
    n = int(rng.integers(1, 80))
    # true and predicted labels drawn from different random subsets: some classes absent from one or both
    true_cls = rng.choice(c, size=int(rng.integers(1, c + 1)), replace=False)
    pred_cls = rng.choice(c, size=int(rng.integers(1, c + 1)), replace=False)
    y = rng.choice(true_cls, n)
    p = np.where(rng.random(n) < 0.4, y, rng.choice(pred_cls, n))
    got = M.multiclass_metrics(y, p, c)
    assert got["f1_weighted"] == pytest.approx(_sk(y, p, "weighted"), abs=1e-12)
    assert got["f1_macro"] == pytest.approx(_sk(y, p, "macro"), abs=1e-12)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-12)


def test_weighted_f1_is_eq9_by_hand() -> None:
    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([0, 1, 0, 1, 2, 2])
    # class 0: P=1, R=2/3; class 1: P=1/2, R=1/2; class 2: P=1/2, R=1
    f = [2 * 1 * (2 / 3) / (1 + 2 / 3), 0.5, 2 * 0.5 / 1.5]
    expected = (3 * f[0] + 2 * f[1] + 1 * f[2]) / 6
    assert M.multiclass_metrics(y, p, 4)["f1_weighted"] == pytest.approx(expected, abs=1e-12)
    assert M.multiclass_metrics(y, p, 4)["f1_macro"] == pytest.approx(np.mean(f), abs=1e-12)  # class 3 absent


def test_confusion_stack_is_vectorised_per_condition() -> None:
    rng = np.random.Generator(np.random.PCG64(1))
    c, k, n = 5, 9, 40
    y = rng.integers(0, c, n)
    preds = rng.integers(0, c, (k, n))
    conf = np.stack([M.confusion_matrix(y, preds[i], c) for i in range(k)])
    out = M.multiclass_from_confusion(conf)
    for i in range(k):
        assert out["f1_weighted"][i] == pytest.approx(_sk(y, preds[i], "weighted"), abs=1e-12)
        assert out["f1_macro"][i] == pytest.approx(_sk(y, preds[i], "macro"), abs=1e-12)
        assert out["accuracy"][i] == pytest.approx(accuracy_score(y, preds[i]), abs=1e-12)


@pytest.mark.parametrize("seed", range(15))
def test_multilabel_equals_sklearn(seed: int) -> None:
    rng = np.random.Generator(np.random.PCG64(100 + seed))
    n, l = int(rng.integers(1, 40)), int(rng.integers(2, 8))  # one column would be "binary" to sklearn
    y = rng.random((n, l)) < rng.random()
    p = rng.random((n, l)) < rng.random()
    y[:, 0] = False  # a label that never occurs
    if n > 1:
        y[0], p[0] = False, False  # a sample without labels and predictions
    got = M.multilabel_metrics(y, p)
    for avg in ("micro", "macro", "weighted", "samples"):
        assert got[f"f1_{avg}"] == pytest.approx(_sk(y.astype(int), p.astype(int), avg), abs=1e-12), avg


def test_main_metric_and_names() -> None:
    assert M.main_metric("multiclass") == "f1_weighted"
    assert M.main_metric("multilabel") == "f1_micro"
    assert set(M.metric_names("multilabel")) == {"f1_micro", "f1_macro", "f1_weighted", "f1_samples"}


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ModalbenchError, match="outside"):
        M.confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ModalbenchError, match="labels"):
        M.confusion_matrix(np.array([0, 1]), np.array([0]), 3)
    with pytest.raises(ModalbenchError, match="shape"):
        M.multilabel_metrics(np.zeros((2, 3)), np.zeros((2, 2)))


def test_empty_is_zero_not_nan() -> None:
    out = M.multiclass_from_confusion(np.zeros((2, 3, 3)))
    assert all(np.all(v == 0) for v in out.values())
