"""``synthetic``: seeded multimodal time series for tests and benchmarks (always labelled synthetic).

Continuous labelled recordings go through the same scaling and windowing pipeline as a real
time-series dataset. Each recording is a sequence of activity segments (class ``y``, length 2–10 s);
modality ``m`` channel ``c`` at time ``t`` is

    x[t, m, c] = mu[y, m, c] + A[y, m, c] * sin(2π f[y] t / rate + φ[m, c]) + ρ z[t] + sqrt(1 − ρ²) ε[t, m, c]

with a latent ``z`` shared by all modalities (``correlation`` ρ) and unit noise ε, so every modality carries
some class information and modalities are correlated. NaN runs of 10 steps drop whole modalities with
overall rate ``nan_rate``. Defaults are small; ``--set`` parameters reach OPPORTUNITY scale
(19 modalities, 113 channels, 30 Hz, ~700k steps).
"""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np

from modalbench.datasets import DatasetBuilder, PrepareContext, TaskInfo, register_dataset
from modalbench.errors import ModalbenchError
from modalbench.meta import ModalitySpec
from modalbench.preprocess.types import Recording

NAN_RUN = 10


def channel_counts(params: dict[str, Any]) -> list[int]:
    """Channels per modality: an int for all, or a list with one entry per modality."""
    ch = params["channels"]
    m = int(params["modalities"])
    if isinstance(ch, int):
        return [ch] * m
    if len(ch) != m:
        raise ModalbenchError(f"synthetic: 'channels' has {len(ch)} entries, expected one per modality ({m})")
    return [int(c) for c in ch]


def recording_splits(n: int, ratios: list[float]) -> list[str]:
    """Assign recordings to train/val/test by ratio, at least one each when ``n >= 3``."""
    r = np.asarray(ratios, float) / float(sum(ratios))
    n_val = max(1, int(round(r[1] * n))) if n >= 3 else 0
    n_test = max(1, int(round(r[2] * n))) if n >= 3 else 0
    n_train = n - n_val - n_test
    return ["train"] * n_train + ["val"] * n_val + ["test"] * n_test


def generate_recording(params: dict[str, Any], index: int) -> dict[str, np.ndarray]:
    """All streams and labels of recording ``index`` (deterministic in ``seed`` and ``index``)."""
    counts = channel_counts(params)
    n_classes = int(params["classes"])
    length = int(params["length"])
    rate = float(params["rate_hz"])
    rho = float(params["correlation"])
    # class-level constants are shared by every recording; per-recording draws use their own stream
    const = np.random.Generator(np.random.PCG64([int(params["seed"]), 0]))
    rng = np.random.Generator(np.random.PCG64([int(params["seed"]), 1, index]))
    total_c = sum(counts)
    mu = const.normal(0.0, float(params["separation"]), size=(n_classes, total_c))
    amp = const.uniform(0.2, 1.0, size=(n_classes, total_c))
    freq = const.uniform(0.2, 2.0, size=n_classes)
    phase = const.uniform(0, 2 * np.pi, size=total_c)

    labels = np.empty(length, dtype=np.int64)
    t = 0
    while t < length:
        seg = int(rng.integers(int(2 * rate), int(10 * rate) + 1))
        labels[t : t + seg] = rng.integers(n_classes)
        t += seg
    z = np.cumsum(rng.normal(0, 0.3, size=length))
    z = (z - z.mean()) / (z.std() + 1e-9)
    time = np.arange(length) / rate
    x = (mu[labels] + amp[labels] * np.sin(2 * np.pi * freq[labels][:, None] * time[:, None] + phase)).astype(
        np.float32
    )
    x += (rho * z[:, None] + np.sqrt(1 - rho**2) * rng.normal(size=(length, total_c))).astype(np.float32)

    out: dict[str, np.ndarray] = {"__labels__": labels}
    start = 0
    nan_rate = float(params["nan_rate"])
    for m, c in enumerate(counts):
        block = x[:, start : start + c]
        start += c
        if nan_rate > 0:
            n_runs = int(round(nan_rate * length / NAN_RUN))
            for s in rng.integers(0, max(1, length - NAN_RUN), size=n_runs):
                block[s : s + NAN_RUN] = np.nan
        out[f"m{m}"] = np.ascontiguousarray(block)
    return out


@register_dataset
class Synthetic(DatasetBuilder):
    name = "synthetic"
    version = "v1"
    description = "SYNTHETIC seeded multimodal time series (for tests and benchmarks; not real data)"
    license = "CC0 (generated)"
    homepage = ""
    citation = "modalbench synthetic generator"
    structure = "windowed"
    synthetic = True

    def default_params(self) -> dict[str, Any]:
        return {
            "modalities": 8,
            "channels": 3,
            "recordings": 6,
            "length": 1800,
            "rate_hz": 30.0,
            "classes": 4,
            "correlation": 0.5,
            "separation": 0.8,
            "nan_rate": 0.01,
            "seed": 0,
            "split_ratios": [4, 1, 1],
            "window": {"length": 15, "step": {"train": 4, "val": 8, "test": 8}, "label_rule": "last"},
            "scaling": {"method": "minmax", "range": [-1.0, 1.0], "clip": True},
            "block_missing": {"min": 30, "max": 90},
        }

    def modalities(self, params: dict[str, Any]) -> list[ModalitySpec]:
        length = int(params["window"]["length"])
        return [
            ModalitySpec(f"m{m}", "series", (length, c), tuple(f"m{m}_c{i}" for i in range(c)))
            for m, c in enumerate(channel_counts(params))
        ]

    def tasks(self, params: dict[str, Any]) -> list[TaskInfo]:
        return [TaskInfo("activity", "multiclass", tuple(f"class{k}" for k in range(int(params["classes"]))))]

    def source_info(self) -> dict[str, Any]:
        info = super().source_info()
        info["verification"] = "generated"
        return info

    def block_missing_lengths(self, params: dict[str, Any]) -> tuple[int, int]:
        return int(params["block_missing"]["min"]), int(params["block_missing"]["max"])

    def load(self, params: dict[str, Any], ctx: PrepareContext) -> list[Recording]:
        counts = channel_counts(params)
        length = int(params["length"])
        if length < int(params["window"]["length"]):
            raise ModalbenchError(f"synthetic: 'length' {length} is shorter than the window length")
        recs = []
        for i, split in enumerate(recording_splits(int(params["recordings"]), params["split_ratios"])):
            parts = dask.delayed(generate_recording, pure=True, nout=None)(params, i)
            streams = {
                f"m{m}": da.from_delayed(parts[f"m{m}"], shape=(length, c), dtype=np.float32)
                for m, c in enumerate(counts)
            }
            labels = {"activity": da.from_delayed(parts["__labels__"], shape=(length,), dtype=np.int64)}
            recs.append(Recording(id=f"rec{i:03d}", split=split, streams=streams, labels=labels, meta={"index": i}))
        return recs
