"""Reading scenario artifacts for the evaluator: iterate conditions, get masks for batches of samples.

Sample indices are **global** store indices (the ``sample`` coordinate); they must lie in the scenario's
split range ``[start, stop)``. Masks returned here already include the store's natural availability
(``available``), so a modality is reported present only if the scenario keeps it *and* the store has it.

Block-missing (``stream`` kind): per-timestep masks ``(B, L, M)`` are windows of the split's stream mask;
a window's modality is unavailable when every time step of its span is removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from modalbench.errors import ModalbenchError
from modalbench.paths import open_zarr_group, resolve_root

from .artifacts import (
    MASKS,
    ManifestView,
    ScenarioIntegrityError,
    artifact_dir,
    read_manifest,
    read_verified,
    regenerate_command,
)
from .base import get_scenario


class ScenarioReader(ManifestView):
    """A stored scenario: conditions, masks per batch, checksum. Build it with :func:`load_scenario`.

    With ``verify`` (the default) the manifest and every mask array are read once and checked against the
    manifest's sha256 (:func:`~.artifacts.read_verified`); a mismatch is refused with one line naming the
    command that regenerates the artifact. Without it the masks are read lazily.
    """

    def __init__(self, directory: Path, *, verify: bool = True) -> None:
        self.path = directory
        self._small: dict[str, np.ndarray] = {}
        self._cache: tuple[int, np.ndarray, np.ndarray | None] | None = None
        self._element_cache: tuple[int, list[np.ndarray | None]] | None = None
        if verify:  # every array in memory, checked
            self.manifest, self._small = read_verified(directory)
            self._arrays: dict[str, Any] = dict(self._small)
            return
        self.manifest = read_manifest(directory)
        names = [a["name"] for a in self.manifest.get("arrays", [])]
        try:
            group = open_zarr_group(self.path / MASKS, mode="r")
            self._arrays = {n: group[n] for n in names}
        except (FileNotFoundError, KeyError) as exc:
            raise ScenarioIntegrityError(
                f"{self.path / MASKS}: scenario masks missing or incomplete ({exc}); run: {self.regenerate_command()}"
            ) from None

    def _stream_window(self) -> int:
        """The window length of a stream scenario (its manifest must record one)."""
        length = self.window_length
        if length is None:
            raise ScenarioIntegrityError(
                f"{self.path}: manifest has no window_length; run: {self.regenerate_command()}"
            )
        return int(length)

    def __repr__(self) -> str:
        return (
            f"ScenarioReader({self.scenario_id}, {self.manifest['dataset']['name']}, seed={self.manifest['seed']}, "
            f"split={self.split}, conditions={self.n_conditions})"
        )

    def regenerate_command(self) -> str:
        """The command that regenerates this artifact."""
        m = self.manifest
        return regenerate_command(m["dataset"]["name"], m["family"], int(m["seed"]), str(m["split"]))

    @property
    def n_conditions(self) -> int:
        return len(self.manifest["conditions"])

    def sample_indices(self) -> np.ndarray:
        """All global sample indices the scenario covers."""
        return np.arange(*self.sample_range, dtype=np.int64)

    def check_dataset(self, ds: xr.Dataset) -> None:
        """Raise when ``ds`` is not the store version (fingerprint) this scenario was generated for."""
        want = self.manifest["dataset"]
        if ds.attrs.get("dataset") != want["name"] or ds.attrs.get("fingerprint") != want["fingerprint"]:
            raise ModalbenchError(
                f"scenario {self.scenario_id} at {self.path} was generated for {want['name']} fingerprint "
                f"{want['fingerprint'][:12]}…, the store has {ds.attrs.get('dataset')} fingerprint "
                f"{str(ds.attrs.get('fingerprint'))[:12]}…; run: {self.regenerate_command()}"
            )

    # --- arrays -------------------------------------------------------------------------------------
    def _get(self, name: str) -> np.ndarray:
        if name not in self._small:
            self._small[name] = np.asarray(self._arrays[name][...])
        return self._small[name]

    @property
    def condition_table(self) -> np.ndarray | None:
        """``(K, M)`` bool table of condition-level and element families (None for per-sample and block families)."""
        return self._get("condition_table") if self.kind in ("condition", "element") else None

    @property
    def natural_available(self) -> np.ndarray:
        """``(N, M)`` natural availability of the split's samples (from the store)."""
        return self._get("natural_available")

    def _local(self, sample_index: np.ndarray | int) -> np.ndarray:
        idx = np.asarray(sample_index, dtype=np.int64).reshape(-1)
        start, stop = self.sample_range
        if idx.size and (int(idx.min()) < start or int(idx.max()) >= stop):
            raise ModalbenchError(
                f"sample indices must lie in the {self.split} range [{start}, {stop}) of "
                f"scenario {self.scenario_id}; got [{int(idx.min())}, {int(idx.max())}]"
            )
        return idx - start

    def _condition(self, c: int) -> int:
        if not isinstance(c, (int, np.integer)) or not 0 <= int(c) < self.n_conditions:
            raise ModalbenchError(
                f"condition index {c!r} out of range [0, {self.n_conditions}) for scenario {self.scenario_id}"
            )
        return int(c)

    def _per_condition(self, c: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Mask of condition ``c`` (sample: (N, M); stream: (T, M) plus cumulative present counts)."""
        if self._cache is None or self._cache[0] != c:
            name = "masks" if self.kind == "sample" else "stream_masks"
            mask = self._small[name][c] if name in self._small else np.asarray(self._arrays[name][c])
            if self.kind == "sample":
                self._cache = (c, mask, None)
            else:
                sm = mask
                cs = np.zeros((sm.shape[0] + 1, sm.shape[1]), dtype=np.int64)
                np.cumsum(sm, axis=0, out=cs[1:])
                self._cache = (c, sm, cs)
        return self._cache[1], self._cache[2]

    def availability(self, condition_index: int, sample_index: np.ndarray | int, *, natural: bool = True) -> np.ndarray:
        """``(B, M)`` bool: which modalities each sample has under the condition (True = present).

        With ``natural=False`` the store's own missingness is not applied (scenario mask only).
        """
        c = self._condition(condition_index)
        loc = self._local(sample_index)
        if self.kind in ("condition", "element"):
            out = np.broadcast_to(self._get("condition_table")[c], (loc.size, len(self.modalities))).copy()
        elif self.kind == "sample":
            out = self._per_condition(c)[0][loc]
        else:
            _, cs = self._per_condition(c)
            assert cs is not None
            ws = self._get("window_starts")[loc]
            out = (cs[ws + self._stream_window()] - cs[ws]) > 0
        if natural:
            out = out & self.natural_available[loc]
        return out

    def timestep_mask(
        self, condition_index: int, sample_index: np.ndarray | int, *, natural: bool = True
    ) -> np.ndarray:
        """``(B, L, M)`` bool per-timestep presence of block-missing windows (True = present)."""
        if self.kind != "stream":
            raise ModalbenchError(f"per-timestep masks exist only for block-missing scenarios, not {self.scenario_id}")
        c = self._condition(condition_index)
        loc = self._local(sample_index)
        sm, _ = self._per_condition(c)
        pos = self._get("window_starts")[loc][:, None] + np.arange(self._stream_window())
        out = sm[pos]
        if natural:
            out = out & self.natural_available[loc][:, None, :]
        return out

    # --- element families (damaged-modality, noisy-modality) ------------------------------------------
    def elements(self, condition_index: int) -> list[np.ndarray | None]:
        """Condition ``condition_index``'s element arrays over the whole split, one per modality (None: untouched),
        regenerated from the seed and the family's rule and checked against the condition's ``elements_sha256``
        (a mismatch is refused with :class:`ScenarioIntegrityError`)."""
        from .elements import ElementFamily, elements_sha256

        if self.kind != "element":
            raise ModalbenchError(f"element arrays exist only for element-level scenarios, not {self.scenario_id}")
        c = self._condition(condition_index)
        if self._element_cache is not None and self._element_cache[0] == c:
            return self._element_cache[1]
        fam = get_scenario(self.scenario_id)
        if not isinstance(fam, ElementFamily):
            raise ModalbenchError(f"scenario {self.scenario_id} is not an element-level family")
        arrays = fam.regenerate(self.manifest, c)
        want = self.conditions[c].get("elements_sha256")
        got = elements_sha256(arrays)
        if got != want:
            raise ScenarioIntegrityError(
                f"{self.path}: condition {self.conditions[c]['id']} regenerates element arrays with sha256 {got}, "
                f"the manifest records {want} (another rule or platform); run: {self.regenerate_command()}"
            )
        self._element_cache = (c, arrays)
        return arrays

    def apply_elements(
        self, condition_index: int, inputs: dict[str, np.ndarray], names: list[str]
    ) -> dict[str, np.ndarray]:
        """The split's ``inputs`` (rows in split order) with condition ``condition_index``'s damage or noise."""
        if list(names) != self.modalities:
            raise ModalbenchError(f"scenario {self.scenario_id}: modalities {self.modalities}, the inputs have {names}")
        arrays = self.elements(condition_index)
        fam = get_scenario(self.scenario_id)
        return fam.apply(  # type: ignore[attr-defined]
            inputs,
            names,
            arrays,
            condition=self.conditions[condition_index],
            params=self.manifest["params"],
        )

    # --- stream-level access (block-missing ffill) --------------------------------------------------
    def stream_mask(self, condition_index: int) -> np.ndarray:
        """``(T_split, M)`` presence mask over the split's recordings, concatenated in recording order."""
        if self.kind != "stream":
            raise ModalbenchError(f"stream masks exist only for block-missing scenarios, not {self.scenario_id}")
        return self._per_condition(self._condition(condition_index))[0]

    def stream_steps(self) -> np.ndarray:
        """Global ``step`` indices (into the store's ``stream_<m>`` variables) of the split stream, in order."""
        starts, lengths = self._get("recording_global_starts"), self._get("recording_lengths")
        return np.concatenate([np.arange(s, s + n, dtype=np.int64) for s, n in zip(starts, lengths)])

    def recording_lengths(self) -> np.ndarray:
        """Lengths of the split's recordings, in the order of the split stream."""
        return self._get("recording_lengths")

    def window_starts(self, sample_index: np.ndarray | int) -> np.ndarray:
        """Start of each sample's window within the split stream."""
        return self._get("window_starts")[self._local(sample_index)]


def load_scenario(
    root: str | Path | None,
    name: str,
    scenario_id: str,
    seed: int = 0,
    *,
    version: str | None = None,
    split: str = "test",
    verify: bool = True,
) -> ScenarioReader:
    """Open the stored scenario ``scenario_id`` (``family@v`` or bare family = newest) of dataset ``name``.

    ``version`` defaults to the version this modalbench prepares (:func:`modalbench.store.store_version`).
    ``verify`` recomputes the sha256 of the masks and refuses a mismatch.
    """
    from modalbench.store import split_dataset_ref, store_version

    fam = get_scenario(scenario_id)
    root_p = resolve_root(root)
    name, named = split_dataset_ref(name)  # NAME@VERSION names the store
    version = version or named or store_version(name, root_p)
    directory = artifact_dir(root_p, name, version, fam.id, seed, split)
    if not (directory / "manifest.json").exists():
        raise ModalbenchError(
            f"scenario {fam.id} seed {seed} ({split}) of {name} {version} is not generated "
            f"under {root_p}; run: {regenerate_command(name, fam.family, seed, split)} "
            f"--root {root_p}"
        )
    return ScenarioReader(directory, verify=verify)
