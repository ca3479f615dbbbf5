"""Stream members out of zip/tar archives, or extract them safely.

Loaders should prefer :func:`open_member` / :func:`iter_members` (read straight from the archive, no
disk space needed). :func:`safe_extract` defends against path traversal ("zip slip"; CVE-2007-4559 for
``tarfile``): absolute names, ``..`` components, links whose target resolves outside the destination,
and device files / FIFOs are rejected with a :class:`ModalbenchError` naming the member. Tar members
first pass the standard library's ``filter="data"`` (PEP 706, :func:`tarfile.data_filter`); zip has no
such filter, so zip members are checked by hand. Because some Python releases had ``data_filter``
bypasses through symlink chains (CVE-2025-4517), every write is additionally checked against the
*resolved* destination (``os.path.realpath``) right before it happens. Hard links are written as copies,
file modes and times are not restored (files get the default permissions).

Decompression bombs: :func:`open_member` takes ``max_bytes`` — a member whose *declared* uncompressed size is
larger is refused before any byte is inflated, and the stream stops with an error as soon as it would produce
more (a header that lies about the size). :func:`safe_extract` limits the total uncompressed size
(:data:`MAX_EXTRACT_BYTES`) and the compression ratio (:data:`MAX_COMPRESSION_RATIO`) before writing anything,
and counts the bytes it writes.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import io
import os
import re
import stat
import tarfile
import threading
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

from modalbench.errors import ModalbenchError

__all__ = [
    "MAX_COMPRESSION_RATIO",
    "MAX_EXTRACT_BYTES",
    "archive_kind",
    "close_archives",
    "iter_members",
    "member_sizes",
    "open_member",
    "safe_extract",
    "stream_members",
]

#: :func:`safe_extract`'s default limit on the total uncompressed bytes it writes (64 GiB)
MAX_EXTRACT_BYTES = 64 * 2**30
#: :func:`safe_extract`'s default limit on uncompressed / compressed size, per zip member and for the whole
#: archive (text datasets compress 5-20x; a zip bomb of zeros ~1000x)
MAX_COMPRESSION_RATIO = 200.0
#: members (and archives) that inflate to fewer bytes than this are not held to the ratio limit
RATIO_MIN_BYTES = 1 << 20
#: errors of a corrupt compressed stream, turned into one-line errors naming the archive and member
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, tarfile.TarError, NotImplementedError, RuntimeError)

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_DRIVE = re.compile(r"^[A-Za-z]:")


# ----------------------------------------------------------------------------------------------- kinds


def archive_kind(archive: Path) -> str:
    """``"zip"`` or ``"tar"`` (plain or gz/bz2/xz-compressed), sniffed from the bytes, not the name."""
    archive = Path(archive)
    if not archive.is_file():
        raise ModalbenchError(f"archive {archive} does not exist or is not a file")
    with open(archive, "rb") as fh:
        head = fh.read(4)
    if head in _ZIP_MAGIC:
        return "zip"
    try:
        if tarfile.is_tarfile(archive):
            return "tar"
    except (OSError, EOFError, tarfile.TarError):
        pass
    if zipfile.is_zipfile(archive):  # e.g. self-extracting archives with a prefix
        return "zip"
    raise ModalbenchError(f"{archive} is not a zip or tar archive (first bytes {head!r})")


def _open_zip(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModalbenchError(f"cannot read zip archive {archive}: {exc}") from exc


def _open_tar(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ModalbenchError(f"cannot read tar archive {archive}: {exc}") from exc


# Parsing the central directory of an 18,000-member zip takes ~0.2 s, so open_member keeps a few parsed
# ZipFile objects per process. zipfile serialises reads of one handle with a lock (its _SharedFile seeks
# before every read), so threads may read different members of one cached handle concurrently; the pid is
# part of the key so that forked worker processes never share a file offset.
_ZIP_CACHE: OrderedDict[tuple[int, str, int, int], zipfile.ZipFile] = OrderedDict()
_ZIP_CACHE_LOCK = threading.Lock()
_ZIP_CACHE_SIZE = 4


def _cached_zip(archive: Path) -> zipfile.ZipFile:
    st = archive.stat()
    key = (os.getpid(), os.path.realpath(archive), st.st_size, st.st_mtime_ns)
    with _ZIP_CACHE_LOCK:  # parse under the lock: concurrent first readers wait instead of parsing again
        zf = _ZIP_CACHE.get(key)
        if zf is not None:
            _ZIP_CACHE.move_to_end(key)
            return zf
        zf = _open_zip(archive)
        _ZIP_CACHE[key] = zf
        while len(_ZIP_CACHE) > _ZIP_CACHE_SIZE:
            _, old = _ZIP_CACHE.popitem(last=False)
            old.close()  # member streams still open keep the underlying file until they are closed
    return zf


def close_archives() -> None:
    """Close the zip handles that :func:`open_member` keeps open (open member streams stay usable)."""
    with _ZIP_CACHE_LOCK:
        while _ZIP_CACHE:
            _ZIP_CACHE.popitem()[1].close()


def _zip_mode(info: zipfile.ZipInfo) -> int:
    """The Unix st_mode stored for a zip member (0 when the archiver recorded none)."""
    return (info.external_attr >> 16) & 0xFFFF if info.create_system == 3 else 0


def _zip_is_regular(info: zipfile.ZipInfo) -> bool:
    mode = _zip_mode(info)
    return not info.is_dir() and (mode == 0 or stat.S_ISREG(mode) or stat.S_IFMT(mode) == 0)


def _matches(name: str, pattern: str | None) -> bool:
    return pattern is None or fnmatch.fnmatchcase(name, pattern)


def _no_member(archive: Path, member: str, names: list[str]) -> ModalbenchError:
    close = difflib.get_close_matches(member, names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ModalbenchError(f"archive {archive} has no member {member!r}{hint}")


# ------------------------------------------------------------------------------------------- streaming


def iter_members(archive: Path, pattern: str | None = None) -> Iterator[str]:
    """Names of the regular-file members of ``archive`` in archive order.

    ``pattern`` is an :func:`fnmatch.fnmatchcase` glob on the full member name; ``*`` also matches ``/``,
    so ``"*/dataset/*.dat"`` finds ``OpportunityUCIDataset/dataset/S1-ADL1.dat``.
    """
    archive = Path(archive)
    if archive_kind(archive) == "zip":
        zf = _cached_zip(archive)
        names = [i.filename for i in zf.infolist() if _zip_is_regular(i) and _matches(i.filename, pattern)]
    else:
        with _open_tar(archive) as tf:
            names = [m.name for m in tf if m.isreg() and _matches(m.name, pattern)]
    return iter(names)


def member_sizes(archive: Path, pattern: str | None = None) -> dict[str, int]:
    """The *declared* uncompressed size of each regular-file member (read from the headers, nothing inflated)."""
    archive = Path(archive)
    if archive_kind(archive) == "zip":
        zf = _cached_zip(archive)
        return {i.filename: i.file_size for i in zf.infolist() if _zip_is_regular(i) and _matches(i.filename, pattern)}
    with _open_tar(archive) as tf:
        return {m.name: m.size for m in tf if m.isreg() and _matches(m.name, pattern)}


def _too_large(archive: Path, member: str, declared: int, limit: int) -> ModalbenchError:
    return ModalbenchError(
        f"archive {archive}: member {member!r} declares {declared} bytes uncompressed, more than "
        f"the {limit} expected; the archive is not the expected one (or a decompression bomb)"
    )


class ByteSource(Protocol):
    """Anything read in binary chunks: a member stream of this module or an ``IO[bytes]``."""

    def read(self, size: int = -1, /) -> bytes: ...


class _MemberStream(io.BufferedIOBase):
    """A read-only member stream; closing it also closes the tar it came from (zip handles are cached).

    With ``limit`` the stream never hands out more than ``limit`` bytes: reading past it raises
    :class:`ModalbenchError` naming the archive and member (at most ``limit + 1`` bytes are ever inflated per read).
    Errors of a corrupt compressed stream (bad CRC, truncated data) become one-line errors as well.
    """

    def __init__(
        self,
        inner: IO[bytes],
        owner: tarfile.TarFile | None,
        name: str,
        archive: Path | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__()
        self._inner = inner
        self._owner = owner
        self.name = name
        self._archive = archive
        self._limit = limit
        self._produced = 0

    def readable(self) -> bool:
        return True

    def _call(self, fn: Any, size: int) -> bytes:
        if self._limit is not None:
            room = self._limit - self._produced + 1  # one byte more than allowed reveals an over-long member
            size = room if size is None or size < 0 else min(size, room)
        try:
            data = fn(size)
        except _READ_ERRORS as exc:
            raise ModalbenchError(f"archive {self._archive}: cannot read member {self.name!r}: {exc}") from exc
        self._produced += len(data)
        if self._limit is not None and self._produced > self._limit:
            raise ModalbenchError(
                f"archive {self._archive}: member {self.name!r} inflates past {self._limit} bytes "
                f"(its declared or expected size); the archive is corrupt or a decompression bomb"
            )
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._call(self._inner.read, -1 if size is None else size)

    def read1(self, size: int = -1) -> bytes:
        read1 = getattr(self._inner, "read1", None)
        return self._call(read1 if read1 is not None else self._inner.read, size)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def seekable(self) -> bool:
        return self._inner.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        pos = self._inner.seek(offset, whence)
        self._produced = pos
        return pos

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                if self._owner is not None:
                    self._owner.close()
                super().close()


def open_member(archive: Path, member: str, *, max_bytes: int | None = None) -> BinaryIO:
    """Open one regular-file member for binary reading, straight from the archive (no extraction).

    Zip archives: the parsed central directory is cached per process (see :func:`close_archives`) and
    threads (e.g. dask tasks) may read different members at once. Tar archives: each call opens its own
    handle (a compressed tar is re-scanned from the start; prefer :func:`stream_members` for many
    members). Use the stream as a context manager.

    ``max_bytes``: a member that declares more uncompressed bytes is refused before anything is inflated, and
    the stream raises :class:`ModalbenchError` as soon as it would produce more than ``max_bytes`` (or than the
    declared size, when that is smaller) — a hard cap whatever the headers say.
    """
    archive = Path(archive)
    if archive_kind(archive) == "zip":
        zf = _cached_zip(archive)
        try:
            zinfo = zf.getinfo(member)
        except KeyError:
            raise _no_member(archive, member, zf.namelist()) from None
        if not _zip_is_regular(zinfo):
            raise ModalbenchError(f"archive {archive}: member {member!r} is not a regular file")
        if max_bytes is not None and zinfo.file_size > max_bytes:
            raise _too_large(archive, member, zinfo.file_size, max_bytes)
        try:
            zinner = zf.open(zinfo)
        except (RuntimeError, NotImplementedError, zipfile.BadZipFile, ValueError) as exc:
            raise ModalbenchError(f"archive {archive}: cannot read member {member!r}: {exc}") from exc
        limit = zinfo.file_size if max_bytes is None else min(max_bytes, zinfo.file_size)
        return _MemberStream(zinner, None, member, archive, limit)  # type: ignore[return-value]  # typeshed: a BufferedIOBase is no BinaryIO
    tf = _open_tar(archive)
    try:
        try:
            info = tf.getmember(member)
        except KeyError:
            raise _no_member(archive, member, tf.getnames()) from None
        if not info.isreg():
            raise ModalbenchError(f"archive {archive}: member {member!r} is not a regular file")
        if max_bytes is not None and info.size > max_bytes:
            raise _too_large(archive, member, info.size, max_bytes)
        inner = tf.extractfile(info)
        assert inner is not None  # regular files always have data
    except BaseException:
        tf.close()
        raise
    limit = info.size if max_bytes is None else min(max_bytes, info.size)
    return _MemberStream(inner, tf, member, archive, limit)  # type: ignore[return-value]  # typeshed: a BufferedIOBase is no BinaryIO


def stream_members(archive: Path, pattern: str | None = None) -> Iterator[tuple[str, IO[bytes]]]:
    """Yield ``(name, stream)`` for matching regular files in one sequential pass over the archive.

    Cheaper than repeated :func:`open_member` calls on compressed tars (which re-scan from the start).
    Each stream is valid only until the next item is requested.
    """
    archive = Path(archive)
    if archive_kind(archive) == "zip":
        with _open_zip(archive) as zf:
            for zinfo in zf.infolist():
                if _zip_is_regular(zinfo) and _matches(zinfo.filename, pattern):
                    with zf.open(zinfo) as zfh:
                        yield zinfo.filename, zfh
        return
    try:
        tf = tarfile.open(archive, mode="r|*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ModalbenchError(f"cannot read tar archive {archive}: {exc}") from exc
    with tf:
        for info in tf:
            if info.isreg() and _matches(info.name, pattern):
                fh = tf.extractfile(info)
                assert fh is not None
                yield info.name, fh


# ------------------------------------------------------------------------------------------ extraction


def _reject(archive: Path, member: str, why: str) -> ModalbenchError:
    return ModalbenchError(f"refusing to extract member {member!r} of {archive}: {why}")


def _safe_parts(archive: Path, name: str) -> list[str]:
    """Path components of a member name, rejecting absolute names and ``..`` components."""
    if not name or "\x00" in name:
        raise _reject(archive, name, "empty name or NUL byte")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        raise _reject(archive, name, "absolute path")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _reject(archive, name, "'..' path component")
    if not parts:
        raise _reject(archive, name, "name resolves to the destination itself")
    return parts


def _check_link_text(archive: Path, name: str, parts: list[str], link: str) -> None:
    """Lexical check of a symlink target relative to the member's directory."""
    norm = link.replace("\\", "/")
    if not norm or norm.startswith("/") or _DRIVE.match(norm):
        raise _reject(archive, name, f"link to absolute path {link!r}")
    depth = len(parts) - 1
    for part in norm.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                raise _reject(archive, name, f"link target {link!r} escapes the destination")
        elif part not in ("", "."):
            depth += 1


