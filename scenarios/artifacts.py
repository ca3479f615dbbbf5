"""Scenario artifacts on disk: ``<root>/<dataset>/<version>/scenarios/<family>@<v>/seed-<k>/``.

Each artifact directory holds ``manifest.json`` and ``masks.zarr`` (one zarr v3 array per mask array,
Blosc-zstd + bitshuffle) and is written atomically with :func:`modalbench.atomic.atomic_dir`. Artifacts
of the val split live in ``seed-<k>-val/``. The manifest's ``sha256`` covers its defining fields and the
canonical bytes of every array (:func:`.base.scenario_sha256`), so it does not depend on zarr chunking or
compression and an edited manifest fails it like an edited mask.

Re-running with an existing artifact of the same scenario, parameters, seed, split and dataset fingerprint
that still matches its sha256 is a no-op; one for other parameters or another store is regenerated; one that
fails its sha256 is refused (or, for ``modalbench scenarios``, regenerated with status ``repaired``).
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
from modalbench.jsonio import read_json
from modalbench.paths import group_array, open_zarr_group, resolve_root, scenario_dir, version_dir

from .base import (
    MANIFEST_FORMAT,
    SCENARIO_SPLITS,
    TRAINING_SPLITS,
    Scenario,
    check_split,
    get_scenario,
    scenario_sha256,
)

MANIFEST = "manifest.json"
MASKS = "masks.zarr"
_CHUNK_BYTES = 4 * 2**20


def artifact_dir(root: Path, name: str, version: str, scenario_id: str, seed: int, split: str = "test") -> Path:
    """Where an artifact lives (test: ``seed-<k>``, val: ``seed-<k>-val``, training scenarios: ``seed-<k>-train``)."""
    check_split(split, TRAINING_SPLITS if split == "train" else SCENARIO_SPLITS)
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
            name,
            shape=a.shape,
            dtype=a.dtype,
            chunks=_chunks(a.shape, a.dtype.itemsize) or "auto",
            compressors=[BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle")],
        )
        if a.size:
            arr[...] = a


class ScenarioIntegrityError(ModalbenchError):
    """A stored scenario does not match its checksum (or cannot be read): refused, never used silently."""


def regenerate_command(name: str, family: str, seed: int = 0, split: str = "test") -> str:
    """The command that regenerates one scenario artifact."""
    return (
        f"modalbench scenarios {name} --family {family}"
        + (f" --seed {seed}" if seed else "")
        + (f" --split {split}" if split != "test" else "")
    )


def _fix(directory: Path, manifest: dict[str, Any] | None = None) -> str:
    """``run: <command>`` for the artifact at ``directory`` (from its manifest, else from its path)."""
    m = manifest or {}
    name = (m.get("dataset") or {}).get("name") if isinstance(m.get("dataset"), dict) else None
    family = m.get("family")
    seed_dir = directory.name
    seed_text = seed_dir.removeprefix("seed-").removesuffix("-val").removesuffix("-train")
    seed = int(seed_text) if seed_text.isdigit() else 0
    split = "val" if seed_dir.endswith("-val") else "train" if seed_dir.endswith("-train") else "test"
    if not name:
        name = directory.parents[3].name if len(directory.parents) > 3 else "NAME"
    if not family:
        family = directory.parent.name.split("@", 1)[0]
    return f"run: {regenerate_command(str(name), str(family), seed, split)}"


def read_manifest(directory: Path) -> dict[str, Any]:
    """The strict-JSON manifest of an artifact directory; a one-line error names the file and the fix."""
    path = directory / MANIFEST
    if not path.exists():
        raise ModalbenchError(f"{path}: no scenario manifest; {_fix(directory)}")
    try:
        manifest = read_json(path)
    except ModalbenchError as exc:
        raise ScenarioIntegrityError(f"{exc}; {_fix(directory)}") from None
    if not isinstance(manifest, dict):
        raise ScenarioIntegrityError(f"{path}: expected a JSON object; {_fix(directory)}")
    return manifest


def read_verified(
    directory: Path, manifest: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest and every mask array of an artifact, checked against the manifest's sha256 (one home for the
    verified read: :class:`~.reader.ScenarioReader` and :func:`ensure_scenario` use it).

    Raises :class:`ScenarioIntegrityError` (one line naming the file and the command that regenerates it) for a
    manifest of another format, a missing, undecodable or changed mask array, or an edited manifest.
    """
    manifest = manifest if manifest is not None else read_manifest(directory)
    fix = _fix(directory, manifest)
    fmt = manifest.get("manifest_format")
    if fmt != MANIFEST_FORMAT:
        raise ScenarioIntegrityError(
            f"{directory / MANIFEST}: manifest format {fmt!r}, this modalbench reads "
            f"{MANIFEST_FORMAT} (written by another version); {fix}"
        )
    headers = manifest.get("arrays")
    if not isinstance(headers, list) or not all(
        isinstance(a, dict) and isinstance(a.get("name"), str) for a in headers
    ):
        raise ScenarioIntegrityError(f"{directory / MANIFEST}: 'arrays' is not a list of named arrays; {fix}")
    arrays: dict[str, np.ndarray] = {}
    masks = directory / MASKS
    try:
        group = open_zarr_group(masks, mode="r")
    except Exception as exc:  # noqa: BLE001 - a missing or damaged group is one line whatever zarr raises
        raise ScenarioIntegrityError(
            f"{masks}: scenario masks missing or unreadable ({type(exc).__name__}); {fix}"
        ) from None
    for a in headers:
        try:
            arrays[a["name"]] = np.asarray(group_array(group, a["name"])[...])
        except KeyError:
            raise ScenarioIntegrityError(f"{masks}: mask array {a['name']!r} is missing; {fix}") from None
        except Exception as exc:  # noqa: BLE001 - codec errors come in many types
            raise ScenarioIntegrityError(
                f"{masks}: mask array {a['name']!r} cannot be decoded ({type(exc).__name__}: {exc}); {fix}"
            ) from None
    got = scenario_sha256(manifest, arrays)
    if got != manifest.get("sha256"):
        raise ScenarioIntegrityError(
            f"{directory}: scenario does not match its sha256 (masks or manifest changed "
            f"since generation: expected {manifest.get('sha256')}, got {got}); {fix}"
        )
    return manifest, arrays


