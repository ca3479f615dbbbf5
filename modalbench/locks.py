"""One lock per dataset version, so that two ``prepare`` runs never write the same store at once.

Local roots use :mod:`filelock` (an OS lock on ``<root>/<dataset>/.<version>.lock``, released by the kernel when
the holder dies, so a killed run never leaves a stale lock). Object-store roots (``s3://`` …) have no lock
primitive: locking is skipped and the caller gets a note saying so (docs/reliability.md, "Concurrency").
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import StoreError
from .paths import is_local, lock_path


def remote_lock_note(root: Path, name: str, version: str) -> str:
    """What a prepare on a non-local root reports instead of locking."""
    return (
        f"note: {root} is not a local file system, so prepare of {name} {version} takes no lock; "
        f"do not run two prepares of it at once (docs/reliability.md, Concurrency)"
    )


@contextmanager
def dataset_lock(
    root: Path, name: str, version: str, *, timeout: float | None = None, on_wait: Callable[[str], None] | None = None
) -> Iterator[str | None]:
    """Hold the lock of ``<name> <version>`` under ``root`` for the body; yields None, or a note when skipped.

    When another process holds it, ``on_wait`` gets one message and the call waits (``timeout`` seconds, None =
    as long as it takes); after ``timeout`` a :class:`StoreError` says who to wait for.
    """
    if not is_local(root):
        yield remote_lock_note(root, name, version)
        return
    path = lock_path(Path(root), name, version)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the lock {path}: {_describe(exc)}") from exc
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait(f"another prepare of {name} {version} is running (lock {path}); waiting for it to finish")
        t0 = time.monotonic()
        try:
            lock.acquire(timeout=-1 if timeout is None else timeout)
        except Timeout:
            raise StoreError(
                f"another prepare of {name} {version} still holds {path} after "
                f"{time.monotonic() - t0:.0f} s; wait for it to finish, then run the command again"
            ) from None
    except OSError as exc:
        raise StoreError(f"cannot take the lock {path}: {_describe(exc)}") from exc
    try:
        yield None
    finally:
        lock.release()


def _describe(exc: OSError) -> str:
    """``<system message> (<ERRNO NAME>)``."""
    code = errno.errorcode.get(exc.errno or 0, "")
    return f"{exc.strerror or exc}{f' ({code})' if code else ''}"
