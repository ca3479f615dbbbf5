"""``gas-sensor``: gas sensor arrays in open sampling settings (UCI 251) under the EmbraceNet protocol.

Vergara, Fonollosa, Mahiques, Trincavelli, Rulkov, Huerta, "On the performance of gas sensor arrays in open
sampling systems using Inhibitory Support Vector Machines", Sensors and Actuators B 185, 2013. Protocol as in
EmbraceNet (Choi & Lee, Information Fusion 2019, §6.1.1):

* one recording per measurement file ``WTD_upload/<Gas>_<ppm>/L<k>/<YYYYMMDDhhmm>_board_setPoint_<V>V_fan_setPoint_<fan>
  _mfc_setPoint_<Gas>_<ppm>ppm_p<pos>`` (92 TAB-separated fields + a trailing TAB, no header);
* modalities: the 8 sensor types, each a (time × 9 boards) series; sensor (board b, type s) is 0-based column
  ``12 + 9(b−1) + (s−1)``; time, fan, MFC, temperature, humidity and the constant board flags are not inputs;
* resampling: the irregular 10–21 ms samples are averaged in 1-second bins on a uniform grid
  ``x̄_k = mean{x_i : k·1000 ≤ t_i < (k+1)·1000 ms}``, ``k = 0 … duration_s−1`` (``duration_s`` = 260, the measurement
  length; samples after it are dropped, an empty bin is NaN = missing);
* task ``gas``: 10 gases (CO at 1,000 and 4,000 ppm is one class; the concentration stays in the metadata);
* split by board location: L1, L3, L5 train; L2 validation; L4 test; L6 excluded (butanol was not measured there);
* windows of 240 s: step 1 s in training (augmentation); validation/test use a fixed step of 20 s, i.e. the two
  windows [0, 240) and [20, 260) s of each 260-s recording; min–max scaling to [0, 1] from the train split;
* block-missing gaps: 10–60 steps (10 s – 1 min sensor dropouts, 4–25 % of a window).

Members are streamed from the zip (an inner ``WTD_upload.zip`` inside the UCI download is first streamed out once)
and parsed in dask tasks of up to :attr:`GasSensor.batch` files, so memory stays bounded and nothing is extracted.
The resampled batches (~1.3 GB for the whole dataset, vs. ~130 GB of text) are cached as ``.npy`` beside the raw
archive, so the pipeline's second pass over the streams (statistics, then the write) does not parse again.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, BinaryIO

import dask
import dask.array as da
import numpy as np
from dask.highlevelgraph import HighLevelGraph
from dask.typing import Key

from modalbench.atomic import atomic_file
from modalbench.datasets import PrepareContext, TaskInfo, register_dataset
from modalbench.errors import ModalbenchError
from modalbench.meta import ModalitySpec
from modalbench.preprocess.types import Recording

from .archive import iter_members, open_member
from .opportunity import TableFormat, read_numeric_table
from .uci import UCIArchiveBuilder

CANONICAL_URL = "https://archive.ics.uci.edu/static/public/251/gas+sensor+arrays+in+open+sampling+settings.zip"
LEGACY_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/00251/WTD_upload.zip"
ARCHIVE_NAME = "gas+sensor+arrays+in+open+sampling+settings.zip"
LEGACY_NAME = "WTD_upload.zip"

N_FIELDS = 92
N_BOARDS = 9
N_TYPES = 8
TIME_COLUMN = 0
#: 0-based column of sensor type ``s`` on board ``b`` (both 0-based): ``12 + 9 b + s``; flags at ``11 + 9 b``
SENSOR_COLUMNS = np.array([[12 + 9 * b + s for b in range(N_BOARDS)] for s in range(N_TYPES)], dtype=np.intp)
FLAG_COLUMNS = np.array([11 + 9 * b for b in range(N_BOARDS)], dtype=np.intp)
CACHE_VERSION = 1
GAS_FORMAT = TableFormat(n_fields=N_FIELDS, sep="\t", na_tokens=(), trailing_sep=True)

GASES = ("Acetaldehyde", "Acetone", "Ammonia", "Benzene", "Butanol", "CO", "Ethylene", "Methane", "Methanol", "Toluene")
FAN_RPM = {0: 1500, 60: 3900, 100: 5500}
MEMBER_RE = re.compile(
    r"(?:^|/)(?P<folder>(?P<gas>[A-Za-z]+)_(?P<ppm>\d+))/L(?P<loc>[1-6])/"
    r"(?P<stamp>\d{12})_board_setPoint_(?P<volt>\d{3})V_fan_setPoint_(?P<fan>\d{3})"
    r"_mfc_setPoint_(?P<fgas>[A-Za-z]+)_(?P<fppm>\d+)ppm_p(?P<pos>\d{1,2})$"
)
_DATA_RE = re.compile(r"(?:^|/)WTD_upload/|(?:^|/)[A-Za-z]+_\d+/L[1-6]/\d{12}_board_setPoint_")


def parse_member_name(member: str) -> dict[str, Any] | None:
    """Metadata encoded in a measurement file's path, or None when the path is not a measurement file."""
    m = MEMBER_RE.search(member)
    if not m:
        return None
    gas = m["gas"]
    if gas not in GASES or m["fgas"] != gas or m["fppm"] != m["ppm"]:
        raise ModalbenchError(
            f"{member}: folder {m['folder']!r} and file name ({m['fgas']}_{m['fppm']}ppm) disagree "
            f"or name an unknown gas (known: {', '.join(GASES)})"
        )
    fan = int(m["fan"])
    return {
        "gas": gas,
        "folder": m["folder"],
        "concentration_ppm": int(m["ppm"]),
        "location": f"L{m['loc']}",
        "position": int(m["pos"]),
        "heater_voltage": int(m["volt"]) / 100.0,
        "fan_setpoint": fan,
        "fan_rpm": FAN_RPM.get(fan),
        "timestamp": m["stamp"],
    }


