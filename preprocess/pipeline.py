"""The generic prepare pipeline: parse → train-only statistics → scale → window → assemble → atomic zarr write.

Everything up to :func:`write_store` is lazy (dask); the only computes are the train statistics
(:func:`compute_stats`, small results) and the write itself.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from modalbench import STORE_FORMAT_VERSION, __version__
from modalbench.atomic import atomic_dir, canonical_json, write_json_atomic
from modalbench.datasets import DatasetBuilder, PrepareContext, get_dataset
from modalbench.errors import ModalbenchError, StoreError
from modalbench.meta import SPLIT_CODES, SPLITS, ModalitySpec
from modalbench.paths import local_raw_dir, resolve_root, store_path, version_dir, zarr_location
from modalbench.progress import DaskProgress
from modalbench.store import fingerprint, read_marker

from .normalise import apply_scaling, finalize_stats, stat_graph
from .types import Recording, SampleSplit
from .windowing import window_array, window_labels, window_offsets

TARGET_CHUNK_BYTES = 2 * 1024 * 1024


def merge_params(defaults: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Deep-merge ``overrides`` into ``defaults``; unknown top-level keys are an error naming the key."""
    out = copy.deepcopy(defaults)
    for key, value in (overrides or {}).items():
        head, _, rest = key.partition(".")
        if head not in out:
            raise ModalbenchError(f"unknown parameter {head!r}; known: {', '.join(sorted(out))}")
        if rest:
            if not isinstance(out[head], dict):
                raise ModalbenchError(f"parameter {head!r} has no sub-key {rest!r}")
            out[head] = merge_params(out[head], {rest: value}) if rest.partition(".")[0] in out[head] else _bad(key)
        elif isinstance(out[head], dict) and isinstance(value, dict):
            out[head] = merge_params(out[head], value)
        else:
            out[head] = value
    return out


def _bad(key: str) -> dict[str, Any]:
    raise ModalbenchError(f"unknown parameter {key!r}")


def channel_axis(spec: ModalitySpec) -> int:
    """Channel axis of one sample (without the sample dim)."""
    return len(spec.shape) - 1 if spec.kind == "series" else 0