class _Writer:
    """Creates files, directories and symlinks under ``dest``, checking resolved paths before each write."""

    def __init__(self, archive: Path, dest: Path) -> None:
        self.archive = archive
        self.dest = dest
        self.real = os.path.realpath(dest)

    def _inside(self, path: str) -> bool:
        return path == self.real or path.startswith(self.real.rstrip(os.sep) + os.sep)

    def _parent(self, name: str, parts: list[str]) -> str:
        """The resolved, created parent directory of a member; it must lie inside ``dest``."""
        parent = os.path.realpath(os.path.join(self.dest, *parts[:-1]))
        if not self._inside(parent):
            raise _reject(self.archive, name, "its directory resolves outside the destination through a link")
        os.makedirs(parent, exist_ok=True)  # components below a resolved path are created as real dirs
        return parent

    def directory(self, name: str, parts: list[str]) -> None:
        target = os.path.join(self._parent(name, parts), parts[-1])
        if os.path.islink(target) and not self._inside(os.path.realpath(target)):
            raise _reject(self.archive, name, "directory is a link leading outside the destination")
        os.makedirs(target, exist_ok=True)

    def file(self, name: str, parts: list[str], src: ByteSource, budget: int | None = None) -> tuple[Path, int]:
        """Write one member; more than ``budget`` bytes (the rest of the total limit) is an error. Returns
        the path and the bytes written."""
        parent = self._parent(name, parts)
        target = os.path.join(parent, parts[-1])
        if os.path.isdir(target) and not os.path.islink(target):
            raise _reject(self.archive, name, f"a directory already exists at {target}")
        tmp = target + ".incomplete"
        written = 0
        try:
            with open(tmp, "wb") as out:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if budget is not None and written > budget:
                        raise _reject(self.archive, name, "it inflates past the total size limit of the extraction")
                    out.write(chunk)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.replace(tmp, target)  # replaces a symlink itself, never writes through it
        return Path(target), written

    def symlink(self, name: str, parts: list[str], link: str) -> Path:
        _check_link_text(self.archive, name, parts, link)
        parent = self._parent(name, parts)
        resolved = os.path.realpath(os.path.join(parent, link))
        if not self._inside(resolved):
            raise _reject(self.archive, name, f"link target {link!r} resolves outside the destination")
        target = os.path.join(parent, parts[-1])
        if os.path.lexists(target):
            if os.path.isdir(target) and not os.path.islink(target):
                raise _reject(self.archive, name, f"a directory already exists at {target}")
            os.unlink(target)
        os.symlink(link, target)
        return Path(target)


