"""Small hand-built stores in the documented layout (docs/store-format.md) for the scenario-engine tests.

They are written with xarray ``to_zarr`` plus a ``COMPLETE`` marker, so ``modalbench.store.open_store``
opens them like prepared stores (pass ``version="v1"``: these names are not registered datasets).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from modalbench import STORE_FORMATS, __version__
from modalbench.checksums import write_checksums
from modalbench.meta import SPLIT_CODES, SPLITS, ModalitySpec
from modalbench.paths import store_path
from modalbench.store import fingerprint, open_store, write_marker

VERSION = "v1"


def _write(root: Path, name: str, ds: xr.Dataset, attrs: dict[str, Any]) -> xr.Dataset:
    attrs = dict(attrs, store_format=STORE_FORMATS[attrs["structure"]], modalbench_version=__version__)
    attrs["fingerprint"] = fingerprint(attrs)
    ds.attrs = json.loads(json.dumps(attrs))
    path = store_path(Path(root), name, VERSION)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_zarr(path, mode="w", zarr_format=3, consolidated=False)
    write_marker(
        path.parent,
        dataset=name,
        version=VERSION,
        fingerprint=attrs["fingerprint"],
        params=attrs["params"],
        checksums_sha256=write_checksums(path.parent),
        run_id="test-helper",
    )
    return open_store(name, root=root, version=VERSION)


def _norm(names: Sequence[str], channels: int, means: Sequence[float] | None = None) -> dict[str, Any]:
    out = {}
    for j, n in enumerate(names):
        mu = [float(means[j]) if means else 0.1 * (j + 1) + 0.01 * c for c in range(channels)]
        out[n] = {
            "method": "minmax",
            "min": [-1.0] * channels,
            "max": [1.0] * channels,
            "mean": mu,
            "std": [1.0] * channels,
            "scaled_mean": mu,
        }
    return out


def make_series_store(
    root: Path,
    name: str = "toy-series",
    *,
    n_modalities: int = 3,
    channels: int = 2,
    window: int = 6,
    step: int = 3,
    recordings: Sequence[tuple[int, str]] = ((120, "train"), (90, "test"), (60, "val"), (150, "test"), (80, "train")),
    block: tuple[int, int] | None = (5, 12),
    seed: int = 0,
    unavailable: dict[int, Sequence[int]] | None = None,
    tag: str = "",
) -> xr.Dataset:
    """A windowed multimodal series store; ``recordings`` are (length, split) in recording-index order.

    ``unavailable`` maps a within-test-split sample position to modality indices marked not available.
    ``tag`` changes a parameter (and so the fingerprint) without changing the data layout.
    """
    rng = np.random.default_rng(seed)
    names = [f"s{j}" for j in range(n_modalities)]
    lengths = np.array([n for n, _ in recordings], dtype=np.int64)
    rec_split = np.array([SPLIT_CODES[s] for _, s in recordings], dtype=np.int8)
    starts = np.cumsum(lengths) - lengths
    t_total = int(lengths.sum())
    streams = {n: rng.normal(size=(t_total, channels)).astype(np.float32) for n in names}
    stream_label = rng.integers(0, 3, size=t_total).astype(np.int64)
    samples: list[tuple[int, int, int]] = []  # (split code, recording, offset), ordered by split, recording, offset
    for code in range(len(SPLITS)):
        for r in np.flatnonzero(rec_split == code):
            for off in range(0, int(lengths[r]) - window + 1, step):
                samples.append((code, int(r), off))
    split = np.array([s[0] for s in samples], dtype=np.int8)
    rec = np.array([s[1] for s in samples], dtype=np.int32)
    off = np.array([s[2] for s in samples], dtype=np.int64)
    pos = starts[rec][:, None] + off[:, None] + np.arange(window)
    available = np.ones((len(samples), n_modalities), dtype=bool)
    ranges = {
        s: [int(np.searchsorted(split, c, "left")), int(np.searchsorted(split, c, "right"))]
        for s, c in SPLIT_CODES.items()
    }
    for i, mods in (unavailable or {}).items():
        available[ranges["test"][0] + i, list(mods)] = False
    data: dict[str, Any] = {}
    for n in names:  # store format 2: windows are cut from the streams when read
        data[f"stream_{n}"] = (("step", f"{n}_channel"), streams[n])
    data.update(
        {
            "label": (("sample",), stream_label[pos[:, -1]]),
            "stream_label": (("step",), stream_label),
            "split": (("sample",), split),
            "available": (("sample", "modality"), available),
            "recording": (("sample",), rec),
            "offset": (("sample",), off),
            "recording_start": (("recordings",), starts),
            "recording_length": (("recordings",), lengths),
            "recording_split": (("recordings",), rec_split),
        }
    )
    ds = xr.Dataset(data)
    ds = ds.assign_coords({d: np.arange(s) for d, s in ds.sizes.items()})
    ds["split"].attrs["codes"] = dict(SPLIT_CODES)
    params: dict[str, Any] = {"window": {"length": window, "step": step}, "seed": seed, "tag": tag}
    if block is not None:
        params["block_missing"] = {"min": block[0], "max": block[1]}
    mods = [ModalitySpec(n, "series", (window, channels), tuple(f"{n}_c{c}" for c in range(channels))) for n in names]
    attrs = {
        "dataset": name,
        "version": VERSION,
        "description": "test fixture",
        "structure": "windowed",
        "task": "activity",
        "task_type": "multiclass",
        "classes": ["a", "b", "c"],
        "tasks": {"activity": {"variable": "label", "task_type": "multiclass", "classes": ["a", "b", "c"]}},
        "modalities": [m.to_dict() for m in mods],
        "source": {"urls": [], "files": []},
        "params": params,
        "normalisation": _norm(names, channels),
        "split_ranges": ranges,
        "n_samples": {s: r[1] - r[0] for s, r in ranges.items()},
        "n_recordings": len(recordings),
    }
    return _write(root, name, ds, attrs)


def make_image_store(
    root: Path,
    name: str = "toy-images",
    *,
    n_modalities: int = 2,
    counts: tuple[int, int, int] = (30, 10, 40),
    unavailable_rate: float = 0.0,
    seed: int = 0,
) -> xr.Dataset:
    """An image store (no recordings) with ``counts`` train/val/test samples."""
    rng = np.random.default_rng(seed)
    names = [f"v{j}" for j in range(n_modalities)]
    n = sum(counts)
    split = np.repeat(np.arange(3, dtype=np.int8), counts)
    available = rng.random((n, n_modalities)) >= unavailable_rate
    available[~available.any(axis=1), 0] = True
    data: dict[str, Any] = {
        n_: (("sample", f"{n_}_channel", f"{n_}_height", f"{n_}_width"), rng.random((n, 1, 4, 4)).astype(np.float32))
        for n_ in names
    }
    data.update(
        {
            "label": (("sample",), rng.integers(0, 2, n).astype(np.int64)),
            "split": (("sample",), split),
            "available": (("sample", "modality"), available),
        }
    )
    ds = xr.Dataset(data)
    ds = ds.assign_coords({d: np.arange(s) for d, s in ds.sizes.items()})
    starts = np.cumsum((0,) + counts)
    ranges = {s: [int(starts[i]), int(starts[i + 1])] for i, s in enumerate(SPLITS)}
    mods = [ModalitySpec(n_, "image", (1, 4, 4), ("grey",)) for n_ in names]
    attrs = {
        "dataset": name,
        "version": VERSION,
        "description": "test fixture",
        "structure": "samples",
        "task": "t",
        "task_type": "multiclass",
        "classes": ["x", "y"],
        "tasks": {"t": {"variable": "label", "task_type": "multiclass", "classes": ["x", "y"]}},
        "modalities": [m.to_dict() for m in mods],
        "source": {"urls": [], "files": []},
        "params": {"seed": seed},
        "normalisation": _norm(names, 1),
        "split_ranges": ranges,
        "n_samples": dict(zip(SPLITS, counts)),
    }
    return _write(root, name, ds, attrs)
