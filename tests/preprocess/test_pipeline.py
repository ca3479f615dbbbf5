"""The sample-store write (several zarr chunks per dask task, same bytes) and deferred provenance (computed in the
statistics pass, recorded in the store's attributes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest

from modalbench.datasets import DatasetBuilder, PrepareContext, TaskInfo
from modalbench.meta import ModalitySpec
from modalbench.preprocess import pipeline
from modalbench.preprocess.pipeline import build_dataset, compute_stats, encoding_for, prepare
from modalbench.preprocess.types import SampleSplit

SIZES = {"train": 200, "val": 50, "test": 70}


class Vectors(DatasetBuilder):
    """Seeded 64-d vectors, a few rows all NaN (unavailable); their count is deferred provenance."""

    name = "vectors"
    structure = "samples"

    def default_params(self) -> dict[str, Any]:
        return {"scaling": {"method": "standard", "range": [0.0, 1.0], "clip": False}}

    def modalities(self, params: dict[str, Any]) -> list[ModalitySpec]:
        return [ModalitySpec("a", "vector", (64,)), ModalitySpec("b", "vector", (8,))]

    def tasks(self, params: dict[str, Any]) -> list[TaskInfo]:
        return [TaskInfo("y", "multiclass", ("no", "yes"))]

    def load(self, params: dict[str, Any], ctx: PrepareContext) -> list[SampleSplit]:
        out = []
        for k, (split, n) in enumerate(SIZES.items()):
            rng = np.random.default_rng(k)
            a = rng.normal(size=(n, 64)).astype(np.float32)
            a[::9] = np.nan
            x = da.from_array(a, chunks=33)
            present = ~da.isnan(x).all(axis=1)
            ctx.deferred_provenance.setdefault("missing_a", {})[split] = (~present).sum()
            out.append(
                SampleSplit(
                    split=split,
                    inputs={"a": x, "b": da.from_array(rng.normal(size=(n, 8)).astype(np.float32), chunks=33)},
                    labels={"y": da.from_array(rng.integers(0, 2, n).astype(np.int64), chunks=33)},
                    available=da.stack([present, da.ones(n, dtype=bool, chunks=33)], axis=1),
                )
            )
        return out


@pytest.fixture()
def small_chunks(monkeypatch):
    """2 KB zarr chunks: 8 rows of the 64-d modality."""
    monkeypatch.setattr(pipeline, "TARGET_CHUNK_BYTES", 2048)
    b = Vectors()
    monkeypatch.setattr(pipeline, "get_dataset", lambda name: b)
    return b


def test_write_tasks_hold_several_zarr_chunks(small_chunks, tmp_path: Path):
    b = small_chunks
    params = b.default_params()
    ctx = PrepareContext(root=str(tmp_path))
    items = b.load(params, ctx)
    ds = build_dataset(b, params, items, compute_stats(b, params, items, ctx), ctx)
    enc = encoding_for(ds)
    for var in ("a", "b", "label", "available", "split"):
        assert enc[var]["chunks"][0] == 8, var  # zarr chunks: sample_chunk_rows
        assert ds[var].chunks[0][0] == 8 * pipeline.WRITE_TASK_CHUNKS, var  # dask chunks: whole multiples


def test_write_task_size_does_not_change_the_stored_bytes(small_chunks, tmp_path: Path, monkeypatch):
    many = prepare("vectors", root=tmp_path / "many", progress=False)
    monkeypatch.setattr(pipeline, "WRITE_TASK_CHUNKS", 1)
    one = prepare("vectors", root=tmp_path / "one", progress=False)
    assert many.attrs["fingerprint"] == one.attrs["fingerprint"]
    sums = [(r / "vectors" / "v1" / "checksums.json").read_bytes() for r in (tmp_path / "many", tmp_path / "one")]
    assert sums[0] == sums[1]
    assert len(list((many.path / "a" / "c").iterdir())) == -(-sum(SIZES.values()) // 8)


def test_deferred_provenance_is_computed_with_the_statistics(small_chunks, tmp_path: Path):
    res = prepare("vectors", root=tmp_path, progress=False)
    assert res.attrs["source"]["provenance"]["missing_a"] == {"train": 23, "val": 6, "test": 8}
    assert type(res.attrs["source"]["provenance"]["missing_a"]["train"]) is int


def test_plain_values_turns_numpy_into_json_types():
    out = pipeline.plain_values({"a": np.int64(3), "b": (np.float32(0.5), np.arange(2)), "c": "x"})
    assert out == {"a": 3, "b": [0.5, [0, 1]], "c": "x"}
    assert type(out["a"]) is int and type(out["b"][1][0]) is int