def _select(archive: Path, names: list[str], members: Iterable[str] | None) -> set[str] | None:
    if members is None:
        return None
    wanted = {members} if isinstance(members, str) else set(members)
    known = set(names)
    for member in sorted(wanted):
        if member not in known:
            raise _no_member(archive, member, names)
    return wanted


@dataclass(frozen=True)
class _Limits:
    total: int | None
    ratio: float | None


def _check_limits(archive: Path, sizes: list[tuple[str, int, int | None]], limits: _Limits) -> None:
    """Refuse before writing: ``sizes`` is (member, declared uncompressed size, compressed size or None)."""
    total = sum(size for _, size, _ in sizes)
    if limits.total is not None and total > limits.total:
        raise ModalbenchError(
            f"refusing to extract {archive}: its members declare {total} bytes uncompressed, more "
            f"than the limit of {limits.total} (max_total_bytes)"
        )
    if limits.ratio is None:
        return
    for member, size, packed in sizes:
        if packed is not None and size >= RATIO_MIN_BYTES and size > limits.ratio * max(packed, 1):
            raise _reject(
                archive,
                member,
                f"it inflates {size} bytes from {packed} (ratio {size / max(packed, 1):.0f}"
                f", limit {limits.ratio:g}, max_ratio); a decompression bomb?",
            )
    on_disk = max(archive.stat().st_size, 1)
    if total >= RATIO_MIN_BYTES and total > limits.ratio * on_disk:
        raise ModalbenchError(
            f"refusing to extract {archive}: {total} bytes uncompressed from {on_disk} on disk "
            f"(ratio {total / on_disk:.0f}, limit {limits.ratio:g}, max_ratio); "
            f"a decompression bomb?"
        )


