"""Opening, describing and fingerprinting prepared stores (layout: docs/store-format.md)."""

from __future__ import annotations

import json
from hashlib import sha256
from pathlib import Path
from typing import Any

import xarray as xr

from . import __version__
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


def open_store(root: str | Path | None, name: str, version: str | None = None, *, chunks: Any = None) -> xr.Dataset:
    """Open a complete store with xarray (``chunks=None``: plain lazy zarr, no dask — safe in DataLoader workers)."""
    path, marker = locate(root, name, version)
    url, options = zarr_location(path)
    ds = xr.open_zarr(url, chunks=chunks, consolidated=False, zarr_format=3, storage_options=options)
    if ds.attrs.get("fingerprint") != marker.get("fingerprint"):
        raise StoreError(f"{path}: fingerprint does not match its completion marker; run: modalbench prepare {name} --force")
    return ds


def summary(root: str | Path | None, name: str, version: str | None = None) -> dict[str, Any]:
    """What ``modalbench info`` shows: path, version, fingerprint, samples per split, modalities, parameters, stats."""
    ds = open_store(root, name, version)
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
        "variables": sorted(str(v) for v in ds.data_vars),
    }
