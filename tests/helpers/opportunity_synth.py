"""Synthetic OPPORTUNITY-format ``.dat`` files (SYNTHETIC data, for fixtures and throughput benchmarks).

The layout is the real one (250 whitespace-separated integer columns, 30 Hz ``MILLISEC``, labels in columns
244–250 in the real id space of ``label_legend.txt``, ``NaN`` for missing values); the values are seeded random
walks with per-kind scales in the real units (milli g, degrees, 0/1 reed switches, millimetres). Missing data
comes in runs that blank one whole sensor at a time, like the dropouts of the real recordings; ``nan_rate`` is the
expected fraction of sensor cells that are NaN. Formatting is vectorised (no per-value Python), so 200+ MB files
are written in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from modalbench.atomic import INCOMPLETE
from modalbench.loaders import opportunity_columns as oc

RATE_HZ = 30.0
#: (first column, last column, kind) of the 250 columns (1-based); ``tests/test_opportunity.py`` checks the kinds
#: against the units in the real column_names.txt.
LAYOUT: tuple[tuple[int, int, str], ...] = (
    (1, 1, "time"),
    (2, 37, "body_acc"),
    (38, 134, "imu"),
    (135, 194, "object"),
    (195, 207, "reed"),
    (208, 231, "ambient_acc"),
    (232, 243, "location"),
    (244, 250, "label"),
)
#: (mean spread, random-walk step) per kind, in the file's units
_SCALES = {
    "body_acc": (600.0, 25.0),
    "imu": (500.0, 30.0),
    "object": (300.0, 10.0),
    "ambient_acc": (1000.0, 5.0),
    "location": (2000.0, 8.0),
}
#: raw label ids per label column (0 = null), in the real id space
LABEL_IDS: dict[int, tuple[int, ...]] = {
    244: (0, 1, 2, 4, 5),
    245: (0, 101, 102, 103, 104, 105),
    246: (0, *range(201, 214)),
    247: (0, *range(301, 324)),
    248: (0, *range(401, 414)),
    249: (0, *range(501, 524)),
    250: (0, *oc.GESTURE_IDS),
}
NAN_RUN_ROWS = (30, 300)  # 1–10 s dropouts


def sensor_groups() -> list[np.ndarray]:
    """0-based column groups that fail together: body-worn sensors (quaternions included), then objects etc."""
    groups: list[np.ndarray] = []
    seen: set[int] = set()
    for g in oc.MODALITY_COLUMNS:
        lo, hi = min(g.columns), max(g.columns)
        # IMU quaternions sit right after the 9 channels; they belong to the same physical sensor
        if g.name.startswith("imu_") and len(g.columns) == 9:
            hi += 4
        cols = np.arange(lo - 1, hi)
        groups.append(cols)
        seen.update(cols.tolist())
    for first, last, kind in LAYOUT:
        if kind in ("time", "label", "body_acc", "imu"):
            continue
        width = {"object": 5, "reed": 1, "ambient_acc": 3, "location": 3}[kind]
        for s in range(first - 1, last, width):
            groups.append(np.arange(s, min(s + width, last)))
    return groups


def _kind_of_column() -> list[str]:
    kinds = [""] * oc.N_COLUMNS
    for first, last, kind in LAYOUT:
        for c in range(first, last + 1):
            kinds[c - 1] = kind
    return kinds


def _segments(
    rng: np.random.Generator, n: int, ids: tuple[int, ...], min_len: int, max_len: int, null_prob: float
) -> np.ndarray:
    out = np.empty(n, dtype=np.float64)
    t = 0
    while t < n:
        seg = int(rng.integers(min_len, max_len + 1))
        out[t : t + seg] = 0 if rng.random() < null_prob else ids[int(rng.integers(1, len(ids)))]
        t += seg
    return out


def synth_table(
    n_rows: int, seed: int, nan_rate: float = 0.05, start_row: int = 0, state: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """``(n_rows, 250)`` float64 rows (integers and NaN) continuing at ``start_row``; ``state`` carries the walks."""
    rng = np.random.Generator(np.random.PCG64([int(seed), int(start_row)]))
    kinds = _kind_of_column()
    a = np.empty((n_rows, oc.N_COLUMNS), dtype=np.float64)
    a[:, 0] = np.round((start_row + np.arange(n_rows)) * 1000.0 / RATE_HZ)
    if state is None:
        state = {}
    if "level" not in state:
        init = np.random.Generator(np.random.PCG64([int(seed), 2**31]))
        state["level"] = np.array([init.normal(0, _SCALES[k][0]) if k in _SCALES else 0.0 for k in kinds])
    step = np.array([_SCALES[k][1] if k in _SCALES else 0.0 for k in kinds])
    walk = state["level"] + np.cumsum(rng.normal(0.0, 1.0, size=(n_rows, oc.N_COLUMNS)) * step, axis=0)
    state["level"] = walk[-1].copy()
    cont = np.array([k in _SCALES for k in kinds])
    a[:, cont] = np.round(walk[:, cont])
    reed = np.array([k == "reed" for k in kinds])
    a[:, reed] = (rng.random((n_rows, int(reed.sum()))) < 0.1).astype(np.float64)
    for col, ids in LABEL_IDS.items():
        null_prob = 0.2 if col == 244 else 0.6
        a[:, col - 1] = _segments(rng, n_rows, ids, int(RATE_HZ), int(10 * RATE_HZ), null_prob)
    if nan_rate > 0:
        lo, hi = NAN_RUN_ROWS
        mean_run = (lo + hi) / 2.0
        for cols in sensor_groups():
            n_runs = rng.poisson(nan_rate * n_rows / mean_run)
            for s in rng.integers(0, max(1, n_rows), size=n_runs):
                a[s : s + int(rng.integers(lo, hi + 1)), cols] = np.nan
    return a


def format_table(a: np.ndarray, max_digits: int = 9) -> bytes:
    """Integer/NaN rows as ``.dat`` text: single spaces, ``NaN`` for missing, ``\\n`` line ends (vectorised)."""
    n, c = a.shape
    nan = np.isnan(a)
    v = np.where(nan, 0.0, a).astype(np.int64)
    mag = np.abs(v)
    if (mag >= 10**max_digits).any():
        raise ValueError(f"values need more than {max_digits} digits")
    w = max_digits
    cell = np.empty((n, c, w + 2), dtype=np.uint8)
    cell[..., 0] = ord("-")
    tmp = mag.copy()
    for k in range(w, 0, -1):
        cell[..., k] = 48 + (tmp % 10)
        tmp //= 10
    cell[..., w + 1] = ord(" ")
    cell[:, -1, w + 1] = ord("\n")
    ndig = np.ones_like(mag)
    for k in range(1, w):
        ndig += mag >= 10**k
    keep = np.zeros((n, c, w + 2), dtype=bool)
    keep[..., 0] = v < 0
    keep[..., 1 : w + 1] = np.arange(w)[None, None, :] >= (w - ndig)[..., None]
    keep[..., w + 1] = True
    if nan.any():
        cell[nan, w - 2 : w + 1] = np.frombuffer(b"NaN", dtype=np.uint8)
        keep[nan, : w + 1] = False
        keep[nan, w - 2 : w + 1] = True
    return cell[keep].tobytes()


def write_opportunity_dat(
    path: str | os.PathLike[str], n_rows: int, seed: int, nan_rate: float = 0.05, chunk_rows: int = 20_000
) -> int:
    """Write a synthetic OPPORTUNITY ``.dat`` file of ``n_rows`` rows atomically; returns its size in bytes.

    About 1 KB per row: ``n_rows=250_000`` gives a ~240 MB file (the largest real file has ~70 MB).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + INCOMPLETE)
    state: dict[str, np.ndarray] = {}
    size = 0
    with open(tmp, "wb") as fh:
        for start in range(0, n_rows, chunk_rows):
            rows = synth_table(min(chunk_rows, n_rows - start), seed, nan_rate, start_row=start, state=state)
            data = format_table(rows)
            fh.write(data)
            size += len(data)
    os.replace(tmp, path)
    return size