def verify_artifact(directory: Path, manifest: dict[str, Any] | None = None) -> bool:
    """True when the manifest and masks of an artifact match its sha256."""
    try:
        read_verified(directory, manifest)
    except ModalbenchError:
        return False
    return True


def save_scenario(scenario: Scenario, directory: Path) -> dict[str, Any]:
    """Write ``scenario`` atomically into ``directory`` (replacing what is there); returns the manifest."""
    manifest = scenario.manifest()
    with atomic_dir(directory) as tmp:
        write_masks(tmp / MASKS, scenario.arrays)
        write_json_atomic(tmp / MANIFEST, manifest)
    return manifest


class ManifestView:
    """Read-only shortcuts over ``self.manifest`` shared by :class:`GenerateResult` and the scenario reader."""

    manifest: dict[str, Any]

    @property
    def scenario_id(self) -> str:
        return str(self.manifest["scenario"])

    @property
    def sha256(self) -> str:
        return str(self.manifest["sha256"])

    @property
    def n_conditions(self) -> int:
        return int(self.manifest["n_conditions"])

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def split(self) -> str:
        return str(self.manifest["split"])

    @property
    def seed(self) -> int:
        return int(self.manifest["seed"])

    @property
    def conditions(self) -> list[dict[str, Any]]:
        """The manifest's condition dicts (id, description, …) in condition-index order (do not modify)."""
        return self.manifest["conditions"]

    @property
    def modalities(self) -> list[str]:
        return list(self.manifest["modalities"])

    @property
    def sample_range(self) -> tuple[int, int]:
        start, stop = self.manifest["sample_range"]
        return int(start), int(stop)

    @property
    def window_length(self) -> int | None:
        return self.manifest.get("window_length")


