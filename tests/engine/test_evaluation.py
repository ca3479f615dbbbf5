"""Evaluation core: fast path == plain path, metrics == scikit-learn, per-sample masks, clear errors."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from modalbench.baselines import baseline_names, create_baseline
from modalbench.engine.evaluation import (
    ConditionAccumulator,
    eval_mode,
    evaluate_batches,
    evaluate_condition_batches,
    evaluate_conditions,
    multilabel_logit_threshold,
    per_modality_scores,
    sample_keys,
)
from modalbench.engine.trainer import seed_torch
from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta, ModalitySpec

torch.set_num_threads(1)

META = DatasetMeta(
    "mixed",
    (
        ModalitySpec("acc", "series", (16, 2)),
        ModalitySpec("cam", "image", (1, 8, 8)),
        ModalitySpec("feat", "vector", (9,)),
    ),
    tuple("abcde"),
)
N = 37  # not a multiple of any batch size used below


def zero_fill(inputs: dict[str, torch.Tensor], available: torch.Tensor) -> dict[str, torch.Tensor]:
    """A per-sample, per-modality fill: masked modalities become 0."""
    out = {}
    for m, name in enumerate(META.modality_names):
        v = inputs[name]
        out[name] = torch.where(available[:, m].view(-1, *([1] * (v.dim() - 1))), v, torch.zeros_like(v))
    return out


def data(meta: DatasetMeta = META, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = {s.name: torch.randn(N, *s.shape, generator=g) for s in meta.modalities}
    natural = torch.rand(N, meta.n_modalities, generator=g) > 0.15  # some naturally missing
    if meta.task_type == "multilabel":
        y = (torch.rand(N, meta.n_classes, generator=g) < 0.4).float()
    else:
        y = torch.randint(0, meta.n_classes, (N,), generator=g)
    return x, natural, y


ALL_CONDITIONS = torch.tensor(list(itertools.product([False, True], repeat=3)))  # incl. the empty condition
FAST = [n for n in baseline_names() if getattr(create_baseline(n, META), "has_fast_path", False)]


@pytest.mark.parametrize("name", FAST)
def test_fast_path_equals_plain_path(name: str) -> None:
    seed_torch(0)
    model = create_baseline(name, META)
    x, natural, y = data()
    kw = {"fill": zero_fill, "batch_size": 16}
    fast = evaluate_conditions(model, x, natural, y, ALL_CONDITIONS, use_fast_path=True, max_rows=40, **kw)
    plain = evaluate_conditions(model, x, natural, y, ALL_CONDITIONS, use_fast_path=False, **kw)
    assert set(fast) == {"accuracy", "f1_weighted", "f1_macro"}
    for k in fast:
        assert fast[k].shape == (len(ALL_CONDITIONS),)
        np.testing.assert_allclose(fast[k], plain[k], atol=1e-6, rtol=0, err_msg=f"{name} {k}")


@pytest.mark.parametrize("name", ["late", "embracenet", "mulmix", "cmp"])
def test_fast_path_equals_plain_path_multilabel(name: str) -> None:
    meta = DatasetMeta("ml", META.modalities, tuple("abcd"), task_type="multilabel")
    seed_torch(1)
    model = create_baseline(name, meta)
    x, natural, y = data(meta, seed=1)
    fast = evaluate_conditions(model, x, natural, y, ALL_CONDITIONS, fill=zero_fill, batch_size=10)
    plain = evaluate_conditions(
        model, x, natural, y, ALL_CONDITIONS, fill=zero_fill, batch_size=10, use_fast_path=False
    )
    assert set(fast) == {"f1_micro", "f1_macro", "f1_weighted", "f1_samples"}
    for k in fast:
        np.testing.assert_allclose(fast[k], plain[k], atol=1e-6, rtol=0, err_msg=f"{name} {k}")


def _predict(model, x, avail, keys):
    with eval_mode(model), sample_keys(model, keys):
        return model(x, avail)


def test_metrics_equal_sklearn_on_the_models_predictions() -> None:
    seed_torch(2)
    model = create_baseline("intermediate", META)
    x, natural, y = data(seed=2)
    res, n_scored = evaluate_conditions(
        model, x, natural, y, ALL_CONDITIONS, fill=zero_fill, batch_size=8, return_counts=True
    )
    for k, cond in enumerate(ALL_CONDITIONS):
        avail = natural & cond
        pred = _predict(model, zero_fill(x, avail), avail, None).argmax(1).numpy()
        scored = avail.any(1).numpy()  # rows with no available modality are never scored
        assert n_scored[k] == scored.sum()
        if not scored.any():  # the empty condition: nothing scored, metrics 0
            assert res["accuracy"][k] == 0.0 and res["f1_weighted"][k] == 0.0
            continue
        yk, pk = y.numpy()[scored], pred[scored]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert res["f1_weighted"][k] == pytest.approx(f1_score(yk, pk, average="weighted", zero_division=0))
            assert res["f1_macro"][k] == pytest.approx(f1_score(yk, pk, average="macro", zero_division=0))
        assert res["accuracy"][k] == pytest.approx(accuracy_score(yk, pk))


def test_evaluate_batches_per_sample_masks() -> None:
    seed_torch(3)
    model = create_baseline("embracenet", META)
    x, _, y = data(seed=3)
    g = torch.Generator().manual_seed(3)
    avail = torch.rand(N, 3, generator=g) < 0.5  # random-missing: differs per sample
    batches = [({k: v[s : s + 10] for k, v in x.items()}, avail[s : s + 10], y[s : s + 10]) for s in range(0, N, 10)]
    got, n_scored = evaluate_batches(model, batches, fill=zero_fill, return_counts=True)
    pred = _predict(model, zero_fill(x, avail), avail, torch.arange(N)).argmax(1).numpy()
    scored = avail.any(1).numpy()
    assert 0 < scored.sum() < N and n_scored == scored.sum()  # rows with no modality are left out
    assert got["accuracy"] == pytest.approx(accuracy_score(y[scored], pred[scored]))
    assert got["f1_weighted"] == pytest.approx(f1_score(y[scored], pred[scored], average="weighted", zero_division=0))


def test_stochastic_model_is_independent_of_batch_size() -> None:
    seed_torch(4)
    model = create_baseline("embracenet", META, n_repeats=3)
    x, natural, y = data(seed=4)
    a = evaluate_conditions(model, x, natural, y, ALL_CONDITIONS, fill=zero_fill, batch_size=5)
    b = evaluate_conditions(model, x, natural, y, ALL_CONDITIONS, fill=zero_fill, batch_size=64, max_rows=10_000)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_fill_sees_the_condition_availability() -> None:
    seed_torch(5)
    model = create_baseline("early", META)  # no fast path: forward per condition
    x, natural, y = data(seed=5)
    seen: list[torch.Tensor] = []

    def spy(inputs, available):
        seen.append(available.clone())
        return zero_fill(inputs, available)

    conds = ALL_CONDITIONS[[3, 7]]
    evaluate_conditions(model, x, natural, y, conds, fill=spy, batch_size=N)
    assert len(seen) == 2
    for s, c in zip(seen, conds):
        assert torch.equal(s, natural & c)


def test_per_modality_scores_match_single_conditions() -> None:
    seed_torch(6)
    model = create_baseline("late", META)
    x, natural, y = data(seed=6)
    batches = [({k: v[s : s + 16] for k, v in x.items()}, natural[s : s + 16], y[s : s + 16]) for s in range(0, N, 16)]
    scores = per_modality_scores(model, batches)
    for m in range(3):
        cond = torch.zeros(1, 3, dtype=torch.bool)
        cond[0, m] = True
        single = evaluate_condition_batches(model, batches, cond)["f1_weighted"][0]
        assert scores[m] == pytest.approx(single)


def test_bad_inputs_are_clear_errors() -> None:
    model = create_baseline("intermediate", META)
    x, natural, y = data()
    with pytest.raises(ModalbenchError, match=r"bool tensor \[K, 3\]"):
        evaluate_conditions(model, x, natural, y, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ModalbenchError, match="sample count"):
        evaluate_conditions(model, x, natural[:5], y, ALL_CONDITIONS)
    bad = [({"acc": x["acc"], "cam": x["cam"]}, natural, y)]
    with pytest.raises(ModalbenchError, match="feat"):
        evaluate_condition_batches(model, bad, ALL_CONDITIONS)


@pytest.mark.parametrize("name", FAST)
def test_encode_is_per_modality(name: str) -> None:
    """The fast-path contract: modality m's features depend only on modality m's input (and not on other rows)."""
    seed_torch(7)
    model = create_baseline(name, META)
    x, _, _ = data(seed=7)
    with eval_mode(model):
        ref = model.encode(x)
        for j, name_j in enumerate(META.modality_names):
            changed = dict(x)
            changed[name_j] = x[name_j] + 3.0
            out = model.encode(changed)
            for m, name_m in enumerate(META.modality_names):
                if m != j:
                    torch.testing.assert_close(out[name_m], ref[name_m], rtol=0, atol=0)
        half = model.encode({k: v[:10] for k, v in x.items()})
        for k in half:
            torch.testing.assert_close(half[k], ref[k][:10], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fast", [True, False])
def test_rows_without_any_modality_and_ineligible_rows_are_not_scored(fast: bool) -> None:
    seed_torch(7)
    model = create_baseline("late", META)
    x, natural, y = data(seed=7)
    eligible = torch.arange(N) % 3 != 0
    res, n_scored = evaluate_conditions(
        model,
        x,
        natural,
        y,
        ALL_CONDITIONS,
        fill=zero_fill,
        batch_size=8,
        eligible=eligible,
        use_fast_path=fast,
        return_counts=True,
    )
    for k, cond in enumerate(ALL_CONDITIONS):
        keep = (natural & cond).any(1) & eligible
        assert n_scored[k] == int(keep.sum())
        if keep.any():
            sub, _ = evaluate_conditions(
                model,
                {m: v[keep] for m, v in x.items()},
                natural[keep],
                y[keep],
                cond.view(1, -1),
                fill=zero_fill,
                batch_size=8,
                return_counts=True,
            )
            assert res["accuracy"][k] == pytest.approx(sub["accuracy"][0])


def test_multilabel_counts_leave_out_rows_without_any_modality() -> None:
    meta = DatasetMeta("ml", META.modalities, tuple("abcd"), task_type="multilabel")
    seed_torch(8)
    model = create_baseline("late", meta)
    x, natural, y = data(meta, seed=8)
    cond = torch.tensor([[True, False, False]])
    res, n = evaluate_conditions(model, x, natural, y, cond, fill=zero_fill, batch_size=8, return_counts=True)
    keep = natural[:, 0]
    sub = evaluate_conditions(
        model, {m: v[keep] for m, v in x.items()}, natural[keep], y[keep], cond, fill=zero_fill, batch_size=8
    )
    assert n[0] == int(keep.sum()) < N
    for k in res:
        assert res[k][0] == pytest.approx(sub[k][0])


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.8])
def test_multilabel_threshold_equals_sklearn_on_thresholded_probabilities(threshold: float) -> None:
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(1, 40, 5, generator=gen) * 2
    target = torch.rand(40, 5, generator=gen) < 0.3
    target[:, 4] = False  # a class with no positives
    acc = ConditionAccumulator(1, 5, True, threshold)
    acc.add(0, logits, target)
    got = acc.result()
    pred = (torch.sigmoid(logits[0]) > threshold).numpy().astype(int)
    y = target.numpy().astype(int)
    for avg in ("micro", "macro", "weighted", "samples"):
        want = f1_score(y, pred, average=avg, zero_division=0)
        assert got[f"f1_{avg}"][0] == pytest.approx(want, abs=1e-12), avg


def test_multilabel_threshold_must_be_a_probability() -> None:
    assert multilabel_logit_threshold(0.5) == 0.0
    for bad in (0.0, 1.0, -0.1, 2):
        with pytest.raises(ModalbenchError, match=r"threshold must be in \(0, 1\)"):
            ConditionAccumulator(1, 3, True, bad)


# ---------------------------------------------------------------- two-class tasks: error rate and ROC AUC

BINARY_META = DatasetMeta("two", META.modalities, ("background", "signal"))


class RoundedScore(torch.nn.Module):
    """logit_1 − logit_0 = the rounded mean of the available modalities' first values: many tied scores."""

    def __init__(self) -> None:
        super().__init__()
        self.meta = BINARY_META

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        firsts = torch.stack([inputs[n].reshape(len(available), -1)[:, 0] for n in self.meta.modality_names], 1)
        score = torch.round(2 * (firsts * available).sum(1) / available.sum(1).clamp_min(1)) / 2
        return torch.stack([torch.zeros_like(score), score], 1)


