"""Opening, describing and fingerprinting prepared stores (layout: docs/store-format.md)."""

from __future__ import annotations

import json
import time
import warnings
from hashlib import sha256
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import BackendArray

from . import STORE_FORMATS, __version__
from .atomic import canonical_json, write_json_atomic
from .errors import ModalbenchError, StoreError
from .jsonio import read_json
from .paths import MARKER, marker_path, resolve_root, store_path, version_dir, zarr_location

#: Attributes outside the fingerprint: the fingerprint itself and provenance (library versions, the modalbench
#: version that wrote the store), which do not change the data.
UNFINGERPRINTED = ("fingerprint", "modalbench_version", "provenance")


def fingerprint(attrs: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``attrs`` without :data:`UNFINGERPRINTED` (data + preprocessing only)."""
    body = {k: v for k, v in attrs.items() if k not in UNFINGERPRINTED}
    return sha256(canonical_json(body)).hexdigest()


def read_marker(root: Path, name: str, version: str) -> dict[str, Any] | None:
    """The completion marker of a store, or None when the store is absent or incomplete.

    A marker that exists but is not a strict JSON object is a :class:`StoreError` naming it (markers are written
    atomically, so this is damage, not an interrupted prepare).
    """
    path = marker_path(root, name, version)
    if not path.is_file():
        return None
    try:
        marker = read_json(path, max_bytes=1 << 20)
    except ModalbenchError as exc:
        raise StoreError(f"{exc}; rebuild it: modalbench prepare {name} --force") from None
    if not isinstance(marker, dict) or not isinstance(marker.get("fingerprint"), str):
        raise StoreError(
            f"{path}: not a completion marker (expected an object with 'fingerprint'); "
            f"rebuild it: modalbench prepare {name} --force"
        )
    return marker


def write_marker(
    directory: Path,
    *,
    dataset: str,
    version: str,
    fingerprint: str,
    params: dict[str, Any],
    checksums_sha256: str | None,
    run_id: str,
) -> dict[str, Any]:
    """Write the ``COMPLETE`` marker into ``directory`` (a version directory or its ``.incomplete`` twin), last.

    Only the run that wrote every file of the store calls this (the prepare holds the dataset-version lock);
    ``run_id`` says which run that was, ``checksums_sha256`` pins ``checksums.json``.
    """
    record = {
        "dataset": dataset,
        "version": version,
        "fingerprint": fingerprint,
        "params": params,
        "checksums_sha256": checksums_sha256,
        "run_id": run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "modalbench_version": __version__,
    }
    write_json_atomic(directory / MARKER, record)
    return record


def split_dataset_ref(ref: str) -> tuple[str, str | None]:
    """``"NAME@VERSION"`` → ``("NAME", "VERSION")``; ``"NAME"`` → ``("NAME", None)``: how every command that takes a
    prepared dataset names one version of it."""
    name, sep, version = ref.partition("@")
    if sep and (not name or not version or "@" in version):
        raise ModalbenchError(f"dataset {ref!r}: expected NAME or NAME@VERSION (e.g. avmnist@v1-regen)")
    return name, (version if sep else None)


def rebuild_command(ref: str, params: dict[str, Any] | None = None) -> str:
    """``modalbench prepare NAME --force`` plus a ``--set`` for every recorded parameter that differs from the
    dataset's defaults, so the command rebuilds that very store (``ref`` may be ``NAME@VERSION``; ``prepare`` takes
    the bare name and finds the version from the parameters)."""
    from .datasets import get_dataset

    name, _ = split_dataset_ref(ref)
    sets = ""
    if params:
        try:
            defaults = _flat(get_dataset(name).default_params())
        except ModalbenchError:
            defaults = {}
        missing = object()
        for key, value in sorted(_flat(params).items()):
            if defaults.get(key, missing) != value:
                text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
                sets += f" --set {key}={text}"
    return f"modalbench prepare {name}{sets} --force"


def _flat(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def prepared_versions(name: str, root: str | Path | None = None) -> list[str]:
    """The versions of dataset ``name`` (its builder's :meth:`~modalbench.datasets.DatasetBuilder.versions`, in
    that order) with a complete store under ``root``."""
    from .datasets import get_dataset

    name, _ = split_dataset_ref(name)
    root_p = resolve_root(root)
    found = []
    for version in get_dataset(name).versions():
        try:
            if read_marker(root_p, name, version) is not None:
                found.append(version)
        except StoreError:
            continue
    return found


def store_version(name: str, root: str | Path | None = None) -> str:
    """The version of dataset ``name`` to use under ``root``: the one ``NAME@VERSION`` names; else the registered
    builder's. For a builder that writes several (:meth:`~modalbench.datasets.DatasetBuilder.versions`): the one
    prepared under ``root``; when several are prepared, a one-line :class:`ModalbenchError` listing them (which one
    is meant must be said), none prepared: the preferred one."""
    from .datasets import get_dataset

    name, version = split_dataset_ref(name)
    if version is not None:
        return version
    versions = get_dataset(name).versions()
    if len(versions) > 1:
        prepared = prepared_versions(name, root)
        if len(prepared) > 1:
            refs = ", ".join(f"{name}@{v}" for v in prepared)
            raise ModalbenchError(
                f"{name}: {len(prepared)} versions are prepared under {resolve_root(root)} ({refs}); name the one to "
                f"use, e.g. --dataset {name}@{prepared[-1]} (or {name}@{prepared[-1]} as the dataset argument)"
            )
        if prepared:
            return prepared[0]
    return versions[0]


def is_prepared(root: str | Path | None, name: str, version: str | None = None) -> bool:
    """True when a complete store of ``name`` (``NAME@VERSION``, or ``version``; default: the version this
    modalbench prepares, or any when several are prepared) is under ``root``."""
    root_p = resolve_root(root)
    name, named = split_dataset_ref(name)
    version = version or named
    if version is None and len(prepared_versions(name, root_p)) > 1:
        return True
    version = version or store_version(name, root_p)
    try:
        return read_marker(root_p, name, version) is not None
    except StoreError:
        return False


def locate(root: str | Path | None, name: str, version: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Path of a complete store and its marker (``name`` may be ``NAME@VERSION``); :class:`StoreError` when it is
    missing or incomplete."""
    root_p = resolve_root(root)
    name, named = split_dataset_ref(name)
    version = version or named or store_version(name, root_p)
    marker = read_marker(root_p, name, version)
    path = store_path(root_p, name, version)
    if marker is None:
        state = (
            "is incomplete (an interrupted prepare?)"
            if version_dir(root_p, name, version).with_name(f"{version}.incomplete").exists() or path.exists()
            else "is not prepared"
        )
        raise StoreError(
            f"dataset {name!r} {version} {state} under {root_p}; run: modalbench prepare {name} --root {root_p}"
        )
    return path, marker


