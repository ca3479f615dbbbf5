"""``opportunity``: the OPPORTUNITY Activity Recognition dataset (UCI 226) under the challenge protocol.

Roggen et al., "Collecting complex activity datasets in highly rich networked sensor environments", INSS 2010;
Chavarriaga et al., "The Opportunity challenge: a benchmark database for on-body sensor-based activity
recognition", Pattern Recognition Letters 34(15), 2013. Protocol as in EmbraceNet (Choi & Lee, Information Fusion
2019, §6.1.2) and DeepConvLSTM (Ordóñez & Roggen, Sensors 2016):

* modalities: the 19 body-worn sensors, 113 channels (:mod:`.opportunity_columns`), 30 Hz, NaN kept as missingness;
* tasks: ``locomotion`` (null + 4) and ``gestures`` (null + 17 mid-level gestures);
* split: train = S1 (all sessions) + ADL1, ADL2, Drill of S2 and S3; val = ADL3 of S2, S3; test = ADL4, ADL5 of
  S2, S3. S4 is unused unless ``include_s4`` (it then follows the S2/S3 rule);
* windows of 15 samples (500 ms), step 1 (train) / 8 (val, test), label of the last sample; per-channel min–max
  scaling to [−1, 1] from the train split (done by :mod:`modalbench.preprocess.pipeline`);
* ``exclude_null_val`` (default true): the gestures null class is left out of validation — exposed per task by
  :meth:`Opportunity.val_excluded_classes` for the pipeline / evaluator to apply.

The ``.dat`` members are read straight from the zip (no extraction), ``Opportunity.threads`` members at a time
(:func:`run_per_member`; on a cluster, by its workers as dask tasks): each used member is read once — hashed
(sha256 + size against ``lfs_pointers_dat.txt``), its rows counted, parsed and kept as ``.npy`` — the unused ones
only hashed. The first member that fails stops the others: no member starts after it and ``load`` raises once the
running ones have finished.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import dask
import dask.array as da
import numpy as np

from modalbench.atomic import write_bytes_atomic, write_json_atomic
from modalbench.datasets import PrepareContext, TaskInfo, register_dataset
from modalbench.errors import ModalbenchError
from modalbench.meta import ModalitySpec
from modalbench.preprocess.types import Recording

from . import opportunity_columns as oc
from .uci import UCIArchiveBuilder

CANONICAL_URL = "https://archive.ics.uci.edu/static/public/226/opportunity+activity+recognition.zip"
LEGACY_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/00226/OpportunityUCIDataset.zip"
ARCHIVE_NAME = "opportunity+activity+recognition.zip"
LEGACY_NAME = "OpportunityUCIDataset.zip"
MEMBER_DIR = "OpportunityUCIDataset/dataset/"
SESSIONS = ("ADL1", "ADL2", "ADL3", "ADL4", "ADL5", "Drill")
_DAT_RE = re.compile(r"(?:^|/)S([1-4])-(ADL[1-5]|Drill)\.dat$")

#: sha256 and byte size of the 24 ``.dat`` files, from ``lfs_pointers_dat.txt`` (Git-LFS pointers of a third-party
#: verbatim copy of the UCI zip; not published by UCI). ``tests/test_opportunity.py`` checks them against that file.
DAT_CHECKSUMS: dict[str, tuple[str, int]] = {
    "S1-ADL1.dat": ("2b247432acbe4d3970f052c1e3e7ff8d2fc98ba5c49f95e2a0d63a32c553aab8", 51803164),
    "S1-ADL2.dat": ("cb7951936acb4637e27b3c8c95480341354a93ba90a5cce232526279d2f127ba", 32761206),
    "S1-ADL3.dat": ("118378e10af6bf042a65f7d14234993b9e1229ef12b4dc75afff1a79760f7132", 33899243),
    "S1-ADL4.dat": ("283cf48e4114b4fb05a7def13c29b5497a0e02947ca5855d831fc68b72eec1c8", 34242592),
    "S1-ADL5.dat": ("8519f3a4c09ee10c67215aef53520152355ddadf0d70b5b708998478b0c53a1c", 30729238),
    "S1-Drill.dat": ("26b5e4d9f40243cc64471592bf86a5a282b0bde864b1efcdd5699d5a7f00bf42", 56321443),
    "S2-ADL1.dat": ("38d76a30b49b6fff3dcc77cec676a19de5c252ed14c10b7400b4666997fa7f1f", 43165447),
    "S2-ADL2.dat": ("b30f15e8a1927cd19427e2b1028bc787df06810466fd548523fc6a11e2d01aed", 30710584),
    "S2-ADL3.dat": ("64eca28aa6cefc38e6362510f95d2a770d3a4e6c8b2326fd6608d7c10707240e", 34808274),
    "S2-ADL4.dat": ("25cd0d6eb7e0fd9a9786d213ffdac131f06a5279e24d78ff50b1621a3fa205d1", 33124185),
    "S2-ADL5.dat": ("2300842180e2640aa9512d602c0a7ba6ee1a4ef1999889b34bceb110dc5c5c0d", 32398053),
    "S2-Drill.dat": ("98e7ed170e860457198fd1346f4b284d7ae5983e5de78d3924273ec47fa8e78f", 54381079),
    "S3-ADL1.dat": ("1b15fc4766ba9a79f8ec97c15bb4cb128e7a2fd2c08f8dcb60dec65ca543e699", 37810795),
    "S3-ADL2.dat": ("a61b0418486f07114719d30ea6bf119e530f233d36d8eee7da542946b0358f4a", 28329759),
    "S3-ADL3.dat": ("ad976087c3c428f75d5a83df82640935323b3923eb8256466c99e7d2c556590a", 27222179),
    "S3-ADL4.dat": ("e2502620983c38ecb78b21ca232516decc64753ad476ea242d3cbebcba20e637", 27972830),
    "S3-ADL5.dat": ("8c66c65e561c4b2a8fb36d40cbca36cee246d6fad6072b097fcb3ee0ed8620fa", 27048082),
    "S3-Drill.dat": ("3f5c13d4e52ea96f218040480e68bdf279818e7ea99d7dba7a78c12f2e21f7f1", 72116889),
    "S4-ADL1.dat": ("9a9a6fedd1889f9210ff3ecc0d9ee9da602bd11a3a86f629ac06273a9b8bb98a", 42129019),
    "S4-ADL2.dat": ("022be538306b443096667f37909d2a4a6f69222ddd2381a63160efc6ef146a04", 28272896),
    "S4-ADL3.dat": ("f81f5d19cf3f76e531e2af5aab2333f6a776d82202869c740ee7791c1095fd7f", 26254876),
    "S4-ADL4.dat": ("d2f5bd0e2f770ef8cbc0e1b11cab1ea9fe537d1bef3586dc92c395fd47b1426d", 22661204),
    "S4-ADL5.dat": ("1ace7199f8a5285691a58326ded0a2932ea56d8f43da537ff23db0ad359e7ef6", 31116303),
    "S4-Drill.dat": ("9076c861d9b5ad94345abf61659064f8e7b94e73d29518ab30e156a30555a3bd", 46154259),
}

#: 0-based ``.dat`` columns of the 113 channels, modality by modality (contiguous per modality).
CHANNEL_COLUMNS = np.array([c - 1 for g in oc.MODALITY_COLUMNS for c in g.columns], dtype=np.intp)
LOCOMOTION_COLUMN = oc.LABEL_COLUMNS["Locomotion"] - 1
GESTURE_COLUMN = oc.LABEL_COLUMNS["ML_Both_Arms"] - 1
CHUNK_ROWS = 8192


# ---------------------------------------------------------------- protocol


def challenge_split(subject: int, session: str, include_s4: bool = False) -> str | None:
    """The OPPORTUNITY-challenge split of one session, or None when the session is unused."""
    if session not in SESSIONS:
        raise ModalbenchError(f"opportunity: unknown session {session!r}; expected one of {SESSIONS}")
    if subject == 1:
        return "train"
    if subject in (2, 3) or (subject == 4 and include_s4):
        if session in ("ADL1", "ADL2", "Drill"):
            return "train"
        return "val" if session == "ADL3" else "test"
    return None


def label_lookup(raw_ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted raw ids and their class indices (raw 0 → 0 = null, the listed ids → 1..K)."""
    ids = np.array([0, *raw_ids], dtype=np.int64)
    order = np.argsort(ids)
    return ids[order], np.arange(len(ids), dtype=np.int64)[order]


