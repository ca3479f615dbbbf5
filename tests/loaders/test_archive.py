"""Safe extraction and streaming of zip/tar archives, including hostile members."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers.zipbombs import lie_about_size, zeros_zip
from modalbench.errors import ModalbenchError
from modalbench.loaders import archive as archive_mod
from modalbench.loaders.archive import (
    archive_kind,
    close_archives,
    iter_members,
    open_member,
    safe_extract,
    stream_members,
)

DAT = b"".join(f"{i} {i * 0.5:.3f} NaN\r\n".encode() for i in range(5000))  # ~90 kB, spans several reads
FILES = {
    "Data/dataset/S1-ADL1.dat": DAT,
    "Data/dataset/S1-Drill.dat": b"1 2 3\n",
    "Data/column_names.txt": b"Column: 1 MILLISEC\r\n",
}


def make_zip(path: Path, files: dict[str, bytes] = FILES, extra: list[tuple[zipfile.ZipInfo, bytes]] = ()) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Data/", b"")
        for name, data in files.items():
            zf.writestr(name, data)
        for info, data in extra:
            zf.writestr(info, data)
    return path


def make_tar(
    path: Path, files: dict[str, bytes] = FILES, extra: list[tarfile.TarInfo] = (), mode: str = "w:gz"
) -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in extra:
            tf.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return path


def zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = size
    return info


@pytest.fixture(params=["zip", "tar.gz", "tar"])
def archive(request, tmp_path) -> Path:
    if request.param == "zip":
        return make_zip(tmp_path / "a.zip")
    return make_tar(tmp_path / f"a.{request.param}", mode="w:gz" if request.param == "tar.gz" else "w")


# ------------------------------------------------------------------------------------------- streaming


def test_iter_members_lists_regular_files_with_pattern(archive):
    assert list(iter_members(archive)) == list(FILES)
    assert list(iter_members(archive, "*/dataset/*.dat")) == ["Data/dataset/S1-ADL1.dat", "Data/dataset/S1-Drill.dat"]
    assert list(iter_members(archive, "*.txt")) == ["Data/column_names.txt"]


def test_open_member_streams_exact_content(archive):
    with open_member(archive, "Data/dataset/S1-ADL1.dat") as fh:
        assert fh.read(10) == DAT[:10]
        assert fh.read() == DAT[10:]
    with open_member(archive, "Data/dataset/S1-ADL1.dat") as fh:
        lines = io.TextIOWrapper(fh, encoding="ascii", newline="").readlines()
    assert lines[1] == "1 0.500 NaN\r\n" and len(lines) == 5000


def test_open_member_closes_archive_and_reports_missing(archive):
    fh = open_member(archive, "Data/column_names.txt")
    fh.close()
    assert fh.closed
    expected = r"no member 'Data/dataset/S1-ADL2.dat'.*did you mean 'Data/dataset/S1-ADL1.dat'"
    with pytest.raises(ModalbenchError, match=expected):
        open_member(archive, "Data/dataset/S1-ADL2.dat")


def test_stream_members_single_pass(archive):
    got = {name: fh.read() for name, fh in stream_members(archive, "*.dat")}
    assert got == {k: v for k, v in FILES.items() if k.endswith(".dat")}


def test_kind_is_sniffed_not_taken_from_name(tmp_path):
    zipped = make_zip(tmp_path / "download.bin")
    tarred = make_tar(tmp_path / "download2.bin", mode="w:bz2")
    assert (archive_kind(zipped), archive_kind(tarred)) == ("zip", "tar")
    with open_member(tarred, "Data/column_names.txt") as fh:
        assert fh.read() == FILES["Data/column_names.txt"]
    plain = tmp_path / "plain.txt"
    plain.write_text("just text\n" * 100)
    with pytest.raises(ModalbenchError, match="plain.txt is not a zip or tar archive"):
        list(iter_members(plain))
    with pytest.raises(ModalbenchError, match="does not exist"):
        archive_kind(tmp_path / "missing.zip")


def test_zip_members_read_concurrently_from_one_cached_handle(tmp_path, monkeypatch):
    files = {f"m/{i:03d}.dat": (f"{i} ".encode() * (1000 + 37 * i)) for i in range(60)}
    path = make_zip(tmp_path / "many.zip", files=files)
    close_archives()
    opened = []
    real_open = archive_mod._open_zip
    monkeypatch.setattr(archive_mod, "_open_zip", lambda p: opened.append(p) or real_open(p))

    def read(name: str) -> bytes:
        with open_member(path, name) as fh:
            return b"".join(iter(lambda: fh.read(777), b""))

    with ThreadPoolExecutor(4) as pool:
        got = dict(zip(files, pool.map(read, files)))
    assert got == files
    assert len(opened) == 1  # the central directory was parsed once, not once per member


def test_rewritten_zip_is_not_served_from_cache(tmp_path):
    path = make_zip(tmp_path / "a.zip", files={"x.txt": b"old"})
    with open_member(path, "x.txt") as fh:
        assert fh.read() == b"old"
    make_zip(tmp_path / "b.zip", files={"x.txt": b"new content", "y.txt": b"y"})
    os.replace(tmp_path / "b.zip", path)
    assert list(iter_members(path)) == ["x.txt", "y.txt"]
    with open_member(path, "x.txt") as fh:
        assert fh.read() == b"new content"


def test_open_stream_survives_close_archives(tmp_path):
    path = make_zip(tmp_path / "a.zip")
    fh = open_member(path, "Data/dataset/S1-ADL1.dat")
    head = fh.read(100)
    close_archives()
    assert head + fh.read() == DAT
    fh.close()


def test_zip64_member(tmp_path):
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        with zf.open("big.dat", "w", force_zip64=True) as out:
            out.write(DAT)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("big.dat").extract_version >= zipfile.ZIP64_VERSION  # written as ZIP64
    with open_member(path, "big.dat") as fh:
        assert fh.read() == DAT


# ------------------------------------------------------------------------------------------ extraction


def test_safe_extract_all_and_selected(archive, tmp_path):
    dest = tmp_path / "out"
    written = safe_extract(archive, dest)
    assert sorted(written) == sorted(dest / name for name in FILES)
    for name, data in FILES.items():
        assert (dest / name).read_bytes() == data
    assert not list(dest.rglob("*.incomplete"))
    only = safe_extract(archive, tmp_path / "only", members=["Data/column_names.txt"])
    assert only == [tmp_path / "only" / "Data/column_names.txt"]
    assert not (tmp_path / "only" / "Data" / "dataset").exists()
    with pytest.raises(ModalbenchError, match="no member 'nope'"):
        safe_extract(archive, tmp_path / "x", members=["nope"])


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.txt", "'..' path component"),
        ("Data/../../evil.txt", "'..' path component"),
        ("/abs/evil.txt", "absolute path"),
    ],
)
def test_zip_traversal_and_absolute_names_rejected(tmp_path, name, why):
    info = zipfile.ZipInfo(name)
    path = make_zip(tmp_path / "bad.zip", extra=[(info, b"pwned")])
    dest = tmp_path / "deep" / "out"
    with pytest.raises(ModalbenchError, match=rf"member {name!r} of .*bad.zip: {why}"):
        safe_extract(path, dest)
    assert not list(dest.rglob("*"))  # validated before anything was written
    assert not (tmp_path / "deep" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_zip_escaping_symlink_rejected(tmp_path):
    path = make_zip(tmp_path / "bad.zip", extra=[zip_symlink("Data/link", "../../outside")])
    with pytest.raises(ModalbenchError, match=r"member 'Data/link'.*escapes the destination"):
        safe_extract(path, tmp_path / "out")
    path = make_zip(tmp_path / "bad2.zip", extra=[zip_symlink("link", "/etc/passwd")])
    with pytest.raises(ModalbenchError, match=r"member 'link'.*absolute path"):
        safe_extract(path, tmp_path / "out2")


def test_zip_internal_symlink_is_kept(tmp_path):
    path = make_zip(tmp_path / "ok.zip", extra=[zip_symlink("Data/latest.dat", "dataset/S1-Drill.dat")])
    dest = tmp_path / "out"
    safe_extract(path, dest)
    link = dest / "Data" / "latest.dat"
    assert link.is_symlink() and link.read_bytes() == b"1 2 3\n"
    assert "Data/latest.dat" not in list(iter_members(path))  # links are not regular members


def test_zip_symlink_chain_escape_caught_at_write_time(tmp_path):
    # "p" -> "." looks harmless and "p/t" -> "../x" stays inside lexically, but p/t really sits in dest,
    # so its target is dest/../x: only the resolved-path check can see that.
    path = make_zip(tmp_path / "chain.zip", files={}, extra=[zip_symlink("p", "."), zip_symlink("p/t", "../x")])
    with pytest.raises(ModalbenchError, match=r"member 'p/t'.*resolves outside"):
        safe_extract(path, tmp_path / "out")
    assert not (tmp_path / "out" / "t").exists()


def test_zip_write_through_symlinked_directory_rejected(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    os.symlink(outside, dest / "d")  # a pre-existing link in the destination
    path = make_zip(tmp_path / "w.zip", files={"d/evil.txt": b"pwned"})
    with pytest.raises(ModalbenchError, match=r"member 'd/evil.txt'.*resolves outside"):
        safe_extract(path, dest)
    assert not (outside / "evil.txt").exists()


def test_zip_device_file_rejected(tmp_path):
    info = zipfile.ZipInfo("dev")
    info.create_system = 3
    info.external_attr = (stat.S_IFCHR | 0o600) << 16
    path = make_zip(tmp_path / "dev.zip", extra=[(info, b"")])
    with pytest.raises(ModalbenchError, match=r"member 'dev'.*device file"):
        safe_extract(path, tmp_path / "out")


@pytest.mark.parametrize(
    ("member", "match"),
    [
        (tar_member("../evil.txt", size=3), r"member '\.\./evil\.txt'.*'\.\.' path component"),
        (tar_member("/abs/evil.txt", size=3), r"member '/abs/evil\.txt'.*absolute path"),
        (tar_member("Data/link", tarfile.SYMTYPE, "../../outside"), r"member 'Data/link'"),
        (tar_member("link", tarfile.SYMTYPE, "/etc/passwd"), r"member 'link'"),
        (tar_member("hard", tarfile.LNKTYPE, "../outside"), r"member 'hard'"),
        (tar_member("dev", tarfile.CHRTYPE), r"member 'dev'"),
        (tar_member("fifo", tarfile.FIFOTYPE), r"member 'fifo'"),
    ],
    ids=["dotdot", "absolute", "symlink-escape", "symlink-absolute", "hardlink-escape", "chardev", "fifo"],
)
def test_tar_hostile_members_rejected(tmp_path, member, match):
    path = make_tar(tmp_path / "bad.tar.gz", extra=[member])
    dest = tmp_path / "deep" / "out"
    with pytest.raises(ModalbenchError, match=match):
        safe_extract(path, dest)
    assert not list(dest.rglob("*"))
    assert not list((tmp_path / "deep").glob("evil*")) and not (tmp_path / "deep" / "outside").exists()


def test_tar_symlink_chain_escape_caught_at_write_time(tmp_path):
    path = make_tar(
        tmp_path / "chain.tar",
        files={},
        extra=[tar_member("p", tarfile.SYMTYPE, "."), tar_member("p/t", tarfile.SYMTYPE, "../x")],
        mode="w",
    )
    with pytest.raises(ModalbenchError, match=r"member 'p/t'"):
        safe_extract(path, tmp_path / "out")
    assert not (tmp_path / "out" / "t").exists()


def test_tar_internal_links(tmp_path):
    path = make_tar(
        tmp_path / "links.tar",
        extra=[
            tar_member("Data/latest.dat", tarfile.SYMTYPE, "dataset/S1-Drill.dat"),
            tar_member("Data/copy.dat", tarfile.LNKTYPE, "Data/dataset/S1-Drill.dat"),
        ],
        mode="w",
    )
    dest = tmp_path / "out"
    safe_extract(path, dest)
    assert (dest / "Data/latest.dat").is_symlink() and (dest / "Data/latest.dat").read_bytes() == b"1 2 3\n"
    copy = dest / "Data/copy.dat"
    assert not copy.is_symlink() and copy.read_bytes() == b"1 2 3\n"


# ----------------------------------------------------------------------------- decompression bombs


def test_open_member_refuses_a_declared_size_above_max_bytes_before_reading(archive):
    with pytest.raises(
        ModalbenchError,
        match=r"member 'Data/dataset/S1-ADL1\.dat' declares \d+ bytes uncompressed, "
        r"more than the 1000 expected",
    ):
        open_member(archive, "Data/dataset/S1-ADL1.dat", max_bytes=1000)
    with open_member(archive, "Data/dataset/S1-ADL1.dat", max_bytes=len(DAT)) as fh:
        assert fh.read() == DAT


def test_member_inflating_past_its_declared_size_is_a_one_line_error(tmp_path):
    path = make_zip(tmp_path / "liar.zip")
    lie_about_size(path, "Data/dataset/S1-ADL1.dat", 1000)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("Data/dataset/S1-ADL1.dat").file_size == 1000
    with open_member(path, "Data/dataset/S1-ADL1.dat") as fh, pytest.raises(ModalbenchError) as info:
        fh.read()
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "'Data/dataset/S1-ADL1.dat'" in message


def test_member_stream_caps_reads_at_max_bytes(tmp_path):
    path = zeros_zip(tmp_path / "z.zip", mib=4)
    inner = zipfile.ZipFile(path).open("bomb.dat")
    stream = archive_mod._MemberStream(inner, None, "bomb.dat", path, limit=1 << 20)
    with stream, pytest.raises(ModalbenchError, match=r"'bomb.dat' inflates past 1048576 bytes"):
        while stream.read(300_000):
            pass
    assert stream._produced <= (1 << 20) + 300_000  # stopped at the cap, not after the 4 MiB


def test_safe_extract_total_size_limit(archive, tmp_path):
    dest = tmp_path / "out"
    with pytest.raises(
        ModalbenchError,
        match=r"members declare \d+ bytes uncompressed, more than the limit of 1000 "
        r"\(max_total_bytes\)",
    ):
        safe_extract(archive, dest, max_total_bytes=1000)
    assert not dest.exists() or not any(p.is_file() for p in dest.rglob("*"))
    assert len(safe_extract(archive, tmp_path / "ok", max_total_bytes=sum(map(len, FILES.values())))) == 3


def test_safe_extract_refuses_a_zip_bomb_by_compression_ratio(tmp_path):
    bomb = zeros_zip(tmp_path / "bomb.zip")
    assert bomb.stat().st_size < 100_000
    dest = tmp_path / "out"
    with pytest.raises(
        ModalbenchError,
        match=r"member 'bomb.dat' of .*: it inflates 16777216 bytes from \d+ "
        r"\(ratio \d+, limit 200, max_ratio\)",
    ):
        safe_extract(bomb, dest)
    assert not dest.exists() or not any(dest.rglob("*"))
    assert safe_extract(bomb, tmp_path / "allowed", max_ratio=None)[0].stat().st_size == 16 << 20


def test_safe_extract_refuses_a_tar_gz_bomb_by_overall_ratio(tmp_path):
    bomb = make_tar(tmp_path / "bomb.tar.gz", files={"zeros.bin": bytes(8 << 20)})
    with pytest.raises(ModalbenchError, match=r"8388608 bytes uncompressed from \d+ on disk \(ratio \d+, limit 200"):
        safe_extract(bomb, tmp_path / "out")
    with pytest.raises(ModalbenchError, match="max_ratio must be > 0"):
        safe_extract(bomb, tmp_path / "out", max_ratio=0)
