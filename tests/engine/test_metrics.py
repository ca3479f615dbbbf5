"""Metrics equal scikit-learn's (EmbraceNet eq. 9 weighted F1, macro F1, accuracy, multi-label F1 variants)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, f1_score

from modalbench.engine import metrics as M
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


# ---------------------------------------------------------------- binary metrics (HIGGS: error rate and ROC AUC)


def test_roc_auc_matches_sklearn_with_ties_and_many_conditions():
    from sklearn.metrics import roc_auc_score

    from modalbench.engine.metrics import roc_auc

    rng = np.random.Generator(np.random.PCG64(3))
    y = rng.integers(0, 2, 500)
    scores = np.round(rng.normal(size=(4, 500)) + 0.7 * y, 1)  # rounding makes many ties
    got = roc_auc(y, scores)
    want = [roc_auc_score(y, s) for s in scores]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert roc_auc(y, y.astype(float)) == 1.0 and roc_auc(y, -y.astype(float)) == 0.0


def test_roc_auc_needs_both_classes():
    from modalbench.engine.metrics import roc_auc

    with pytest.raises(ModalbenchError, match="only class 1"):
        roc_auc(np.ones(5, dtype=int), np.arange(5.0))
    with pytest.raises(ModalbenchError, match="only 0 and 1"):
        roc_auc(np.array([0, 2]), np.arange(2.0))


def test_binary_metrics_match_sklearn():
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    from modalbench.engine.metrics import BINARY_METRICS, binary_metrics

    rng = np.random.Generator(np.random.PCG64(4))
    y = rng.integers(0, 2, 300)
    p = 1 / (1 + np.exp(-(rng.normal(size=300) + (y - 0.5))))
    got = binary_metrics(y, p)
    pred = (p > 0.5).astype(int)
    assert set(got) == set(BINARY_METRICS)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    assert got["error_rate"] == pytest.approx(1 - accuracy_score(y, pred), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert got["f1_weighted"] == pytest.approx(f1_score(y, pred, average="weighted"), abs=1e-12)
    assert got["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"), abs=1e-12)


def test_binary_accumulator_over_batches_equals_one_shot():
    from sklearn.metrics import roc_auc_score

    from modalbench.engine.metrics import BinaryScoreAccumulator

    rng = np.random.Generator(np.random.PCG64(5))
    y = rng.integers(0, 2, 230)
    logits = rng.normal(size=(3, 230, 2)).astype(np.float32)
    logits[..., 1] += y
    acc = BinaryScoreAccumulator(3)
    for s in range(0, 230, 64):  # conditions 0..1 in one call, condition 2 in another
        acc.add(0, logits[:2, s : s + 64], y[s : s + 64])
        acc.add(2, logits[2:, s : s + 64], y[s : s + 64])
    out = acc.result()
    for k in range(3):
        score = logits[k, :, 1] - logits[k, :, 0]
        assert out["roc_auc"][k] == pytest.approx(roc_auc_score(y, score), abs=1e-12)
        assert out["accuracy"][k] == pytest.approx(np.mean((score > 0) == y), abs=1e-12)
    with pytest.raises(ModalbenchError, match=r"logits \[Kc, B, 2\]"):
        acc.add(0, logits[:, :, :1], y)
