"""The archive-backed UCI builder base: one local download directory, wrapper zips, the archive's kind."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from helpers import DATA_DIR
from modalbench.datasets import PrepareContext
from modalbench.errors import ModalbenchError
from modalbench.loaders import gas_sensor as gs
from modalbench.loaders import opportunity as op
from modalbench.loaders.uci import UCIArchiveBuilder

# builder, fixture archive (the legacy UCI file), its name inside the UCI wrapper zip, what load derives from it
BUILDERS = {
    "opportunity": (op.Opportunity, DATA_DIR / "opportunity" / "OpportunityUCIDataset.zip", ".parsed"),
    "gas-sensor": (gs.GasSensor, DATA_DIR / "gas_sensor" / "WTD_upload.zip", ".cache"),
}


def load_and_compute(builder: UCIArchiveBuilder, ctx: PrepareContext) -> None:
    params = builder.default_params()
    if isinstance(builder, gs.GasSensor):
        params["resample"]["duration_s"] = 10  # the fixture's files are 10 s long
    recs = builder.load(params, ctx)
    next(iter(recs[0].streams.values())).compute()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_raw_files_go_to_the_context_download_dir(tmp_path, name):
    cls, fixture, derived = BUILDERS[name]
    d = tmp_path / "raw"
    d.mkdir()
    with zipfile.ZipFile(d / cls.archive_name, "w", zipfile.ZIP_STORED) as zf:  # the UCI wrapper zip
        zf.write(fixture, fixture.name)
    dl = tmp_path / "downloads"
    ctx = PrepareContext(root=str(tmp_path / "root"), raw_dir=d, download_dir=dl, verification="off", progress=False)
    load_and_compute(cls(), ctx)
    assert (dl / fixture.name).read_bytes() == fixture.read_bytes()  # the unwrapped inner zip
    assert any((dl / f"{fixture.name}{derived}").iterdir())  # parsed caches beside it
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_download_directory_is_local_for_a_remote_root(tmp_path, monkeypatch, name):
    cls = BUILDERS[name][0]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    remote = PrepareContext(root="memory://bucket/modalbench")
    assert cls().download_directory(remote) == tmp_path / "cache" / "modalbench" / name / "raw"
    local = PrepareContext(root=str(tmp_path / "root"))
    assert cls().download_directory(local) == tmp_path / "root" / name / "raw"


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_tar_named_like_the_zip_is_one_clear_line(tmp_path, name):
    cls, fixture, _ = BUILDERS[name]
    d = tmp_path / "raw"
    d.mkdir()
    with zipfile.ZipFile(fixture) as zin, tarfile.open(d / cls.legacy_name, "w") as tf:
        for member in zin.namelist():
            data = zin.read(member)
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    with pytest.raises(ModalbenchError) as ei:
        load_and_compute(
            cls(), PrepareContext(root=str(tmp_path / "root"), raw_dir=d, verification="off", progress=False)
        )
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"{d / cls.legacy_name} is a tar archive, expected a zip archive (the UCI download")
    assert cls.canonical_url in msg


def test_source_info_and_remote_files_come_from_class_attributes():
    b = gs.GasSensor()
    assert b.source_info()["urls"] == [gs.CANONICAL_URL, gs.LEGACY_URL]
    primary, legacy = b.remote_files()
    assert (primary.name, primary.urls) == (gs.ARCHIVE_NAME, (gs.CANONICAL_URL, gs.LEGACY_URL))
    assert (legacy.name, legacy.urls) == (gs.LEGACY_NAME, (gs.LEGACY_URL,))
    assert gs.CANONICAL_URL in primary.manual and primary.sha256 is None
    assert Path(op.Opportunity().source_info()["files"][1]["name"]).parent == Path(op.MEMBER_DIR)