def test_binary_task_reports_error_rate_and_roc_auc_equal_to_sklearn_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    x, natural, _ = data(BINARY_META, seed=11)
    y = (x["acc"][:, 0, 0] + 0.8 * torch.randn(N, generator=torch.Generator().manual_seed(3)) > 0).long()
    eligible = torch.arange(N) % 5 != 0
    conds = ALL_CONDITIONS[1:]  # every condition keeps a modality
    model = RoundedScore()
    res, n_scored = evaluate_conditions(
        model, x, natural, y, conds, fill=zero_fill, batch_size=8, eligible=eligible, return_counts=True
    )
    assert list(res) == ["accuracy", "error_rate", "roc_auc", "f1_weighted", "f1_macro"]
    for k, cond in enumerate(conds):
        avail = natural & cond
        keep = avail.any(1) & eligible
        logits = model(zero_fill(x, avail), avail)
        score = (logits[:, 1] - logits[:, 0])[keep].numpy()
        truth = y[keep].numpy()
        assert len(np.unique(score)) < len(score)  # ties are present
        assert n_scored[k] == keep.sum()
        assert res["roc_auc"][k] == pytest.approx(roc_auc_score(truth, score), abs=1e-12)
        assert res["accuracy"][k] == pytest.approx(accuracy_score(truth, (score > 0).astype(int)))
        assert res["error_rate"][k] == pytest.approx(1.0 - res["accuracy"][k])


def test_binary_fast_path_equals_plain_path_and_single_class_auc_is_an_error() -> None:
    seed_torch(5)
    model = create_baseline("late", BINARY_META)
    x, natural, y = data(BINARY_META, seed=5)
    fast = evaluate_conditions(model, x, natural, y, ALL_CONDITIONS[1:], fill=zero_fill, batch_size=8)
    plain = evaluate_conditions(
        model, x, natural, y, ALL_CONDITIONS[1:], fill=zero_fill, batch_size=8, use_fast_path=False
    )
    for k in fast:
        np.testing.assert_allclose(fast[k], plain[k], rtol=0, atol=1e-6)
    with pytest.raises(ModalbenchError, match=r"condition 0 .*ROC AUC is undefined"):
        evaluate_conditions(model, x, natural, torch.ones(N, dtype=torch.long), ALL_CONDITIONS[1:2], fill=zero_fill)
    # model selection needs no scores: a one-class validation set is fine there
    out = evaluate_batches(model, [(x, natural, torch.ones(N, dtype=torch.long))], fill=zero_fill, binary_scores=False)
    assert "roc_auc" not in out and out["accuracy"] >= 0.0
