"""Fetch raw dataset files: mirrors, resumable HTTP downloads, retries, checksum verification.

Verification modes follow Hugging Face ``datasets``' ``verification_mode``: ``strict`` (every published
checksum and size must match), ``warn`` (a mismatch is logged and accepted) and ``off`` (nothing is
checked, only the sha256 of the bytes on disk is recorded). Where the source publishes no checksum the
sha256 of the first download is recorded and shown (trust on first use, TOFU).

Why not pooch or fsspec: pooch has no resume of interrupted transfers and stops at the first failing
URL; fsspec's HTTP filesystem needs aiohttp and hides whether a server honoured a Range request. This
module therefore uses ``urllib`` from the standard library and implements exactly what those lack:
resume with ``Range: bytes=N-`` (RFC 9110 §14: ``206`` appends, ``200`` means the server ignored the
range and the transfer restarts, ``416`` means the part is already complete), fall-through to mirrors,
exponential backoff (delay ``backoff * 2**attempt``) and the verification modes above.

Limits: every source (URL) of a file gets an overall deadline (:func:`default_deadline`: 5 minutes plus the
file's size at 100 kB/s, or 6 hours when no size is known), checked between reads, so a server that stalls or
drips bytes cannot hold a prepare forever; each retry and each switch to the next source prints one line on
stderr. A published size (``RemoteFile.size``) stops a transfer early in ``strict`` mode when the announced
``Content-Length`` or the body itself is larger. A partial download left by an earlier run is resumed only when
the file has a published checksum that will check the result; otherwise it is discarded (with a message) and the
transfer starts from zero.

Mirrors: ``fetch(..., mirrors=[...], dataset=...)`` and the environment variable ``MODALBENCH_MIRROR`` (base URLs
or local directories separated by commas or ``os.pathsep``) are tried before the canonical URLs, each as
``<mirror>/<dataset>/<file name>``.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import http.client
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from modalbench import __version__
from modalbench.errors import ModalbenchError
from modalbench.vocabulary import VERIFICATION_MODES

if TYPE_CHECKING:
    from modalbench.datasets import PrepareContext

__all__ = [
    "ENV_MIRROR",
    "FetchResult",
    "RemoteFile",
    "VERIFICATION_MODES",
    "default_deadline",
    "fetch",
    "mirror_urls",
    "parse_mirrors",
    "sha256_file",
    "verify_file",
]


INCOMPLETE = ".incomplete"
MISMATCH = ".mismatch"
CHUNK = 1 << 20
USER_AGENT = f"modalbench/{__version__}"
#: HTTP statuses worth retrying on the same URL; every other error status falls through to the next mirror.
TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
_SCHEMES = ("http", "https", "file")
#: environment variable with mirror base URLs (or local directories), separated by commas or ``os.pathsep``
ENV_MIRROR = "MODALBENCH_MIRROR"
#: deadline of one source for a file of unknown size (seconds)
DEFAULT_DEADLINE = 6 * 3600.0
#: a derived deadline is DEADLINE_BASE seconds plus the size at DEADLINE_MIN_RATE bytes per second
DEADLINE_BASE = 300.0
DEADLINE_MIN_RATE = 100_000
_HEX = re.compile(r"^[0-9a-f]+$")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteFile:
    """One raw file of a dataset: its name on disk, where to get it and how to check it."""

    name: str  # file name on disk, e.g. "OpportunityUCIDataset.zip"
    urls: tuple[str, ...]  # canonical URL first, then mirrors (http(s):// or file://)
    sha256: str | None = None
    md5: str | None = None  # where that is what the source publishes
    size: int | None = None
    manual: str | None = None  # manual-download instructions (registration-only data)

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
            raise ModalbenchError(f"RemoteFile.name must be a plain file name, got {name!r}")
        urls = (self.urls,) if isinstance(self.urls, str) else tuple(self.urls)
        object.__setattr__(self, "urls", urls)
        for url in urls:
            scheme = urllib.parse.urlsplit(url).scheme.lower()
            if scheme not in _SCHEMES:
                raise ModalbenchError(f"RemoteFile {name}: URL {url!r} must start with http://, https:// or file://")
        for field, length in (("sha256", 64), ("md5", 32)):
            value = getattr(self, field)
            if value is None:
                continue
            value = str(value).strip().lower()
            if len(value) != length or not _HEX.match(value):
                raise ModalbenchError(
                    f"RemoteFile {name}: {field} must be {length} hexadecimal digits, got {getattr(self, field)!r}"
                )
            object.__setattr__(self, field, value)
        if self.size is not None and (not isinstance(self.size, int) or self.size < 0):
            raise ModalbenchError(f"RemoteFile {name}: size must be a non-negative int, got {self.size!r}")


@dataclass(frozen=True)
class FetchResult:
    """A local file ready for use and what was verified about it."""

    path: Path
    sha256: str  # always computed from the bytes on disk
    verification: str  # "verified-sha256" | "verified-md5" | "tofu" | "mismatch-warned" | "off"


# --------------------------------------------------------------------------------------------- hashing


class _Digests:
    """sha256 (always) and md5 (when the source publishes one) of a byte stream, plus its length."""

    def __init__(self, md5: bool) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.nbytes = 0

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        if self.md5 is not None:
            self.md5.update(data)
        self.nbytes += len(data)


def _digest_file(path: Path, md5: bool) -> _Digests:
    digests = _Digests(md5)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digests.update(chunk)
    return digests


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _check_mode(verification: str) -> str:
    if verification not in VERIFICATION_MODES:
        raise ModalbenchError(
            f"unknown verification mode {verification!r}; expected one of {', '.join(VERIFICATION_MODES)}"
        )
    return verification


def _assess(file: RemoteFile, digests: _Digests, mode: str) -> tuple[str, str | None]:
    """(verification label, description of the mismatch or None)."""
    if mode == "off":
        return "off", None
    problems = []
    if file.size is not None and digests.nbytes != file.size:
        problems.append(f"size expected {file.size} bytes, got {digests.nbytes}")
    sha = digests.sha256.hexdigest()
    if file.sha256 is not None and sha != file.sha256:
        problems.append(f"sha256 expected {file.sha256}, got {sha}")
    if file.md5 is not None and digests.md5 is not None and digests.md5.hexdigest() != file.md5:
        problems.append(f"md5 expected {file.md5}, got {digests.md5.hexdigest()}")
    if problems:
        return ("mismatch-warned" if mode == "warn" else "mismatch"), "; ".join(problems)
    if file.sha256 is not None:
        return "verified-sha256", None
    if file.md5 is not None:
        return "verified-md5", None
    return "tofu", None


def _accept(path: Path, file: RemoteFile, digests: _Digests, label: str, problem: str | None) -> FetchResult:
    """Announce a warn-mode mismatch or a TOFU hash, and build the result."""
    sha = digests.sha256.hexdigest()
    if problem is not None:
        logger.warning(
            "checksum mismatch for %s (%s): %s; accepted because --verification warn", file.name, path, problem
        )
    elif label == "tofu":
        print(
            f"modalbench: {file.name} has no published checksum; trusting it on first use, sha256 {sha}",
            file=sys.stderr,
        )
    return FetchResult(path=path, sha256=sha, verification=label)


def verify_file(path: Path, file: RemoteFile, verification: str = "strict") -> FetchResult:
    """Hash ``path`` and check it against ``file``'s published size and checksums.

    ``strict`` raises :class:`ModalbenchError` on a mismatch (naming expected and actual values and the
    next step), ``warn`` logs a warning and accepts, ``off`` accepts anything. The file is never moved.
    """
    mode = _check_mode(verification)
    path = Path(path)
    if not path.is_file():
        raise ModalbenchError(f"{path}: no such file (expected {file.name})")
    digests = _digest_file(path, md5=file.md5 is not None and mode != "off")
    label, problem = _assess(file, digests, mode)
    if problem is not None and mode == "strict":
        raise ModalbenchError(
            f"checksum mismatch for {file.name} at {path}: {problem}. Next step: replace {path} with an "
            f"intact copy (or delete it and retry), or pass --verification warn to accept it as it is."
        )
    return _accept(path, file, digests, label, problem)


# ------------------------------------------------------------------------------------------- transfer


class _Permanent(Exception):
    """This URL cannot deliver the file: go to the next mirror without retrying."""


class _Transient(Exception):
    """A failure worth retrying on the same URL (truncated transfer, unusable range reply)."""


class _LocalWriteError(Exception):
    """Writing the local file failed (disk full, permissions): no mirror can fix that."""


_TRANSIENT_ERRORS = (_Transient, urllib.error.URLError, http.client.HTTPException, OSError)


def _content_length(headers: http.client.HTTPMessage) -> int | None:
    value = headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes a-b/total`` or ``bytes */total`` -> (a, total); unknown parts are None."""
    match = re.match(r"^\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*$", value or "")
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(2)) if match.group(2) != "*" else None
    return start, total