def assign_trials(metas: list[dict[str, Any]]) -> None:
    """``trial`` = 1-based rank by timestamp among files of the same gas folder, location, voltage and fan."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for m in metas:
        groups[(m["folder"], m["location"], m["heater_voltage"], m["fan_setpoint"])].append(m)
    for items in groups.values():
        for k, m in enumerate(sorted(items, key=lambda d: d["timestamp"]), 1):
            m["trial"] = k


def resample_bins(t_ms: np.ndarray, x: np.ndarray, duration_s: float, rate_hz: float = 1.0) -> np.ndarray:
    """Mean of the samples in each bin ``[k, k+1) / rate_hz`` seconds, ``k < duration_s·rate_hz``; empty bins NaN."""
    n_bins = round(duration_s * rate_hz)
    b = np.floor(np.asarray(t_ms, dtype=np.float64) * rate_hz / 1000.0)
    ok = np.isfinite(b) & (b >= 0) & (b < n_bins)
    bi = b[ok].astype(np.int64)
    xs = np.asarray(x, dtype=np.float64)[ok]
    counts = np.bincount(bi, minlength=n_bins).astype(np.float64)
    out = np.empty((n_bins, xs.shape[1]), dtype=np.float64)
    for j in range(xs.shape[1]):
        out[:, j] = np.bincount(bi, weights=xs[:, j], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        out /= counts[:, None]
    out[counts == 0] = np.nan
    return out.astype(np.float32)


def parse_gas_file(stream: BinaryIO, *, where: str, reopen: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """One measurement file → time in ms ``(N,)`` and sensors ``(N, 8, 9)`` (type, board) float64."""
    table = read_numeric_table(stream, GAS_FORMAT, where=where, reopen=reopen, dtype=np.float64)
    if len(table) == 0:
        raise ModalbenchError(f"{where}: no rows")
    return table[:, TIME_COLUMN], table[:, SENSOR_COLUMNS]


def load_gas_file(stream: BinaryIO, *, where: str, duration_s: float, rate_hz: float, reopen: Any = None) -> np.ndarray:
    """Parse and resample one file to ``(T, 8·9)`` float32, type-major (columns ``s·9 + b``)."""
    t, sensors = parse_gas_file(stream, where=where, reopen=reopen)
    return resample_bins(t, sensors.reshape(len(t), -1), duration_s, rate_hz)


def _parse_batch(
    archive: str, members: tuple[str, ...], duration_s: float, rate_hz: float, cache_dir: str | None = None
) -> np.ndarray:
    """``(B, T, 72)`` for a batch of members (the zip's central directory is parsed once per process).

    With ``cache_dir`` the resampled batch is kept as ``.npy`` (atomic write), keyed by the archive's size and
    mtime, the members and the resampling parameters: the pipeline computes the streams twice (train statistics,
    then the write), and the second pass then reads ~0.7 MB per batch instead of re-parsing ~230 MB of text.
    """
    cache = None
    if cache_dir is not None:
        st = Path(archive).stat()
        key = hashlib.sha256(
            json.dumps(
                [Path(archive).name, st.st_size, st.st_mtime_ns, members, duration_s, rate_hz, CACHE_VERSION]
            ).encode()
        ).hexdigest()[:32]
        cache = Path(cache_dir) / f"{key}.npy"
        if cache.is_file():
            try:
                arr = np.load(cache, allow_pickle=False)
                if arr.shape == (len(members), round(duration_s * rate_hz), N_TYPES * N_BOARDS):
                    return arr
            except (OSError, ValueError):
                pass
    out = []
    name = Path(archive).name
    for m in members:  # open_member keeps the zip's parsed central directory per process, and caps each member
        with open_member(Path(archive), m) as fh:
            out.append(
                load_gas_file(
                    fh,
                    where=f"{name}:{m}",
                    duration_s=duration_s,
                    rate_hz=rate_hz,
                    reopen=lambda m=m: open_member(Path(archive), m),
                )
            )
    arr = np.stack(out)
    if cache is not None:
        with atomic_file(cache, "wb") as fh:  # a unique temporary name per call: concurrent tasks never collide
            np.save(fh, arr, allow_pickle=False)
    return arr


def _split_block(block: Any, n: int, steps: int) -> list[dict[str, da.Array]]:
    """Per recording and sensor type, a ``(steps, 9)`` dask array selecting from the ``(n, steps, 72)`` batch.

    The graph is written directly (one ``getitem`` task per array): slicing or ``from_delayed`` would tokenize
    each of the ~150,000 arrays of the full dataset and take minutes.
    """
    out = []
    meta = np.empty((0, 0), dtype=np.float32)
    for i in range(n):
        streams = {}
        for s in range(N_TYPES):
            name = f"gas-sensor{s + 1}-{i}-{block.key}"
            index = (i, slice(None), slice(s * N_BOARDS, (s + 1) * N_BOARDS))
            dsk: dict[Key, Any] = {(name, 0, 0): (operator.getitem, block.key, index)}
            graph = HighLevelGraph.from_collections(name, dsk, dependencies=[block])
            streams[f"sensor{s + 1}"] = da.Array(graph, name, chunks=((steps,), (N_BOARDS,)), meta=meta)
        out.append(streams)
    return out


@register_dataset
class GasSensor(UCIArchiveBuilder):
    name = "gas-sensor"
    version = "v1"
    description = (
        "Gas sensor arrays in open sampling settings (UCI 251): 8 sensor types x 9 boards, 10 gases, "
        "wind tunnel, split by location (EmbraceNet §6.1.1)"
    )
    license = "CC BY 4.0 (UCI ML repository)"
    homepage = "https://archive.ics.uci.edu/dataset/251/gas+sensor+arrays+in+open+sampling+settings"
    citation = (
        "A. Vergara, J. Fonollosa, J. Mahiques, M. Trincavelli, N. Rulkov, R. Huerta. On the performance of "
        "gas sensor arrays in open sampling systems using Inhibitory Support Vector Machines. Sensors and "
        "Actuators B: Chemical 185:462-477, 2013."
    )
    structure = "windowed"
    canonical_url, legacy_url = CANONICAL_URL, LEGACY_URL
    archive_name, legacy_name = ARCHIVE_NAME, LEGACY_NAME
    archive_note = "UCI publishes no checksum (trust on first use); about 8.4 GB"
    data_members = MEMBER_RE
    #: measurement files per dask task (one zip open per task); not a data parameter
    batch = 32
    #: keep resampled batches as .npy under ``<raw>/<archive>.cache/`` (the second pipeline pass reads them)
    cache = True

    def default_params(self) -> dict[str, Any]:
        return {
            "window": {"length": 240, "step": {"train": 1, "val": 20, "test": 20}, "label_rule": "last"},
            "scaling": {"method": "minmax", "range": [0.0, 1.0], "clip": True},
            "block_missing": {"min": 10, "max": 60},
            "resample": {"method": "bin_mean", "rate_hz": 1.0, "duration_s": 260},
            "split": {"train": ["L1", "L3", "L5"], "val": ["L2"], "test": ["L4"]},
        }

    def modalities(self, params: dict[str, Any]) -> list[ModalitySpec]:
        length = int(params["window"]["length"])
        boards = tuple(f"board{b + 1}" for b in range(N_BOARDS))
        return [ModalitySpec(f"sensor{s + 1}", "series", (length, N_BOARDS), boards) for s in range(N_TYPES)]

    def tasks(self, params: dict[str, Any]) -> list[TaskInfo]:
        return [TaskInfo("gas", "multiclass", GASES)]

    def block_missing_lengths(self, params: dict[str, Any]) -> tuple[int, int]:
        bm = params["block_missing"]
        return int(bm["min"]), int(bm["max"])

    def location_splits(self, params: dict[str, Any]) -> dict[str, str]:
        """Location → split; a location listed twice is an error, unlisted ones are excluded."""
        out: dict[str, str] = {}
        for split in ("train", "val", "test"):
            for loc in params["split"].get(split, []):
                if loc in out:
                    raise ModalbenchError(f"gas-sensor: location {loc} is in both {out[loc]} and {split}")
                out[str(loc)] = split
        return out

    # -------------------------------------------------------------- load

    def load(self, params: dict[str, Any], ctx: PrepareContext) -> list[Recording]:
        rs = params["resample"]
        if rs.get("method", "bin_mean") != "bin_mean":
            raise ModalbenchError(f"gas-sensor: resample.method {rs['method']!r} is not supported (only 'bin_mean')")
        rate, duration = float(rs["rate_hz"]), float(rs["duration_s"])
        steps = round(rate * duration)
        loc_split = self.location_splits(params)

        archive, fetched, dest = self.open_archive(ctx)
        metas: list[dict[str, Any]] = []
        skipped: list[str] = []
        for member in iter_members(archive):
            if member.endswith("/"):
                continue
            meta = parse_member_name(member)
            if meta is None:
                if _DATA_RE.search(member):
                    skipped.append(member)
                continue
            meta["member"] = member
            metas.append(meta)
        if not metas:
            raise ModalbenchError(f"{archive}: no measurement files (WTD_upload/<Gas>_<ppm>/L<k>/...) found")
        self.member_limits(archive, [m["member"] for m in metas], ctx.verification)  # declared sizes, before reading
        assign_trials(metas)
        metas.sort(key=lambda m: m["member"])
        ctx.provenance.update(
            {
                "archive": fetched,
                "members": {
                    "files": len(metas),
                    "skipped": len(skipped),
                    "skipped_examples": skipped[:10],
                    "verification": "archive only (UCI publishes no per-file checksums)",
                },
            }
        )

        cache_dir = str(dest / f"{archive.name}.cache") if self.cache else None
        chosen = [m for m in metas if m["location"] in loc_split]
        by_dir: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for m in chosen:
            by_dir[(m["folder"], m["location"])].append(m)
        recs: list[Recording] = []
        for key in sorted(by_dir):
            group = by_dir[key]
            for start in range(0, len(group), self.batch):
                part = group[start : start + self.batch]
                block = dask.delayed(_parse_batch, pure=True)(
                    str(archive), tuple(m["member"] for m in part), duration, rate, cache_dir
                )
                for m, streams in zip(part, _split_block(block, len(part), steps), strict=True):
                    meta = {k: v for k, v in m.items() if k != "member"}
                    recs.append(
                        Recording(
                            id=m["member"].split("WTD_upload/", 1)[-1],
                            split=loc_split[m["location"]],
                            streams=streams,
                            labels={"gas": np.full(steps, GASES.index(m["gas"]), dtype=np.int64)},
                            meta=meta,
                        )
                    )
        return recs
