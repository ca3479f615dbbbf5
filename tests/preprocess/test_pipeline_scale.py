"""The windowed prepare pipeline scales with the number of recordings: O(groups) dask tasks, same values.

A tiny in-test builder makes thousands of short lazy recordings the way the gas-sensor loader does (a few delayed
batches, one direct ``getitem`` task per recording and modality). The pipeline must add far fewer tasks than there
are recordings, and its windows, streams, availability, labels and train statistics must equal a plain numpy
reference. ``MODALBENCH_SCALE_BENCH=1`` additionally times a gas-sensor-shaped dataset (18,000 recordings of
260 steps x 8 modalities x 9 channels); it only prints figures.
"""

from __future__ import annotations

import itertools
import operator
import os
import time
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from dask.highlevelgraph import HighLevelGraph

from modalbench.datasets import DatasetBuilder, PrepareContext, TaskInfo
from modalbench.errors import ModalbenchError
from modalbench.meta import SPLIT_CODES, ModalitySpec
from modalbench.preprocess import pipeline
from modalbench.preprocess.normalise import affine
from modalbench.preprocess.pipeline import build_dataset, compute_stats, prepare
from modalbench.preprocess.types import Recording
from modalbench.store import with_window_variables

SPLIT_CYCLE = ("train", "val", "train", "test", "train")


