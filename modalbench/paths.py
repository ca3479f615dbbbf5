"""Where data lives: ``--root`` > ``$MODALBENCH_HOME`` > the platform cache dir; layout ``<root>/<dataset>/<version>/``."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_HOME = "MODALBENCH_HOME"


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: the explicit argument, else ``$MODALBENCH_HOME``, else ``~/.cache/modalbench``."""
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("modalbench", appauthor=False))


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


def marker_path(root: Path, name: str, version: str) -> Path:
    """The completion marker; a store without it is not complete."""
    return version_dir(root, name, version) / "COMPLETE"


def scenario_dir(root: Path, name: str, version: str, scenario_id: str, seed: int) -> Path:
    """``<root>/<dataset>/<version>/scenarios/<family>@<v>/seed-<k>/``."""
    return version_dir(root, name, version) / "scenarios" / scenario_id / f"seed-{seed}"
