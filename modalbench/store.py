"""Opening, describing and fingerprinting prepared stores (layout: docs/store-format.md)."""

from __future__ import annotations

import json
import warnings
from hashlib import sha256
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import BackendArray

from . import STORE_FORMATS, __version__
from .atomic import canonical_json
from .errors import StoreError
from .paths import marker_path, resolve_root, store_path, version_dir, zarr_location

UNFINGERPRINTED = ("fingerprint", "modalbench_version")


def fingerprint(attrs: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``attrs`` without ``fingerprint`` and ``modalbench_version``."""
    body = {k: v for k, v in attrs.items() if k not in UNFINGERPRINTED}
    return sha256(canonical_json(body)).hexdigest()


def read_marker(root: Path, name: str, version: str) -> dict[str, Any] | None:
    """The completion marker of a store, or None when the store is absent or incomplete."""
    path = marker_path(root, name, version)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def store_version(root: str | Path | None, name: str) -> str:
    """The version of dataset ``name`` that this modalbench prepares (the registered builder's)."""
    from .datasets import get_dataset

    return get_dataset(name).version


def is_prepared(root: str | Path | None, name: str, version: str | None = None) -> bool:
    root_p = resolve_root(root)
    version = version or store_version(root_p, name)
    return read_marker(root_p, name, version) is not None


def locate(root: str | Path | None, name: str, version: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Path of a complete store and its marker; :class:`StoreError` when it is missing or incomplete."""
    root_p = resolve_root(root)
    version = version or store_version(root_p, name)
    marker = read_marker(root_p, name, version)
    path = store_path(root_p, name, version)
    if marker is None:
        state = "is incomplete (an interrupted prepare?)" if version_dir(root_p, name, version).with_name(
            f"{version}.incomplete").exists() or path.exists() else "is not prepared"
        raise StoreError(f"dataset {name!r} {version} {state} under {root_p}; run: modalbench prepare {name} --root {root_p}")
    return path, marker


def open_store(name: str, *legacy: Any, root: str | Path | None = None, version: str | None = None,
               chunks: Any = None) -> xr.Dataset:
    """Open the complete store of dataset ``name`` under ``root`` (default: ``$MODALBENCH_HOME``) with xarray.

    ``chunks=None``: plain lazy zarr, no dask — safe in DataLoader workers. The ``modality`` coordinate holds the
    modality names (``ds.available.sel(modality="left")``). Windowed stores get each modality's windows as a lazy
    virtual variable ``(sample, time, <m>_channel)`` cut from ``stream_<m>`` on access (see docs/store-format.md).
    The former order ``open_store(root, name[, version])`` still works, with a DeprecationWarning.
    """
    if legacy:
        if len(legacy) > 2:
            raise TypeError("open_store(name, *, root=None, version=None, chunks=None)")
        warnings.warn("open_store(root, name[, version]) is deprecated; use open_store(name, root=root, "
                      "version=version)", DeprecationWarning, stacklevel=2)
        root, name = name, legacy[0]
        version = legacy[1] if len(legacy) > 1 else version
    path, marker = locate(root, name, version)
    url, options = zarr_location(path)
    ds = xr.open_zarr(url, chunks=chunks, consolidated=False, zarr_format=3, storage_options=options)
    if ds.attrs.get("fingerprint") != marker.get("fingerprint"):
        raise StoreError(f"{path}: fingerprint does not match its completion marker; run: modalbench prepare {name} --force")
    check_store_format(ds.attrs, path)
    names = [m["name"] for m in ds.attrs.get("modalities", [])]
    if names and ds.sizes.get("modality") == len(names) and ds["modality"].dtype.kind in "iu":
        ds = ds.assign_coords(modality=np.array(names, dtype=object))  # stores written before names were stored
    return with_window_variables(ds, chunks)


def check_store_format(attrs: dict[str, Any], where: Any) -> None:
    """Reject a store whose layout version this modalbench does not read, naming the command that rebuilds it."""
    structure = attrs.get("structure")
    if structure not in STORE_FORMATS or "store_format" not in attrs:
        return  # hand-made stores without the attributes are read as they are
    have, want = int(attrs["store_format"]), STORE_FORMATS[structure]
    if have != want:
        name = attrs.get("dataset", "NAME")
        raise StoreError(f"{where}: store format {have} of a {structure} store; this modalbench reads format {want} "
                         f"(see docs/store-format.md). Rebuild it: modalbench prepare {name} --force")


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
        var = xr.Variable(("sample", "time", f"{name}_channel"), indexing.LazilyIndexedArray(backend),
                          attrs={"virtual": f"windows of stream_{name}"})
        if chunks is not None:
            rows = max(1, (2 << 20) // max(1, 4 * int(np.prod(backend.shape[1:]))))
            var = var.chunk({"sample": rows})
        out[name] = var
    if not out:
        return ds
    length = next(iter(out.values())).shape[1]
    ds = ds.assign(out)
    return ds.assign_coords(time=np.arange(length, dtype=np.int64)) if "time" not in ds.coords else ds


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
