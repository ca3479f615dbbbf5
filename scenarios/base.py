"""Scenario families, the in-memory :class:`Scenario` they produce, and the versioned ``SCENARIOS`` registry.

A scenario id is ``<family>@<version>`` (e.g. ``missing-modalities@v1``). A published version never changes:
a change of algorithm or defaults is registered as a new version.

Three kinds of scenario, by what their masks look like:

* ``condition``: one ``(M,)`` availability row per condition, shared by every sample
  (stored as a ``(K, M)`` condition table and expanded at read time);
* ``sample``: one ``(N, M)`` availability mask per condition (per-sample random masks);
* ``stream``: one ``(T, M)`` mask per condition over the split's continuous recordings
  (mapped onto windows at read time);
* ``element``: a ``(K, M)`` condition table plus an element-level change of the inputs per condition (damaged
  features, additive noise) that is regenerated from the seed and the family's rule at read time and checked
  against the per-condition ``elements_sha256`` recorded in the manifest (see :mod:`.elements`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from modalbench import __version__
from modalbench.atomic import canonical_json
from modalbench.errors import ModalbenchError
from modalbench.meta import SPLIT_CODES
from modalbench.registry import Registry

KINDS = ("condition", "sample", "stream", "element")
#: Splits a scenario may be generated on: never ``train``.
SCENARIO_SPLITS = ("test", "val")
#: The split of training scenarios (``train-missing``): masks the trainer applies to the training batches.
TRAINING_SPLITS = ("train",)
#: 2: the sha256 covers the defining manifest fields, not only the masks (format 1 covered the masks only).
MANIFEST_FORMAT = 2

#: Manifest fields outside the checksum: the checksum itself, its description and the writer's version.
SHA256_EXCLUDED = ("sha256", "sha256_definition", "modalbench_version")

SHA256_DEFINITION = (
    "sha256 over: the canonical JSON (sorted keys, no whitespace, UTF-8) of the manifest without 'sha256', "
    "'sha256_definition' and 'modalbench_version', a newline, then for each array in manifest 'arrays' order: "
    'canonical JSON header {"dtype":<numpy dtype str, little-endian>,"name":<name>,"shape":[...]} followed by a '
    "newline, then the array's C-order bytes"
)


class NotApplicableError(ModalbenchError):
    """A scenario family does not apply to a store (e.g. block-missing on images)."""


def canonical_array(a: np.ndarray) -> np.ndarray:
    """The array in canonical form: C-contiguous, little-endian (bool stays ``|b1``)."""
    a = np.asarray(a)
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and np.little_endian is False):
        a = a.astype(a.dtype.newbyteorder("<"))
    return np.ascontiguousarray(a)


def array_header(name: str, a: np.ndarray) -> dict[str, Any]:
    a = canonical_array(a)
    return {"name": name, "dtype": a.dtype.str, "shape": [int(s) for s in a.shape]}


def masks_sha256(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of the mask arrays alone (the array part of :func:`scenario_sha256`; chunking/compression-free)."""
    h = hashlib.sha256()
    _update_arrays(h, arrays)
    return h.hexdigest()


def _update_arrays(h: Any, arrays: dict[str, np.ndarray]) -> None:
    for name, a in arrays.items():
        a = canonical_array(a)
        h.update(canonical_json(array_header(name, a)) + b"\n")
        h.update(a.tobytes(order="C"))