_LOCO = label_lookup(oc.LOCOMOTION_IDS)
_GEST = label_lookup(oc.GESTURE_IDS)


def map_labels(raw: np.ndarray, table: tuple[np.ndarray, np.ndarray], *, where: str, column: int) -> np.ndarray:
    """Map a raw label column (float) to class indices; NaN, fractions or unknown ids raise naming the line."""
    ids, classes = table
    bad = ~np.isfinite(raw) | (raw != np.round(raw))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ModalbenchError(f"{where} line {i + 1} column {column}: label {float(raw[i])!r} is not an integer id")
    r = raw.astype(np.int64)
    pos = np.clip(np.searchsorted(ids, r), 0, len(ids) - 1)
    unknown = ids[pos] != r
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise ModalbenchError(
            f"{where} line {i + 1} column {column}: unknown label id {int(r[i])} "
            f"(expected one of {sorted(int(v) for v in ids)})"
        )
    return classes[pos]


# ---------------------------------------------------------------- text parsing (shared with gas_sensor)

_NUMBER = re.compile(rb"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_NUMERIC_CHARS = b"0123456789eE+-. \r\n"


@dataclass(frozen=True)
class TableFormat:
    """A headerless numeric text table: ``sep`` None = runs of whitespace; ``trailing_sep`` = a separator ends rows."""

    n_fields: int
    sep: str | None = None
    na_tokens: tuple[str, ...] = ("NaN",)
    trailing_sep: bool = False


def locate_bad_line(stream: BinaryIO, fmt: TableFormat, where: str) -> ModalbenchError | None:
    """The first malformed line (blank, wrong field count, non-numeric field) as an error, else None (slow path)."""
    na = {t.encode() for t in fmt.na_tokens}
    sep = fmt.sep.encode() if fmt.sep else None
    last_blank = None
    for lineno, line in enumerate(stream, 1):
        if sep is None:
            toks = line.split()
        else:
            toks = line.rstrip(b"\r\n").split(sep)
            if fmt.trailing_sep and len(toks) > 1 and toks[-1] == b"":
                toks.pop()
        if not toks or toks == [b""]:
            last_blank = lineno
            continue
        if last_blank is not None:
            return ModalbenchError(f"{where} line {last_blank}: blank line inside the data")
        if len(toks) != fmt.n_fields:
            return ModalbenchError(f"{where} line {lineno}: {len(toks)} fields, expected {fmt.n_fields}")
        for j, t in enumerate(toks):
            if t not in na and not _NUMBER.match(t.strip()):
                return ModalbenchError(f"{where} line {lineno} field {j + 1}: {t.decode('latin-1')!r} is not a number")
    return None


def read_numeric_table(
    stream: BinaryIO,
    fmt: TableFormat,
    *,
    where: str,
    rows: int | None = None,
    reopen: Callable[[], BinaryIO] | None = None,
    dtype: Any = np.float32,
    chunk_rows: int = CHUNK_ROWS,
    columns: Sequence[int] | None = None,
) -> np.ndarray:
    """Parse a headerless numeric table into ``(rows, n_fields)`` (or ``(rows, len(columns))``: those fields).

    Single-space separated tables go through pyarrow's CSV reader first (every row's field count is still checked;
    only ``columns`` are converted); anything it does not take (tabs, runs of spaces, a malformed row) is parsed by
    pandas' C parser, chunk by chunk. Malformed input raises :class:`ModalbenchError` naming ``where``, the line
    and the field (found by re-reading the text through ``reopen`` when pandas' own message has no line).
    """
    if fmt.sep is None and not fmt.trailing_sep:
        fast = _read_single_space(stream, fmt, rows=rows, dtype=dtype, columns=columns)
        if fast is not None:
            return fast
        stream = _rewound(stream, reopen)
    table = _read_with_pandas(stream, fmt, where=where, rows=rows, reopen=reopen, dtype=dtype, chunk_rows=chunk_rows)
    return table if columns is None else np.ascontiguousarray(table[:, list(columns)])


def _rewound(stream: BinaryIO, reopen: Callable[[], BinaryIO] | None) -> BinaryIO:
    if stream.seekable():
        stream.seek(0)
        return stream
    if reopen is None:
        raise ModalbenchError("internal: a table stream that can be neither rewound nor reopened")
    return reopen()


def _read_single_space(
    stream: BinaryIO, fmt: TableFormat, *, rows: int | None, dtype: Any, columns: Sequence[int] | None
) -> np.ndarray | None:
    """pyarrow's reader for tables whose fields are separated by exactly one space; None: not such a table (or
    not a valid one), so the caller parses it with the general path, which also locates any error."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = stream.read()
    first = data[: data.find(b"\n")] if b"\n" in data else data
    if not data.strip() or len(first.rstrip(b"\r").split(b" ")) != fmt.n_fields:
        return None
    if not _only_numeric_characters(data, fmt.na_tokens):
        return None
    cols = list(range(fmt.n_fields)) if columns is None else [int(c) for c in columns]
    names = [f"f{j}" for j in range(fmt.n_fields)]
    ptype = pa.float64() if np.dtype(dtype) == np.float64 else pa.float32()
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(delimiter=" ", quote_char=False, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types={names[c]: ptype for c in cols},
                include_columns=[names[c] for c in cols],
                null_values=list(fmt.na_tokens),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if rows is not None and table.num_rows != rows:
        return None
    out = np.empty((table.num_rows, len(cols)), dtype=dtype)
    for i, column in enumerate(table.columns):
        out[:, i] = column.to_numpy(zero_copy_only=False)
    return out


def _only_numeric_characters(data: bytes, na_tokens: Sequence[str]) -> bool:
    """True when ``data`` holds only characters of numbers and separators, plus whole NA tokens.

    Fields the fast path does not convert are checked this way (one ``bytes.translate``, ~3 ms per 9 MB): what
    is left after deleting number characters must be NA tokens only (a malformed number made of number
    characters in an unused field would pass).
    """
    rest = data.translate(None, _NUMERIC_CHARS)
    for token in na_tokens:
        rest = rest.replace(token.encode(), b"")
    return not rest


def _read_with_pandas(
    stream: BinaryIO,
    fmt: TableFormat,
    *,
    where: str,
    rows: int | None,
    reopen: Callable[[], BinaryIO] | None,
    dtype: Any,
    chunk_rows: int,
) -> np.ndarray:
    """pandas' C parser, chunk by chunk (any whitespace or a given separator); errors are located."""
    import pandas as pd

    total = fmt.n_fields + (1 if fmt.trailing_sep else 0)
    na_values: Any = list(fmt.na_tokens)
    if fmt.trailing_sep:
        na_values = {j: list(fmt.na_tokens) for j in range(fmt.n_fields)} | {fmt.n_fields: [""]}
    out = np.empty((rows, fmt.n_fields), dtype=dtype) if rows is not None else None
    parts: list[np.ndarray] = []
    n = 0

    def fail(reason: str) -> ModalbenchError:
        if reopen is not None:
            with reopen() as fh:
                err = locate_bad_line(fh, fmt, where)
            if err is not None:
                return err
        return ModalbenchError(f"{where}: {reason}")

    try:
        reader = pd.read_csv(
            stream,
            sep=fmt.sep if fmt.sep else r"\s+",
            header=None,
            engine="c",
            dtype=dtype,
            keep_default_na=False,
            na_values=na_values,
            chunksize=chunk_rows,
            skip_blank_lines=True,
        )
        with reader:
            for chunk in reader:
                a = chunk.to_numpy(dtype=dtype, copy=False)
                if a.shape[1] == total and fmt.trailing_sep:
                    extra = ~np.isnan(a[:, -1])
                    if extra.any():
                        line = n + int(np.flatnonzero(extra)[0]) + 1
                        raise fail(f"line {line}: {total} fields, expected {fmt.n_fields}")
                    a = a[:, :-1]
                if a.shape[1] != fmt.n_fields:
                    raise fail(f"line 1: {a.shape[1]} fields, expected {fmt.n_fields}")
                if out is not None:
                    if n + len(a) > rows:  # type: ignore[operator]
                        raise fail(f"more than the {rows} rows counted before parsing")
                    out[n : n + len(a)] = a
                else:
                    parts.append(np.array(a, dtype=dtype))
                n += len(a)
    except pd.errors.EmptyDataError:
        raise ModalbenchError(f"{where}: empty file, expected rows of {fmt.n_fields} fields") from None
    except ValueError as e:  # pandas' ParserError and float conversion errors (ModalbenchError passes through)
        raise fail(f"could not parse ({e})") from None
    if out is None:
        return np.concatenate(parts, axis=0) if parts else np.empty((0, fmt.n_fields), dtype)
    if n != rows:
        raise fail(f"parsed {n} rows, expected {rows}")
    return out


def scan_stream(stream: BinaryIO, *, hash_it: bool = True, block: int = 1 << 20) -> tuple[str | None, int, int]:
    """``(sha256 or None, size in bytes, rows)`` of a text stream in one pass.

    ``rows`` counts the lines up to the last one that is not blank (trailing blank lines and a missing final
    newline are tolerated; blank lines inside the data are reported by the parser).
    """
    h = hashlib.sha256() if hash_it else None
    size = newlines = trailing_nl = 0
    content = False
    while True:
        buf = stream.read(block)
        if not buf:
            break
        if h is not None:
            h.update(buf)
        size += len(buf)
        newlines += buf.count(b"\n")
        stripped = buf.rstrip(b" \t\r\n")
        if stripped:
            content = True
            trailing_nl = buf[len(stripped) :].count(b"\n")
        else:
            trailing_nl += buf.count(b"\n")
    rows = newlines - trailing_nl + 1 if content else 0
    return (h.hexdigest() if h is not None else None), size, rows


# ---------------------------------------------------------------- member scan (checksums + row counts)


@dataclass(frozen=True)
class MemberScan:
    member: str
    sha256: str | None
    size: int
    rows: int


def _scan_member(archive: str, member: str, hash_it: bool, max_bytes: int | None = None) -> MemberScan:
    from .archive import open_member

    with open_member(Path(archive), member, max_bytes=max_bytes) as fh:
        digest, size, rows = scan_stream(fh, hash_it=hash_it)
    return MemberScan(member, digest, size, rows)


#: members read at once by :func:`scan_members` / :func:`parse_members` (each member is read whole)
MEMBER_THREADS = 2
#: name prefix of the threads of :func:`run_per_member`
MEMBER_THREAD_PREFIX = "opportunity-member"


def on_a_cluster() -> bool:
    """True when dask computes on a distributed cluster (``prepare --workers/--address``): the members are then
    read by its workers, in processes of their own, as dask tasks; otherwise by :func:`run_per_member`."""
    import dask.local
    import dask.threaded

    current = dask.base.get_scheduler()
    return current is not None and current not in (dask.threaded.get, dask.local.get_sync)


def read_members(task: Callable[[str], MemberScan], members: Sequence[str], *, threads: int) -> list[MemberScan]:
    """``task(member)`` for every member, the results in member order: on a cluster as dask tasks, run by its
    workers in processes of their own (an error there leaves no thread of this process running); here with
    :func:`run_per_member`, ``threads`` at a time."""
    if on_a_cluster():
        return list(dask.compute(*[dask.delayed(task)(m) for m in members]))
    return run_per_member(task, members, threads=threads)


def run_per_member(
    task: Callable[[str], MemberScan], members: Sequence[str], *, threads: int = MEMBER_THREADS
) -> list[MemberScan]:
    """``task(member)`` for every member, ``threads`` at a time; the results in the order of ``members``.

    Members are handed out in order. When a task raises, no further member is handed out and the tasks already
    running are waited for, so no thread of the pool still runs when this function returns or raises. The
    error raised is that of the first failing member *in the order of* ``members`` among those that ran (not the
    first to fail in time): the first member always runs, so its error is always the one reported. An
    interrupt of the caller (e.g. Ctrl-C) also stops handing out members and waits for the running ones.
    """
    pending = deque(enumerate(members))
    results: dict[int, MemberScan] = {}
    errors: dict[int, BaseException] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def work() -> None:
        while True:
            with lock:
                if stop.is_set() or not pending:
                    return
                i, member = pending.popleft()
            try:
                results[i] = task(member)
            except BaseException as exc:  # re-raised in the calling thread below
                with lock:
                    errors[i] = exc
                    stop.set()
                return

    n = max(1, min(int(threads), len(members)))
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix=MEMBER_THREAD_PREFIX) as pool:
        try:
            workers = [pool.submit(work) for _ in range(n)]
            for w in workers:
                w.result()
        finally:
            stop.set()  # the caller was interrupted: hand out nothing more; leaving the block joins the threads
    if errors:
        raise errors[min(errors)]
    return [results[i] for i in range(len(members))]