def layout_from_column_names(columns: list[oc.Column]) -> tuple[tuple[int, int, str], ...]:
    """The :data:`LAYOUT` ranges derived from a parsed ``column_names.txt`` (to check the committed layout)."""
    last_imu = max(c.index for c in columns if c.words[:1] == ["InertialMeasurementUnit"])
    gyro_sensors = {c.words[1] for c in columns if c.words[:1] == ["Accelerometer"] and c.words[-1].startswith("gyro")}
    kinds = []
    for c in columns:
        w = c.words
        if c.section == "label":
            kind = "label"
        elif w[:1] == ["MILLISEC"]:
            kind = "time"
        elif c.index <= last_imu:
            kind = "imu" if w[0] == "InertialMeasurementUnit" else "body_acc"
        elif w[:2] == ["REED", "SWITCH"]:
            kind = "reed"
        elif w[:1] == ["LOCATION"]:
            kind = "location"
        elif w[:1] == ["Accelerometer"]:
            kind = "object" if w[1] in gyro_sensors else "ambient_acc"
        else:
            kind = "unknown"
        kinds.append(kind)
    out: list[tuple[int, int, str]] = []
    for i, k in enumerate(kinds, 1):
        if out and out[-1][2] == k:
            out[-1] = (out[-1][0], i, k)
        else:
            out.append((i, i, k))
    return tuple(out)


def write_opportunity_zip(
    path: str | os.PathLike[str],
    rows_per_file: int,
    seed: int,
    nan_rate: float = 0.05,
    subjects: tuple[int, ...] = (1, 2, 3, 4),
    chunk_rows: int = 20_000,
) -> int:
    """A synthetic ``OpportunityUCIDataset.zip`` (real member layout, all 24 sessions by default) for benchmarks.

    Members are streamed into the zip chunk by chunk (bounded memory); returns the total uncompressed ``.dat``
    bytes. ``prepare opportunity --raw DIR --verification warn`` accepts it (the checksums cannot match).
    """
    import zipfile

    from modalbench.loaders.opportunity import MEMBER_DIR, SESSIONS

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + INCOMPLETE)
    total = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for k, (subject, session) in enumerate((s, sess) for s in subjects for sess in SESSIONS):
            state: dict[str, np.ndarray] = {}
            with zf.open(f"{MEMBER_DIR}S{subject}-{session}.dat", "w", force_zip64=True) as fh:
                for start in range(0, rows_per_file, chunk_rows):
                    rows = synth_table(
                        min(chunk_rows, rows_per_file - start), seed * 1000 + k, nan_rate, start_row=start, state=state
                    )
                    data = format_table(rows)
                    fh.write(data)
                    total += len(data)
    os.replace(tmp, path)
    return total
