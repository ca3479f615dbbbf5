"""Content checksums: a flipped byte in any chunk is found and named (variable, chunk, rows), also when it
breaks decompression; a split-limited check reads only that split's chunks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from modalbench.checksums import CHECKSUMS, StoreIntegrityError, verify_store
from modalbench.errors import StoreError
from modalbench.preprocess.pipeline import prepare
from modalbench.store import locate, open_store


@pytest.fixture()
def digits_copy(digits_root: Path, tmp_path: Path) -> Path:
    shutil.copytree(digits_root / "digits", tmp_path / "digits")
    return tmp_path


def _flip(path: Path, at: float = 0.5, n: int = 1) -> None:
    data = bytearray(path.read_bytes())
    i = int(len(data) * at)
    for k in range(n):
        data[i + k] ^= 0xFF
    path.write_bytes(bytes(data))


def _chunk(store: Path, var: str) -> Path:
    return next(p for p in sorted((store / var / "c").rglob("*")) if p.is_file())


def test_prepared_store_verifies(digits_root: Path) -> None:
    report = verify_store(digits_root, "digits")
    assert report.ok and report.checksums_recorded and report.checked_files > 20, report.problems
    assert report.checked_bytes > 50_000


def test_one_flipped_byte_is_named_by_variable_and_chunk(digits_copy: Path) -> None:
    store, _ = locate(digits_copy, "digits")
    before = open_store("digits", root=digits_copy)["left"].values.copy()
    _flip(_chunk(store, "left"))
    after = open_store("digits", root=digits_copy)["left"].values
    assert not np.array_equal(before, after, equal_nan=True), "the flip decodes silently to other values"
    report = verify_store(digits_copy, "digits")
    assert len(report.problems) == 1
    line = report.problems[0]
    assert "variable 'left' chunk 0.0.0.0" in line and "sample rows [0, 1797)" in line and "\n" not in line
    assert "modalbench prepare digits --force" in line
    with pytest.raises(StoreIntegrityError, match="variable 'left' chunk"):
        report.raise_for_problems()
    assert verify_store(digits_copy, "digits", variables=["right", "label"]).ok


def test_corruption_that_breaks_decompression_is_the_same_line(digits_copy: Path) -> None:
    store, _ = locate(digits_copy, "digits")
    _flip(_chunk(store, "right"), at=0.0, n=16)  # the blosc header: decoding raises
    report = verify_store(digits_copy, "digits", split="test")
    assert len(report.problems) == 1 and "variable 'right' chunk" in report.problems[0]
    # without recorded checksums, every chunk in scope is decoded: still one line, no traceback
    (digits_copy / "digits" / "v1" / CHECKSUMS).unlink()
    marker = digits_copy / "digits" / "v1" / "COMPLETE"
    marker.write_text(json.dumps(dict(json.loads(marker.read_text()), checksums_sha256=None)))
    report = verify_store(digits_copy, "digits")
    assert not report.checksums_recorded
    assert len(report.problems) == 1 and "variable 'right' chunk 0.0.0.0" in report.problems[0]
    assert "cannot be decoded" in report.problems[0]


def test_edited_attributes_and_sidecar_are_found(digits_copy: Path) -> None:
    vdir = digits_copy / "digits" / "v1"
    meta = json.loads((vdir / "store.zarr" / "zarr.json").read_text())
    meta["attributes"]["normalisation"]["left"]["max"] = [15.0]
    (vdir / "store.zarr" / "zarr.json").write_text(json.dumps(meta))
    problems = verify_store(digits_copy, "digits", variables=["label"]).problems
    assert any("store attributes" in p for p in problems)
    side = json.loads((vdir / CHECKSUMS).read_text())
    (vdir / CHECKSUMS).write_text(json.dumps(side) + " ")
    assert any("COMPLETE marker" in p for p in verify_store(digits_copy, "digits").problems)


def test_missing_and_unexpected_chunks(digits_copy: Path) -> None:
    store, _ = locate(digits_copy, "digits")
    _chunk(store, "label").unlink()
    (store / "split" / "c" / "7").write_bytes(b"x")
    problems = verify_store(digits_copy, "digits").problems
    assert any("variable 'label'" in p and "missing" in p for p in problems)
    assert any("unexpected file store.zarr/split/c/7" in p for p in problems)


def test_split_check_reads_only_that_split(tmp_path: Path) -> None:
    """A windowed store with several chunks per variable: damage in train chunks does not fail a test check."""
    prepare("synthetic", root=tmp_path, overrides={"length": 40000}, progress=False)
    store, _ = locate(tmp_path, "synthetic")
    attrs = open_store("synthetic", root=tmp_path).attrs
    whole = verify_store(tmp_path, "synthetic")
    test = verify_store(tmp_path, "synthetic", split="test", variables=["m0", "label", "available"])
    assert whole.ok and test.ok and test.checked_bytes < whole.checked_bytes / 4
    chunks = sorted((store / "stream_m0" / "c").rglob("*"))
    first = next(p for p in chunks if p.is_file())  # rows [0, chunk) of stream_m0: train recordings
    assert attrs["split_ranges"]["train"][1] > 0
    _flip(first)
    assert verify_store(tmp_path, "synthetic", split="test", variables=["m0"]).ok
    bad = verify_store(tmp_path, "synthetic", split="train", variables=["m0"])
    assert len(bad.problems) == 1 and "variable 'stream_m0' chunk 0.0 (step rows [0, " in bad.problems[0]


def test_unknown_variable_and_unprepared_store(digits_root: Path, tmp_path: Path) -> None:
    assert "no variable 'nope'" in verify_store(digits_root, "digits", variables=["nope"]).problems[0]
    with pytest.raises(StoreError, match="not prepared"):
        verify_store(tmp_path, "digits")