def make_batch(seed: int, batch: int, n: int, steps: int, channels: int) -> np.ndarray:
    """``(n, steps, channels)`` float32 values of one batch; some NaN values and NaN blocks (seeded)."""
    rng = np.random.Generator(np.random.PCG64([seed, batch]))
    t = np.arange(steps, dtype=np.float32)[None, :, None]
    x = (
        np.sin(t / 5.0 + rng.uniform(0, 6, size=(n, 1, channels))) * rng.uniform(0.5, 3, size=(n, 1, channels))
        + rng.normal(0, 0.1, size=(n, steps, channels))
    ).astype(np.float32)
    x[rng.random(size=x.shape) < 0.01] = np.nan
    for r in range(0, n, 7):  # a modality block missing long enough to make some windows unavailable
        x[r, 5:25, : channels // 2] = np.nan
    return x


class ManyRecordings(DatasetBuilder):
    """``n`` lazy recordings of ``steps`` x ``modalities`` x ``channels``, built from delayed batches."""

    name = "many-recordings"
    structure = "windowed"

    def __init__(
        self,
        n: int = 3000,
        steps: int = 40,
        modalities: int = 2,
        channels: int = 3,
        batch: int = 500,
        window: int = 8,
        seed: int = 0,
    ) -> None:
        self.n, self.steps, self.m, self.c, self.batch, self.window, self.seed = (
            n,
            steps,
            modalities,
            channels,
            batch,
            window,
            seed,
        )

    def default_params(self) -> dict[str, Any]:
        return {
            "window": {"length": self.window, "step": {"train": 1, "val": 4, "test": 3}, "label_rule": "last"},
            "scaling": {"method": "minmax", "range": [-1.0, 1.0], "clip": True},
        }

    def modalities(self, params: dict[str, Any]) -> list[ModalitySpec]:
        ch = tuple(f"c{k}" for k in range(self.c))
        return [ModalitySpec(f"m{j}", "series", (int(params["window"]["length"]), self.c), ch) for j in range(self.m)]

    def tasks(self, params: dict[str, Any]) -> list[TaskInfo]:
        return [TaskInfo("t", "multiclass", ("a", "b", "c"))]

    def labels_of(self, i: int) -> np.ndarray:
        return ((np.arange(self.steps) // 6 + i) % 3).astype(np.int64)

    def batches(self) -> list[np.ndarray]:
        return [
            make_batch(self.seed, b, min(self.batch, self.n - s), self.steps, self.m * self.c)
            for b, s in enumerate(range(0, self.n, self.batch))
        ]

    def load(self, params: dict[str, Any], ctx: PrepareContext) -> list[Recording]:
        recs = []
        meta = np.empty((0, 0), dtype=np.float32)
        for b, start in enumerate(range(0, self.n, self.batch)):
            k = min(self.batch, self.n - start)
            block = dask.delayed(make_batch, pure=True)(self.seed, b, k, self.steps, self.m * self.c)
            for r in range(k):
                streams = {}
                for j in range(self.m):
                    name = f"many-{j}-{r}-{block.key}"
                    dsk = {
                        (name, 0, 0): (
                            operator.getitem,
                            block.key,
                            (r, slice(None), slice(j * self.c, (j + 1) * self.c)),
                        )
                    }
                    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[block])
                    streams[f"m{j}"] = da.Array(graph, name, chunks=((self.steps,), (self.c,)), meta=meta)
                i = start + r
                recs.append(Recording(f"r{i}", SPLIT_CYCLE[i % len(SPLIT_CYCLE)], streams, {"t": self.labels_of(i)}))
        return recs


def loader_keys(items: list[Recording]) -> set[Any]:
    keys: set[Any] = set()
    for r in items:
        for s in r.streams.values():
            keys.update(dict(s.__dask_graph__()))
    return keys


def reference(b: ManyRecordings, params: dict[str, Any]) -> dict[str, Any]:
    """Plain numpy: train min/max, scaling, windows per recording in split order."""
    x = np.concatenate(b.batches())  # (n, steps, M*C)
    splits = [SPLIT_CYCLE[i % len(SPLIT_CYCLE)] for i in range(b.n)]
    order = sorted(range(b.n), key=lambda i: SPLIT_CODES[splits[i]])
    train = x[[i for i in range(b.n) if splits[i] == "train"]].reshape(-1, x.shape[2]).astype(np.float64)
    L = b.window
    out: dict[str, Any] = {
        "min": np.nanmin(train, axis=0),
        "max": np.nanmax(train, axis=0),
        "mean": np.nanmean(train, axis=0),
        "std": np.nanstd(train, axis=0),
    }
    a, c = affine({"min": out["min"], "max": out["max"], "mean": out["mean"], "std": out["std"]}, params["scaling"])
    scaled = np.clip(x * a + c, np.float32(-1), np.float32(1))
    wins, labels, recs, offs = [], [], [], []
    for new_id, i in enumerate(order):
        step = params["window"]["step"][splits[i]]
        for o in range(0, b.steps - L + 1, step):
            wins.append(scaled[i, o : o + L])
            labels.append(b.labels_of(i)[o + L - 1])
            recs.append(new_id)
            offs.append(o)
    out.update(
        windows=np.stack(wins),
        streams=scaled[order].reshape(-1, x.shape[2]),
        label=np.asarray(labels),
        recording=np.asarray(recs),
        offset=np.asarray(offs),
    )
    return out


def pipeline_task_count(b: ManyRecordings) -> tuple[int, int]:
    params = b.default_params()
    items = b.load(params, PrepareContext(root="."))
    own = loader_keys(items)
    stats_graph = pipeline.stats_graph(b, params, items)
    stats_tasks = len(set().union(*(dict(v.__dask_graph__()) for v in stats_graph.values())) - own)
    computed = compute_stats(b, params, items)
    ds = build_dataset(b, params, items, computed, PrepareContext(root="."))
    return stats_tasks, len(set(dict(ds.__dask_graph__())) - own)


def test_task_count_grows_with_groups_not_recordings():
    small_stats, small = pipeline_task_count(ManyRecordings(n=300, batch=100))
    big_stats, big = pipeline_task_count(ManyRecordings(n=3000, batch=100))
    print(
        f"\npipeline tasks (excluding the loader's): 300 recordings -> {small} (+{small_stats} for statistics), "
        f"3000 recordings -> {big} (+{big_stats})"
    )
    assert big < 3000 / 2 and big_stats < 3000 / 20
    # 10x the recordings: the added tasks follow the data volume in chunks, not the number of recordings
    assert big - small < 3000 / 5


def test_prepare_of_3000_recordings_matches_numpy(tmp_path, monkeypatch):
    b = ManyRecordings(n=3000)
    monkeypatch.setattr(pipeline, "get_dataset", lambda name: b)
    t = time.perf_counter()
    res = prepare(b.name, root=tmp_path, progress=False)
    print(f"\nprepared 3000 recordings in {time.perf_counter() - t:.2f} s")
    ds = with_window_variables(xr.open_zarr(res.path, consolidated=False))
    ref = reference(b, b.default_params())
    C = b.c
    windows = np.concatenate([ds[f"m{j}"].values for j in range(b.m)], axis=2)
    np.testing.assert_array_equal(windows, ref["windows"])
    streams = np.concatenate([ds[f"stream_m{j}"].values for j in range(b.m)], axis=1)
    np.testing.assert_array_equal(streams, ref["streams"])
    avail = np.stack([~np.isnan(ref["windows"][:, :, j * C : (j + 1) * C]).all(axis=(1, 2)) for j in range(b.m)], 1)
    assert not avail.all()  # the NaN blocks make some windows unavailable
    np.testing.assert_array_equal(ds["available"].values, avail)
    np.testing.assert_array_equal(ds["label"].values, ref["label"])
    np.testing.assert_array_equal(ds["recording"].values, ref["recording"])
    np.testing.assert_array_equal(ds["offset"].values, ref["offset"])
    for j in range(b.m):
        st = res.attrs["normalisation"][f"m{j}"]
        sl = slice(j * C, (j + 1) * C)
        np.testing.assert_array_equal(st["min"], ref["min"][sl])
        np.testing.assert_array_equal(st["max"], ref["max"][sl])
        np.testing.assert_allclose(st["mean"], ref["mean"][sl], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(st["std"], ref["std"][sl], rtol=1e-10, atol=1e-12)
    specs = b.modalities(b.default_params())
    srows = min(pipeline.stream_chunk_rows(specs), ds.sizes["step"])  # one row chunking for all streams
    assert {ds[f"stream_m{j}"].encoding["chunks"][0] for j in range(b.m)} == {srows}
    rows = min(pipeline.stream_chunk_rows(specs), ds.sizes["sample"])  # per-window variables: as many rows
    assert {ds[v].encoding["chunks"][0] for v in ("available", "label", "offset", "recording")} == {rows}


def test_long_recordings_are_cut_into_pieces_with_identical_windows(monkeypatch):
    """A tiny group budget cuts every recording into several pieces: windows and streams are unchanged."""
    b = ManyRecordings(n=12, steps=200, batch=5, window=16)
    params = b.default_params()
    items = b.load(params, PrepareContext(root="."))
    order = sorted(range(len(items)), key=lambda i: SPLIT_CODES[items[i].split])
    budget = 4096
    monkeypatch.setattr(pipeline, "GROUP_BYTES", budget)
    groups = pipeline.plan_window_groups(b, params, items, order)
    pieces = [p for g in groups for p in g]
    assert len(pieces) > 3 * len(items)  # recordings were cut
    for i in order:  # the stream rows of a recording's pieces tile it exactly, in order
        own = [p for p in pieces if p.item == i]
        assert own[0].s0 == 0 and own[-1].s1 == items[i].length
        assert all(x.s1 == y.s0 for x, y in itertools.pairwise(own))
    computed = compute_stats(b, params, items)
    ds = with_window_variables(build_dataset(b, params, items, computed, PrepareContext(root=".")))
    ref = reference(b, params)
    C = b.c
    np.testing.assert_array_equal(np.concatenate([ds[f"m{j}"].values for j in range(b.m)], axis=2), ref["windows"])
    np.testing.assert_array_equal(
        np.concatenate([ds[f"stream_m{j}"].values for j in range(b.m)], axis=1), ref["streams"]
    )
    avail = np.stack([~np.isnan(ref["windows"][:, :, j * C : (j + 1) * C]).all(axis=(1, 2)) for j in range(b.m)], 1)
    np.testing.assert_array_equal(ds["available"].values, avail)
    # a group of several pieces keeps its rows (input, scaled copy, stream output) within the budget
    assert all(sum(2 * (p.hi - p.lo) + (p.s1 - p.s0) for p in g) * b.m * C * 4 <= budget for g in groups if len(g) > 1)


@pytest.mark.skipif(
    os.environ.get("MODALBENCH_SCALE_BENCH") != "1",
    reason="gas-sensor-scale timing (18,000 recordings); set MODALBENCH_SCALE_BENCH=1 to run it",
)
def test_gas_sensor_shaped_prepare_time(tmp_path, monkeypatch):
    """18,000 recordings of 260 steps x 8 modalities x 9 channels, 32 recordings per loader batch (print only)."""
    train_step = int(os.environ.get("MODALBENCH_SCALE_TRAIN_STEP", "1"))
    b = ManyRecordings(n=18000, steps=260, modalities=8, channels=9, batch=32, window=240)
    b.default_params = lambda: {  # type: ignore[method-assign]
        "window": {"length": 240, "step": {"train": train_step, "val": 20, "test": 20}, "label_rule": "last"},
        "scaling": {"method": "minmax", "range": [0.0, 1.0], "clip": True},
    }
    params = b.default_params()
    t0 = time.perf_counter()
    items = b.load(params, PrepareContext(root="."))
    t1 = time.perf_counter()
    computed = compute_stats(b, params, items)
    t2 = time.perf_counter()
    ds = build_dataset(b, params, items, computed, PrepareContext(root="."))
    t3 = time.perf_counter()
    tasks = len(dict(ds.__dask_graph__()))
    own = len(loader_keys(items))
    print(
        f"\ngas-shaped: load {t1 - t0:.1f} s, statistics {t2 - t1:.1f} s, build {t3 - t2:.1f} s; "
        f"{ds.sizes['sample']} windows; graph {tasks} tasks of which {own} are the loader's"
    )
    if os.environ.get("MODALBENCH_SCALE_WRITE") == "1":
        monkeypatch.setattr(pipeline, "get_dataset", lambda name: b)
        t4 = time.perf_counter()
        prepare(b.name, root=tmp_path, progress=False)
        print(f"gas-shaped full prepare (load+stats+build+write): {time.perf_counter() - t4:.1f} s")


def test_a_stream_of_the_wrong_shape_is_named():
    b = ManyRecordings(n=20, batch=10)
    params = b.default_params()
    items = b.load(params, PrepareContext(root="."))
    items[7].streams["m1"] = np.zeros((b.steps, b.c + 1), dtype=np.float32)
    with pytest.raises(ModalbenchError, match=r"recording r7 modality m1 has shape \(40, 4\), expected \(40, 3\)"):
        compute_stats(b, params, items) if items[7].split == "train" else build_dataset(
            b, params, items, compute_stats(b, params, items), PrepareContext(root=".")
        )
