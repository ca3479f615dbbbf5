"""idx reader: header checks, gzip and plain files, one-line errors naming the file, the fixture and real files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from helpers import DATA_DIR
from modalbench.errors import ModalbenchError
from modalbench.loaders.idx import idx_bytes, parse_idx, read_idx, read_idx_hashed, write_idx_gz

FIXTURE = DATA_DIR / "mnist"


def one_line_error(excinfo: pytest.ExceptionInfo[ModalbenchError], path: Path) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    assert str(path) in msg
    return msg


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_roundtrip_every_type(tmp_path: Path, dtype: type) -> None:
    arr = (np.arange(2 * 3 * 5).reshape(2, 3, 5) - 7).astype(dtype)
    write_idx_gz(tmp_path / "a.gz", arr)
    back = read_idx(tmp_path / "a.gz", dtype=np.dtype(dtype), ndim=3)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, arr)


def test_header_layout_is_big_endian() -> None:
    data = idx_bytes(np.array([1, 2], dtype=np.int32))
    assert data[:4] == bytes([0, 0, 0x0C, 1])
    assert data[4:8] == (2).to_bytes(4, "big")
    assert data[8:12] == (1).to_bytes(4, "big")


def test_plain_and_gzip_files_read_alike(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "plain").write_bytes(idx_bytes(arr))
    (tmp_path / "z.gz").write_bytes(gzip.compress(idx_bytes(arr)))
    np.testing.assert_array_equal(read_idx(tmp_path / "plain"), read_idx(tmp_path / "z.gz"))
    # the content hash is that of the idx bytes, whatever the compression
    assert read_idx_hashed(tmp_path / "plain")[1] == read_idx_hashed(tmp_path / "z.gz")[1]


def test_fixture_files_parse_with_expected_content() -> None:
    images = read_idx(FIXTURE / "train-images-idx3-ubyte.gz", ndim=3)
    labels = read_idx(FIXTURE / "train-labels-idx1-ubyte.gz", ndim=1)
    assert images.shape == (300, 28, 28) and labels.shape == (300,)
    np.testing.assert_array_equal(labels, np.arange(300) % 10)
    np.testing.assert_array_equal(images[:, 0, 0], np.arange(300) % 251)
    assert (images[3, 5, 6:10] == 255).all()  # class 3: vertical bar at columns 6..9


def test_wrong_magic_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "bad-idx3-ubyte"
    p.write_bytes(b"\x00\x01\x08\x03" + b"\x00" * 20)
    with pytest.raises(ModalbenchError, match="not an idx file") as ei:
        read_idx(p)
    assert "00 01 08 03" in one_line_error(ei, p)


def test_truncated_data_names_the_file_and_sizes(tmp_path: Path) -> None:
    data = idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))
    p = tmp_path / "cut-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(data[:-100]))
    with pytest.raises(ModalbenchError, match="truncated") as ei:
        read_idx(p, ndim=3)
    msg = one_line_error(ei, p)
    assert "4x28x28" in msg and "3136" in msg and "3036" in msg


def test_truncated_gzip_stream_names_the_file(tmp_path: Path) -> None:
    full = (FIXTURE / "t10k-labels-idx1-ubyte.gz").read_bytes()
    p = tmp_path / "t10k-labels-idx1-ubyte.gz"
    p.write_bytes(full[: len(full) // 2])
    with pytest.raises(ModalbenchError, match="truncated gzip") as ei:
        read_idx(p)
    one_line_error(ei, p)


def test_trailing_bytes_rank_and_type_are_checked(tmp_path: Path) -> None:
    p = tmp_path / "x"
    p.write_bytes(idx_bytes(np.zeros(5, dtype=np.uint8)) + b"\x00")
    with pytest.raises(ModalbenchError, match="trailing bytes"):
        read_idx(p)
    p.write_bytes(idx_bytes(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(ModalbenchError, match="1 dimensions, expected 3"):
        read_idx(p, ndim=3)
    p.write_bytes(idx_bytes(np.zeros(5, dtype=np.int32)))
    with pytest.raises(ModalbenchError, match="expected uint8"):
        read_idx(p)
    with pytest.raises(ModalbenchError, match="empty file"):
        parse_idx(b"", "empty")


def test_real_mnist_test_files(shared_dir: Path) -> None:
    images = read_idx(shared_dir / "data" / "mnist" / "t10k-images-idx3-ubyte.gz", ndim=3)
    labels = read_idx(shared_dir / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz", ndim=1)
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist()[:3] == [980, 1135, 1032]  # MNIST test class counts
