"""The generic prepare pipeline: parse → train-only statistics → scale → window → assemble → atomic zarr write.

Everything up to :func:`write_store` is lazy (dask); the only computes are the train statistics
(:func:`compute_stats`, small results) and the write itself.
"""

from __future__ import annotations

import copy
import errno
import itertools
import json
import operator
import os
import secrets
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

from modalbench import STORE_FORMATS, __version__
from modalbench.atomic import atomic_dir, canonical_json, write_json_atomic
from modalbench.checksums import write_checksums
from modalbench.cluster import local_cluster
from modalbench.datasets import DatasetBuilder, PrepareContext, get_dataset
from modalbench.errors import ModalbenchError, StoreError
from modalbench.jsonio import read_json
from modalbench.locks import dataset_lock
from modalbench.meta import READER_SCALES, SPLIT_CODES, SPLITS, ModalitySpec
from modalbench.moments import merge_named, merge_partials, partial_stats, raw_stats
from modalbench.paths import (
    local_raw_dir,
    resolve_root,
    store_path,
    version_dir,
    zarr_location,
)
from modalbench.progress import DaskProgress
from modalbench.store import fingerprint, read_marker, write_marker
from modalbench.vocabulary import VERIFICATION_MODES

from .normalise import (
    apply_scaling,
    finalize_stats,
    histogram_stat_graph,
    reader_scaled_stats,
    scale_block,
    scaling_terms,
    stat_graph,
    token_stats,
)
from .types import Recording, SampleSplit
from .windowing import window_available, window_labels, window_offsets

TARGET_CHUNK_BYTES = 2 * 1024 * 1024
#: zarr chunks written by one dask task of a sample store (:func:`sample_write_rows`)
WRITE_TASK_CHUNKS = 8


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
    return spec.channel_axis