def open_store(
    name: str, *legacy: Any, root: str | Path | None = None, version: str | None = None, chunks: Any = None
) -> xr.Dataset:
    """Open the complete store of dataset ``name`` under ``root`` (default: ``$MODALBENCH_HOME``) with xarray.

    ``chunks=None``: plain lazy zarr, no dask — safe in DataLoader workers. The ``modality`` coordinate holds the
    modality names (``ds.available.sel(modality="left")``). Windowed stores get each modality's windows as a lazy
    virtual variable ``(sample, time, <m>_channel)`` cut from ``stream_<m>`` on access (see docs/store-format.md).
    The former order ``open_store(root, name[, version])`` still works, with a DeprecationWarning.
    """
    if legacy:
        if len(legacy) > 2:
            raise TypeError("open_store(name, *, root=None, version=None, chunks=None)")
        warnings.warn(
            "open_store(root, name[, version]) is deprecated; use open_store(name, root=root, version=version)",
            DeprecationWarning,
            stacklevel=2,
        )
        root, name = name, legacy[0]
        version = legacy[1] if len(legacy) > 1 else version
    path, marker = locate(root, name, version)
    url, options = zarr_location(path)
    ds = xr.open_zarr(url, chunks=chunks, consolidated=False, zarr_format=3, storage_options=options)
    if ds.attrs.get("fingerprint") != marker.get("fingerprint"):
        raise StoreError(
            f"{path}: fingerprint does not match its completion marker; run: modalbench prepare {name} --force"
        )
    check_store_format(ds.attrs, path)
    names = [m["name"] for m in ds.attrs.get("modalities", [])]
    if names and ds.sizes.get("modality") == len(names) and ds["modality"].dtype.kind in "iu":
        ds = ds.assign_coords(modality=np.array(names, dtype=object))  # stores written before names were stored
    return with_window_variables(with_reader_scale(ds), chunks)


def check_store_format(attrs: dict[str, Any], where: Any) -> None:
    """Reject a store whose layout version this modalbench does not read, naming the command that rebuilds it."""
    structure = attrs.get("structure")
    if structure not in STORE_FORMATS or "store_format" not in attrs:
        return  # hand-made stores without the attributes are read as they are
    have, want = int(attrs["store_format"]), STORE_FORMATS[structure]
    if have != want:
        name = attrs.get("dataset", "NAME")
        raise StoreError(
            f"{where}: store format {have} of a {structure} store; this modalbench reads format {want} "
            f"(see docs/store-format.md). Rebuild it: modalbench prepare {name} --force"
        )


