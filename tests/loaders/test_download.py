"""Download infrastructure against a local HTTP server (never the internet)."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from helpers.httpserver import LocalHTTPServer, unused_url
from modalbench.errors import ModalbenchError
from modalbench.loaders.download import (
    ENV_MIRROR,
    FetchResult,
    RemoteFile,
    default_deadline,
    fetch,
    mirror_urls,
    parse_mirrors,
    sha256_file,
    verify_file,
)

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


def test_wrong_md5_everywhere_is_one_line_with_every_source_and_the_next_step(http_server, tmp_path):
    http_server.add_file("primary/data.zip", b"corrupted copy")
    wrong = "c" * 32
    dead = unused_url("dead/data.zip")
    file = RemoteFile(name="data.zip", urls=(http_server.url("primary/data.zip"), dead), md5=wrong)
    with pytest.raises(ModalbenchError) as info:
        fetch(file, tmp_path, **{**FAST, "retries": 0})
    message = str(info.value)
    assert "\n" not in message
    got = hashlib.md5(b"corrupted copy").hexdigest()
    assert message.startswith(f"checksum mismatch for data.zip: from {http_server.url('primary/data.zip')}: ")
    assert f"md5 expected {wrong}, got {got}" in message
    assert "other sources failed: " + dead in message
    assert f"Next step: delete the .mismatch file in {tmp_path}" in message and "--verification warn" in message


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


# ------------------------------------------------------------------ deadlines, retry messages, sizes, resume, mirrors


def test_slow_drip_server_stops_at_the_overall_deadline(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    http_server.drip("data.zip", every=0.05, nbytes=1024)  # 300 kB would take ~15 s
    started = time.monotonic()
    with pytest.raises(ModalbenchError, match=r"deadline of 1 s \(\d+ bytes received\)"):
        fetch(remote(http_server, "data.zip"), tmp_path, retries=2, deadline=1.0, **FAST)
    assert time.monotonic() - started < 3.0
    assert http_server.count("data.zip") == 1  # a used-up deadline is not retried on the same source


def test_never_answering_server_is_bounded_by_the_deadline(http_server, tmp_path, capsys):
    http_server.add_file("data.zip", PAYLOAD)
    http_server.stall("data.zip", seconds=4.0, times=None)
    started = time.monotonic()
    with pytest.raises(ModalbenchError, match="timed out"):
        fetch(
            remote(http_server, "data.zip"),
            tmp_path,
            retries=10,
            progress=False,
            backoff=0.0,
            timeout=0.3,
            deadline=1.0,
        )
    assert time.monotonic() - started < 2.5  # 11 attempts x 0.3 s without the deadline
    retries = [line for line in capsys.readouterr().err.splitlines() if "retrying in" in line]
    assert retries and all(line.startswith("modalbench: data.zip: ") for line in retries)


def test_deadline_of_a_dripping_source_falls_through_to_the_next(http_server, tmp_path, capsys):
    http_server.add_file("slow/data.zip", PAYLOAD)
    http_server.add_file("fast/data.zip", PAYLOAD)
    http_server.drip("slow/data.zip", every=0.05)
    result = fetch(remote(http_server, "slow/data.zip", "fast/data.zip"), tmp_path, deadline=0.5, **FAST)
    assert result.verification == "verified-sha256"
    err = capsys.readouterr().err
    assert "failed (no complete transfer within the deadline of 0.5 s" in err
    assert f"trying {http_server.url('fast/data.zip')}" in err


def test_retry_is_announced_on_stderr_one_line_each(http_server, tmp_path, capsys):
    http_server.add_file("data.zip", PAYLOAD)
    http_server.fail("data.zip", 503, times=2)
    fetch(remote(http_server, "data.zip"), tmp_path, retries=2, **FAST)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "retrying" in ln]
    assert lines == [
        f"modalbench: data.zip: {http_server.url('data.zip')}: HTTP 503 Service Unavailable; "
        f"retrying in 0.0 s (attempt {k} of 3)"
        for k in (2, 3)
    ]


def test_default_deadline_is_derived_from_the_size():
    assert default_deadline(None) == 6 * 3600
    assert default_deadline(0) == 300
    assert default_deadline(100_000_000) == 300 + 1000  # 100 MB at 100 kB/s
    with pytest.raises(ModalbenchError, match="deadline must be > 0"):
        fetch(RemoteFile("a.zip", ()), Path("/nonexistent"), deadline=0)


def test_body_larger_than_the_published_size_stops_early(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    http_server.omit_length("data.zip")  # nothing announced: the body itself must be counted
    file = remote(http_server, "data.zip", size=100_000)
    with pytest.raises(ModalbenchError, match="more than the expected 100000 bytes; stopped"):
        fetch(file, tmp_path, **FAST)
    assert not (tmp_path / "data.zip.incomplete").exists()
    assert not (tmp_path / "data.zip.mismatch").exists()  # stopped, not downloaded whole and moved aside


def test_partial_file_without_checksum_is_not_resumed(http_server, tmp_path, capsys):
    http_server.add_file("data.zip", PAYLOAD)
    (tmp_path / "data.zip.incomplete").write_bytes(b"\0garbage from an earlier run\0" * 100)
    result = fetch(remote(http_server, "data.zip", sha256=None, size=len(PAYLOAD)), tmp_path, **FAST)
    assert (tmp_path / "data.zip").read_bytes() == PAYLOAD
    assert (result.verification, result.sha256) == ("tofu", SHA)
    assert [r.range for r in http_server.requests] == [None]
    assert "discarding the 2900 bytes of an earlier partial download" in capsys.readouterr().err


def test_partial_file_is_not_resumed_when_verification_is_off(http_server, tmp_path):
    http_server.add_file("data.zip", PAYLOAD)
    (tmp_path / "data.zip.incomplete").write_bytes(b"x" * 5000)
    fetch(remote(http_server, "data.zip"), tmp_path, verification="off", **FAST)
    assert (tmp_path / "data.zip").read_bytes() == PAYLOAD


def test_mirror_is_tried_first_as_mirror_dataset_file(http_server, tmp_path):
    http_server.add_file("copy/mydata/data.zip", PAYLOAD)
    http_server.add_file("canonical/data.zip", PAYLOAD)
    result = fetch(
        remote(http_server, "canonical/data.zip"), tmp_path, mirrors=[http_server.url("copy")], dataset="mydata", **FAST
    )
    assert result.verification == "verified-sha256"
    assert [r.path for r in http_server.requests] == ["copy/mydata/data.zip"]


def test_missing_mirror_copy_falls_back_to_canonical_url(http_server, tmp_path, capsys):
    http_server.add_file("canonical/data.zip", PAYLOAD)
    fetch(
        remote(http_server, "canonical/data.zip"),
        tmp_path,
        mirrors=[http_server.url("copy") + "/"],
        dataset="mydata",
        **FAST,
    )
    assert [(r.path, r.status) for r in http_server.requests] == [
        ("copy/mydata/data.zip", 404),
        ("canonical/data.zip", 200),
    ]
    assert f"trying {http_server.url('canonical/data.zip')}" in capsys.readouterr().err


def test_mirror_environment_variable_and_local_directory(http_server, tmp_path, monkeypatch):
    local = tmp_path / "local-copy"
    (local / "mydata").mkdir(parents=True)
    (local / "mydata" / "data.zip").write_bytes(PAYLOAD)
    monkeypatch.setenv(ENV_MIRROR, f"{unused_url('x')}{os.pathsep}{local}")
    result = fetch(
        remote(http_server, "canonical/data.zip"),
        tmp_path / "dl",
        dataset="mydata",
        retries=0,
        progress=False,
        backoff=0.0,
        timeout=5.0,
    )
    assert result.verification == "verified-sha256"
    assert http_server.requests == []  # the refused mirror, then the local directory; never the canonical URL


def test_parse_mirrors_keeps_ports_and_splits_on_commas_and_pathsep():
    text = f"http://host:8080/data, https://b.example/m{os.pathsep}/srv/mirror"
    assert parse_mirrors(text) == ("http://host:8080/data", "https://b.example/m", "/srv/mirror")
    assert parse_mirrors("") == ()
    assert mirror_urls("a b.zip", "ds", ["https://m.example/x/"]) == ("https://m.example/x/ds/a%20b.zip",)
    with pytest.raises(ModalbenchError, match="mirror 'ftp://m' must be"):
        mirror_urls("a.zip", "ds", ["ftp://m"])


def test_fetch_for_takes_the_prepare_context_mirrors_and_raw_folder(http_server, tmp_path):
    from modalbench.datasets import PrepareContext
    from modalbench.loaders.download import fetch_for

    http_server.add_file("m/mudestreda/data.zip", PAYLOAD)
    file = RemoteFile("data.zip", (unused_url("dead/data.zip"),), size=len(PAYLOAD), sha256=SHA)
    ctx = PrepareContext(root=str(tmp_path), progress=False, mirrors=(http_server.url("m"),))
    got = fetch_for(ctx, file, tmp_path / "dl", "mudestreda", backoff=0.0, timeout=5.0)
    assert Path(got.path).read_bytes() == PAYLOAD
    assert "m/mudestreda/data.zip" in {r.path for r in http_server.requests}
    placed = tmp_path / "placed"
    placed.mkdir()
    (placed / "data.zip").write_bytes(PAYLOAD)
    ctx = PrepareContext(root=str(tmp_path), raw_dir=placed, progress=False)
    assert Path(fetch_for(ctx, file, tmp_path / "dl2", "mudestreda").path).parent == placed