def stream_chunk_rows(specs: list[ModalitySpec]) -> int:
    """Rows per chunk of every ``stream_<m>`` (one value for all, so a window range reads the same row chunks of
    every modality): ~2 MB for the modality with the most channels."""
    return int(max(1, TARGET_CHUNK_BYTES // (4 * max(int(s.shape[-1]) for s in specs))))


def sample_chunk_rows(specs: list[ModalitySpec], n: int) -> int:
    """Rows per chunk so that the largest modality's chunks are ~2 MB (in its storage dtype)."""
    biggest = max(int(np.prod(s.shape)) * np.dtype(s.storage_dtype).itemsize for s in specs)
    return int(max(1, min(max(n, 1), TARGET_CHUNK_BYTES // biggest)))


def sample_write_rows(rows: int, n: int) -> int:
    """Rows per write task of a sample store: ``WRITE_TASK_CHUNKS`` zarr chunks of ``rows`` rows (the zarr chunks
    stay ``rows``; fewer, larger tasks write the same bytes with less scheduling and rechunking)."""
    return int(max(1, min(max(n, 1), rows * WRITE_TASK_CHUNKS)))


# ---------------------------------------------------------------- statistics


def stats_graph(builder: DatasetBuilder, params: dict[str, Any], items: list[Any]) -> dict[str, Any]:
    """Lazy train-only statistics per modality, plus (windowed) the label streams needed for window labels.

    Windowed datasets use :func:`grouped_stats_graph` (one task per group of recordings): ``"stats"`` is then one
    ``Delayed`` of ``{modality: raw stats}`` and ``"labels"`` one ``Delayed`` of the per-item label streams.
    """
    specs = builder.modalities(params)
    train = [it for it in items if it.split == "train"]
    if not train:
        raise ModalbenchError(f"{builder.name}: the train split is empty; check the split parameters")
    if builder.structure == "windowed":
        return grouped_stats_graph(builder, params, items)
    graph: dict[str, Any] = {"stats": {}}
    if all(s.moments is not None for s in train):  # the loader's own fused pass (e.g. HIGGS)
        graph["stats"] = dask.delayed(_stats_from_moments, pure=True)(
            [s.moments for s in train], [p.name for p in specs if p.storage_dtype != "int32"]
        )
        return graph
    for spec in specs:
        if spec.storage_dtype == "int32":  # token ids: no statistics (see compute_stats)
            continue
        if spec.storage_dtype == "uint8" and builder.histogram_stats:
            graph["stats"][spec.name] = histogram_stat_graph(
                [s.inputs[spec.name] for s in train], channel_axis=1 + channel_axis(spec)
            )
            continue
        graph["stats"][spec.name] = stat_graph(
            [s.inputs[spec.name] for s in train], channel_axis=1 + channel_axis(spec)
        )
    return graph


def _stats_from_moments(moments: list[dict[str, Any]], names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Raw statistics per modality from the loaders' partial moments, combined in split order."""
    return {name: raw_stats(p) for name, p in merge_named(moments, names).items()}


def compute_stats(
    builder: DatasetBuilder, params: dict[str, Any], items: list[Any], ctx: PrepareContext | None = None
) -> dict[str, Any]:
    """Compute train statistics (and label streams); the only compute before the write.

    Returns ``{"stats": {modality: finalized stats}}`` plus, for windowed datasets, ``"labels"``: a list aligned with
    ``items`` of ``{task: (T,) numpy label stream}``. With ``ctx``, its ``deferred_provenance`` is computed in the
    same pass (tasks shared with the statistics run once) and merged into ``ctx.provenance`` as plain JSON values.
    """
    deferred = ctx.deferred_provenance if ctx is not None else {}
    computed, extra = dask.compute(stats_graph(builder, params, items), deferred)
    if ctx is not None:
        ctx.provenance.update(plain_values(extra))
        ctx.deferred_provenance = {}
    scales = reader_scales(builder.modalities(params))
    computed["stats"] = {
        m: reader_scaled_stats(s, scales[m]) if m in scales else finalize_stats(s, params["scaling"])
        for m, s in computed["stats"].items()
    }
    for spec in builder.modalities(params):  # token ids are never averaged or scaled: their fill is the pad id
        if spec.storage_dtype == "int32":
            computed["stats"][spec.name] = token_stats(spec)
    return computed


def plain_values(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays (in dicts, lists and tuples) turned into plain Python values."""
    if isinstance(obj, dict):
        return {k: plain_values(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain_values(v) for v in obj]
    if isinstance(obj, np.ndarray | np.generic):
        return obj.tolist()
    return obj


# ---------------------------------------------------------------- grouped windowed graph
#
# A dataset such as gas-sensor has ~18,000 short recordings x 8 modalities: building dask operations per recording
# and modality gives millions of tasks. Instead consecutive recordings (in split order) are packed into groups of at
# most GROUP_BYTES and every group is ONE task (statistics, label streams, or scale+window+availability of all
# modalities); long recordings are cut into pieces at window boundaries. The number of tasks the pipeline adds is
# O(groups), independent of the number of recordings.

GROUP_BYTES = 32 * 1024 * 1024


@dataclass(eq=False)
class Piece:
    """Rows ``[lo, hi)`` of recording ``item`` (index into ``items``) used by one group task.

    ``offsets`` are the window starts (absolute within the recording) the piece emits; ``[s0, s1)`` are the stream
    rows it emits into ``stream_<modality>`` (pieces of one recording own disjoint, consecutive row ranges).
    """

    item: int
    lo: int
    hi: int
    offsets: np.ndarray
    s0: int
    s1: int


def _pack(pieces: list[Piece], costs: list[int], budget: int) -> list[list[Piece]]:
    """Greedy packing of consecutive pieces into groups whose summed cost stays within ``budget``."""
    groups: list[list[Piece]] = []
    cur: list[Piece] = []
    used = 0
    for p, c in zip(pieces, costs, strict=True):
        if cur and used + c > budget:
            groups.append(cur)
            cur, used = [], 0
        cur.append(p)
        used += c
    if cur:
        groups.append(cur)
    return groups


def _checked_length(builder: DatasetBuilder, rec: Recording, specs: list[ModalitySpec]) -> int:
    T = rec.length
    for spec in specs:
        s = rec.streams.get(spec.name)
        shape = tuple(getattr(s, "shape", ()))
        if len(shape) != 2 or shape[1] != spec.shape[1] or shape[0] != T:
            raise ModalbenchError(
                f"{builder.name}: recording {rec.id} modality {spec.name} has shape {shape}, expected ({T}, {spec.shape[1]})"
            )
    return T


def plan_window_groups(
    builder: DatasetBuilder, params: dict[str, Any], items: list[Recording], order: list[int], budget: int | None = None
) -> list[list[Piece]]:
    """Groups of pieces (split order) for the scale+window tasks; a piece's windows never cross its recording."""
    budget = int(budget or GROUP_BYTES)
    specs = builder.modalities(params)
    wp = params["window"]
    length = int(wp["length"])
    row_bytes = 4 * sum(int(s.shape[1]) for s in specs)
    pieces, costs = [], []
    for i in order:
        rec = items[i]
        T = _checked_length(builder, rec, specs)
        step = int(wp["step"][rec.split])
        offs = window_offsets(T, length, step)
        n = len(offs)
        if n == 0:
            pieces.append(Piece(i, 0, T, offs, 0, T))
            costs.append(3 * T * row_bytes)
            continue
        # per window: (input, scaled copy, stream output) of the ~step rows it advances
        k = max(1, budget // (3 * step * row_bytes))
        for a in range(0, n, k):
            b = min(n, a + k)
            s0 = 0 if a == 0 else int(offs[a])
            s1 = T if b == n else int(offs[b])
            hi = max(int(offs[b - 1]) + length, s1)
            pieces.append(Piece(i, s0, hi, offs[a:b], s0, s1))
            costs.append((2 * (hi - s0) + (s1 - s0)) * row_bytes)
    return _pack(pieces, costs, budget)


def plan_row_groups(
    items: list[Recording], order: list[int], row_bytes: int, budget: int | None = None
) -> list[list[Piece]]:
    """Groups of row ranges (whole recordings, long ones cut) for the statistics / label-stream tasks."""
    budget = int(budget or GROUP_BYTES)
    rows = max(1, budget // max(1, row_bytes))
    pieces, costs = [], []
    empty = np.zeros(0, dtype=np.int64)
    for i in order:
        T = items[i].length
        for lo in range(0, max(T, 1), rows):
            hi = min(T, lo + rows)
            pieces.append(Piece(i, lo, hi, empty, lo, hi))
            costs.append((hi - lo) * row_bytes)
    return _pack(pieces, costs, budget)


def _group_refs(
    group: list[Any], arrays_of: Callable[[int], dict[str, Any]], keys: list[str], deps: list[da.Array]
) -> list[list[Any]]:
    """Row-range references ``[piece][key]`` of one task group's pieces; their dask inputs go to ``deps``."""
    refs = []
    for p in group:
        row = []
        for key in keys:
            ref, d = _rows_ref(arrays_of(p.item)[key], p.lo, p.hi)
            row.append(ref)
            deps += d
        refs.append(row)
    return refs


def _rows_ref(x: Any, lo: int, hi: int) -> tuple[Any, list[da.Array]]:
    """A task argument standing for rows ``[lo, hi)`` of ``x`` (the chunk keys it needs, or the numpy slice),
    plus the dask collections it depends on. No dask operation (and no tokenize) per array."""
    if hi <= lo:
        return [_Const(np.zeros((0, *x.shape[1:]), dtype=x.dtype)), 0, 0], []
    if not isinstance(x, da.Array):
        return [_Const(np.asarray(x)[lo:hi]), 0, hi - lo], []
    if all(len(c) == 1 for c in x.chunks):
        source = _lone_getitem(x)
        if source is not None:  # read the loader's batch directly: its per-array getitem task is culled
            return [[source[0]], lo, hi, _Const(source[1])], [x]
        i0, i1, start = 0, 1, lo
    else:
        bounds = np.cumsum((0,) + tuple(x.chunks[0]))
        i0 = int(np.searchsorted(bounds, lo, side="right")) - 1
        i1 = max(i0 + 1, int(np.searchsorted(bounds, hi, side="left")))
        start = lo - int(bounds[i0])
    return [x.__dask_keys__()[i0:i1], start, start + hi - lo], [x]


def _lone_getitem(x: da.Array) -> tuple[Any, Any] | None:
    """``(key, index)`` when ``x`` is one chunk computed as ``getitem(<key>, <static index>)`` (e.g. the gas-sensor
    loader selects each recording from a batch so); inlining it saves one scheduled task per recording and modality."""
    graph = x.__dask_graph__()
    key = (x.name,) + (0,) * x.ndim
    try:
        task = graph[key]
    except KeyError:
        return None
    if (
        type(task) is tuple
        and len(task) == 3
        and task[0] is operator.getitem
        and isinstance(task[2], tuple)
        and all(isinstance(i, (int, slice)) for i in task[2])
    ):
        try:
            if task[1] in graph:
                return task[1], task[2]
        except TypeError:
            return None
    return None


class _Const:
    """A static value carried inside a task argument (never scanned for keys by the scheduler)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _materialise(ref: list[Any]) -> np.ndarray:
    blocks, start, stop = ref[:3]
    if isinstance(blocks, _Const):
        return blocks.value[start:stop]
    if len(ref) == 4:  # an inlined getitem of the source value
        return np.asarray(blocks[0][ref[3].value])[start:stop]
    return _assemble(blocks, 0)[start:stop]


def _assemble(nested: Any, axis: int) -> np.ndarray:
    if isinstance(nested, list):
        parts = [_assemble(n, axis + 1) for n in nested]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)
    return np.asarray(nested)


def _graph_layer(name: str, dsk: dict[Any, Any], deps: list[da.Array]) -> HighLevelGraph:
    """Layer ``name`` over ONE flat layer holding the graphs of ``deps``.

    The loader's arrays come with one layer each (~150,000 for gas-sensor); culling a HighLevelGraph costs
    O(layers x needed keys), so their tasks are merged into a single materialized layer first.
    """
    flat: dict[Any, Any] = {}
    seen: set[Any] = set()
    for d in deps:
        g = d.__dask_graph__()
        layers = g.layers if isinstance(g, HighLevelGraph) else {id(g): g}
        for lname, layer in layers.items():
            if lname not in seen:
                seen.add(lname)
                flat.update(layer)
    inputs = f"{name}-inputs"
    return HighLevelGraph(
        {inputs: MaterializedLayer(flat), name: MaterializedLayer(dsk)}, {inputs: set(), name: {inputs}}
    )


def _child_array(
    graph: HighLevelGraph, parent: str, name: str, dsk: dict[Any, Any], chunks: tuple[tuple[int, ...], ...], dtype: Any
) -> da.Array:
    layers = dict(graph.layers)
    deps = dict(graph.dependencies)
    layers[name] = MaterializedLayer(dsk)
    deps[name] = {parent}
    meta = np.empty((0,) * len(chunks), dtype=dtype)
    return da.Array(HighLevelGraph(layers, deps), name, chunks=chunks, dtype=dtype, meta=meta)


def _stats_task(refs: list[list[Any]]) -> list[dict[str, np.ndarray]]:
    """Partial moments per modality of one group (its pieces' rows concatenated in plan order)."""
    return [partial_stats(_concat([_materialise(piece[m]) for piece in refs])) for m in range(len(refs[0]))]


def _concat(blocks: list[np.ndarray]) -> np.ndarray:
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=0)


def _stats_combine(names: _Const, *groups: list[dict[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
    """Combine the group partials in fixed group order into ``{modality: {min, max, mean, std, count}}``."""
    modality_names = names.value
    acc: list[dict[str, np.ndarray] | None] = [None] * len(modality_names)
    for g in groups:
        for m, p in enumerate(g):
            if p is not None:
                acc[m] = merge_partials(acc[m], p)
    return {n: raw_stats(p) for n, p in zip(modality_names, acc, strict=True) if p is not None}


def _labels_task(tasks: _Const, refs: list[list[Any]]) -> list[dict[str, np.ndarray]]:
    return [{t: _materialise(r) for t, r in zip(tasks.value, piece_refs, strict=True)} for piece_refs in refs]


def _labels_combine(plan: _Const, *groups: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray] | None]:
    """Label streams per item index (pieces of one recording concatenated), in the order of ``items``."""
    items, pieces_per_item = plan.value
    flat = [d for g in groups for d in g]
    out: list[dict[str, np.ndarray] | None] = [None] * (max(items) + 1 if items else 0)
    pos = 0
    for item, k in zip(items, pieces_per_item, strict=True):
        parts = flat[pos : pos + k]
        pos += k
        out[item] = {t: np.concatenate([p[t] for p in parts]) if k > 1 else parts[0][t] for t in parts[0]}
    return out


def grouped_stats_graph(builder: DatasetBuilder, params: dict[str, Any], items: list[Recording]) -> dict[str, Any]:
    """Lazy train statistics and label streams of a windowed dataset: one task per group of recordings."""
    specs = builder.modalities(params)
    names = [s.name for s in specs]
    tasks = [t.name for t in builder.tasks(params)]
    order = sorted(range(len(items)), key=lambda i: SPLIT_CODES[items[i].split])
    train = [i for i in order if items[i].split == "train"]
    for i in train:
        _checked_length(builder, items[i], specs)
    row_bytes = 16 * sum(int(s.shape[1]) for s in specs)  # float32 input + float64 copy and temporaries
    deps: list[da.Array] = []
    dsk: dict[Any, Any] = {}
    stat_groups = plan_row_groups(items, train, row_bytes)
    token = tokenize(
        [[(p.item, p.lo, p.hi) for p in g] for g in stat_groups],
        [[_dep_name(items[i].streams[n]) for n in names] for i in train],
        names,
    )
    sname = f"mb-train-stats-{token}"
    for g, group in enumerate(stat_groups):
        dsk[(sname, g)] = (_stats_task, _group_refs(group, lambda i: items[i].streams, names, deps))
    dsk[(sname, "all")] = (_stats_combine, _Const(names), *[(sname, g) for g in range(len(stat_groups))])

    label_groups = plan_row_groups(items, order, 8 * max(1, len(tasks)))
    lname = f"mb-label-streams-{tokenize(token, [[(p.item, p.lo, p.hi) for p in g] for g in label_groups])}"
    for g, group in enumerate(label_groups):
        dsk[(lname, g)] = (_labels_task, _Const(tasks), _group_refs(group, lambda i: items[i].labels, tasks, deps))
    flat = [p.item for g in label_groups for p in g]
    ids = [i for k, i in enumerate(flat) if k == 0 or flat[k - 1] != i]
    counts = [sum(1 for _ in grp) for _, grp in itertools.groupby(flat)]
    dsk[(lname, "all")] = (_labels_combine, _Const((ids, counts)), *[(lname, g) for g in range(len(label_groups))])
    graph = _graph_layer(sname, dsk, _unique(deps))
    return {"stats": Delayed((sname, "all"), graph, layer=sname), "labels": Delayed((lname, "all"), graph, layer=sname)}


def _dep_name(x: Any) -> str:
    return x.name if isinstance(x, da.Array) else tokenize(np.asarray(x))


def _unique(arrays: list[da.Array]) -> list[da.Array]:
    seen: dict[str, da.Array] = {}
    for a in arrays:
        seen.setdefault(a.name, a)
    return list(seen.values())


def _window_task(static: _Const, refs: list[list[Any]]) -> tuple[np.ndarray, ...]:
    """Scale and check availability for one group: ``(*streams, available)`` over its modalities.

    The group's pieces are concatenated per modality; ``win_idx`` are window starts in that concatenation (each
    window lies inside its own piece) and ``stream_idx`` selects the stream rows the group owns (None: all rows).
    Windows are not materialised: readers cut them from the streams.
    """
    win_idx, stream_idx, terms, length = static.value
    streams, avail = [], []
    for m, (a, b, clip) in enumerate(terms):
        scaled = scale_block(_concat([_materialise(piece[m]) for piece in refs]), a, b, clip)
        avail.append(window_available(scaled, win_idx, length))
        streams.append(scaled if stream_idx is None else scaled[stream_idx])
    return (*streams, np.stack(avail, axis=1) if avail else np.zeros((len(win_idx), 0), dtype=bool))


def _group_indices(group: list[Piece]) -> tuple[np.ndarray, np.ndarray | None]:
    """Window starts and owned stream rows of a group, as positions in its concatenated pieces."""
    base = 0
    win, rows = [], []
    whole = True
    for p in group:
        win.append(base + p.offsets - p.lo)
        rows.append(np.arange(base + p.s0 - p.lo, base + p.s1 - p.lo))
        whole = whole and p.s0 == p.lo and p.s1 == p.hi
        base += p.hi - p.lo
    return np.concatenate(win).astype(np.int64), None if whole else np.concatenate(rows)


def grouped_windows(
    builder: DatasetBuilder,
    params: dict[str, Any],
    items: list[Recording],
    groups: list[list[Piece]],
    stats: dict[str, Any],
) -> tuple[list[da.Array], da.Array]:
    """Lazy ``(scaled streams per modality, per-window availability)``: one task per group.

    Chunks follow the groups (exact sizes known from the plan); callers rechunk to the store's chunking.
    """
    specs = builder.modalities(params)
    names = [s.name for s in specs]
    length = int(params["window"]["length"])
    terms = [scaling_terms(stats[n], params["scaling"]) for n in names]
    summary = [
        [(p.item, p.lo, p.hi, p.s0, p.s1, len(p.offsets), int(p.offsets[0]) if len(p.offsets) else -1) for p in g]
        for g in groups
    ]
    token = tokenize(
        summary,
        [[_dep_name(items[p.item].streams[n]) for n in names] for g in groups for p in g],
        [(a, b, c) for a, b, c in terms],
        length,
        params["window"],
    )
    gname = f"mb-window-groups-{token}"
    deps: list[da.Array] = []
    dsk: dict[Any, Any] = {}
    for g, group in enumerate(groups):
        refs = []
        for p in group:
            row = []
            for n in names:
                ref, d = _rows_ref(items[p.item].streams[n], p.lo, p.hi)
                row.append(ref)
                deps += d
            refs.append(row)
        win_idx, stream_idx = _group_indices(group)
        dsk[(gname, g)] = (_window_task, _Const((win_idx, stream_idx, terms, length)), refs)
    graph = _graph_layer(gname, dsk, _unique(deps))
    nwin = [sum(len(p.offsets) for p in g) for g in groups]
    nrow = [sum(p.s1 - p.s0 for p in g) for g in groups]
    win_groups = [g for g, k in enumerate(nwin) if k > 0]
    row_groups = [g for g, k in enumerate(nrow) if k > 0]
    M = len(specs)

    def child(kind: str, m: int, which: list[int], sizes: list[int], tail: tuple[int, ...], dtype: Any) -> da.Array:
        name = f"mb-{kind}-{m}-{token}"
        zeros = (0,) * len(tail)
        child_dsk = {(name, c, *zeros): (operator.getitem, (gname, g), m) for c, g in enumerate(which)}
        chunks = (tuple(sizes[g] for g in which), *((t,) for t in tail))
        return _child_array(graph, gname, name, child_dsk, chunks, dtype)

    streams = [child("streams", m, row_groups, nrow, (specs[m].shape[1],), np.float32) for m in range(M)]
    avail = child("available", M, win_groups, nwin, (M,), bool)
    return streams, avail


# ---------------------------------------------------------------- assembly


def order_items(items: list[Any]) -> list[Any]:
    """Items sorted by split (train, val, test), stable within a split; others are dropped."""
    for it in items:
        if it.split not in SPLIT_CODES:
            raise ModalbenchError(f"item {getattr(it, 'id', '?')!r} has split {it.split!r}; expected one of {SPLITS}")
    return sorted(items, key=lambda it: SPLIT_CODES[it.split])


def build_dataset(
    builder: DatasetBuilder, params: dict[str, Any], items: list[Any], computed: dict[str, Any], ctx: PrepareContext
) -> xr.Dataset:
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


def reader_scales(specs: list[ModalitySpec]) -> dict[str, float]:
    """``{modality: scale}`` of the modalities stored as uint8 or int32 (token ids) and scaled by the reader
    (``x * scale`` as float32; 1 for token ids)."""
    return {s.name: READER_SCALES[s.storage_dtype] for s in specs if s.storage_dtype in READER_SCALES}


def _assemble_samples(builder, params, items: list[SampleSplit], computed) -> xr.Dataset:
    specs = builder.modalities(params)
    items = order_items(items)
    n = sum(s.n for s in items)
    rows = sample_chunk_rows(specs, n)
    zarr_rows, rows = rows, sample_write_rows(rows, n)  # dask chunks: whole multiples of the zarr chunks
    scales = reader_scales(specs)
    data_vars: dict[str, Any] = {}
    for spec in specs:
        parts = [da.asarray(s.inputs[spec.name]) for s in items]
        for s, p in zip(items, parts):
            if tuple(p.shape[1:]) != spec.shape:
                raise ModalbenchError(
                    f"{builder.name}: {s.split} {spec.name} has shape {p.shape[1:]}, expected {spec.shape}"
                )
            if spec.name in scales and p.dtype != np.dtype(spec.storage_dtype):
                raise ModalbenchError(
                    f"{builder.name}: {s.split} {spec.name} has dtype {p.dtype}; a modality with "
                    f"storage_dtype {spec.storage_dtype} must be loaded as {spec.storage_dtype}"
                )
        if spec.name in scales:  # stored as loaded; the reader applies attrs["reader_scale"]
            x = da.concatenate(parts, axis=0)
        else:
            x = apply_scaling(
                da.concatenate(parts, axis=0), computed["stats"][spec.name], params["scaling"], 1 + channel_axis(spec)
            )
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
    data_vars.update(_extra_vars(items, rows))
    ds = xr.Dataset(data_vars)
    for name in ds.data_vars:
        ds.variables[name].encoding["chunks"] = (zarr_rows, *ds.variables[name].shape[1:])
    ds.attrs["split_ranges"] = _split_ranges(split)
    if scales:  # only then: stores without uint8 modalities keep their attributes (and fingerprint)
        ds.attrs["reader_scale"] = scales
    return _with_int_coords(ds).assign_coords(modality=_modality_names(specs))


def _extra_vars(items: list[SampleSplit], rows: int) -> dict[str, Any]:
    """The ``extras`` of sample splits as data variables (every split must give the same names and dims)."""
    names = list(items[0].extras) if items else []
    out: dict[str, Any] = {}
    for name in names:
        dims = items[0].extras[name][0]
        if any(s.extras.get(name, (None,))[0] != dims for s in items):
            raise ModalbenchError(f"sample extra {name!r}: every split must give it with dims {dims}")
        x = da.concatenate([da.asarray(s.extras[name][1]) for s in items], axis=0)
        out[name] = (("sample", *dims), x.rechunk((rows, *x.shape[1:])))
    return out


def _assemble_windowed(builder, params, items: list[Recording], computed) -> xr.Dataset:
    specs = builder.modalities(params)
    wp = params["window"]
    length, rule = int(wp["length"]), wp["label_rule"]
    order = sorted(range(len(items)), key=lambda i: SPLIT_CODES[items[i].split])
    groups = plan_window_groups(builder, params, items, order)  # also checks every stream's shape
    label_streams = computed["labels"]
    tasks = _task_label_vars(builder, params)
    first_task = next(iter(tasks))
    offsets_all, rec_all, split_all = [], [], []
    labels_all: dict[str, list[np.ndarray]] = {t: [] for t in tasks}
    stream_labels, rec_start, rec_len, rec_split = [], [], [], []
    pos = 0
    for new_id, i in enumerate(order):
        rec = items[i]
        T = rec.length
        offs = window_offsets(T, length, int(wp["step"][rec.split]))
        for task in tasks:
            labels_all[task].append(window_labels(np.asarray(label_streams[i][task]), offs, length, rule))
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
    srows = stream_chunk_rows(specs)
    rows = min(n, srows)  # per-window variables are small: as many rows per chunk as a stream chunk has
    streams, avail = grouped_windows(builder, params, items, groups, computed["stats"])
    data_vars: dict[str, Any] = {}
    for spec, st in zip(specs, streams, strict=True):
        data_vars[f"stream_{spec.name}"] = (("step", f"{spec.name}_channel"), st.rechunk((srows, spec.shape[1])))
    data_vars["available"] = (("sample", "modality"), avail.rechunk((rows, len(specs))))
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
    return _with_int_coords(ds).assign_coords(modality=_modality_names(specs))


def _modality_names(specs: list[Any]) -> np.ndarray:
    """The ``modality`` coordinate: names (``.sel(modality="left")``), variable-length strings (a stable zarr v3
    data type, unlike fixed-width unicode)."""
    return np.array([s.name for s in specs], dtype=object)


def _with_int_coords(ds: xr.Dataset) -> xr.Dataset:
    """Integer coordinates ``0..n-1`` on every dimension."""
    return ds.assign_coords({d: np.arange(n, dtype=np.int64) for d, n in ds.sizes.items()})


def make_attrs(
    builder: DatasetBuilder, params: dict[str, Any], ds: xr.Dataset, stats: dict[str, Any], ctx: PrepareContext
) -> dict[str, Any]:
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
        "version": builder.version_for(params),
        "description": builder.description_for(params),
        "synthetic": bool(builder.synthetic),
        "structure": builder.structure,
        "task": tasks[0].name,
        "task_type": tasks[0].task_type,
        "classes": list(tasks[0].classes),
        "tasks": {
            t.name: {
                "variable": label_vars[t.name],
                "task_type": t.task_type,
                "classes": list(t.classes),
                **({"val_excluded_classes": list(t.val_excluded)} if t.val_excluded else {}),
                **({"primary_metric": t.primary_metric} if t.primary_metric else {}),
            }
            for t in tasks
        },
        "modalities": [m.to_dict() for m in builder.modalities(params)],
        "source": source,
        "params": params,
        "normalisation": stats,
        "split_codes": dict(SPLIT_CODES),
        "split_ranges": ranges,
        "n_samples": {k: v[1] - v[0] for k, v in ranges.items()},
        "store_format": STORE_FORMATS[builder.structure],
    }
    if "reader_scale" in ds.attrs:
        attrs["reader_scale"] = ds.attrs["reader_scale"]
    if builder.structure == "windowed":
        attrs["n_recordings"] = ds.attrs["n_recordings"]
        attrs["recordings"] = ds.attrs["recordings"]
    attrs = json.loads(canonical_json(attrs))  # plain JSON types only
    attrs["modalbench_version"] = __version__
    attrs["provenance"] = provenance(builder)
    attrs["fingerprint"] = fingerprint(attrs)
    return attrs


def provenance(builder: DatasetBuilder) -> dict[str, Any]:
    """Library versions that wrote the store: recorded, but outside the fingerprint (they do not change the data;
    the data's own checksums are in ``source``). A builder adds its own with ``library_versions()``."""
    import dask as dask_mod
    import zarr

    libs = {"numpy": np.__version__, "xarray": xr.__version__, "zarr": zarr.__version__, "dask": dask_mod.__version__}
    extra = getattr(builder, "library_versions", None)
    if callable(extra):
        libs.update({str(k): str(v) for k, v in extra().items()})
    return {"modalbench": __version__, "libraries": dict(sorted(libs.items()))}


# ---------------------------------------------------------------- writing


def encoding_for(ds: xr.Dataset, *, compress: bool = True) -> dict[str, dict[str, Any]]:
    """Blosc-zstd + bitshuffle on every variable (none when not ``compress``); zarr chunks follow the dask chunks."""
    from zarr.codecs import BloscCodec

    codecs = (BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"),) if compress else ()
    enc: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        e: dict[str, Any] = {"compressors": codecs}
        if "chunks" in var.encoding:  # zarr chunks smaller than the dask chunks (sample stores)
            e["chunks"] = tuple(var.encoding["chunks"])
        elif var.chunks:
            e["chunks"] = tuple(c[0] for c in var.chunks)
        enc[str(name)] = e
    return enc


def write_store(ds: xr.Dataset, path: Path, *, progress: bool = True, compress: bool = True) -> None:
    """Write ``ds`` to a zarr v3 store at ``path`` (the caller makes it atomic); ``compress`` as in
    :func:`encoding_for`."""
    ds.attrs["split_codes"] = ds.attrs.get("split_codes", dict(SPLIT_CODES))
    url, options = zarr_location(path)
    with DaskProgress("writing store", enabled=progress), warnings.catch_warnings():
        # consolidated metadata (so a plain xr.open_zarr is quiet) are not in the zarr v3 spec yet: zarr says so
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        ds.to_zarr(
            url,
            mode="w-",
            zarr_format=3,
            consolidated=True,
            encoding=encoding_for(ds, compress=compress),
            compute=True,
            storage_options=options,
        )


@dataclass
class PrepareResult:
    """What a prepare did: the store path and attributes, whether it was a no-op, and what happened to the
    version's scenario artifacts (relative to ``<version>/scenarios/``)."""

    path: Path
    attrs: dict[str, Any]
    skipped: bool
    seconds: float
    removed_scenarios: list[str] = field(default_factory=list)  # deleted: the data fingerprint changed
    kept_scenarios: list[str] = field(default_factory=list)  # carried over by --force: fingerprint unchanged
    notes: list[str] = field(default_factory=list)  # e.g. locking skipped on an object store


@contextmanager
def scheduler(workers: int | None = None, address: str | None = None) -> Iterator[Any]:
    """Local threaded scheduler by default; ``workers`` starts a LocalCluster; ``address`` joins a cluster."""
    if not workers and not address:
        if "distributed" in sys.modules:  # a Client the caller made may be current: dask finds it
            yield None
        else:  # no Client can exist: say what dask would choose, which spares it importing distributed (~0.8 s)
            import dask.threaded

            with dask.config.set({"scheduler": dask.threaded.get, "array.rechunk.method": "tasks"}):
                yield None
        return
    from distributed import Client

    if address:
        client = Client(address)
        try:
            yield client
        finally:
            client.close()
        return
    assert workers is not None  # no address: workers was given (see the first test)
    with (
        local_cluster(workers) as cl,
        Client(cl) as client,
    ):
        yield client


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if canonical_json(a) == canonical_json(b) else [f"{prefix[:-1]}: {a!r} -> {b!r}"]


def prepare(
    name: str,
    *,
    root: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    force: bool = False,
    raw: Path | None = None,
    verification: str = "strict",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    lock_timeout: float | None = None,
    on_message: Callable[[str], None] | None = None,
    mirrors: Sequence[str] = (),
) -> PrepareResult:
    """Prepare dataset ``name`` under ``root``; a no-op when an identical store exists.

    Runs under the dataset version's lock (:func:`modalbench.locks.dataset_lock`): a second concurrent prepare
    waits (``on_message`` gets one line; default: stderr) up to ``lock_timeout`` seconds (None: as long as it
    takes), then finds the first one's store. ``force`` rebuilds; scenario artifacts are kept when the data
    fingerprint is unchanged and removed (listed in the result) when it changes. A write that fails (full disk,
    read-only or missing directory) is one :class:`StoreError` line and leaves no partial directory.
    ``mirrors``: base URLs or directories tried first for every raw file, as ``<mirror>/<dataset>/<file name>``.
    """
    t0 = time.perf_counter()
    if verification not in VERIFICATION_MODES:
        raise ModalbenchError(f"--verification must be strict, warn or off (got {verification!r})")
    say = on_message or _to_stderr
    builder = get_dataset(name)
    params = merge_params(builder.default_params(), overrides)
    params = json.loads(canonical_json(params))
    root_p = resolve_root(root)
    params = builder.resolve_params(params, Path(raw) if raw else None, local_raw_dir(root_p, builder.name))
    try:
        with dataset_lock(root_p, builder.name, builder.version_for(params), timeout=lock_timeout, on_wait=say) as note:
            if note:
                say(note)
            result = _prepare_locked(
                builder,
                params,
                root_p,
                force=force,
                raw=raw,
                verification=verification,
                workers=workers,
                address=address,
                progress=progress,
                mirrors=mirrors,
            )
    except OSError as exc:
        raise _write_error(exc, builder, root_p) from exc
    if note:
        result.notes.append(note)
    result.seconds = time.perf_counter() - t0
    return result


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _write_error(exc: OSError, builder: DatasetBuilder, root: Path) -> StoreError:
    """One line for a failed file operation (full disk, read-only or missing directory, …): which path, what the
    system said, and that nothing was left behind."""
    where = exc.filename or root
    what = exc.strerror or str(exc)
    code = errno.errorcode.get(exc.errno or 0, "")
    return StoreError(
        f"prepare {builder.name} failed: {where}: {what}{f' ({code})' if code else ''}; "
        f"no partial store was left under {version_dir(root, builder.name, builder.version)}"
    )


def scenario_artifacts(directory: Path) -> list[str]:
    """Scenario artifact directories (``<family>@<v>/seed-<k>[-val]``) under a version directory."""
    base = directory / "scenarios"
    if not base.is_dir():
        return []
    return sorted(
        f"{d.parent.name}/{d.name}"
        for d in base.glob("*/seed-*")
        if d.is_dir() and not d.name.endswith((".incomplete", ".old"))
    )


def _prepare_locked(
    builder: DatasetBuilder,
    params: dict[str, Any],
    root_p: Path,
    *,
    force: bool,
    raw: Path | None,
    verification: str,
    workers: int | None,
    address: str | None,
    progress: bool,
    mirrors: Sequence[str] = (),
) -> PrepareResult:
    version = builder.version_for(params)
    final = version_dir(root_p, builder.name, version)
    path = store_path(root_p, builder.name, version)
    try:
        marker = read_marker(root_p, builder.name, version)
    except StoreError:
        if not force:
            raise
        marker = None  # a damaged marker is replaced by --force
    if marker is not None and not force:
        if marker.get("params") == params:
            attrs = read_json(final / "attrs.json") if (final / "attrs.json").exists() else {}
            return PrepareResult(path, attrs, True, 0.0)
        changes = "; ".join(_diff(marker.get("params"), params)) or "parameters differ"
        raise StoreError(f"{final} was prepared with different parameters ({changes}); pass --force to rebuild it")
    if raw is not None and not Path(raw).is_dir():
        raise ModalbenchError(f"--raw {raw}: not a directory")
    download_dir = local_raw_dir(root_p, builder.name)
    ctx = PrepareContext(
        root=str(root_p),
        raw_dir=Path(raw) if raw else None,
        verification=verification,
        progress=progress,
        download_dir=download_dir,
        mirrors=tuple(mirrors),
    )
    download_dir.mkdir(parents=True, exist_ok=True)
    run_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    with scheduler(workers, address):
        items = builder.load(params, ctx)
        computed = compute_stats(builder, params, items, ctx)
        ds = build_dataset(builder, params, items, computed, ctx)
        existing = scenario_artifacts(final)
        keep = marker is not None and marker.get("fingerprint") == ds.attrs["fingerprint"]
        with atomic_dir(final, keep=("scenarios",) if keep else ()) as tmp:
            write_store(ds, tmp / "store.zarr", progress=progress, compress=builder.compress_store)
            write_json_atomic(tmp / "attrs.json", ds.attrs)
            digest = write_checksums(tmp)
            write_marker(
                tmp,
                dataset=builder.name,
                version=version,
                fingerprint=ds.attrs["fingerprint"],
                params=params,
                checksums_sha256=digest,
                run_id=run_id,
            )
    return PrepareResult(
        path,
        dict(ds.attrs),
        False,
        0.0,
        removed_scenarios=[] if keep else existing,
        kept_scenarios=existing if keep else [],
    )