def with_window_variables(ds: xr.Dataset, chunks: Any = None) -> xr.Dataset:
    """Add the virtual per-window variables of a windowed (format 2) store; other stores are returned as they are."""
    attrs = ds.attrs
    if attrs.get("structure") != "windowed" or int(attrs.get("store_format", 1)) < 2:
        return ds
    from xarray.core import indexing

    starts = _LazyStarts(ds)
    out = {}
    for m in attrs["modalities"]:
        name = m["name"]
        if name in ds.variables:
            continue
        stream = ds[f"stream_{name}"].variable
        backend = _VirtualWindows(stream, starts, int(m["shape"][0]), int(ds.sizes["sample"]))
        var = xr.Variable(
            ("sample", "time", f"{name}_channel"),
            indexing.LazilyIndexedArray(backend),
            attrs={"virtual": f"windows of stream_{name}"},
        )
        if chunks is not None:
            rows = max(1, (2 << 20) // max(1, 4 * int(np.prod(backend.shape[1:]))))
            var = var.chunk({"sample": rows})
        out[name] = var
    if not out:
        return ds
    length = next(iter(out.values())).shape[1]
    ds = ds.assign(out)
    return ds.assign_coords(time=np.arange(length, dtype=np.int64)) if "time" not in ds.coords else ds


def with_reader_scale(ds: xr.Dataset) -> xr.Dataset:
    """Modalities stored as uint8 (``attrs["reader_scale"]``) as lazy float32 ``x * scale``, like the reader."""
    scales = ds.attrs.get("reader_scale") or {}
    if not scales:
        return ds
    from xarray.core import indexing

    out = {}
    for name, scale in scales.items():
        var = ds[name].variable
        attrs = {**var.attrs, "reader_scale": scale, "stored_dtype": str(var.dtype)}
        if var.chunks is not None:  # dask-backed: stays lazy as a dask operation
            out[name] = xr.Variable(var.dims, var.data.astype(np.float32) * np.float32(scale), attrs=attrs)
        else:
            data = indexing.LazilyIndexedArray(_ScaledArray(var, np.float32(scale)))
            out[name] = xr.Variable(var.dims, data, attrs=attrs)
    return ds.assign(out)


class _ScaledArray(BackendArray):
    """xarray backend array: a stored uint8 variable read as float32 ``x * scale`` when indexed."""

    def __init__(self, var: xr.Variable, scale: np.float32) -> None:
        self.var, self.scale = var, scale
        self.shape = tuple(var.shape)
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, key: Any) -> np.ndarray:
        from xarray.core import indexing

        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._getitem)

    def _getitem(self, key: tuple[Any, ...]) -> np.ndarray:
        return np.multiply(np.asarray(self.var[key].values), self.scale, dtype=np.float32)


class _LazyStarts:
    """The first stream row of every window, read on first use."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._vars = (ds["recording"].variable, ds["offset"].variable, ds["recording_start"].variable)
        self._value: np.ndarray | None = None

    def get(self) -> np.ndarray:
        if self._value is None:
            from .windows import global_starts

            self._value = global_starts(*(np.asarray(v.values) for v in self._vars))
        return self._value


class _VirtualWindows(BackendArray):
    """xarray backend array: windows ``(sample, time, channel)`` cut from a stream variable when indexed."""

    def __init__(self, stream: xr.Variable, starts: _LazyStarts, length: int, n_samples: int) -> None:
        self.stream, self.starts, self.length = stream, starts, length
        self.shape = (n_samples, length, int(stream.shape[1]))
        self.dtype = np.dtype(stream.dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        from xarray.core import indexing

        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._getitem)

    def _getitem(self, key: tuple[Any, ...]) -> np.ndarray:
        from .windows import cut_windows

        rows = np.arange(self.shape[0])[key[0]]
        scalar = np.ndim(rows) == 0
        g = self.starts.get()[np.atleast_1d(rows)]
        if len(g):
            lo, hi = int(g.min()), int(g.max()) + self.length
            block = np.asarray(self.stream[lo:hi].values)
            out = cut_windows(block, g - lo, self.length)
        else:
            out = np.zeros((0, self.length, self.shape[2]), dtype=self.dtype)
        for axis in (2, 1):  # last axis first, so an integer key does not shift the axes before it
            out = out[(slice(None),) * axis + (key[axis],)]
        return out[0] if scalar else out


def summary(root: str | Path | None, name: str, version: str | None = None) -> dict[str, Any]:
    """What ``modalbench info`` shows: path, version, fingerprint, samples per split, modalities, parameters, stats."""
    ds = open_store(name, root=root, version=version)
    a = ds.attrs
    return {
        "dataset": a["dataset"],
        "version": a["version"],
        "path": str(locate(root, name, version)[0]),
        "fingerprint": a["fingerprint"],
        "synthetic": a.get("synthetic", False),
        "description": a.get("description", ""),
        "n_samples": a["n_samples"],
        "n_samples_total": int(ds.sizes["sample"]),
        "n_recordings": a.get("n_recordings"),
        "task": a["task"],
        "task_type": a["task_type"],
        "classes": a["classes"],
        "tasks": a["tasks"],
        "modalities": [
            {**m, "dtype": str(ds[m["name"]].dtype), "store_shape": list(ds[m["name"]].shape)} for m in a["modalities"]
        ],
        "params": a["params"],
        "normalisation": a["normalisation"],
        "source": a["source"],
        "store_format": a["store_format"],
        "modalbench_version": a.get("modalbench_version", __version__),
        "variables": sorted(str(v) for v in ds.data_vars if "virtual" not in ds[v].attrs),
        "virtual_variables": sorted(str(v) for v in ds.data_vars if "virtual" in ds[v].attrs),
    }