def _budget(limits: _Limits, used: int) -> int | None:
    return None if limits.total is None else limits.total - used


def _extract_zip(archive: Path, writer: _Writer, members: Iterable[str] | None, limits: _Limits) -> list[Path]:
    written: list[Path] = []
    with _open_zip(archive) as zf:
        infos = zf.infolist()
        wanted = _select(archive, [i.filename for i in infos], members)
        plan = []
        for info in infos:  # validate everything before writing anything
            if wanted is not None and info.filename not in wanted:
                continue
            parts = _safe_parts(archive, info.filename)
            mode = _zip_mode(info)
            if info.is_dir() or stat.S_ISDIR(mode):
                kind, link = "dir", None
            elif stat.S_ISLNK(mode):
                kind, link = "link", zf.read(info).decode("utf-8", errors="surrogateescape")
                _check_link_text(archive, info.filename, parts, link)
            elif mode == 0 or stat.S_ISREG(mode) or stat.S_IFMT(mode) == 0:
                kind, link = "file", None
            else:
                raise _reject(archive, info.filename, "device file, FIFO or socket")
            plan.append((info, parts, kind, link))
        _check_limits(
            archive, [(i.filename, i.file_size, i.compress_size) for i, _, k, _ in plan if k == "file"], limits
        )
        used = 0
        for info, parts, kind, link in plan:
            if kind == "dir":
                writer.directory(info.filename, parts)
            elif kind == "link":
                assert link is not None  # a link's target was read while planning
                written.append(writer.symlink(info.filename, parts, link))
            else:
                with _MemberStream(zf.open(info), None, info.filename, archive, info.file_size) as src:
                    path, n = writer.file(info.filename, parts, src, _budget(limits, used))
                used += n
                written.append(path)
    return written


