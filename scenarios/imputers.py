"""Imputation fills fitted on the training split: ``knn`` and ``regress`` (versioned, parameterised).

* ``knn@v1`` (``k`` = 5): a sample's missing modalities are the mean of those modalities over its ``k`` nearest
  complete training samples, the distance (Euclidean, scikit-learn ``NearestNeighbors``, brute force) measured on the
  modalities the sample has;
* ``regress@v1`` (``alpha`` = 1.0): per missing modality, a ridge regression (scikit-learn ``Ridge``) from the
  concatenated available modalities to that modality, fitted on the complete training samples.

Both see whole modalities: they act per *availability pattern* (the set of present modalities), one fitted model per
pattern, cached. Natural NaNs inside a present modality get the training mean first; samples with no modality at all
keep the mean (they are never scored). Fitted on at most ``max_fit_samples`` complete training samples (a seeded
subsample beyond that). A filled modality depends on which other modalities are present, so the evaluator's fast path
(which fills each modality independently) is not exact for them: evaluation runs them on the plain path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modalbench.errors import ModalbenchError
from modalbench.fills import FILL_VERSIONS, fill_defaults, resolve_fill_params

#: the fills that need a model fitted on the training split, with their version and default parameters
FITTED_FILLS: dict[str, tuple[str, dict[str, Any]]] = {
    name: (FILL_VERSIONS[name], fill_defaults(name)) for name in ("knn", "regress")
}
MAX_FIT_SAMPLES = 20_000


def fill_params(strategy: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Default parameters of a fitted fill overridden by ``params`` (typed, see :mod:`modalbench.fills`); unknown
    names or bad values are one line."""
    if strategy not in FITTED_FILLS:
        raise ModalbenchError(f"fill {strategy!r} takes no fitted parameters (fitted fills: {', '.join(FITTED_FILLS)})")
    return resolve_fill_params(strategy, params)


@dataclass
class Imputer:
    """A ``knn`` or ``regress`` fill fitted on complete training samples (flattened per modality)."""

    strategy: str
    names: list[str]
    train: dict[str, np.ndarray]  # modality -> (n_fit, F_m) float32
    params: dict[str, Any]
    _models: dict[tuple[bool, ...], Any] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> str:
        return FITTED_FILLS[self.strategy][0]

    def describe(self) -> dict[str, Any]:
        """What results record: name, version, parameters and the number of training samples fitted on."""
        n_fit = len(next(iter(self.train.values()))) if self.train else 0
        return {"name": self.strategy, "version": self.version, "params": dict(self.params), "n_fit": n_fit}

    def _model(self, pattern: tuple[bool, ...]) -> Any:
        if pattern not in self._models:
            x = np.concatenate([self.train[n] for n, p in zip(self.names, pattern) if p], axis=1)
            if self.strategy == "knn":
                from sklearn.neighbors import NearestNeighbors

                k = min(int(self.params["k"]), len(x))
                self._models[pattern] = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(x)
            else:
                from sklearn.linear_model import Ridge

                y = np.concatenate([self.train[n] for n, p in zip(self.names, pattern) if not p], axis=1)
                self._models[pattern] = Ridge(alpha=float(self.params["alpha"])).fit(x, y)
        return self._models[pattern]

    def impute(self, inputs: Mapping[str, np.ndarray], available: np.ndarray) -> dict[str, np.ndarray]:
        """``inputs`` (numpy, already mean-filled) with the missing modalities of every sample that has at least one
        modality replaced by the imputed values."""
        out = {n: np.array(inputs[n], copy=True) for n in self.names}
        avail = np.asarray(available, dtype=bool)
        patterns = np.unique(avail, axis=0)
        for row in patterns:
            pattern = tuple(bool(v) for v in row)
            if all(pattern) or not any(pattern):
                continue
            rows = np.flatnonzero((avail == row).all(axis=1))
            x = np.concatenate(
                [out[n][rows].reshape(len(rows), -1) for n, p in zip(self.names, pattern) if p], axis=1
            ).astype(np.float32)
            model = self._model(pattern)
            missing = [n for n, p in zip(self.names, pattern) if not p]
            if self.strategy == "knn":
                idx = model.kneighbors(x, return_distance=False)
                for n in missing:
                    out[n][rows] = self.train[n][idx].mean(axis=1).reshape(len(rows), *out[n].shape[1:])
            else:
                pred = model.predict(x)
                start = 0
                for n in missing:
                    width = self.train[n].shape[1]
                    out[n][rows] = pred[:, start : start + width].reshape(len(rows), *out[n].shape[1:])
                    start += width
        return out


def fit_imputer(
    strategy: str,
    names: Sequence[str],
    train_inputs: Mapping[str, np.ndarray],
    train_available: np.ndarray,
    params: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    max_fit_samples: int = MAX_FIT_SAMPLES,
) -> Imputer:
    """Fit ``knn`` or ``regress`` on the complete training samples (every modality present, no NaN)."""
    full = fill_params(strategy, params)
    avail = np.asarray(train_available, dtype=bool)
    complete = avail.all(axis=1)
    for n in names:
        x = np.asarray(train_inputs[n])
        complete &= ~np.isnan(x.reshape(len(x), -1)).any(axis=1)
    rows = np.flatnonzero(complete)
    if rows.size == 0:
        raise ModalbenchError(f"fill {strategy}: the training split has no sample with every modality present")
    if rows.size > max_fit_samples:
        rng = np.random.Generator(np.random.PCG64([int(seed), 6]))
        rows = np.sort(rng.choice(rows, size=max_fit_samples, replace=False))
    if strategy == "knn" and full["k"] > rows.size:  # results record k as used: never silently fewer neighbours
        raise ModalbenchError(
            f"fill knn: k={full['k']} exceeds the {rows.size} complete training samples it is fitted on; "
            f"use k <= {rows.size}"
        )
    train = {n: np.asarray(train_inputs[n])[rows].reshape(rows.size, -1).astype(np.float32) for n in names}
    return Imputer(strategy, list(names), train, full)


def interpolate_series(x: np.ndarray, missing: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Linear interpolation along time of ``(B, L, C)`` over ``missing`` positions; before the first / after the
    last observed value the nearest observed value; a channel with no observed value gets ``fallback``."""
    steps = x.shape[1]
    t = np.arange(steps).reshape(1, steps, 1)
    prev = np.maximum.accumulate(np.where(~missing, t, -1), axis=1)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(~missing, t, steps), axis=1), axis=1), axis=1)
    xp = np.take_along_axis(x, np.clip(prev, 0, steps - 1), axis=1)
    xn = np.take_along_axis(x, np.clip(nxt, 0, steps - 1), axis=1)
    has_prev, has_next = prev >= 0, nxt < steps
    span = np.maximum(nxt - prev, 1)
    w = ((t - prev) / span).astype(x.dtype)
    both = xp + w * (xn - xp)
    out = np.where(has_prev & has_next, both, np.where(has_prev, xp, np.where(has_next, xn, fallback)))
    return np.where(missing, out, x).astype(x.dtype)
