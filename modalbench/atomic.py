"""Atomic writes: files and directories appear complete or not at all."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .paths import is_local, remote_fs

INCOMPLETE = ".incomplete"


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no whitespace, UTF-8) used for fingerprints and checksums."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` for writing; on success it is fsynced and renamed onto ``path``.

    The temporary name is unique per process and call (``<name>.<pid>.<random>.incomplete``), so concurrent
    writers of one path never write into each other's file: the last rename wins with a complete file. If the body
    raises, the temporary file is removed and ``path`` is untouched. On object stores (no rename) the data is
    buffered and written as one PUT, which is itself atomic.
    """
    if not is_local(path):
        buf = io.BytesIO() if "b" in mode else io.StringIO()
        yield buf
        path.parent.mkdir(parents=True, exist_ok=True)
        value = buf.getvalue()
        path.write_bytes(value if isinstance(value, bytes) else value.encode())
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}{INCOMPLETE}")
    try:
        with open(tmp, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path, "wb") as fh:
        fh.write(data)


def write_json_atomic(path: Path, obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON (sorted keys, trailing newline) atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False) + "\n"
    write_bytes_atomic(path, text.encode())


@contextmanager
def atomic_dir(final: Path, *, keep: Sequence[str] = ()) -> Iterator[Path]:
    """Yield ``final.incomplete/`` to write into; on success it replaces ``final`` atomically.

    ``keep`` names entries of the existing ``final`` that the new directory carries over unchanged (hard links
    made after the body succeeded, so a failure leaves them where they were). A leftover ``*.incomplete`` from an
    earlier interrupted run is removed first (callers that may run concurrently hold a lock, see
    :mod:`modalbench.locks`). If the body raises, the partial directory is removed and ``final`` is untouched.
    """
    if not is_local(final):
        with _remote_dir(final, keep) as d:
            yield d
        return
    final = Path(final)
    tmp = final.with_name(final.name + INCOMPLETE)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        for name in keep:
            if (final / name).exists() and not (tmp / name).exists():
                shutil.copytree(final / name, tmp / name, copy_function=_link_or_copy, symlinks=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.with_name(final.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@contextmanager
def _remote_dir(final: Path, keep: Sequence[str] = ()) -> Iterator[Path]:
    """Object stores have no rename: clear ``final`` (except ``keep``) and write in place; callers publish their
    marker last, so an interrupted write leaves objects without a marker, which readers refuse."""
    _remote_clear(final, keep)
    try:
        yield final
    except BaseException:
        try:
            _remote_clear(final, keep)
        except (FileNotFoundError, OSError):
            pass
        raise


def _remote_clear(final: Path, keep: Sequence[str]) -> None:
    if not final.exists():
        return
    if not keep:
        fs, path = remote_fs(final)
        fs.rm(path, recursive=True)
        return
    for child in final.iterdir():
        if child.name not in keep:
            fs, path = remote_fs(child)
            fs.rm(path, recursive=True)