def _extract_tar(archive: Path, writer: _Writer, members: Iterable[str] | None, limits: _Limits) -> list[Path]:
    written: list[Path] = []
    with _open_tar(archive) as tf:
        infos = tf.getmembers()
        wanted = _select(archive, [m.name for m in infos], members)
        plan = []
        for info in infos:  # validate everything before writing anything
            if wanted is not None and info.name not in wanted:
                continue
            parts = _safe_parts(archive, info.name)
            data_filter = getattr(tarfile, "data_filter", None)  # Python >= 3.11.4; our own checks follow anyway
            if data_filter is not None:
                try:
                    if data_filter(info, str(writer.dest)) is None:
                        continue
                except tarfile.FilterError as exc:
                    raise _reject(archive, info.name, str(exc)) from exc
            if info.issym():
                _check_link_text(archive, info.name, parts, info.linkname)
            elif info.islnk():
                link = info.linkname.replace("\\", "/")
                if link.startswith("/") or _DRIVE.match(link) or ".." in link.split("/"):
                    raise _reject(archive, info.name, f"hard link to {info.linkname!r} outside the archive root")
            elif not (info.isreg() or info.isdir()):
                raise _reject(archive, info.name, "device file, FIFO or other special member")
            plan.append((info, parts))
        sizes = {m.name: m.size for m in infos if m.isreg()}
        _check_limits(
            archive,
            [
                (i.name, i.size if i.isreg() else sizes.get(i.linkname, 0), None)
                for i, _ in plan
                if i.isreg() or i.islnk()
            ],
            limits,
        )
        used = 0
        for info, parts in plan:
            if info.isdir():
                writer.directory(info.name, parts)
            elif info.issym():
                written.append(writer.symlink(info.name, parts, info.linkname))
            else:  # regular file, or hard link written as a copy of its target's data
                src = tf.extractfile(info)
                if src is None:
                    raise _reject(archive, info.name, f"hard link target {info.linkname!r} is not in the archive")
                with src:
                    path, n = writer.file(info.name, parts, src, _budget(limits, used))
                used += n
                written.append(path)
    return written


