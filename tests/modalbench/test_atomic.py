"""Atomic files and directories: unique temporary names, nothing left behind on failure, carried-over entries."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from modalbench.atomic import atomic_dir, atomic_file, write_bytes_atomic


def test_atomic_file_failure_leaves_the_old_content_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    write_bytes_atomic(path, b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(path) as fh:
            fh.write(b"half")
            raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_concurrent_writers_of_one_path_never_mix(tmp_path: Path) -> None:
    path = tmp_path / "shared.bin"
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    barrier = threading.Barrier(len(payloads))
    errors: list[BaseException] = []

    def write(data: bytes) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                write_bytes_atomic(path, data)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert path.read_bytes() in payloads  # one writer's whole content, never a mixture
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.bin"]


def test_atomic_dir_keeps_named_entries_only_on_success(tmp_path: Path) -> None:
    final = tmp_path / "v1"
    with atomic_dir(final) as d:
        (d / "data").write_text("1")
        (d / "scenarios").mkdir()
        (d / "scenarios" / "m.json").write_text("kept")
    with pytest.raises(RuntimeError):
        with atomic_dir(final, keep=("scenarios",)) as d:
            (d / "data").write_text("2")
            raise RuntimeError("failed")
    assert (final / "data").read_text() == "1" and (final / "scenarios" / "m.json").read_text() == "kept"
    with atomic_dir(final, keep=("scenarios",)) as d:
        (d / "data").write_text("3")
    assert (final / "data").read_text() == "3" and (final / "scenarios" / "m.json").read_text() == "kept"
    with atomic_dir(final) as d:
        (d / "data").write_text("4")
    assert not (final / "scenarios").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1"]
