"""Sources of a UCI repository dataset: the current ``static/public/<id>/<name>.zip`` and the legacy
``ml/machine-learning-databases/<id>/<file>`` archive, either of which the user may already have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modalbench.datasets import PrepareContext
from modalbench.paths import raw_dir, resolve_root

from .download import RemoteFile, fetch


def uci_remote_files(canonical_url: str, archive_name: str, legacy_url: str, legacy_name: str) -> list[RemoteFile]:
    """The archive under its canonical name (legacy URL as mirror), then the legacy file name."""
    manual = (f"download {canonical_url} in a browser (no registration needed) and save it as "
              f"{archive_name}; the older UCI file {legacy_name} ({legacy_url}) is accepted too")
    return [RemoteFile(name=archive_name, urls=(canonical_url, legacy_url), manual=manual),
            RemoteFile(name=legacy_name, urls=(legacy_url,), manual=manual)]


def fetch_uci_archive(dataset: str, files: list[RemoteFile], ctx: PrepareContext,
                      **fetch_options: Any) -> tuple[Path, dict[str, Any]]:
    """Fetch the canonical archive, or use the legacy one when only that is under ``--raw`` or the raw cache.

    Returns the archive's path and the provenance record of the fetch.
    """
    primary, legacy = files
    dest = raw_dir(resolve_root(ctx.root), dataset)
    chosen = primary
    for d in (ctx.raw_dir, dest):
        if d is not None and not (Path(d) / primary.name).is_file() and (Path(d) / legacy.name).is_file():
            chosen = legacy
            break
    res = fetch(chosen, dest, verification=ctx.verification, raw_dir=ctx.raw_dir, progress=ctx.progress,
                **fetch_options)
    return Path(res.path), {"name": chosen.name, "sha256": res.sha256, "verification": res.verification}