def _archive_key(archive: Path) -> dict[str, Any]:
    """What identifies an archive for the per-member caches: name, size and modification time."""
    st = archive.stat()
    return {"archive": archive.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _cached_members(path: Path | None, key: dict[str, Any]) -> dict[str, Any]:
    """The ``members`` of a cache file written for ``key``; empty when absent, unreadable or for another key."""
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data.get("members", {}) if data.get("key") == key else {}


def scan_members(
    archive: Path,
    members: list[str],
    *,
    hash_it: bool,
    cache: Path | None = None,
    limits: dict[str, int] | None = None,
    threads: int = MEMBER_THREADS,
) -> dict[str, MemberScan]:
    """Hash and count the rows of ``members``, ``threads`` at a time; ``cache`` holds results per archive.

    ``limits``: the most bytes each member may inflate to (see :func:`.archive.open_member` ``max_bytes``).
    Errors: see :func:`run_per_member` (the first failing member in the order of ``members``; nothing cached).
    """
    key = _archive_key(archive)
    cached = _cached_members(cache, key)
    out: dict[str, MemberScan] = {}
    todo = []
    for m in members:
        c = cached.get(m)
        if c is not None and (c.get("sha256") or not hash_it):
            out[m] = MemberScan(m, c.get("sha256"), int(c["size"]), int(c["rows"]))
        else:
            todo.append(m)
    if todo:
        lim = limits or {}
        results = read_members(lambda m: _scan_member(str(archive), m, hash_it, lim.get(m)), todo, threads=threads)
        for r in results:
            out[r.member] = r
        if cache is not None:
            write_json_atomic(
                cache,
                {
                    "key": key,
                    "members": {
                        m: {"sha256": s.sha256, "size": s.size, "rows": s.rows} for m, s in sorted(out.items())
                    },
                },
            )
    return out


#: version of the parsed-member cache layout (bump when :func:`parse_dat`'s output changes)
PARSED_FORMAT = 1


def _parse_and_keep(archive: str, member: str, hash_it: bool, out: Any, max_bytes: int | None = None) -> MemberScan:
    """Read a member once: hash and count it, parse it, and keep the parsed arrays as ``.npy`` files in ``out``.

    The member is read whole, so ``max_bytes`` (its expected or declared size) bounds the memory: a member that
    inflates past it stops with an error naming the archive and the member.
    """
    from .archive import open_member

    with open_member(Path(archive), member, max_bytes=max_bytes) as fh:
        data = fh.read()
    digest, size, rows = scan_stream(io.BytesIO(data), hash_it=hash_it)
    x, y = parse_dat(
        io.BytesIO(data), where=f"{Path(archive).name}:{member}", rows=rows, reopen=partial(io.BytesIO, data)
    )
    del data
    base = _base(member)
    for suffix, arr in (("x", x), ("y", y)):
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        write_bytes_atomic(out / f"{base}.{suffix}.npy", buf.getvalue())
    return MemberScan(member, digest, size, rows)


def _base(member: str) -> str:
    return member.rsplit("/", 1)[-1][: -len(".dat")]


def load_parsed(path: Any) -> np.ndarray:
    """One array kept by :func:`parse_members` (plain ``.npy``, never pickles)."""
    with path.open("rb") as fh:
        return np.load(fh, allow_pickle=False)


def parse_members(
    archive: Path,
    members: list[str],
    *,
    hash_it: bool,
    out: Path,
    limits: dict[str, int] | None = None,
    threads: int = MEMBER_THREADS,
) -> dict[str, MemberScan]:
    """Parse ``members`` once, ``threads`` at a time, hashing and counting them in the same read.

    ``limits``: the most bytes each member may inflate to (see :func:`.archive.open_member` ``max_bytes``).
    Errors: see :func:`run_per_member` (the first failing member in the order of ``members``; no index written).

    The parsed ``(T, 113)`` channels and ``(T, 2)`` classes are kept in ``out`` (``<S>-<session>.x.npy`` /
    ``.y.npy``) with an ``index.json`` keyed by the archive's name, size and mtime, so preparing again (other
    windows, other scaling) reads binary arrays instead of text.
    """
    key = {**_archive_key(archive), "format": PARSED_FORMAT}
    index = out / "index.json"
    cached = _cached_members(index, key)
    result: dict[str, MemberScan] = {}
    todo = []
    for m in members:
        c = cached.get(m)
        kept = c is not None and all((out / f"{_base(m)}.{k}.npy").is_file() for k in ("x", "y"))
        if c is not None and kept and (c.get("sha256") or not hash_it):
            result[m] = MemberScan(m, c.get("sha256"), int(c["size"]), int(c["rows"]))
        else:
            todo.append(m)
    if todo:
        out.mkdir(parents=True, exist_ok=True)
        lim = limits or {}
        done = read_members(lambda m: _parse_and_keep(str(archive), m, hash_it, out, lim.get(m)), todo, threads=threads)
        result.update({r.member: r for r in done})
        keep = {m: c for m, c in cached.items() if m not in result}
        keep.update({m: {"sha256": s.sha256, "size": s.size, "rows": s.rows} for m, s in result.items()})
        write_json_atomic(index, {"key": key, "members": dict(sorted(keep.items()))})
    return result


def verify_members(
    scans: dict[str, MemberScan], expected: dict[str, tuple[str, int]], mode: str, archive: Path
) -> dict[str, Any]:
    """Compare member sha256/size with ``expected`` (keyed by base name); strict → error, warn → warning.

    Returns the provenance record ``{mode, members: {name: {sha256, size, expected_sha256, status}}}``.
    """
    record: dict[str, Any] = {
        "mode": mode,
        "source": "lfs_pointers_dat.txt (third-party copy of the UCI zip)",
        "members": {},
    }
    bad = []
    for member, s in sorted(scans.items()):
        base = member.rsplit("/", 1)[-1]
        exp = expected.get(base)
        entry: dict[str, Any] = {"size": s.size, "sha256": s.sha256}
        if mode == "off":
            entry["status"] = "unverified"
        elif exp is None:
            entry["status"] = "unlisted"
        else:
            entry["expected_sha256"], entry["expected_size"] = exp
            ok = s.sha256 == exp[0] and s.size == exp[1]
            entry["status"] = "ok" if ok else "mismatch"
            if not ok:
                bad.append(f"  {member}: sha256 {s.sha256} ({s.size} bytes), expected {exp[0]} ({exp[1]} bytes)")
        record["members"][base] = entry
    if bad:
        msg = (
            f"{len(bad)} member(s) of {archive} do not match the published checksums:\n"
            + "\n".join(bad[:6])
            + ("\n  ..." if len(bad) > 6 else "")
            + "\nThe expected values come from a third-party copy of the UCI archive, not from UCI itself. "
            "If you trust this archive, rerun with `--verification warn` (the mismatch is then recorded in the "
            "store's provenance); otherwise delete it and download it again."
        )
        if mode == "strict":
            raise ModalbenchError(msg)
        warnings.warn(msg, stacklevel=3)
    record["status"] = "off" if mode == "off" else ("mismatch" if bad else "ok")
    return record


# ---------------------------------------------------------------- parsing one recording

DAT_FORMAT = TableFormat(n_fields=oc.N_COLUMNS, sep=None, na_tokens=("NaN",))


def parse_dat(
    stream: BinaryIO, *, where: str, rows: int | None = None, reopen: Callable[[], BinaryIO] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One ``.dat`` file → ``(T, 113)`` float32 channels (NaN kept), ``(T, 2)`` int64 classes (locomotion, gestures)."""
    used = [*CHANNEL_COLUMNS, LOCOMOTION_COLUMN, GESTURE_COLUMN]  # every field is still checked, these converted
    table = read_numeric_table(stream, DAT_FORMAT, where=where, rows=rows, reopen=reopen, columns=used)
    n = len(CHANNEL_COLUMNS)
    x = np.ascontiguousarray(table[:, :n])
    labels = np.stack(
        [
            map_labels(table[:, n], _LOCO, where=where, column=LOCOMOTION_COLUMN + 1),
            map_labels(table[:, n + 1], _GEST, where=where, column=GESTURE_COLUMN + 1),
        ],
        axis=1,
    )
    return x, labels


# ---------------------------------------------------------------- the builder


def modality_slices() -> dict[str, slice]:
    """Each modality's slice of the 113 channels."""
    out, start = {}, 0
    for g in oc.MODALITY_COLUMNS:
        out[g.name] = slice(start, start + len(g.columns))
        start += len(g.columns)
    return out


@register_dataset
class Opportunity(UCIArchiveBuilder):
    name = "opportunity"
    version = "v1"
    description = (
        "OPPORTUNITY activity recognition (UCI 226): 19 body-worn sensors / 113 channels at 30 Hz, "
        "locomotion and mid-level gestures, challenge split (EmbraceNet §6.1.2)"
    )
    license = "CC BY 4.0 (UCI ML repository)"
    homepage = "https://archive.ics.uci.edu/dataset/226/opportunity+activity+recognition"
    citation = (
        "R. Chavarriaga, H. Sagha, A. Calatroni, S. Digumarti, G. Tröster, J. del R. Millán, D. Roggen. "
        "The Opportunity challenge: A benchmark database for on-body sensor-based activity recognition. "
        "Pattern Recognition Letters 34(15):2033-2042, 2013."
    )
    structure = "windowed"
    canonical_url, legacy_url = CANONICAL_URL, LEGACY_URL
    archive_name, legacy_name = ARCHIVE_NAME, LEGACY_NAME
    data_members = _DAT_RE
    member_dir = MEMBER_DIR
    #: expected sha256/size per ``.dat`` base name (class attribute so tests can point it at fixture checksums)
    member_checksums: ClassVar[dict[str, tuple[str, int]]] = DAT_CHECKSUMS
    #: a member without an expected size (not a listed ``.dat``) may declare at most 2x the largest listed size
    max_member_bytes = 2 * max(size for _, size in DAT_CHECKSUMS.values())
    #: members read at once while loading (each is read whole: memory grows with it; not a data parameter)
    threads: ClassVar[int] = MEMBER_THREADS

    def default_params(self) -> dict[str, Any]:
        return {
            "window": {"length": 15, "step": {"train": 1, "val": 8, "test": 8}, "label_rule": "last"},
            "scaling": {"method": "minmax", "range": [-1.0, 1.0], "clip": True},
            "block_missing": {"min": 300, "max": 900},
            "split": "challenge",
            "include_s4": False,
            "exclude_null_val": True,
        }

    def modalities(self, params: dict[str, Any]) -> list[ModalitySpec]:
        length = int(params["window"]["length"])
        return [ModalitySpec(g.name, "series", (length, len(g.columns)), g.channels) for g in oc.MODALITY_COLUMNS]

    def tasks(self, params: dict[str, Any]) -> list[TaskInfo]:
        excluded = self.val_excluded_classes(params)
        return [
            TaskInfo("locomotion", "multiclass", oc.LOCOMOTION_CLASSES, excluded.get("locomotion", ())),
            TaskInfo("gestures", "multiclass", oc.GESTURE_CLASSES, excluded.get("gestures", ())),
        ]

    def val_excluded_classes(self, params: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        """Per task, the class indices to leave out of validation (gestures: null, when ``exclude_null_val``)."""
        return {"gestures": (0,)} if params.get("exclude_null_val", True) else {}

    def block_missing_lengths(self, params: dict[str, Any]) -> tuple[int, int]:
        bm = params["block_missing"]
        return int(bm["min"]), int(bm["max"])

    # -------------------------------------------------------------- load

    def load(self, params: dict[str, Any], ctx: PrepareContext) -> list[Recording]:
        if params.get("split", "challenge") != "challenge":
            raise ModalbenchError(f"opportunity: split {params['split']!r} is not supported (only 'challenge')")
        from .archive import iter_members, open_member

        archive, fetched, dest = self.open_archive(ctx)
        members = [m for m in iter_members(archive) if _DAT_RE.search(m)]
        by_key: dict[tuple[int, str], str] = {}
        for m in members:
            mm = _DAT_RE.search(m)
            assert mm is not None
            key = (int(mm.group(1)), mm.group(2))
            if key in by_key:
                raise ModalbenchError(f"{archive}: two members for S{key[0]}-{key[1]}.dat: {by_key[key]!r} and {m!r}")
            by_key[key] = m
        # the archive's own column_names.txt, when present, must give the committed mapping
        col_members = [m for m in iter_members(archive) if m.endswith("column_names.txt")]
        if col_members:
            with open_member(archive, col_members[0], max_bytes=1 << 20) as fh:  # the real file: 22,677 B
                oc.check_column_names(fh.read().decode("latin-1"), where=f"{archive.name}:{col_members[0]}")

        include_s4 = bool(params.get("include_s4", False))
        wanted = {(s, sess): challenge_split(s, sess, include_s4) for s in (1, 2, 3, 4) for sess in SESSIONS}
        missing = [f"{MEMBER_DIR}S{s}-{sess}.dat" for (s, sess), sp in wanted.items() if sp and (s, sess) not in by_key]
        if missing:
            raise ModalbenchError(
                f"{archive}: missing member(s) {', '.join(missing)}; the archive is incomplete or "
                f"not the OPPORTUNITY UCI archive"
            )
        hash_it = ctx.verification != "off"
        used = sorted(by_key[k] for k, sp in wanted.items() if sp is not None)
        # declared sizes are checked before any member is inflated; reads stop at these limits
        limits = self.member_limits(archive, sorted(by_key.values()), ctx.verification)
        # the used members are read once: hashed, counted and parsed together; the others only hashed
        scans = parse_members(
            archive, used, hash_it=hash_it, out=dest / f"{archive.name}.parsed", limits=limits, threads=self.threads
        )
        if hash_it:
            scans.update(
                scan_members(
                    archive,
                    sorted(set(by_key.values()) - set(used)),
                    hash_it=True,
                    cache=dest / f"{archive.name}.members.json",
                    limits=limits,
                    threads=self.threads,
                )
            )
        record = verify_members(scans, self.member_checksums, ctx.verification, archive)
        ctx.provenance.update({"archive": fetched, "members": record})

        slices = modality_slices()
        kept = dest / f"{archive.name}.parsed"
        recs: list[Recording] = []
        for (subject, session), split in wanted.items():
            if split is None:
                continue
            member = by_key[(subject, session)]
            rows = scans[member].rows
            base = _base(member)
            x = da.from_delayed(
                dask.delayed(load_parsed, pure=True)(kept / f"{base}.x.npy"),
                shape=(rows, len(CHANNEL_COLUMNS)),
                dtype=np.float32,
            )
            y = da.from_delayed(
                dask.delayed(load_parsed, pure=True)(kept / f"{base}.y.npy"), shape=(rows, 2), dtype=np.int64
            )
            recs.append(
                Recording(
                    id=f"S{subject}-{session}",
                    split=split,
                    streams={name: x[:, sl] for name, sl in slices.items()},
                    labels={"locomotion": y[:, 0], "gestures": y[:, 1]},
                    meta={
                        "subject": f"S{subject}",
                        "session": session,
                        "member": member,
                        "rows": rows,
                        "sha256": scans[member].sha256,
                    },
                )
            )
        return recs