@contextlib.contextmanager
def _progress(enabled: bool, label: str, total: int | None, completed: int) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(nbytes)``; a rich progress bar on stderr when enabled."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total, completed=completed)
        yield lambda n: bar.advance(task, n)


def default_deadline(size: int | None) -> float:
    """Seconds one source may take for a file of ``size`` bytes: 5 min + the size at 100 kB/s (6 h if unknown)."""
    if size is None:
        return DEFAULT_DEADLINE
    return DEADLINE_BASE + size / DEADLINE_MIN_RATE


class _Clock:
    """The overall deadline of one source (all attempts on one URL); derived from the size once it is known."""

    def __init__(self, deadline: float | None, size: int | None) -> None:
        self.start = time.monotonic()
        self.explicit = deadline is not None
        self.limit = deadline if deadline is not None else default_deadline(size)
        self.sized = size is not None

    def learn_size(self, total: int | None) -> None:
        """A size announced by the server sets the derived deadline when neither a deadline nor a size was given."""
        if not self.explicit and not self.sized and total is not None:
            self.limit, self.sized = default_deadline(total), True

    def remaining(self) -> float:
        return self.limit - (time.monotonic() - self.start)

    def check(self, received: int) -> None:
        if self.remaining() <= 0:
            raise _DeadlineExceeded(
                f"no complete transfer within the deadline of {self.limit:g} s ({received} bytes received)"
            )


