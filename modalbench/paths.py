"""Where data lives: ``--root`` > ``$MODALBENCH_HOME`` > the platform cache dir; layout ``<root>/<dataset>/<version>/``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import platformdirs

from .errors import ModalbenchError

if TYPE_CHECKING:
    import zarr
    from fsspec import AbstractFileSystem

ENV_HOME = "MODALBENCH_HOME"


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: the explicit argument, else ``$MODALBENCH_HOME``, else ``~/.cache/modalbench``.

    fsspec URLs (``s3://bucket/prefix``, ``gs://…``, ``memory://…``) give a :class:`upath.UPath`, which has
    the ``pathlib`` API over the object store; ``file://`` URLs and plain paths give a local :class:`Path`.
    """
    if root is None or str(root) == "":
        root = os.environ.get(ENV_HOME) or platformdirs.user_cache_dir("modalbench", appauthor=False)
    if isinstance(root, Path) or is_local_path(root):
        text = str(root)
        return Path(text[len("file://") :] if text.startswith("file://") else text).expanduser()
    from upath import UPath

    return UPath(str(root))  # type: ignore[return-value]


def is_local_path(path: object) -> bool:
    """True for plain paths and ``file://`` URLs; False for fsspec URLs of other protocols."""
    if isinstance(path, Path) and type(path).__module__.startswith("pathlib"):
        return True
    text = str(path)
    return "://" not in text or text.startswith("file://")


def is_local(path: Path) -> bool:
    """True when ``path`` (from :func:`resolve_root`) lives on the local file system."""
    return not hasattr(path, "fs") or getattr(path, "protocol", "") in ("", "file", "local")


def remote_fs(path: Path) -> tuple[AbstractFileSystem, str]:
    """The fsspec file system of a remote path from :func:`resolve_root` and the path inside it."""
    from upath import UPath

    if not isinstance(path, UPath):
        raise TypeError(f"{path}: a local path has no fsspec file system here")
    return path.fs, path.path


def zarr_location(path: Path) -> tuple[str, dict | None]:
    """``(url_or_path, storage_options)`` for xarray/zarr of a local or fsspec path."""
    if is_local(path):
        return str(path), None
    return str(path), dict(getattr(path, "storage_options", {}) or {})


def local_raw_dir(root: Path, name: str) -> Path:
    """Raw archives are parsed locally: under a remote root they are kept in the local cache instead."""
    if is_local(root):
        return raw_dir(root, name)
    return Path(platformdirs.user_cache_dir("modalbench", appauthor=False)) / name / "raw"


def dataset_dir(root: Path, name: str) -> Path:
    return root / name


def raw_dir(root: Path, name: str) -> Path:
    """Where downloaded raw archives of a dataset are kept (shared by its versions)."""
    return root / name / "raw"


def version_dir(root: Path, name: str, version: str) -> Path:
    return root / name / version


def store_path(root: Path, name: str, version: str) -> Path:
    """The zarr store of a prepared dataset version."""
    return version_dir(root, name, version) / "store.zarr"


MARKER = "COMPLETE"


def marker_path(root: Path, name: str, version: str) -> Path:
    """The completion marker; a store without it is not complete (written and read by :mod:`modalbench.store`)."""
    return version_dir(root, name, version) / MARKER


def lock_path(root: Path, name: str, version: str) -> Path:
    """The lock file of one dataset version (next to, not inside, the version directory that prepare replaces)."""
    return root / name / f".{version}.lock"


def scenario_dir(root: Path, name: str, version: str, scenario_id: str, seed: int) -> Path:
    """``<root>/<dataset>/<version>/scenarios/<family>@<v>/seed-<k>/``."""
    return version_dir(root, name, version) / "scenarios" / scenario_id / f"seed-{seed}"


def open_zarr_group(path: Path, mode: Literal["r", "r+", "a", "w", "w-"] = "r") -> zarr.Group:
    """``zarr.open_group`` for a local path or an fsspec :class:`upath.UPath`."""
    import zarr

    url, options = zarr_location(path)
    return zarr.open_group(url, mode=mode, zarr_format=3, storage_options=options)


def group_array(group: zarr.Group, name: str) -> zarr.Array:
    """The array ``name`` of a zarr group; a sub-group in its place is an error naming the store and member."""
    import zarr

    node = group[name]
    if not isinstance(node, zarr.Array):
        raise ModalbenchError(f"{group.store_path}/{name}: a zarr group where an array was expected")
    return node
