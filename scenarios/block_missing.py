"""``block-missing@v1``: contiguous gaps removed from the continuous evaluation recordings.

Protocol of EmbraceNet (Choi & Lee, Information Fusion 51, 2019, §6.4.2) on OPPORTUNITY: on the continuous
test recordings *before windowing*, repeatedly pick a random modality and remove a random contiguous range
of ``L ~ U{L_min, …, L_max}`` time steps (OPPORTUNITY: 300–900 steps = 10–30 s at 30 Hz) until the missing
rate ``removed modality-timesteps / all modality-timesteps`` of the split reaches r, for r = 0.1 … 0.9.

Exact procedure of v1 (one independent stream ``PCG64([seed, 2, rate_index])`` per rate, fresh mask per rate):

1. blocks are drawn in batches of :data:`BATCH` as (modality ~ U{0..M-1}, length ~ U{L_min..L_max},
   position ~ U{0..T-1} over the concatenated split stream, which picks the recording with probability
   proportional to its length; length clipped to the recording length only if the recording is shorter;
   start ~ U{0..len_rec - length} inside that recording), so a block never crosses a recording boundary;
2. blocks are applied in order; overlapping removals count once; a block that would push the rate above
   ``r + tolerance`` is skipped (it is drawn but not applied); stop as soon as the rate is >= r.

The achieved rate therefore lies in ``[r, r + tolerance]`` (default tolerance 0.01 = one percentage point).
Natural gaps (NaN) of the store are not counted as removed. Windows see the gaps through per-timestep masks;
a window's modality is unavailable when its whole span is removed (see :mod:`.reader`).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import xarray as xr

from modalbench.errors import ModalbenchError
from modalbench.meta import SPLIT_CODES

from .base import Scenario, ScenarioFamily, SplitView, register_scenario
from .params import DEFAULT_RATES, validate_rates
from .rng import integers, make_rng

BATCH = 1024
MAX_CONSECUTIVE_SKIPS = 20_000
_STREAM_TAG = 2
BLOCK_COLUMNS = ["rate_index", "modality", "recording", "start", "length"]
_RECORDING_VARS = ("recording_start", "recording_length", "recording_split", "recording", "offset")


def block_lengths_from_attrs(ds: xr.Dataset) -> tuple[int | None, int | None]:
    """``ds.attrs["params"]["block_missing"] = {"min": L_min, "max": L_max}`` as recorded by the dataset builder."""
    bm = (ds.attrs.get("params") or {}).get("block_missing") or {}
    return bm.get("min"), bm.get("max")


def draw_block_masks(
    lengths: np.ndarray,
    n_modalities: int,
    rate: float,
    *,
    min_length: int,
    max_length: int,
    tolerance: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Remove blocks until the missing rate is in ``[rate, rate + tolerance]``.

    ``lengths`` are the recording lengths of the concatenated stream. Returns the ``(M, T)`` present mask
    (True = kept) and the applied blocks as ``(n, 4)`` int64 rows ``(modality, recording, start, length)``
    with ``start`` relative to the recording.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    t_total = int(ends[-1])
    total = t_total * n_modalities
    lo = math.ceil(Fraction(str(rate)) * total)
    hi = math.floor((Fraction(str(rate)) + Fraction(str(tolerance))) * total)
    present = np.ones((n_modalities, t_total), dtype=bool)
    blocks: list[tuple[int, int, int, int]] = []
    removed = 0
    skips = 0
    while removed < lo:
        mod = integers(rng, BATCH, n_modalities)
        length = min_length + integers(rng, BATCH, max_length - min_length + 1)
        rec = np.searchsorted(ends, integers(rng, BATCH, t_total), side="right")
        length = np.minimum(length, lengths[rec])
        start = integers(rng, BATCH, lengths[rec] - length + 1)
        pos = (starts[rec] + start).tolist()
        for _j, (mj, lj, rj, sj, pj) in enumerate(
            zip(mod.tolist(), length.tolist(), rec.tolist(), start.tolist(), pos)
        ):
            seg = present[mj, pj : pj + lj]
            new = int(np.count_nonzero(seg))
            if new == 0 or removed + new > hi:  # nothing new removed, or overshoot: draw again
                skips += 1
                if skips > MAX_CONSECUTIVE_SKIPS:
                    raise ModalbenchError(
                        f"block-missing cannot reach rate {rate} within +{tolerance}: blocks of {min_length}-"
                        f"{max_length} steps are too long for a split of {t_total} steps x {n_modalities} modalities"
                    )
                continue
            skips = 0
            seg[:] = False
            removed += new
            blocks.append((mj, rj, sj, lj))
            if removed >= lo:
                break
    return present, np.asarray(blocks, dtype=np.int64).reshape(-1, 4)


@register_scenario
class BlockMissing(ScenarioFamily):
    family = "block-missing"
    version = "v1"
    kind = "stream"
    description = "random contiguous per-modality gaps in the continuous recordings until missing rate r"
    reference = "Choi & Lee, EmbraceNet, Information Fusion 51 (2019), §6.4.2"
    applies_to = "windowed datasets with continuous recordings (time series); not images or vectors"
    #: fill the evaluator uses unless the user passes one: forward fill on the continuous stream
    #: (the OPPORTUNITY challenge rule that EmbraceNet §6.4.2 applies to early, intermediate and CMP)
    protocol_fill = "ffill"

    def default_params(self, ds: xr.Dataset) -> dict[str, Any]:
        lmin, lmax = block_lengths_from_attrs(ds)
        return {"rates": list(DEFAULT_RATES), "min_length": lmin, "max_length": lmax, "tolerance": 0.01}

    def not_applicable(self, ds: xr.Dataset) -> str | None:
        name = ds.attrs.get("dataset", "this dataset")
        if any(v not in ds for v in _RECORDING_VARS):
            return f"block-missing does not apply to {name}: it has no continuous recordings"
        kinds = {m["kind"] for m in ds.attrs.get("modalities", [])}
        if kinds != {"series"}:
            return f"block-missing does not apply to {name}: it needs series modalities only, found {sorted(kinds)}"
        return None

    def validate_params(self, params: dict[str, Any]) -> None:
        validate_rates(self.id, params["rates"])
        params["rates"] = [round(float(r), 6) for r in params["rates"]]
        lmin, lmax = params["min_length"], params["max_length"]
        if lmin is None or lmax is None:
            raise ModalbenchError(
                'block-missing needs block lengths: store attribute params.block_missing = {"min": L_min, '
                '"max": L_max} is missing; pass min_length and max_length'
            )
        for key, v in (("min_length", lmin), ("max_length", lmax)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ModalbenchError(f"block-missing parameter {key} must be a positive integer, got {v!r}")
        if lmin > lmax:
            raise ModalbenchError(f"block-missing: min_length {lmin} > max_length {lmax}")
        tol = params["tolerance"]
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
            raise ModalbenchError(f"block-missing parameter tolerance must be in (0, 1), got {tol!r}")

    def _generate(self, view: SplitView, *, seed: int, params: dict[str, Any]) -> Scenario:
        ds = view.ds
        m = len(view.modalities)
        window = _window_length(ds)
        rec_split = np.asarray(ds["recording_split"].values)
        rec_ids = np.flatnonzero(rec_split == SPLIT_CODES[view.split]).astype(np.int64)
        if rec_ids.size == 0:
            raise ModalbenchError(f"dataset {view.name!r} has no {view.split} recordings (recording_split)")
        rec_global_start = np.asarray(ds["recording_start"].values, dtype=np.int64)[rec_ids]
        rec_len = np.asarray(ds["recording_length"].values, dtype=np.int64)[rec_ids]
        if np.any(rec_len < 1):
            raise ModalbenchError(f"dataset {view.name!r}: a {view.split} recording has length < 1")
        rec_local_start = np.cumsum(rec_len) - rec_len

        s0, s1 = view.sample_range
        sample_rec = np.asarray(ds["recording"].isel(sample=slice(s0, s1)).values, dtype=np.int64)
        sample_off = np.asarray(ds["offset"].isel(sample=slice(s0, s1)).values, dtype=np.int64)
        local = np.searchsorted(rec_ids, sample_rec)
        local = np.clip(local, 0, rec_ids.size - 1)
        if np.any(rec_ids[local] != sample_rec):
            bad = int(np.flatnonzero(rec_ids[local] != sample_rec)[0]) + s0
            raise ModalbenchError(
                f"store: {view.split} sample {bad} belongs to recording {sample_rec[bad - s0]}, "
                f"which is not a {view.split} recording"
            )
        if np.any(sample_off < 0) or np.any(sample_off + window > rec_len[local]):
            bad = int(np.flatnonzero((sample_off < 0) | (sample_off + window > rec_len[local]))[0]) + s0
            raise ModalbenchError(
                f"store: window of sample {bad} (offset {sample_off[bad - s0]}, length {window}) "
                f"does not fit in its recording"
            )
        window_starts = rec_local_start[local] + sample_off

        rates = params["rates"]
        t_total = int(rec_len.sum())
        stream_masks = np.empty((len(rates), t_total, m), dtype=bool)
        all_blocks = []
        conds = []
        for ri, r in enumerate(rates):
            present, blocks = draw_block_masks(
                rec_len,
                m,
                r,
                min_length=params["min_length"],
                max_length=params["max_length"],
                tolerance=params["tolerance"],
                rng=make_rng(seed, _STREAM_TAG, ri),
            )
            stream_masks[ri] = present.T
            all_blocks.append(np.column_stack([np.full(len(blocks), ri, dtype=np.int64), blocks]))
            achieved = 1.0 - present.sum() / present.size
            clipped = int(np.sum(blocks[:, 3] < params["min_length"])) if len(blocks) else 0
            conds.append(
                {
                    "id": f"rate-{r:.2f}",
                    "description": f"random blocks removed until {r:.0%} of the "
                    f"{view.split} modality-timesteps are missing",
                    "missing_rate": r,
                    "achieved_rate": round(float(achieved), 6),
                    "n_blocks": int(len(blocks)),
                    "n_clipped_blocks": clipped,
                }
            )
        blocks_arr = np.concatenate(all_blocks, axis=0) if all_blocks else np.zeros((0, 5), np.int64)
        arrays = {
            "stream_masks": stream_masks,
            "natural_available": view.natural_available,
            "recordings": rec_ids,
            "recording_global_starts": rec_global_start,
            "recording_local_starts": rec_local_start.astype(np.int64),
            "recording_lengths": rec_len,
            "window_starts": window_starts.astype(np.int64),
            "blocks": blocks_arr,
        }
        return self._scenario(
            view,
            seed=seed,
            params=params,
            conditions=conds,
            arrays=arrays,
            extra={"window_length": window, "block_columns": BLOCK_COLUMNS, "stream_steps": t_total},
        )


def _window_length(ds: xr.Dataset) -> int:
    lengths = {int(m["shape"][0]) for m in ds.attrs["modalities"]}
    if len(lengths) != 1:
        raise ModalbenchError(f"store attribute modalities: series windows differ in length {sorted(lengths)}")
    return lengths.pop()
