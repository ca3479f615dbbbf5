"""Imputation fills: knn and regress fitted on complete training samples, linear interpolation in time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modalbench.errors import ModalbenchError
from modalbench.scenarios.fill import fill
from modalbench.scenarios.imputers import fill_params, fit_imputer, interpolate_series

NAMES = ["a", "b"]
MEANS = {"a": np.zeros(1, np.float32), "b": np.zeros(1, np.float32)}


def _train(n: int = 300, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 1, 2, 2)).astype(np.float32)
    b = (2 * a + 0.01 * rng.normal(size=a.shape)).astype(np.float32)  # b is a linear function of a
    return {"a": a, "b": b}, np.ones((n, 2), dtype=bool)


def test_regress_recovers_a_linear_relation() -> None:
    train, avail = _train()
    imp = fit_imputer("regress", NAMES, train, avail, {"alpha": 1e-3})
    x = {"a": np.full((3, 1, 2, 2), 0.5, np.float32), "b": np.full((3, 1, 2, 2), 9.0, np.float32)}
    out = fill(x, np.array([[True, False]] * 3), "regress", means=MEANS, modalities=NAMES, imputer=imp)
    assert np.allclose(out["b"], 1.0, atol=0.05) and np.array_equal(out["a"], x["a"])


def test_knn_averages_the_nearest_training_samples() -> None:
    train = {
        "a": np.arange(10, dtype=np.float32).reshape(10, 1),
        "b": 10 * np.arange(10, dtype=np.float32).reshape(10, 1),
    }
    imp = fit_imputer("knn", NAMES, train, np.ones((10, 2), bool), {"k": 3})
    x = {"a": np.array([[4.2], [0.0]], np.float32), "b": np.array([[0.0], [7.0]], np.float32)}
    out = fill(x, np.array([[True, False], [False, True]]), "knn", means=MEANS, modalities=NAMES, imputer=imp)
    assert out["b"][0, 0] == pytest.approx(40.0)  # neighbours a = 3, 4, 5
    assert out["a"][1, 0] == pytest.approx(1.0)  # b = 7 is closest to 0, 10 (and 20): a = 0, 1, 2


def test_fitted_fill_skips_incomplete_training_samples_and_keeps_torch() -> None:
    train, avail = _train(50)
    avail[:10, 1] = False
    train["a"][10, 0, 0, 0] = np.nan
    imp = fit_imputer("knn", NAMES, train, avail)
    assert imp.describe() == {"name": "knn", "version": "v1", "params": {"k": 5}, "n_fit": 39}
    x = {n: torch.zeros(2, 1, 2, 2) for n in NAMES}
    out = fill(x, torch.tensor([[True, False], [False, False]]), "knn", means=MEANS, modalities=NAMES, imputer=imp)
    assert isinstance(out["b"], torch.Tensor) and torch.equal(out["a"][1], torch.zeros(1, 2, 2))


def test_fitted_fill_needs_its_imputer_and_valid_params() -> None:
    with pytest.raises(ModalbenchError, match="needs an imputer fitted on the training split"):
        fill({"a": np.zeros((1, 2), np.float32)}, np.ones((1, 1), bool), "knn", means={"a": np.zeros(2)})
    with pytest.raises(ModalbenchError, match="fill knn: parameter .k.: expected an integer >= 1, got 0"):
        fill_params("knn", {"k": 0})
    with pytest.raises(ModalbenchError, match="unknown parameter"):
        fill_params("regress", {"k": 3})
    train, avail = _train(5)
    avail[:, 0] = False
    with pytest.raises(ModalbenchError, match="no sample with every modality present"):
        fit_imputer("regress", NAMES, train, avail)
    with pytest.raises(ModalbenchError, match="fill knn: k=6 exceeds the 5 complete training samples"):
        fit_imputer("knn", NAMES, *_train(5), {"k": 6})  # results record k as used: never fewer neighbours
    assert fit_imputer("knn", NAMES, *_train(5), {"k": 5}).describe()["params"] == {"k": 5}


def test_interpolate_series_linear_and_edges() -> None:
    x = np.array([[[0.0], [9.0], [9.0], [3.0], [9.0]]], np.float32)
    miss = np.array([[[True], [False], [True], [False], [True]]])
    out = interpolate_series(x, miss, np.array([[[7.0]]], np.float32))
    assert out[0, :, 0].tolist() == [9.0, 9.0, 6.0, 3.0, 3.0]
    none = interpolate_series(x, np.ones_like(miss), np.array([[[7.0]]], np.float32))
    assert (none == 7.0).all()


def test_interpolate_fill_on_series_with_timestep_mask() -> None:
    x = {"s": np.tile(np.arange(6, dtype=np.float32)[None, :, None], (2, 1, 2))}
    tsm = np.ones((2, 6, 1), bool)
    tsm[0, 2:4, 0] = False
    x["s"][0, 2:4] = 100.0
    out = fill(
        x, np.ones((2, 1), bool), "interpolate", means={"s": np.zeros(2)}, timestep_mask=tsm, kinds={"s": "series"}
    )
    assert np.allclose(out["s"][0, :, 0], np.arange(6)) and np.array_equal(out["s"][1], x["s"][1])
