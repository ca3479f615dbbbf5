"""Datasets distributed as one UCI repository archive: the current ``static/public/<id>/<name>.zip`` and the legacy
``ml/machine-learning-databases/<id>/<file>``, either of which the user may already have.

:class:`UCIArchiveBuilder` (in the spirit of torchgeo's download-backed datasets) keeps the download plumbing in one
place: subclasses set class attributes — URLs, file names, the archive's format, checksum and size where the source
publishes them, per-member checksums and sizes, a manual-placement hint — and call :meth:`~UCIArchiveBuilder.
open_archive` in ``load``. Raw files live in one local directory, :meth:`~UCIArchiveBuilder.download_directory`
(``PrepareContext.download_dir``, ``<root>/<dataset>/raw`` for a local root; for a remote ``s3://`` root the local
cache ``~/.cache/modalbench/<dataset>/raw``, because archives are parsed locally).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, ClassVar

from modalbench.atomic import INCOMPLETE
from modalbench.datasets import DatasetBuilder, PrepareContext
from modalbench.errors import ModalbenchError
from modalbench.paths import local_raw_dir, resolve_root

from .archive import archive_kind, iter_members, member_sizes, open_member
from .download import RemoteFile, fetch_for

#: the largest member a builder reads when no expected size applies (e.g. ``--verification warn``): 1 GiB
MAX_MEMBER_BYTES = 2**30
#: outside ``strict`` mode a member with an expected size may declare up to this many times that size
MEMBER_SIZE_SLACK = 1.5


def uci_remote_files(
    canonical_url: str,
    archive_name: str,
    legacy_url: str,
    legacy_name: str,
    *,
    sha256: str | None = None,
    size: int | None = None,
) -> list[RemoteFile]:
    """The archive under its canonical name (legacy URL as mirror), then the legacy file name."""
    manual = (
        f"download {canonical_url} in a browser (no registration needed) and save it as "
        f"{archive_name}; the older UCI file {legacy_name} ({legacy_url}) is accepted too"
    )
    return [
        RemoteFile(name=archive_name, urls=(canonical_url, legacy_url), sha256=sha256, size=size, manual=manual),
        RemoteFile(name=legacy_name, urls=(legacy_url,), manual=manual),
    ]


def unwrap_nested_zip(archive: Path, wanted: re.Pattern[str], dest_dir: Path) -> Path:
    """The zip that holds members matching ``wanted``: ``archive`` itself, or an inner ``*.zip`` member of it.

    An inner zip is streamed once to ``dest_dir/<its name>`` (atomic ``.incomplete`` + rename; reused when its
    size matches; never more bytes than it declares), so the data members can then be streamed from it without
    extracting them.
    """
    names = list(iter_members(archive))
    if any(wanted.search(n) for n in names):
        return archive
    sizes = member_sizes(archive, "*.zip")
    inner = [n for n in names if n.lower().endswith(".zip") and n in sizes]
    Path(dest_dir).mkdir(parents=True, exist_ok=True)
    for name in inner:
        target = Path(dest_dir) / Path(name).name
        if target.resolve() == Path(archive).resolve():  # never overwrite the archive being read
            target = target.with_name("inner-" + target.name)
        if not (target.is_file() and target.stat().st_size == sizes[name]):
            tmp = target.with_name(target.name + INCOMPLETE)
            with open_member(archive, name, max_bytes=sizes[name]) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
            os.replace(tmp, target)
        if archive_kind(target) == "zip" and any(wanted.search(n) for n in iter_members(target)):
            return target
    raise ModalbenchError(
        f"{archive}: no member matches {wanted.pattern!r} (and no inner zip holds one); is this the right archive?"
    )


class UCIArchiveBuilder(DatasetBuilder):
    """A dataset whose raw data is one UCI archive (possibly wrapping the real archive as an inner zip)."""

    #: ``https://archive.ics.uci.edu/static/public/<id>/<name>.zip``
    canonical_url: ClassVar[str]
    #: ``https://archive.ics.uci.edu/ml/machine-learning-databases/<id>/<file>``
    legacy_url: ClassVar[str]
    archive_name: ClassVar[str]
    legacy_name: ClassVar[str]
    #: what the archive must be (sniffed from its bytes, not its name): "zip" or "tar"
    archive_format: ClassVar[str] = "zip"
    #: published sha256 / size of the canonical archive (UCI publishes neither for these datasets)
    archive_sha256: ClassVar[str | None] = None
    archive_size: ClassVar[int | None] = None
    archive_note: ClassVar[str] = "UCI publishes no checksum (trust on first use)"
    #: members that hold the data; finds the real archive inside a UCI wrapper zip
    data_members: ClassVar[re.Pattern[str]]
    #: expected (sha256, size) per member base name, where known
    member_checksums: ClassVar[dict[str, tuple[str, int]]] = {}
    #: prefix of the member names listed in :attr:`member_checksums` (for ``source_info``)
    member_dir: ClassVar[str] = ""
    #: the largest member read when no expected size applies
    max_member_bytes: ClassVar[int] = MAX_MEMBER_BYTES
    #: extra keyword arguments of :func:`.download.fetch` (retries, timeout, backoff, deadline)
    fetch_options: ClassVar[dict[str, Any]] = {}

    def source_info(self) -> dict[str, Any]:
        info = super().source_info()
        info["urls"] = [self.canonical_url, self.legacy_url]
        info["files"] = [{"name": self.archive_name, "sha256": self.archive_sha256, "note": self.archive_note}]
        info["files"] += [
            {"name": self.member_dir + k, "sha256": sha, "size": size}
            for k, (sha, size) in sorted(self.member_checksums.items())
        ]
        return info

    def remote_files(self) -> list[RemoteFile]:
        """The archive under its canonical name (with the legacy UCI URL as mirror) and the legacy file name."""
        return uci_remote_files(
            self.canonical_url,
            self.archive_name,
            self.legacy_url,
            self.legacy_name,
            sha256=self.archive_sha256,
            size=self.archive_size,
        )

    def download_directory(self, ctx: PrepareContext) -> Path:
        """The one local directory for downloaded archives and what is derived from them (always local)."""
        if ctx.download_dir is not None:
            return Path(ctx.download_dir)
        return local_raw_dir(resolve_root(ctx.root), self.name)

    def archive_in(self, directory: str | Path | None) -> Path | None:
        """The archive in ``directory``: under its canonical name, else its legacy one; None when neither is there."""
        if directory is None:
            return None
        d = Path(directory).expanduser()
        return next((d / n for n in (self.archive_name, self.legacy_name) if (d / n).is_file()), None)

    def fetch_archive(self, ctx: PrepareContext) -> tuple[Path, dict[str, Any]]:
        """Fetch (or find under ``--raw``) the canonical archive, or the legacy one when only that is present.

        Returns the archive's path and the provenance record of the fetch.
        """
        primary, legacy = self.remote_files()
        dest = self.download_directory(ctx)
        present = self.archive_in(ctx.raw_dir if ctx.raw_dir is not None else dest)  # --raw: only that folder counts
        chosen = legacy if present is not None and present.name == legacy.name else primary
        res = fetch_for(ctx, chosen, dest, self.name, **self.fetch_options)
        return Path(res.path), {"name": chosen.name, "sha256": res.sha256, "verification": res.verification}

    def open_archive(self, ctx: PrepareContext) -> tuple[Path, dict[str, Any], Path]:
        """Fetch the archive, check that it is the expected kind and unwrap an inner zip.

        Returns ``(archive holding the data members, fetch provenance, download directory)``.
        """
        archive, fetched = self.fetch_archive(ctx)
        kind = archive_kind(archive)
        if kind != self.archive_format:
            raise ModalbenchError(
                f"{archive} is a {kind} archive, expected a {self.archive_format} archive (the UCI download "
                f"{self.archive_name} or {self.legacy_name}); replace it with the file from {self.canonical_url}"
            )
        dest = self.download_directory(ctx)
        return unwrap_nested_zip(archive, self.data_members, dest), fetched, dest

    def member_limits(self, archive: Path, members: list[str], verification: str) -> dict[str, int]:
        """The most bytes each member may inflate to, checked against its *declared* size before any is read.

        With an expected size: that size in ``strict`` mode, :data:`MEMBER_SIZE_SLACK` times it otherwise (a
        re-packed copy accepted by ``--verification warn`` may differ a little); without one:
        :attr:`max_member_bytes`. A member declaring more is refused with one line naming the archive and member.
        The limits go to :func:`.archive.open_member` ``max_bytes``, which also stops a member whose data inflates
        past them (a header that lies).
        """
        declared = member_sizes(archive)
        limits = {}
        for member in members:
            size = declared[member]
            expected = self.member_checksums.get(member.rsplit("/", 1)[-1])
            if expected is None:
                limit, what = self.max_member_bytes, "the limit for members of unknown size"
            elif verification == "strict":
                limit, what = expected[1], "expected"
            else:
                limit, what = int(expected[1] * MEMBER_SIZE_SLACK), f"{MEMBER_SIZE_SLACK:g} x the expected size"
            if size > limit:
                hint = " If you trust it, rerun with --verification warn." if verification == "strict" else ""
                raise ModalbenchError(
                    f"archive {archive}: member {member!r} declares {size} bytes uncompressed, more than the {limit} "
                    f"allowed ({what}); refused before reading: not the {self.name} archive, or a decompression "
                    f"bomb.{hint}"
                )
            limits[member] = min(limit, size) if verification == "strict" else size
        return limits