def defining_fields(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest fields that define a scenario (all but :data:`SHA256_EXCLUDED`)."""
    return {k: v for k, v in manifest.items() if k not in SHA256_EXCLUDED}


def scenario_sha256(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    """The checksum of a scenario (:data:`SHA256_DEFINITION`): its defining manifest fields plus its masks, so an
    edited condition id, description, parameter or dataset fingerprint changes it like an edited mask does."""
    h = hashlib.sha256()
    h.update(canonical_json(defining_fields(manifest)) + b"\n")
    _update_arrays(h, arrays)
    return h.hexdigest()


@dataclass
class Scenario:
    """A generated scenario: conditions plus the arrays that define their masks (insertion order is canonical)."""

    family: str
    version: str
    kind: str
    params: dict[str, Any]
    seed: int
    split: str
    dataset: dict[str, Any]  # name, version, fingerprint
    modalities: list[str]
    sample_range: tuple[int, int]
    conditions: list[dict[str, Any]]
    arrays: dict[str, np.ndarray]
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. window_length for stream scenarios

    @property
    def id(self) -> str:
        return f"{self.family}@{self.version}"

    @property
    def sha256(self) -> str:
        return str(self.manifest()["sha256"])

    def manifest(self) -> dict[str, Any]:
        """The JSON manifest written next to the masks (its ``sha256``: :func:`scenario_sha256`)."""
        body = {
            "manifest_format": MANIFEST_FORMAT,
            "scenario": self.id,
            "family": self.family,
            "version": self.version,
            "kind": self.kind,
            "params": self.params,
            "seed": self.seed,
            "split": self.split,
            "dataset": self.dataset,
            "modalities": self.modalities,
            "sample_range": list(self.sample_range),
            "n_samples": self.sample_range[1] - self.sample_range[0],
            "n_conditions": len(self.conditions),
            "conditions": self.conditions,
            "arrays": [array_header(k, v) for k, v in self.arrays.items()],
            **self.extra,
        }
        body = json.loads(canonical_json(body))  # plain JSON types, as written and read back
        return {
            **body,
            "sha256": scenario_sha256(body, self.arrays),
            "sha256_definition": SHA256_DEFINITION,
            "modalbench_version": __version__,
        }


class ScenarioFamily:
    """One versioned scenario family. Subclasses set the class attributes and implement :meth:`_generate`."""

    family: str = ""
    version: str = "v1"
    kind: str = "condition"
    description: str = ""
    reference: str = ""
    #: the datasets the family applies to (shown by ``modalbench scenarios NAME`` and in the docs)
    applies_to: str = "every dataset"
    #: the splits it is generated on (:data:`SCENARIO_SPLITS`, or :data:`TRAINING_SPLITS` for training scenarios)
    splits: tuple[str, ...] = SCENARIO_SPLITS

    @property
    def id(self) -> str:
        return f"{self.family}@{self.version}"

    def default_params(self, ds: xr.Dataset) -> dict[str, Any]:
        """Every parameter with its default for this dataset (recorded in the manifest)."""
        return {}

    def not_applicable(self, ds: xr.Dataset) -> str | None:
        """Why the family does not apply to ``ds``, or None when it does."""
        return None

    def generate(self, ds: xr.Dataset, *, seed: int, split: str = "test", **params: Any) -> Scenario:
        """Generate the scenario on ``split`` (``test`` or ``val``; ``train`` is refused) of the store ``ds``."""
        return self.generate_checked(ds, seed=seed, split=split, params=self.request(ds, split, params))

    def request(self, ds: xr.Dataset, split: str, params: dict[str, Any]) -> dict[str, Any]:
        """Every check of a generation request, run once: the split, applicability (:class:`NotApplicableError`)
        and the parameters; returns the full parameters for :meth:`generate_checked`."""
        check_split(split, self.splits, self.id)
        reason = self.not_applicable(ds)
        if reason:
            raise NotApplicableError(reason)
        return self.resolve_params(ds, dict(params))

    def generate_checked(self, ds: xr.Dataset, *, seed: int, split: str, params: dict[str, Any]) -> Scenario:
        """Generate from a request that :meth:`request` has checked (``params`` are its full parameters)."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ModalbenchError(f"scenario seed must be a non-negative integer, got {seed!r}")
        view = SplitView.from_dataset(ds, split)
        scen = self._generate(view, seed=int(seed), params=params)
        if scen.kind not in KINDS:
            raise AssertionError(f"bad kind {scen.kind}")
        return scen

    def resolve_params(self, ds: xr.Dataset, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults overridden by ``params``; unknown names are an error."""
        defaults = self.default_params(ds)
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise ModalbenchError(
                f"scenario {self.id}: unknown parameter(s) {', '.join(unknown)}; expected {sorted(defaults) or 'none'}"
            )
        defaults.update(params)
        self.validate_params(defaults)
        return defaults

    def validate_params(self, params: dict[str, Any]) -> None:
        """Raise :class:`ModalbenchError` for an invalid parameter."""

    def _generate(self, view: SplitView, *, seed: int, params: dict[str, Any]) -> Scenario:
        raise NotImplementedError

    def _scenario(
        self,
        view: SplitView,
        *,
        seed: int,
        params: dict[str, Any],
        conditions: list[dict[str, Any]],
        arrays: dict[str, np.ndarray],
        extra: dict[str, Any] | None = None,
    ) -> Scenario:
        return Scenario(
            family=self.family,
            version=self.version,
            kind=self.kind,
            params=params,
            seed=seed,
            split=view.split,
            dataset=view.dataset_info,
            modalities=list(view.modalities),
            sample_range=view.sample_range,
            conditions=conditions,
            arrays=arrays,
            extra=extra or {},
        )


def check_split(split: str, allowed: tuple[str, ...] = SCENARIO_SPLITS, family: str = "") -> None:
    """Refuse a split a family is not generated on (evaluation families: test or val; training families: train)."""
    if allowed == TRAINING_SPLITS:
        if split != "train":
            raise ModalbenchError(
                f"{family or 'a training scenario'} is generated on the train split only, not {split!r}"
            )
        return
    if split == "train":
        raise ModalbenchError("scenarios are never generated on the train split (use 'test', or 'val' for tuning)")
    if split not in SCENARIO_SPLITS:
        raise ModalbenchError(f"unknown split {split!r}: expected one of {', '.join(SCENARIO_SPLITS)}")


@dataclass
class SplitView:
    """What the families need from a store, restricted to one evaluation split (never touches train data)."""

    ds: xr.Dataset
    split: str
    dataset_info: dict[str, Any]
    modalities: list[str]
    modality_kinds: list[str]
    sample_range: tuple[int, int]
    natural_available: np.ndarray  # (N, M) bool
    #: per-sample shape of each modality (from the store's ``modalities`` attribute; empty when not recorded)
    modality_shapes: list[tuple[int, ...]] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return self.sample_range[1] - self.sample_range[0]

    @property
    def name(self) -> str:
        return str(self.dataset_info["name"])

    @classmethod
    def from_dataset(cls, ds: xr.Dataset, split: str) -> SplitView:
        attrs = ds.attrs
        for key in ("dataset", "modalities", "split_ranges", "fingerprint"):
            if key not in attrs:
                raise ModalbenchError(f"store attribute {key!r} is missing (see docs/store-format.md)")
        mods = attrs["modalities"]
        if not mods:
            raise ModalbenchError(f"store of {attrs['dataset']!r}: attribute 'modalities' is empty")
        ranges = attrs["split_ranges"]
        if split not in ranges:
            raise ModalbenchError(f"store attribute split_ranges has no {split!r} entry: {ranges}")
        start, stop = (int(v) for v in ranges[split])
        if not 0 <= start <= stop:
            raise ModalbenchError(f"store attribute split_ranges[{split!r}] = {ranges[split]} is not [start, stop)")
        if stop == start:
            raise ModalbenchError(f"dataset {attrs['dataset']!r} has no {split} samples")
        for var in ("split", "available"):
            if var not in ds:
                raise ModalbenchError(f"store variable {var!r} is missing (see docs/store-format.md)")
        codes = np.asarray(ds["split"].isel(sample=slice(start, stop)).values)
        if codes.shape[0] != stop - start or not np.all(codes == SPLIT_CODES[split]):
            raise ModalbenchError(f"store variable 'split' disagrees with split_ranges[{split!r}] = [{start}, {stop})")
        avail = np.asarray(ds["available"].isel(sample=slice(start, stop)).values).astype(bool)
        if avail.shape != (stop - start, len(mods)):
            raise ModalbenchError(
                f"store variable 'available' has shape {avail.shape}, expected {(stop - start, len(mods))}"
            )
        return cls(
            ds=ds,
            split=split,
            dataset_info={
                "name": attrs["dataset"],
                "version": attrs.get("version", ""),
                "fingerprint": attrs["fingerprint"],
            },
            modalities=[m["name"] for m in mods],
            modality_kinds=[m["kind"] for m in mods],
            sample_range=(start, stop),
            natural_available=np.ascontiguousarray(avail),
            modality_shapes=[tuple(int(d) for d in m.get("shape", ())) for m in mods],
        )


SCENARIOS: Registry[ScenarioFamily] = Registry("scenario")


def register_scenario(cls: type[ScenarioFamily]) -> type[ScenarioFamily]:
    """Class decorator: register an instance under ``<family>@<version>``."""
    inst = cls()
    SCENARIOS.add(inst.id, inst)
    return cls


def _version_key(v: str) -> tuple[int, str]:
    digits = v.lstrip("v")
    return (int(digits), v) if digits.isdigit() else (-1, v)


def family_names() -> list[str]:
    """Distinct family names (without versions), sorted."""
    return sorted({k.split("@", 1)[0] for k in SCENARIOS.names()})


def get_scenario(name: str) -> ScenarioFamily:
    """A family by ``family@version``, or by bare family name (its newest version). Unknown names suggest close ones."""
    if "@" in name:
        return SCENARIOS.get(name)
    versions = [k for k in SCENARIOS.names() if k.split("@", 1)[0] == name]
    if not versions:
        return SCENARIOS.get(name)  # raises UnknownNameError with suggestions
    return SCENARIOS.get(max(versions, key=lambda k: _version_key(k.split("@", 1)[1])))


# Register the built-in families (they import the names defined above).
from . import (  # noqa: E402,F401
    block_missing,
    damaged_modality,
    full,
    missing_modalities,
    noisy_modality,
    random_missing,
    train_missing,
)