@dataclass
class GenerateResult(ManifestView):
    """Outcome of :func:`ensure_scenario`: the manifest, where it is, and its ``status``: ``created``, ``exists``,
    ``regenerated`` (the stored one was for other parameters or another store) or ``repaired`` (the stored one
    failed its checksum and ``on_corrupt="regenerate"``; ``reason`` says why)."""

    manifest: dict[str, Any]
    path: Path
    status: str
    reason: str = ""


ON_CORRUPT = ("refuse", "regenerate")


def ensure_scenario(
    ds: xr.Dataset,
    root: Path | str | None,
    scenario: str,
    *,
    seed: int = 0,
    split: str = "test",
    verify: bool = True,
    on_corrupt: str = "refuse",
    **params: Any,
) -> GenerateResult:
    """Generate and store one scenario for the opened store ``ds`` unless an identical artifact exists.

    A stored artifact for other parameters or another store fingerprint is regenerated. One for the same request
    that fails its checksum (edited or damaged) is refused with :class:`ScenarioIntegrityError` naming the command
    that regenerates it (``on_corrupt="refuse"``, what evaluation uses), or regenerated with status ``repaired``
    (``on_corrupt="regenerate"``, what ``modalbench scenarios`` uses). Raises :class:`~.base.NotApplicableError`
    when the family does not apply.
    """
    if on_corrupt not in ON_CORRUPT:
        raise ModalbenchError(f"on_corrupt must be one of {', '.join(ON_CORRUPT)} (got {on_corrupt!r})")
    fam = get_scenario(scenario)
    full_params = fam.request(ds, split, params)  # every check, once
    name, version = ds.attrs["dataset"], ds.attrs.get("version", "")
    directory = artifact_dir(resolve_root(root), name, version, fam.id, seed, split)
    status, reason = "created", ""
    if (directory / MANIFEST).exists():
        status = "regenerated"
        try:
            old: dict[str, Any] | None = read_manifest(directory)
        except ScenarioIntegrityError as exc:
            old, reason = None, str(exc)
        if old is not None and _same(old, fam.id, full_params, seed, split, ds.attrs["fingerprint"]):
            try:
                if verify:
                    read_verified(directory, old)
                return GenerateResult(old, directory, "exists")
            except ScenarioIntegrityError as exc:
                reason = str(exc)
        if reason:
            if on_corrupt == "refuse":
                raise ScenarioIntegrityError(reason)
            status = "repaired"
    scen = fam.generate_checked(ds, seed=seed, split=split, params=full_params)
    manifest = save_scenario(scen, directory)
    return GenerateResult(manifest, directory, status, reason)


def _same(
    manifest: dict[str, Any], scenario_id: str, params: dict[str, Any], seed: int, split: str, fingerprint: str
) -> bool:
    return (
        manifest.get("manifest_format") == MANIFEST_FORMAT
        and manifest.get("scenario") == scenario_id
        and manifest.get("params") == json.loads(json.dumps(params))
        and manifest.get("seed") == seed
        and manifest.get("split") == split
        and (manifest.get("dataset") or {}).get("fingerprint") == fingerprint
    )


def list_artifacts(root: Path | str | None, name: str, version: str) -> list[dict[str, Any]]:
    """Every stored artifact of a dataset version: a summary dict per ``manifest.json`` found."""
    base = version_dir(resolve_root(root), name, version) / "scenarios"
    out: list[dict[str, Any]] = []
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
        out.append(
            {
                "scenario": man.get("scenario"),
                "seed": man.get("seed"),
                "split": man.get("split"),
                "n_conditions": man.get("n_conditions"),
                "sha256": man.get("sha256"),
                "fingerprint": (man.get("dataset") or {}).get("fingerprint"),
                "path": str(path.parent),
            }
        )
    return out
