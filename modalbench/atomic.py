"""Atomic writes: files and directories appear complete or not at all."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .paths import is_local

INCOMPLETE = ".incomplete"


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no whitespace, UTF-8) used for fingerprints and checksums."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via ``path.incomplete`` and an atomic rename.

    On object stores (no rename) the single PUT of one object is itself atomic.
    """
    if not is_local(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + INCOMPLETE)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON (sorted keys, trailing newline) atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=True, ensure_ascii=False) + "\n"
    write_bytes_atomic(path, text.encode())


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield ``final.incomplete/`` to write into; on success it replaces ``final`` atomically.

    A leftover ``*.incomplete`` from an earlier interrupted run is removed first. If the body raises,
    the partial directory is removed and ``final`` is untouched.
    """
    if not is_local(final):
        with _remote_dir(final) as d:
            yield d
        return
    final = Path(final)
    tmp = final.with_name(final.name + INCOMPLETE)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
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


@contextmanager
def _remote_dir(final: Path) -> Iterator[Path]:
    """Object stores have no rename: clear ``final`` and write in place; callers publish their marker last,
    so an interrupted write leaves objects without a marker, which readers refuse."""
    if final.exists():
        final.fs.rm(final.path, recursive=True)
    try:
        yield final
    except BaseException:
        try:
            final.fs.rm(final.path, recursive=True)
        except (FileNotFoundError, OSError):
            pass
        raise