class _DeadlineExceeded(Exception):
    """This source used up its overall deadline: go to the next source."""


def _stream(
    src: BinaryIO,
    tmp: Path,
    append: bool,
    digests: _Digests,
    advance: Callable[[int], None],
    clock: _Clock,
    cap: int | None = None,
    offset: int = 0,
) -> int:
    """Copy ``src`` into ``tmp`` (appending or from scratch), hashing as it goes; returns bytes copied.

    Reads return as soon as some bytes arrived (``read1``), so ``clock``'s deadline is checked between small
    reads even when a server drips bytes. More than ``cap`` bytes in the file (``offset`` already there) stops the
    transfer: the partial file is deleted.
    """
    read = getattr(src, "read1", None) or src.read
    received = 0
    try:
        out = open(tmp, "ab" if append else "wb")
    except OSError as exc:
        raise _LocalWriteError(f"cannot write {tmp}: {exc}") from exc
    with out:
        while True:
            clock.check(offset + received)
            chunk = read(CHUNK)  # network errors propagate as transient
            if not chunk:
                break
            if cap is not None and offset + received + len(chunk) > cap:
                out.close()
                tmp.unlink(missing_ok=True)
                raise _Permanent(f"the server sent more than the expected {cap} bytes; stopped")
            try:
                out.write(chunk)
            except OSError as exc:
                raise _LocalWriteError(f"cannot write {tmp}: {exc}") from exc
            digests.update(chunk)
            received += len(chunk)
            advance(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    return received


def _partial(tmp: Path, file: RemoteFile) -> int:
    """Bytes already in ``tmp`` that are worth resuming from (0 discards a part longer than the file)."""
    if not tmp.is_file():
        return 0
    offset = tmp.stat().st_size
    if file.size is not None and offset > file.size:
        tmp.unlink()
        return 0
    return offset


def _size_cap(file: RemoteFile, mode: str) -> int | None:
    """In strict mode a published size is the most bytes a transfer may deliver."""
    return file.size if mode == "strict" else None


def _transfer_http(
    url: str, tmp: Path, file: RemoteFile, mode: str, progress: bool, timeout: float, clock: _Clock
) -> _Digests:
    md5 = file.md5 is not None and mode != "off"
    offset = _partial(tmp, file)
    if offset and offset == file.size:
        return _digest_file(tmp, md5)  # completed by an earlier run that was stopped before the rename
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    clock.check(offset)
    try:
        response = urllib.request.urlopen(request, timeout=max(0.01, min(timeout, clock.remaining())))
    except urllib.error.HTTPError as exc:
        with contextlib.closing(exc):
            if exc.code == 416 and offset:
                _, total = _content_range(exc.headers.get("Content-Range"))
                if total == offset:
                    return _digest_file(tmp, md5)
                tmp.unlink()
                raise _Transient(f"server rejected resuming at byte {offset} (HTTP 416); restarting") from exc
            if exc.code in TRANSIENT_HTTP:
                raise _Transient(f"HTTP {exc.code} {exc.reason}") from exc
            raise _Permanent(f"HTTP {exc.code} {exc.reason}") from exc
    with response:
        status = response.status
        length = _content_length(response.headers)
        if status == 206 and offset:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                tmp.unlink()
                raise _Transient(f"server answered the range request from byte {start}, not {offset}; restarting")
            if total is None and length is not None:
                total = offset + length
            digests = _digest_file(tmp, md5)
            append = True
        elif status == 200:
            if offset:
                _notice(f"{file.name}: {url} ignored the range request; downloading from the start")
            offset, total, digests, append = 0, length, _Digests(md5), False
        else:
            raise _Permanent(f"unexpected HTTP status {status}")
        if mode == "strict" and file.size is not None and total is not None and total != file.size:
            raise _Permanent(f"server reports {total} bytes, expected {file.size}")
        clock.learn_size(total)
        with _progress(progress, file.name, total, offset) as advance:
            received = _stream(response, tmp, append, digests, advance, clock, _size_cap(file, mode), offset)
        if length is not None and received < length:
            raise _Transient(f"connection closed after {offset + received} of {offset + length} bytes")
    return digests


def _transfer_file(url: str, tmp: Path, file: RemoteFile, mode: str, progress: bool, clock: _Clock) -> _Digests:
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise _Permanent(f"file:// URLs on another host ({parts.netloc}) are not supported")
    src = Path(urllib.request.url2pathname(parts.path))
    if not src.is_file():
        raise _Permanent(f"no such file {src}")
    total = src.stat().st_size
    if mode == "strict" and file.size is not None and total != file.size:
        raise _Permanent(f"{src} has {total} bytes, expected {file.size}")
    clock.learn_size(total)
    md5 = file.md5 is not None and mode != "off"
    offset = _partial(tmp, file)
    if offset > total:
        offset = 0
    digests = _digest_file(tmp, md5) if offset else _Digests(md5)
    with open(src, "rb") as fh, _progress(progress, file.name, total, offset) as advance:
        fh.seek(offset)
        _stream(fh, tmp, offset > 0, digests, advance, clock, _size_cap(file, mode), offset)
    return digests


def _transfer(
    url: str, tmp: Path, file: RemoteFile, mode: str, progress: bool, timeout: float, clock: _Clock
) -> _Digests:
    if urllib.parse.urlsplit(url).scheme.lower() == "file":
        return _transfer_file(url, tmp, file, mode, progress, clock)
    return _transfer_http(url, tmp, file, mode, progress, timeout, clock)


def _notice(message: str) -> None:
    """One line on stderr (retries, source switches, discarded partial files)."""
    print(f"modalbench: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------- mirrors

_MIRROR_SPLIT = re.compile(r"\s*,\s*|" + re.escape(os.pathsep) + r"(?=[A-Za-z][A-Za-z0-9+.-]*://|/(?!/)|~)")


def parse_mirrors(text: str | None) -> tuple[str, ...]:
    """Mirror bases from ``text`` (``$MODALBENCH_MIRROR``): separated by commas or ``os.pathsep``.

    A ``:`` (``os.pathsep`` on POSIX) separates only where the next mirror starts (``scheme://``, ``/``, ``~``),
    so ``http://host:8080/data`` stays one URL.
    """
    if not text:
        return ()
    return tuple(part.strip() for part in _MIRROR_SPLIT.split(text) if part and part.strip())


def check_mirrors(mirrors: Sequence[str], option: str = "--mirror") -> None:
    """Refuse, in one line, a mirror that is neither an http(s)/file URL nor an existing local directory."""
    for mirror in mirrors:
        base = str(mirror).strip()
        if "://" not in base:
            if not Path(base).expanduser().is_dir():
                raise ModalbenchError(
                    f"{option} {mirror!r}: not an http://, https:// or file:// URL, and no such local directory"
                )
            continue
        mirror_urls("x", None, [base])  # raises for an unsupported scheme


def mirror_urls(name: str, dataset: str | None, mirrors: Sequence[str]) -> tuple[str, ...]:
    """``<mirror>/<dataset>/<name>`` for each mirror (``<mirror>/<name>`` without a dataset).

    A mirror is an ``http(s)://`` or ``file://`` base URL, or a local directory (turned into a ``file://`` URL).
    """
    out = []
    for mirror in mirrors:
        base = str(mirror).strip()
        if not base:
            continue
        scheme = urllib.parse.urlsplit(base).scheme.lower()
        if "://" not in base:
            base, scheme = Path(base).expanduser().resolve().as_uri(), "file"
        if scheme not in _SCHEMES:
            raise ModalbenchError(f"mirror {mirror!r} must be an http://, https:// or file:// URL or a local directory")
        tail = "/".join(urllib.parse.quote(p) for p in ((dataset, name) if dataset else (name,)))
        out.append(f"{base.rstrip('/')}/{tail}")
    return tuple(out)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason = exc.reason
        return f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else str(reason)
    if isinstance(exc, (_Transient, _Permanent, _DeadlineExceeded)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _move_aside(path: Path, dest: Path) -> Path:
    aside = dest.with_name(dest.name + MISMATCH)
    os.replace(path, aside)
    return aside


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Serialise concurrent fetches of the same file (POSIX advisory lock; a no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(lock_path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ------------------------------------------------------------------------------------------ messages


def _place_hint(file: RemoteFile, dest_dir: Path) -> str:
    hint = f"Place {file.name} in {dest_dir} or pass --raw DIR (a directory that contains {file.name})."
    if file.manual:
        hint += f"\nManual download: {file.manual}"
    return hint


def _mismatch_message(file: RemoteFile, dest_dir: Path, errors: list[tuple[str, str]], mismatches: list[str]) -> str:
    """One line: which file, the expected and received checksums per source, what the other sources said, and
    the next step."""
    others = [f"{url}: {error}" for url, error in errors if not error.startswith("checksum mismatch")]
    line = f"checksum mismatch for {file.name}: " + " | ".join(mismatches)
    if others:
        line += "; other sources failed: " + " | ".join(others)
    line += (
        f". Next step: delete the .mismatch file in {dest_dir} and retry (the source may have been corrupted in "
        f"transit), place an intact {file.name} there (or pass --raw DIR), or pass --verification warn to accept it"
    )
    if file.manual:
        line += f"; manual download: {file.manual}"
    return line + "."


def _all_failed_message(file: RemoteFile, dest_dir: Path, errors: list[tuple[str, str]], mismatches: list[str]) -> str:
    if mismatches:
        return _mismatch_message(file, dest_dir, errors, mismatches)
    lines = []
    if errors:
        lines.append(f"could not fetch {file.name}; every source failed:")
        lines.extend(f"  {url}: {error}" for url, error in errors)
    else:
        lines.append(f"{file.name} cannot be downloaded automatically (no public URL).")
    lines.append(_place_hint(file, dest_dir))
    return "\n".join(lines)


def _raw_missing_message(file: RemoteFile, raw_dir: Path) -> str:
    if not raw_dir.is_dir():
        head = f"--raw directory {raw_dir} does not exist (it should contain {file.name})."
    else:
        head = f"{file.name} not found in --raw directory {raw_dir}."
        close = difflib.get_close_matches(file.name, sorted(os.listdir(raw_dir)), n=3, cutoff=0.6)
        if close:
            head += f" Did you mean: {', '.join(close)}? The file must be named exactly {file.name}."
    lines = [head, f"Place {file.name} in {raw_dir}, or omit --raw to download it."]
    if file.urls:
        lines.append(f"Source: {file.urls[0]}")
    if file.manual:
        lines.append(f"Manual download: {file.manual}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ fetch


def _use_existing(dest: Path, file: RemoteFile, mode: str) -> FetchResult | None:
    """Accept an already downloaded file, or move a mismatching one aside (strict) and return None."""
    digests = _digest_file(dest, md5=file.md5 is not None and mode != "off")
    label, problem = _assess(file, digests, mode)
    if problem is not None and mode == "strict":
        aside = _move_aside(dest, dest)
        logger.warning("%s does not match (%s); moved it to %s and downloading again", dest, problem, aside)
        return None
    return _accept(dest, file, digests, label, problem)


def _discard_unverifiable_partial(tmp: Path, file: RemoteFile, mode: str) -> None:
    """A partial file from an earlier run is resumed only when a published checksum will check the result."""
    if not tmp.is_file() or (mode != "off" and (file.sha256 is not None or file.md5 is not None)):
        return
    why = "verification is off" if mode == "off" else f"{file.name} has no published checksum"
    _notice(
        f"discarding the {tmp.stat().st_size} bytes of an earlier partial download {tmp}: {why}, so they "
        f"cannot be checked; downloading from the start"
    )
    tmp.unlink()


def fetch(
    file: RemoteFile,
    dest_dir: Path,
    *,
    verification: str = "strict",
    raw_dir: Path | None = None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 30.0,
    backoff: float = 0.5,
    deadline: float | None = None,
    mirrors: Sequence[str] = (),
    dataset: str | None = None,
) -> FetchResult:
    """Return a verified local copy of ``file``, downloading it into ``dest_dir`` when needed.

    With ``raw_dir`` the file must be ``raw_dir/file.name`` and is used in place (never copied or moved).
    Otherwise an existing ``dest_dir/file.name`` that verifies is used without any network access; else
    each source is tried in order — ``mirrors``, then ``$MODALBENCH_MIRROR``, each as
    ``<mirror>/<dataset>/<file.name>``, then ``file.urls`` — with ``retries`` extra attempts for transient
    errors (``backoff * 2**k`` seconds apart, ``timeout`` seconds per socket operation) within an overall
    ``deadline`` per source (default :func:`default_deadline` of the published or announced size), downloading
    into ``<name>.incomplete`` (resumed with an HTTP Range request when a checksum will check the result) and
    renaming it when complete and verified. Every retry and switch of source prints one line on stderr.
    In ``strict`` mode a mismatching download is moved to ``<name>.mismatch`` and the next source is tried.
    Raises :class:`ModalbenchError` naming every URL tried, its error, and where to place the file.
    """
    mode = _check_mode(verification)
    if retries < 0:
        raise ModalbenchError(f"retries must be >= 0, got {retries}")
    if deadline is not None and deadline <= 0:
        raise ModalbenchError(f"deadline must be > 0 seconds, got {deadline}")
    if raw_dir is not None:
        raw_dir = Path(raw_dir).expanduser()
        candidate = raw_dir / file.name
        if not candidate.is_file():
            raise ModalbenchError(_raw_missing_message(file, raw_dir))
        return verify_file(candidate, file, mode)

    bases = [*mirrors, *parse_mirrors(os.environ.get(ENV_MIRROR))]
    sources = list(dict.fromkeys(mirror_urls(file.name, dataset, bases) + file.urls))
    dest_dir = Path(dest_dir).expanduser()
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModalbenchError(f"cannot create download directory {dest_dir}: {exc}") from exc
    dest = dest_dir / file.name
    tmp = dest_dir / (file.name + INCOMPLETE)
    with _locked(dest_dir / f".{file.name}.lock"):
        if dest.is_file():
            existing = _use_existing(dest, file, mode)
            if existing is not None:
                return existing
        _discard_unverifiable_partial(tmp, file, mode)
        errors: list[tuple[str, str]] = []
        mismatches: list[str] = []
        for _index, url in enumerate(sources):
            if errors:
                _notice(f"{file.name}: {errors[-1][0]} failed ({errors[-1][1]}); trying {url}")
            clock = _Clock(deadline, file.size)
            for attempt in range(retries + 1):
                try:
                    digests = _transfer(url, tmp, file, mode, progress, timeout, clock)
                except _LocalWriteError as exc:
                    raise ModalbenchError(f"{exc}. Free space or fix permissions in {dest_dir} and retry.") from exc
                except (_Permanent, _DeadlineExceeded) as exc:
                    errors.append((url, _describe(exc)))
                    break
                except _TRANSIENT_ERRORS as exc:
                    delay = min(backoff * 2**attempt, max(clock.remaining(), 0.0))
                    if attempt < retries and clock.remaining() > delay:
                        _notice(
                            f"{file.name}: {url}: {_describe(exc)}; retrying in {delay:.1f} s "
                            f"(attempt {attempt + 2} of {retries + 1})"
                        )
                        time.sleep(delay)
                        continue
                    late = "" if attempt >= retries else f", deadline of {clock.limit:g} s reached"
                    errors.append((url, f"{_describe(exc)} (after {attempt + 1} attempts{late})"))
                    break
                label, problem = _assess(file, digests, mode)
                if problem is not None and mode == "strict":
                    aside = _move_aside(tmp, dest)
                    mismatches.append(f"from {url}: {problem} (moved aside to {aside})")
                    errors.append((url, f"checksum mismatch: {problem}"))
                    break
                os.replace(tmp, dest)
                return _accept(dest, file, digests, label, problem)
        raise ModalbenchError(_all_failed_message(file, dest_dir, errors, mismatches))


def fetch_for(
    ctx: PrepareContext,
    file: RemoteFile,
    dest_dir: Path,
    dataset: str,
    *,
    raw_dir: Path | None = None,
    **options: Any,
) -> FetchResult:
    """:func:`fetch` as a prepare asks for it: the context's verification mode, progress and mirrors (as
    ``<mirror>/<dataset>/<file>``), and its ``--raw`` folder unless ``raw_dir`` names another (e.g. a sub-folder)."""
    return fetch(
        file,
        dest_dir,
        verification=ctx.verification,
        raw_dir=ctx.raw_dir if raw_dir is None else raw_dir,
        progress=ctx.progress,
        mirrors=tuple(ctx.mirrors),
        dataset=dataset,
        **options,
    )