def safe_extract(
    archive: Path,
    dest: Path,
    members: Iterable[str] | None = None,
    *,
    max_total_bytes: int | None = MAX_EXTRACT_BYTES,
    max_ratio: float | None = MAX_COMPRESSION_RATIO,
) -> list[Path]:
    """Extract ``members`` (default: all) of a zip or tar archive into ``dest``; returns the written paths.

    Every member is validated before anything is written. Rejections (absolute paths, ``..``
    components, links escaping ``dest``, device files) raise :class:`ModalbenchError` naming the
    member. Each file appears atomically (``*.incomplete`` then rename); for an all-or-nothing
    extraction, extract into a fresh directory such as :func:`modalbench.atomic.atomic_dir` yields.

    Decompression bombs: the members' declared uncompressed sizes may total at most ``max_total_bytes``, and
    neither a zip member (of at least :data:`RATIO_MIN_BYTES`) nor the whole archive may inflate more than
    ``max_ratio`` times its compressed size; the bytes actually written are counted against the total as well
    (a member that inflates past its declared size is an error). ``None`` switches a limit off.
    """
    archive = Path(archive)
    dest = Path(dest)
    if max_total_bytes is not None and max_total_bytes < 0:
        raise ModalbenchError(f"safe_extract: max_total_bytes must be >= 0, got {max_total_bytes}")
    if max_ratio is not None and max_ratio <= 0:
        raise ModalbenchError(f"safe_extract: max_ratio must be > 0, got {max_ratio}")
    limits = _Limits(max_total_bytes, max_ratio)
    kind = archive_kind(archive)
    dest.mkdir(parents=True, exist_ok=True)
    writer = _Writer(archive, dest)
    if kind == "zip":
        return _extract_zip(archive, writer, members, limits)
    return _extract_tar(archive, writer, members, limits)