def sample_chunk_rows(specs: list[ModalitySpec], n: int) -> int:
    """Rows per chunk so that the largest modality's chunks are ~2 MB (float32)."""
    biggest = max(int(np.prod(s.shape)) * 4 for s in specs)
    return int(max(1, min(max(n, 1), TARGET_CHUNK_BYTES // biggest)))


# ---------------------------------------------------------------- statistics


def stats_graph(builder: DatasetBuilder, params: dict[str, Any], items: list[Any]) -> dict[str, Any]:
    """Lazy train-only statistics per modality, plus (windowed) the label streams needed for window labels."""
    specs = builder.modalities(params)
    train = [it for it in items if it.split == "train"]
    if not train:
        raise ModalbenchError(f"{builder.name}: the train split is empty; check the split parameters")
    graph: dict[str, Any] = {"stats": {}}
    for spec in specs:
        if builder.structure == "windowed":
            graph["stats"][spec.name] = stat_graph([r.streams[spec.name] for r in train], channel_axis=1)
        else:
            graph["stats"][spec.name] = stat_graph([s.inputs[spec.name] for s in train], channel_axis=1 + channel_axis(spec))
    if builder.structure == "windowed":
        graph["labels"] = [{t: da.asarray(v) for t, v in r.labels.items()} for r in items]
    return graph


def compute_stats(builder: DatasetBuilder, params: dict[str, Any], items: list[Any]) -> dict[str, Any]:
    """Compute train statistics (and label streams); the only compute before the write."""
    (computed,) = dask.compute(stats_graph(builder, params, items))
    computed["stats"] = {m: finalize_stats(s, params["scaling"]) for m, s in computed["stats"].items()}
    return computed


# ---------------------------------------------------------------- assembly


def order_items(items: list[Any]) -> list[Any]:
    """Items sorted by split (train, val, test), stable within a split; others are dropped."""
    for it in items:
        if it.split not in SPLIT_CODES:
            raise ModalbenchError(f"item {getattr(it, 'id', '?')!r} has split {it.split!r}; expected one of {SPLITS}")
    return sorted(items, key=lambda it: SPLIT_CODES[it.split])


def build_dataset(builder: DatasetBuilder, params: dict[str, Any], items: list[Any], computed: dict[str, Any],
                  ctx: PrepareContext) -> xr.Dataset:
    """Assemble the lazy xarray Dataset of the store (no compute happens here)."""
    if builder.structure == "windowed":
        ds = _assemble_windowed(builder, params, items, computed)
    else:
        ds = _assemble_samples(builder, params, items, computed)
    ds.attrs = make_attrs(builder, params, ds, computed["stats"], ctx)
    return ds


def _split_ranges(split_codes: np.ndarray) -> dict[str, list[int]]:
    out = {}
    for name, code in SPLIT_CODES.items():
        idx = np.flatnonzero(split_codes == code)
        out[name] = [int(idx[0]), int(idx[-1]) + 1] if len(idx) else [0, 0]
        if len(idx) and idx[-1] - idx[0] + 1 != len(idx):
            raise AssertionError("samples are not ordered by split")
    return out


def _task_label_vars(builder: DatasetBuilder, params: dict[str, Any]) -> dict[str, str]:
    tasks = builder.tasks(params)
    return {t.name: ("label" if i == 0 else f"label_{t.name}") for i, t in enumerate(tasks)}


def _assemble_samples(builder, params, items: list[SampleSplit], computed) -> xr.Dataset:
    specs = builder.modalities(params)
    items = order_items(items)
    n = sum(s.n for s in items)
    rows = sample_chunk_rows(specs, n)
    data_vars: dict[str, Any] = {}
    for spec in specs:
        parts = [da.asarray(s.inputs[spec.name]) for s in items]
        for s, p in zip(items, parts):
            if tuple(p.shape[1:]) != spec.shape:
                raise ModalbenchError(f"{builder.name}: {s.split} {spec.name} has shape {p.shape[1:]}, expected {spec.shape}")
        x = apply_scaling(da.concatenate(parts, axis=0), computed["stats"][spec.name], params["scaling"],
                          1 + channel_axis(spec))
        data_vars[spec.name] = (("sample", *spec.dims), x.rechunk((rows, *spec.shape)))
    for task, var in _task_label_vars(builder, params).items():
        lab = da.concatenate([da.asarray(s.labels[task]) for s in items], axis=0)
        dims = ("sample",) if lab.ndim == 1 else ("sample", "class")
        data_vars[var] = (dims, lab.rechunk((rows,) + lab.shape[1:]))
    split = np.concatenate([np.full(s.n, SPLIT_CODES[s.split], np.int8) for s in items])
    avail = da.concatenate(
        [da.asarray(s.available) if s.available is not None else da.ones((s.n, len(specs)), dtype=bool) for s in items],
        axis=0,
    )
    data_vars["split"] = ("sample", da.from_array(split, chunks=rows))
    data_vars["available"] = (("sample", "modality"), avail.astype(bool).rechunk((rows, len(specs))))
    ds = xr.Dataset(data_vars)
    ds.attrs["split_ranges"] = _split_ranges(split)
    return _with_int_coords(ds)


def _assemble_windowed(builder, params, items: list[Recording], computed) -> xr.Dataset:
    specs = builder.modalities(params)
    wp = params["window"]
    length, rule = int(wp["length"]), wp["label_rule"]
    order = sorted(range(len(items)), key=lambda i: SPLIT_CODES[items[i].split])
    label_streams = computed["labels"]
    tasks = _task_label_vars(builder, params)
    offsets_all, rec_all, split_all = [], [], []
    labels_all: dict[str, list[np.ndarray]] = {t: [] for t in tasks}
    windows: dict[str, list[da.Array]] = {s.name: [] for s in specs}
    streams: dict[str, list[da.Array]] = {s.name: [] for s in specs}
    stream_labels, rec_start, rec_len, rec_split = [], [], [], []
    pos = 0
    for new_id, i in enumerate(order):
        rec = items[i]
        T = rec.length
        step = int(wp["step"][rec.split])
        offs = window_offsets(T, length, step)
        for spec in specs:
            s = da.asarray(rec.streams[spec.name])
            if s.ndim != 2 or s.shape[1] != spec.shape[1] or s.shape[0] != T:
                raise ModalbenchError(
                    f"{builder.name}: recording {rec.id} modality {spec.name} has shape {s.shape}, expected ({T}, {spec.shape[1]})")
            scaled = apply_scaling(s, computed["stats"][spec.name], params["scaling"], 1)
            streams[spec.name].append(scaled)
            windows[spec.name].append(window_array(scaled, offs, length))
        for task in tasks:
            labels_all[task].append(window_labels(np.asarray(label_streams[i][task]), offs, length, rule))
        first_task = next(iter(tasks))
        stream_labels.append(np.asarray(label_streams[i][first_task]))
        offsets_all.append(offs)
        rec_all.append(np.full(len(offs), new_id, np.int32))
        split_all.append(np.full(len(offs), SPLIT_CODES[rec.split], np.int8))
        rec_start.append(pos)
        rec_len.append(T)
        rec_split.append(SPLIT_CODES[rec.split])
        pos += T
    split = np.concatenate(split_all)
    n = len(split)
    if n == 0:
        raise ModalbenchError(f"{builder.name}: no complete window of length {length} in any recording")
    rows = sample_chunk_rows(specs, n)
    data_vars: dict[str, Any] = {}
    avail = []
    for spec in specs:
        w = da.concatenate(windows[spec.name], axis=0).rechunk((rows, length, spec.shape[1]))
        data_vars[spec.name] = (("sample", *spec.dims), w)
        avail.append(~da.isnan(w).all(axis=(1, 2)))
        st = da.concatenate(streams[spec.name], axis=0)
        srows = max(1, TARGET_CHUNK_BYTES // (4 * spec.shape[1]))
        data_vars[f"stream_{spec.name}"] = (("step", f"{spec.name}_channel"), st.rechunk((srows, spec.shape[1])))
    data_vars["available"] = (("sample", "modality"), da.stack(avail, axis=1).rechunk((rows, len(specs))))
    for task, var in tasks.items():
        data_vars[var] = ("sample", da.from_array(np.concatenate(labels_all[task]), chunks=rows))
    data_vars["split"] = ("sample", da.from_array(split, chunks=rows))
    data_vars["recording"] = ("sample", da.from_array(np.concatenate(rec_all), chunks=rows))
    data_vars["offset"] = ("sample", da.from_array(np.concatenate(offsets_all), chunks=rows))
    data_vars["stream_label"] = ("step", da.from_array(np.concatenate(stream_labels), chunks=TARGET_CHUNK_BYTES // 8))
    data_vars["recording_start"] = ("recordings", np.asarray(rec_start, np.int64))
    data_vars["recording_length"] = ("recordings", np.asarray(rec_len, np.int64))
    data_vars["recording_split"] = ("recordings", np.asarray(rec_split, np.int8))
    ds = xr.Dataset(data_vars)
    ds.attrs["split_ranges"] = _split_ranges(split)
    ds.attrs["n_recordings"] = len(order)
    ds.attrs["recordings"] = [{"id": items[i].id, "split": items[i].split, "meta": items[i].meta} for i in order]
    return _with_int_coords(ds)


def _with_int_coords(ds: xr.Dataset) -> xr.Dataset:
    """Integer coordinates ``0..n-1`` on every dimension."""
    return ds.assign_coords({d: np.arange(n, dtype=np.int64) for d, n in ds.sizes.items()})


def make_attrs(builder: DatasetBuilder, params: dict[str, Any], ds: xr.Dataset, stats: dict[str, Any],
               ctx: PrepareContext) -> dict[str, Any]:
    """All store attributes, ending with the fingerprint."""
    tasks = builder.tasks(params)
    label_vars = _task_label_vars(builder, params)
    ranges = ds.attrs["split_ranges"]
    source = builder.source_info()
    if ctx.provenance:
        source = {**source, "provenance": ctx.provenance}
    source.setdefault("verification", ctx.verification)
    attrs: dict[str, Any] = {
        "dataset": builder.name,
        "version": builder.version,
        "description": builder.description,
        "synthetic": bool(builder.synthetic),
        "structure": builder.structure,
        "task": tasks[0].name,
        "task_type": tasks[0].task_type,
        "classes": list(tasks[0].classes),
        "tasks": {t.name: {"variable": label_vars[t.name], "task_type": t.task_type, "classes": list(t.classes)}
                  for t in tasks},
        "modalities": [m.to_dict() for m in builder.modalities(params)],
        "source": source,
        "params": params,
        "normalisation": stats,
        "split_codes": dict(SPLIT_CODES),
        "split_ranges": ranges,
        "n_samples": {k: v[1] - v[0] for k, v in ranges.items()},
        "store_format": STORE_FORMAT_VERSION,
    }
    if builder.structure == "windowed":
        attrs["n_recordings"] = ds.attrs["n_recordings"]
        attrs["recordings"] = ds.attrs["recordings"]
    attrs = json.loads(canonical_json(attrs))  # plain JSON types only
    attrs["modalbench_version"] = __version__
    attrs["fingerprint"] = fingerprint(attrs)
    return attrs


# ---------------------------------------------------------------- writing


def encoding_for(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """Blosc-zstd + bitshuffle on every variable; zarr chunks follow the dask chunks."""
    from zarr.codecs import BloscCodec

    codec = BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")
    enc: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        e: dict[str, Any] = {"compressors": (codec,)}
        if var.chunks:
            e["chunks"] = tuple(c[0] for c in var.chunks)
        enc[str(name)] = e
    return enc


def write_store(ds: xr.Dataset, path: Path, *, progress: bool = True) -> None:
    """Write ``ds`` to a zarr v3 store at ``path`` (the caller makes it atomic)."""
    ds.attrs["split_codes"] = ds.attrs.get("split_codes", dict(SPLIT_CODES))
    url, options = zarr_location(path)
    with DaskProgress("writing store", enabled=progress):
        ds.to_zarr(url, mode="w-", zarr_format=3, consolidated=False, encoding=encoding_for(ds), compute=True,
                   storage_options=options)


@dataclass
class PrepareResult:
    path: Path
    attrs: dict[str, Any]
    skipped: bool
    seconds: float


@contextmanager
def scheduler(workers: int | None = None, address: str | None = None) -> Iterator[Any]:
    """Local threaded scheduler by default; ``workers`` starts a LocalCluster; ``address`` joins a cluster."""
    if not workers and not address:
        yield None
        return
    from distributed import Client, LocalCluster

    if address:
        client = Client(address)
        try:
            yield client
        finally:
            client.close()
        return
    with LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            Client(cl) as client:
        yield client


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if canonical_json(a) == canonical_json(b) else [f"{prefix[:-1]}: {a!r} -> {b!r}"]


def prepare(name: str, *, root: str | Path | None = None, overrides: dict[str, Any] | None = None,
            force: bool = False, raw: Path | None = None, verification: str = "strict",
            workers: int | None = None, address: str | None = None, progress: bool = True) -> PrepareResult:
    """Prepare dataset ``name`` under ``root``; a no-op when an identical store exists."""
    t0 = time.perf_counter()
    if verification not in ("strict", "warn", "off"):
        raise ModalbenchError(f"--verification must be strict, warn or off (got {verification!r})")
    builder = get_dataset(name)
    params = merge_params(builder.default_params(), overrides)
    params = json.loads(canonical_json(params))
    root_p = resolve_root(root)
    final = version_dir(root_p, builder.name, builder.version)
    marker = read_marker(root_p, builder.name, builder.version)
    if marker is not None and not force:
        if marker.get("params") == params:
            attrs = json.loads((final / "attrs.json").read_text()) if (final / "attrs.json").exists() else {}
            return PrepareResult(store_path(root_p, builder.name, builder.version), attrs, True,
                                 time.perf_counter() - t0)
        changes = "; ".join(_diff(marker.get("params"), params)) or "parameters differ"
        raise StoreError(f"{final} was prepared with different parameters ({changes}); pass --force to rebuild it")
    if raw is not None and not Path(raw).is_dir():
        raise ModalbenchError(f"--raw {raw}: not a directory")
    ctx = PrepareContext(root=str(root_p), raw_dir=Path(raw) if raw else None, verification=verification,
                         progress=progress, download_dir=local_raw_dir(root_p, builder.name))
    ctx.download_dir.mkdir(parents=True, exist_ok=True)
    with scheduler(workers, address):
        items = builder.load(params, ctx)
        computed = compute_stats(builder, params, items)
        ds = build_dataset(builder, params, items, computed, ctx)
        with atomic_dir(final) as tmp:
            write_store(ds, tmp / "store.zarr", progress=progress)
            write_json_atomic(tmp / "attrs.json", ds.attrs)
            write_json_atomic(tmp / "COMPLETE", {
                "dataset": builder.name, "version": builder.version, "fingerprint": ds.attrs["fingerprint"],
                "params": params, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "modalbench_version": __version__,
            })
    return PrepareResult(store_path(root_p, builder.name, builder.version), dict(ds.attrs), False,
                         time.perf_counter() - t0)
