"""``noisy-modality@v1``: additive Gaussian noise at a given signal-to-noise ratio (MultiBench-style robustness).

Liang et al., "MultiBench: Multiscale Benchmarks for Multimodal Representation Learning", NeurIPS Datasets and
Benchmarks 2021 (robustness to noisy modalities). Conditions, in this order: ``noise-<m>-snr<s>`` for each modality m
(store order) and each SNR s in ``snrs`` (dB, default 20, 10, 5, 0, -5), then ``noise-all-snr<s>`` (every modality
at once). Every modality stays available.

Noise: ``x + sigma * z`` with ``z`` standard normal (float32, :func:`.elements.standard_normal`) drawn from
``PCG64([seed, 4, c, j])`` for condition c and modality j, and ``sigma = sqrt(P / 10**(s / 10))`` per sample, ``P``
the sample's mean squared value of that modality in the store's scaled units (its natural NaNs ignored; a sample
with ``P = 0`` gets no noise). Only ``z`` depends on the seed: it is regenerated at read time and checked against
each condition's ``elements_sha256``, so the same seed gives the same noise on every machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modalbench.errors import ModalbenchError

from .base import SplitView, register_scenario
from .elements import NOISE_TAG, ElementArrays, ElementFamily, sample_axes, standard_normal
from .rng import make_rng

DEFAULT_SNRS = [20, 10, 5, 0, -5]


def snr_label(snr: float) -> str:
    value = float(snr)
    text = str(int(value)) if value.is_integer() else f"{value:g}"
    return f"snr{text}"


def add_noise(x: np.ndarray, z: np.ndarray, snr_db: float) -> np.ndarray:
    """``x + sigma * z`` with per-sample ``sigma = sqrt(mean(x**2) / 10**(snr_db / 10))`` (NaNs ignored, stay NaN)."""
    axes = sample_axes(x)
    x64 = x.astype(np.float64)
    finite = ~np.isnan(x64)
    count = finite.sum(axis=axes, keepdims=True)
    power = np.where(finite, x64 * x64, 0.0).sum(axis=axes, keepdims=True) / np.maximum(count, 1)
    sigma = np.sqrt(power / 10.0 ** (float(snr_db) / 10.0))
    return (x64 + sigma * z).astype(x.dtype)


@register_scenario
class NoisyModality(ElementFamily):
    family = "noisy-modality"
    version = "v1"
    description = "additive Gaussian noise at SNR s dB on one modality at a time, then on all"
    reference = "Liang et al., MultiBench, NeurIPS Datasets and Benchmarks 2021 (robustness to noisy modalities)"
    applies_to = (
        "every dataset whose modalities record a per-sample shape (series windows, images, spectrograms, vectors)"
    )
    #: fill the evaluator uses for natural gaps unless the user passes one: the training mean
    protocol_fill = "mean"
    rule = (
        "z ~ N(0, 1) float32 by Box-Muller on the raw stream of PCG64([seed, 4, c, j]); "
        "x + sqrt(mean(x^2) / 10^(snr/10)) * z per sample"
    )

    def default_params(self, ds: Any) -> dict[str, Any]:
        return {"snrs": list(DEFAULT_SNRS), "per_modality": True}

    def validate_params(self, params: dict[str, Any]) -> None:
        snrs = params["snrs"]
        if not isinstance(snrs, (list, tuple)) or not snrs:
            raise ModalbenchError(f"{self.id} parameter snrs must be a non-empty list of numbers (dB), got {snrs!r}")
        for s in snrs:
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not np.isfinite(s) or abs(s) > 200:
                raise ModalbenchError(f"{self.id} parameter snrs: {s!r} is not a number of dB in [-200, 200]")
        if len({float(s) for s in snrs}) != len(snrs):
            raise ModalbenchError(f"{self.id} parameter snrs has duplicates: {snrs!r}")
        params["snrs"] = [int(s) if float(s).is_integer() else round(float(s), 6) for s in snrs]
        if not isinstance(params["per_modality"], bool):
            raise ModalbenchError(f"{self.id} parameter per_modality must be true or false")

    def condition_specs(self, view: SplitView, params: dict[str, Any]) -> list[tuple[dict[str, Any], np.ndarray]]:
        m = len(view.modalities)
        # token ids (a vocabulary) are not values: noise on them would be other words, so they are left clean
        tokens = {d["name"] for d in view.ds.attrs.get("modalities", []) if d.get("vocab_size")}
        noisy = [j for j, name in enumerate(view.modalities) if name not in tokens]
        if not noisy:
            raise ModalbenchError(f"{self.id}: every modality holds token ids; Gaussian noise applies to values")
        every = "every modality" if not tokens else f"every modality but the token ids ({', '.join(sorted(tokens))})"
        targets: list[tuple[str, list[int]]] = []
        if params["per_modality"] and m > 1:
            targets += [(view.modalities[j], [j]) for j in noisy]
        targets.append(("all", noisy))
        out = []
        for label, mods in targets:
            for s in params["snrs"]:
                which = every if label == "all" else label
                cond = {
                    "id": f"noise-{label}-{snr_label(s)}",
                    "description": f"Gaussian noise at {s} dB SNR on {which}",
                    "modality": None if label == "all" else label,
                    "noisy_modalities": mods,
                    "snr_db": s,
                    "n_available": m,
                    "missing_rate": 0.0,
                }
                out.append((cond, np.ones(m, dtype=bool)))
        return out

    def regenerate_condition(
        self,
        *,
        seed: int,
        index: int,
        condition: Mapping[str, Any],
        n_samples: int,
        shapes: Sequence[Sequence[int]],
        kinds: Sequence[str],
        params: Mapping[str, Any],
    ) -> ElementArrays:
        arrays: ElementArrays = [None] * len(shapes)
        for j in condition["noisy_modalities"]:
            shape = tuple(int(s) for s in shapes[j])
            z = standard_normal(make_rng(seed, NOISE_TAG, index, j), n_samples * int(np.prod(shape)))
            arrays[j] = z.reshape(n_samples, *shape)
        return arrays

    def apply(
        self,
        inputs: Mapping[str, np.ndarray],
        names: Sequence[str],
        arrays: ElementArrays,
        *,
        condition: Mapping[str, Any],
        params: Mapping[str, Any],
    ) -> dict[str, np.ndarray]:
        out = dict(inputs)
        for name, z in zip(names, arrays):
            if z is None:
                continue
            if z.shape != inputs[name].shape:
                raise ModalbenchError(
                    f"{self.id}: noise of {name!r} has shape {z.shape}, the inputs {inputs[name].shape}"
                )
            out[name] = add_noise(inputs[name], z, float(condition["snr_db"]))
        return out
