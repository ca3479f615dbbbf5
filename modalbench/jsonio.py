"""Strict JSON reading: every JSON file modalbench reads goes through :func:`read_json` / :func:`loads_json`.

Strict means: duplicate keys in one object are an error (``json`` would keep the last value silently),
``NaN`` / ``Infinity`` are refused (not JSON), the file must be a regular file of at most
:data:`MAX_JSON_BYTES` and UTF-8. Every failure is one :class:`~modalbench.errors.ModalbenchError` line that
names the file (and line/column or key).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from .errors import ModalbenchError

#: Largest JSON file read (the biggest modalbench writes — OPPORTUNITY's scenario manifest with 14,319
#: conditions, results files — are a few MB).
MAX_JSON_BYTES = 64 * 1024 * 1024


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_json(text: str | bytes, source: str = "<string>", *, allow_nan: bool = False) -> Any:
    """Parse JSON text strictly; errors are one line starting with ``source`` (a file name or a description).

    ``allow_nan`` lets ``NaN`` / ``Infinity`` through as floats, for readers that check every number themselves
    and name the field (the leaderboard's submission checks).
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModalbenchError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_object, parse_constant=None if allow_nan else _no_constant)
    except _DuplicateKey as exc:
        raise ModalbenchError(
            f"{source}: duplicate key {exc.key!r} in one JSON object (which value is meant is ambiguous)"
        ) from None
    except json.JSONDecodeError as exc:
        raise ModalbenchError(f"{source}: line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})") from None
    except ValueError as exc:  # parse_constant: NaN / Infinity
        raise ModalbenchError(f"{source}: invalid JSON ({exc})") from None
    except RecursionError:
        raise ModalbenchError(f"{source}: JSON nested too deeply") from None


@runtime_checkable
class FsspecPath(Protocol):
    """What :func:`read_json` uses of an fsspec path (:class:`upath.UPath`); a local ``Path`` has no ``fs``."""

    fs: Any

    def is_file(self) -> bool: ...

    def exists(self) -> bool: ...

    def stat(self) -> Any: ...

    def open(self, mode: str = "r") -> IO[Any]: ...


def read_json(
    path: str | os.PathLike[str] | FsspecPath, *, max_bytes: int = MAX_JSON_BYTES, allow_nan: bool = False
) -> Any:
    """Read a JSON file strictly (see the module docstring); local paths and fsspec ``UPath`` objects.

    Refuses non-regular files (directories, FIFOs, devices) and files larger than ``max_bytes``; ``allow_nan``
    as in :func:`loads_json`.
    """
    p = path if isinstance(path, FsspecPath) else Path(path)
    try:
        if isinstance(p, FsspecPath):  # fsspec UPath: no stat mode bits, ask the file system
            if not p.is_file():
                if p.exists():
                    raise ModalbenchError(f"{p}: not a regular file")
                raise FileNotFoundError(str(p))
            size = int(p.stat().st_size)
        else:
            st = os.stat(p)
            if not stat.S_ISREG(st.st_mode):
                raise ModalbenchError(f"{p}: not a regular file")
            size = st.st_size
        if size > max_bytes:
            raise ModalbenchError(f"{p}: {size:,} bytes is larger than the {max_bytes:,}-byte limit for JSON files")
        with p.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise ModalbenchError(f"{p}: file not found") from None
    except NotADirectoryError:
        raise ModalbenchError(f"{p}: file not found (a parent is not a directory)") from None
    except IsADirectoryError:
        raise ModalbenchError(f"{p}: not a regular file") from None
    except PermissionError:
        raise ModalbenchError(f"{p}: permission denied") from None
    if len(data) > max_bytes:  # grew after the stat
        raise ModalbenchError(f"{p}: larger than the {max_bytes:,}-byte limit for JSON files")
    return loads_json(data, source=str(p), allow_nan=allow_nan)
