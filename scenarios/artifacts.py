"""Scenario artifacts on disk: ``<root>/<dataset>/<version>/scenarios/<family>@<v>/seed-<k>/``.

Each artifact directory holds ``manifest.json`` and ``masks.zarr`` (one zarr v3 array per mask array,
Blosc-zstd + bitshuffle) and is written atomically with :func:`modalbench.atomic.atomic_dir`. Artifacts
of the val split live in ``seed-<k>-val/``. The manifest's ``sha256`` covers the canonical bytes of every
array (see :data:`.base.SHA256_DEFINITION`), so it does not depend on zarr chunking or compression.

Re-running with an existing artifact of the same scenario, parameters, seed, split and dataset fingerprint
whose masks still match the recorded sha256 is a no-op; otherwise the artifact is regenerated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from zarr.codecs import BloscCodec

from modalbench.atomic import atomic_dir, write_json_atomic
from modalbench.errors import ModalbenchError
from modalbench.paths import open_zarr_group, resolve_root, scenario_dir, version_dir

from .base import Scenario, check_split, get_scenario, masks_sha256

MANIFEST = "manifest.json"
MASKS = "masks.zarr"
_CHUNK_BYTES = 4 * 2**20


def artifact_dir(root: Path, name: str, version: str, scenario_id: str, seed: int, split: str = "test") -> Path:
    """Where an artifact lives (test: ``seed-<k>``, val: ``seed-<k>-val``)."""
    check_split(split)
    d = scenario_dir(resolve_root(root), name, version, scenario_id, seed)
    return d if split == "test" else d.with_name(f"{d.name}-{split}")


def _chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Leading axis split so that each chunk stays near 4 MB (a whole condition per chunk when it fits)."""
    if not shape:
        return ()
    if len(shape) >= 3:  # (K, N|T, M): one condition per chunk, rows split if large
        row = int(np.prod(shape[2:])) * itemsize
        return (1, max(1, min(shape[1], _CHUNK_BYTES // max(row, 1))), *shape[2:])
    row = int(np.prod(shape[1:])) * itemsize
    return (max(1, min(shape[0], _CHUNK_BYTES // max(row, 1))), *shape[1:])


def write_masks(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write every array into a new zarr v3 group at ``path``."""
    group = open_zarr_group(path, mode="w")
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        arr = group.create_array(
            name, shape=a.shape, dtype=a.dtype, chunks=_chunks(a.shape, a.dtype.itemsize) or None,
            compressors=[BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle")],
        )
        if a.size:
            arr[...] = a


def read_masks(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """Read the named arrays of a masks group fully into memory."""
    try:
        group = open_zarr_group(path, mode="r")
        return {n: np.asarray(group[n][...]) for n in names}
    except (FileNotFoundError, KeyError) as exc:
        raise ModalbenchError(f"{path}: scenario masks missing or incomplete ({exc})") from None


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ModalbenchError(f"{path}: no scenario manifest (generate it with `modalbench scenarios`)") from None
    except json.JSONDecodeError as exc:
        raise ModalbenchError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None


def verify_artifact(directory: Path, manifest: dict[str, Any] | None = None) -> bool:
    """True when the stored masks hash to the manifest's sha256."""
    manifest = manifest or read_manifest(directory)
    names = [a["name"] for a in manifest.get("arrays", [])]
    try:
        arrays = read_masks(directory / MASKS, names)
    except ModalbenchError:
        return False
    return masks_sha256(arrays) == manifest.get("sha256")


def save_scenario(scenario: Scenario, directory: Path) -> dict[str, Any]:
    """Write ``scenario`` atomically into ``directory`` (replacing what is there); returns the manifest."""
    manifest = scenario.manifest()
    with atomic_dir(directory) as tmp:
        write_masks(tmp / MASKS, scenario.arrays)
        write_json_atomic(tmp / MANIFEST, manifest)
    return manifest


@dataclass
class GenerateResult:
    """Outcome of :func:`ensure_scenario`: the manifest, where it is, and ``created`` / ``exists`` / ``regenerated``."""

    manifest: dict[str, Any]
    path: Path
    status: str

    @property
    def scenario_id(self) -> str:
        return str(self.manifest["scenario"])

    @property
    def sha256(self) -> str:
        return str(self.manifest["sha256"])

    @property
    def n_conditions(self) -> int:
        return int(self.manifest["n_conditions"])


def ensure_scenario(ds: xr.Dataset, root: Path | str | None, scenario: str, *, seed: int = 0, split: str = "test",
                    verify: bool = True, **params: Any) -> GenerateResult:
    """Generate and store one scenario for the opened store ``ds`` unless an identical artifact exists."""
    fam = get_scenario(scenario)
    check_split(split)
    reason = fam.not_applicable(ds)
    if reason:
        raise ModalbenchError(reason)
    full_params = fam.resolve_params(ds, dict(params))
    name, version = ds.attrs["dataset"], ds.attrs.get("version", "")
    directory = artifact_dir(resolve_root(root), name, version, fam.id, seed, split)
    status = "created"
    if (directory / MANIFEST).exists():
        status = "regenerated"
        try:
            old = read_manifest(directory)
        except ModalbenchError:
            old = None
        if old is not None and _same(old, fam.id, full_params, seed, split, ds.attrs["fingerprint"]):
            if not verify or verify_artifact(directory, old):
                return GenerateResult(old, directory, "exists")
    scen = fam.generate(ds, seed=seed, split=split, **full_params)
    manifest = save_scenario(scen, directory)
    return GenerateResult(manifest, directory, status)


def _same(manifest: dict[str, Any], scenario_id: str, params: dict[str, Any], seed: int, split: str,
          fingerprint: str) -> bool:
    return (manifest.get("scenario") == scenario_id and manifest.get("params") == json.loads(json.dumps(params))
            and manifest.get("seed") == seed and manifest.get("split") == split
            and (manifest.get("dataset") or {}).get("fingerprint") == fingerprint)


def list_artifacts(root: Path | str | None, name: str, version: str) -> list[dict[str, Any]]:
    """Every stored artifact of a dataset version: a summary dict per ``manifest.json`` found."""
    base = version_dir(resolve_root(root), name, version) / "scenarios"
    out = []
    if not base.is_dir():
        return out
    for path in sorted(base.glob(f"*/seed-*/{MANIFEST}")):
        if path.parent.name.endswith(".incomplete") or path.parent.name.endswith(".old"):
            continue
        try:
            man = read_manifest(path.parent)
        except ModalbenchError as exc:
            out.append({"path": str(path.parent), "error": str(exc)})
            continue
        out.append({"scenario": man.get("scenario"), "seed": man.get("seed"), "split": man.get("split"),
                    "n_conditions": man.get("n_conditions"), "sha256": man.get("sha256"),
                    "fingerprint": (man.get("dataset") or {}).get("fingerprint"), "path": str(path.parent)})
    return out
