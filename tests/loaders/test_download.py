"""Download infrastructure against a local HTTP server (never the internet)."""

from __future__ import annotations

import hashlib
import logging
import threading

import pytest

from modalbench.errors import ModalbenchError
from modalbench.loaders.download import FetchResult, RemoteFile, fetch, sha256_file, verify_file

from helpers.httpserver import LocalHTTPServer, http_server, unused_url  # noqa: F401  (http_server is a fixture)

# 300 kB of non-repeating bytes: several 64 KiB server chunks and a non-trivial prefix on resume.
PAYLOAD = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(300_000 // 32))
SHA = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()
FAST = {"progress": False, "backoff": 0.0, "timeout": 5.0}


def remote(server: LocalHTTPServer, *paths: str, **kw) -> RemoteFile:
    kw.setdefault("sha256", SHA)
    return RemoteFile(name="data.zip", urls=tuple(server.url(p) for p in paths), **kw)


def test_full_download_verifies_sha256(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    dest = tmp_path / "raw"
    result = fetch(remote(http_server, "data.zip", size=len(PAYLOAD)), dest, **FAST)
    assert result == FetchResult(dest / "data.zip", SHA, "verified-sha256")
    assert (dest / "data.zip").read_bytes() == PAYLOAD
    assert not (dest / "data.zip.incomplete").exists()
    assert http_server.count("data.zip") == 1
    assert sha256_file(result.path) == SHA


def test_md5_only_source(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    result = fetch(remote(http_server, "data.zip", sha256=None, md5=MD5), tmp_path, **FAST)
    assert result.verification == "verified-md5"
    assert result.sha256 == SHA


def test_existing_verified_file_needs_no_network(http_server, tmp_path):
    (tmp_path / "data.zip").write_bytes(PAYLOAD)
    result = fetch(remote(http_server, "data.zip"), tmp_path, **FAST)
    assert result.verification == "verified-sha256"
    assert http_server.requests == []


def test_existing_mismatching_file_is_moved_aside_and_downloaded_again(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    (tmp_path / "data.zip").write_bytes(b"stale")
    result = fetch(remote(http_server, "data.zip"), tmp_path, **FAST)
    assert result.verification == "verified-sha256"
    assert (tmp_path / "data.zip").read_bytes() == PAYLOAD
    assert (tmp_path / "data.zip.mismatch").read_bytes() == b"stale"


def test_interrupted_transfer_resumes_with_range_request(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    http_server.cut("data.zip", after_bytes=100_000, times=1)
    file = remote(http_server, "data.zip", size=len(PAYLOAD))
    with pytest.raises(ModalbenchError, match="connection closed after 100000 of 300000 bytes"):
        fetch(file, tmp_path, retries=0, **FAST)
    part = tmp_path / "data.zip.incomplete"
    assert part.read_bytes() == PAYLOAD[:100_000]
    assert not (tmp_path / "data.zip").exists()

    result = fetch(file, tmp_path, retries=0, **FAST)
    assert result.verification == "verified-sha256"
    assert (tmp_path / "data.zip").read_bytes() == PAYLOAD
    last = http_server.requests_for("data.zip")[-1]
    assert (last.range, last.status) == ("bytes=100000-", 206)
    assert not part.exists()


def test_retry_within_one_call_resumes(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    http_server.cut("data.zip", after_bytes=70_000, times=2)
    result = fetch(remote(http_server, "data.zip"), tmp_path, retries=3, **FAST)
    assert result.sha256 == SHA
    ranges = [(r.range, r.status) for r in http_server.requests_for("data.zip")]
    assert ranges == [(None, 200), ("bytes=70000-", 206), ("bytes=140000-", 206)]


def test_server_ignoring_range_restarts_from_zero(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    (tmp_path / "data.zip.incomplete").write_bytes(b"garbage that must not survive")
    http_server.ignore_range("data.zip")
    result = fetch(remote(http_server, "data.zip"), tmp_path, **FAST)
    assert result.verification == "verified-sha256"
    assert (tmp_path / "data.zip").read_bytes() == PAYLOAD
    assert [(r.range, r.status) for r in http_server.requests] == [("bytes=29-", 200)]


def test_complete_part_without_known_size_is_finished_via_416(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    (tmp_path / "data.zip.incomplete").write_bytes(PAYLOAD)
    result = fetch(remote(http_server, "data.zip"), tmp_path, **FAST)
    assert result.verification == "verified-sha256"
    assert [(r.range, r.status) for r in http_server.requests] == [(f"bytes={len(PAYLOAD)}-", 416)]


def test_wrong_checksum_moves_file_aside_and_names_both_hashes(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    wrong = "0" * 64
    with pytest.raises(ModalbenchError) as info:
        fetch(remote(http_server, "data.zip", sha256=wrong), tmp_path, **FAST)
    message = str(info.value)
    assert wrong in message and SHA in message
    assert "--verification warn" in message
    assert (tmp_path / "data.zip.mismatch").read_bytes() == PAYLOAD
    assert not (tmp_path / "data.zip").exists()
    assert not (tmp_path / "data.zip.incomplete").exists()


def test_mismatch_on_primary_falls_through_to_mirror(http_server, tmp_path):
    http_server.add_file("primary/data.zip", b"corrupted copy")
    http_server.add_file("mirror/data.zip", PAYLOAD)
    result = fetch(remote(http_server, "primary/data.zip", "mirror/data.zip"), tmp_path, **FAST)
    assert result.verification == "verified-sha256"
    assert (tmp_path / "data.zip").read_bytes() == PAYLOAD
    assert (tmp_path / "data.zip.mismatch").read_bytes() == b"corrupted copy"


def test_warn_mode_accepts_mismatch(http_server, tmp_path, caplog):
    http_server.add_file("data.zip", PAYLOAD)
    wrong = "f" * 64
    with caplog.at_level(logging.WARNING, logger="modalbench.loaders.download"):
        result = fetch(remote(http_server, "data.zip", sha256=wrong), tmp_path, verification="warn", **FAST)
    assert result.verification == "mismatch-warned"
    assert result.sha256 == SHA
    assert (tmp_path / "data.zip").read_bytes() == PAYLOAD
    assert any(wrong in r.getMessage() and SHA in r.getMessage() for r in caplog.records)


def test_off_mode_records_off_but_still_hashes(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    result = fetch(remote(http_server, "data.zip", sha256="1" * 64), tmp_path, verification="off", **FAST)
    assert (result.verification, result.sha256) == ("off", SHA)


def test_404_on_primary_then_mirror_succeeds(http_server, tmp_path):
    http_server.add_file("mirror/data.zip", PAYLOAD)
    http_server.fail("primary/data.zip", 404)
    result = fetch(remote(http_server, "primary/data.zip", "mirror/data.zip"), tmp_path, retries=3, **FAST)
    assert result.sha256 == SHA
    assert http_server.count("primary/data.zip") == 1  # 404 is not retried
    assert http_server.count("mirror/data.zip") == 1


def test_500_is_retried_then_falls_through(http_server, tmp_path):
    http_server.add_file("mirror/data.zip", PAYLOAD)
    http_server.fail("primary/data.zip", 500)
    result = fetch(remote(http_server, "primary/data.zip", "mirror/data.zip"), tmp_path, retries=2, **FAST)
    assert result.verification == "verified-sha256"
    assert http_server.count("primary/data.zip") == 3


def test_transient_error_recovers_on_same_url(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    http_server.fail("data.zip", 503, times=1)
    result = fetch(remote(http_server, "data.zip"), tmp_path, retries=1, **FAST)
    assert result.sha256 == SHA
    assert [r.status for r in http_server.requests] == [503, 200]


def test_connection_refused_falls_through_to_mirror(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    file = RemoteFile("data.zip", (unused_url("data.zip"), http_server.url("data.zip")), sha256=SHA)
    result = fetch(file, tmp_path, retries=1, **FAST)
    assert result.verification == "verified-sha256"


def test_stalled_server_times_out_and_retries(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    http_server.stall("data.zip", seconds=2.0, times=1)
    result = fetch(remote(http_server, "data.zip"), tmp_path, retries=1, progress=False, backoff=0.0, timeout=0.3)
    assert result.verification == "verified-sha256"
    assert http_server.count("data.zip") == 2


def test_concurrent_fetches_download_once(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    file = remote(http_server, "data.zip")
    results: list[FetchResult] = []
    threads = [threading.Thread(target=lambda: results.append(fetch(file, tmp_path, **FAST))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert [r.sha256 for r in results] == [SHA] * 3
    assert http_server.count("data.zip") == 1  # the others waited on the lock, then found the verified file


def test_size_mismatch_skips_mirror_before_downloading(http_server, tmp_path):
    http_server.add_file("primary/data.zip", PAYLOAD + b"extra")
    http_server.add_file("mirror/data.zip", PAYLOAD)
    file = remote(http_server, "primary/data.zip", "mirror/data.zip", size=len(PAYLOAD))
    result = fetch(file, tmp_path, **FAST)
    assert result.sha256 == SHA
    assert not (tmp_path / "data.zip.mismatch").exists()  # rejected from Content-Length, nothing written


def test_all_sources_fail_names_file_directory_and_urls(http_server, tmp_path):
    http_server.fail("a/data.zip", 404)
    refused = unused_url("b/data.zip")
    file = RemoteFile(
        "data.zip",
        (http_server.url("a/data.zip"), refused),
        sha256=SHA,
        manual="register at https://example.org and download data.zip",
    )
    dest = tmp_path / "cache" / "raw"
    with pytest.raises(ModalbenchError) as info:
        fetch(file, dest, retries=1, **FAST)
    message = str(info.value)
    assert f"Place data.zip in {dest} or pass --raw DIR" in message
    assert http_server.url("a/data.zip") in message and "HTTP 404" in message
    assert refused in message and "Connection" in message
    assert "register at https://example.org" in message
    assert not (dest / "data.zip").exists()


def test_manual_only_file_without_urls(tmp_path):
    file = RemoteFile("ntu.zip", (), manual="request access at the ROSE lab site")
    with pytest.raises(ModalbenchError, match=r"(?s)no public URL.*Place ntu.zip in .*ROSE lab"):
        fetch(file, tmp_path, **FAST)


def test_raw_dir_is_used_in_place_without_network(http_server, tmp_path):
    raw = tmp_path / "mine"
    raw.mkdir()
    (raw / "data.zip").write_bytes(PAYLOAD)
    dest = tmp_path / "cache"
    result = fetch(remote(http_server, "data.zip"), dest, raw_dir=raw, **FAST)
    assert result == FetchResult(raw / "data.zip", SHA, "verified-sha256")
    assert http_server.requests == []
    assert not (dest / "data.zip").exists()


def test_raw_dir_missing_file_is_an_error(http_server, tmp_path):
    raw = tmp_path / "mine"
    raw.mkdir()
    (raw / "data (1).zip").write_bytes(PAYLOAD)
    with pytest.raises(ModalbenchError) as info:
        fetch(remote(http_server, "data.zip"), tmp_path / "cache", raw_dir=raw, **FAST)
    message = str(info.value)
    assert "data.zip not found in --raw directory" in message and str(raw) in message
    assert "data (1).zip" in message  # close-name suggestion
    assert http_server.requests == []


def test_raw_dir_mismatch_is_not_moved(tmp_path):
    raw = tmp_path / "mine"
    raw.mkdir()
    (raw / "data.zip").write_bytes(b"not it")
    file = RemoteFile("data.zip", (), sha256=SHA)
    with pytest.raises(ModalbenchError, match=SHA):
        fetch(file, tmp_path / "cache", raw_dir=raw, **FAST)
    assert (raw / "data.zip").read_bytes() == b"not it"
    warned = fetch(file, tmp_path / "cache", raw_dir=raw, verification="warn", **FAST)
    assert warned.verification == "mismatch-warned"


def test_tofu_records_and_prints_hash(http_server, tmp_path, capsys):
    http_server.add_file("data.zip", PAYLOAD)
    result = fetch(remote(http_server, "data.zip", sha256=None), tmp_path, **FAST)
    assert (result.verification, result.sha256) == ("tofu", SHA)
    assert SHA in capsys.readouterr().err


def test_file_url_mirror_and_resume(tmp_path):
    src = tmp_path / "src" / "data.zip"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "data.zip.incomplete").write_bytes(PAYLOAD[:1234])
    file = RemoteFile("data.zip", (unused_url("data.zip"), src.as_uri()), sha256=SHA)
    result = fetch(file, dest, retries=0, **FAST)
    assert result.verification == "verified-sha256"
    assert (dest / "data.zip").read_bytes() == PAYLOAD


def test_progress_bar_runs(http_server, tmp_path, capsys):
    http_server.add_file("data.zip", PAYLOAD)
    result = fetch(remote(http_server, "data.zip", size=len(PAYLOAD)), tmp_path, progress=True, backoff=0.0)
    assert result.verification == "verified-sha256"
    assert "data.zip" in capsys.readouterr().err


def test_verify_file_modes(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(PAYLOAD)
    assert verify_file(path, RemoteFile("x.bin", (), sha256=SHA, md5=MD5, size=len(PAYLOAD))).verification == (
        "verified-sha256"
    )
    with pytest.raises(ModalbenchError, match="size expected 1 bytes"):
        verify_file(path, RemoteFile("x.bin", (), size=1))
    with pytest.raises(ModalbenchError, match="md5 expected"):
        verify_file(path, RemoteFile("x.bin", (), md5="0" * 32))
    with pytest.raises(ModalbenchError, match="no such file"):
        verify_file(tmp_path / "nope", RemoteFile("x.bin", ()))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "a/b.zip"}, "plain file name"),
        ({"sha256": "abc"}, "sha256 must be 64 hexadecimal"),
        ({"md5": "z" * 32}, "md5 must be 32 hexadecimal"),
        ({"size": -1}, "size must be"),
        ({"urls": ("ftp://example.org/a.zip",)}, "http://, https:// or file://"),
    ],
)
def test_remote_file_validation(kwargs, match):
    args = {"name": "a.zip", "urls": ("https://example.org/a.zip",), **kwargs}
    with pytest.raises(ModalbenchError, match=match):
        RemoteFile(**args)


def test_checksums_are_normalised_and_mode_is_checked(tmp_path):
    file = RemoteFile("a.zip", ["https://example.org/a.zip"], sha256=SHA.upper())
    assert file.sha256 == SHA and file.urls == ("https://example.org/a.zip",)
    with pytest.raises(ModalbenchError, match="unknown verification mode 'lenient'"):
        fetch(file, tmp_path, verification="lenient", **FAST)
