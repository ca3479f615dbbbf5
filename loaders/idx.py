"""The idx file format of MNIST and Fashion-MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/).

Layout: a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 dimension sizes, then the
data in C order, big-endian. Type codes: ``08`` uint8, ``09`` int8, ``0B`` int16, ``0C`` int32, ``0D`` float32,
``0E`` float64. Files are usually gzip-compressed (``*.gz``); both forms are read. Every problem (wrong magic,
unexpected type or rank, truncated data or gzip stream) is a one-line :class:`ModalbenchError` naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

from modalbench.errors import ModalbenchError

#: idx type code -> numpy dtype (big-endian as stored)
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt: code for code, dt in IDX_TYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"


#: the pixel type of MNIST-format image files
UINT8 = np.dtype(np.uint8)


def read_idx_bytes(path: Path) -> bytes:
    """The idx bytes of ``path`` (decompressed when it is gzip); a truncated or corrupt gzip is a clear error."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModalbenchError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as exc:
        raise ModalbenchError(
            f"{path}: truncated gzip stream (the download was cut short?); delete it and retry"
        ) from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise ModalbenchError(f"{path}: corrupt gzip stream ({exc})") from exc


def parse_idx(data: bytes, where: str, *, dtype: np.dtype | None = UINT8, ndim: int | None = None) -> np.ndarray:
    """Parse idx bytes into a native-endian array; ``dtype``/``ndim`` (when given) are checked against the header."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        got = data[:4].hex(" ") if data else "an empty file"
        raise ModalbenchError(f"{where}: not an idx file (magic 00 00 <type> <ndim> expected, got {got})")
    code, rank = data[2], data[3]
    if dtype is not None and IDX_TYPES[code].newbyteorder("=") != np.dtype(dtype).newbyteorder("="):
        raise ModalbenchError(f"{where}: idx type 0x{code:02X} ({IDX_TYPES[code]}), expected {np.dtype(dtype)}")
    if ndim is not None and rank != ndim:
        raise ModalbenchError(f"{where}: idx file has {rank} dimensions, expected {ndim}")
    header = 4 + 4 * rank
    if len(data) < header:
        raise ModalbenchError(f"{where}: truncated idx header ({len(data)} bytes, {header} expected)")
    shape = struct.unpack(f">{rank}I", data[4:header])
    item = IDX_TYPES[code]
    need = int(np.prod(shape, dtype=np.int64)) * item.itemsize
    have = len(data) - header
    if have != need:
        dims = "x".join(map(str, shape))
        what = "truncated" if have < need else "has trailing bytes"
        raise ModalbenchError(f"{where}: {what}: header says {dims} values of {item} = {need} bytes, file has {have}")
    arr = np.frombuffer(data, dtype=item, offset=header).reshape(shape)
    return arr.astype(item.newbyteorder("="), copy=False) if item.itemsize > 1 else arr


def read_idx(path: Path, *, dtype: np.dtype | None = UINT8, ndim: int | None = None) -> np.ndarray:
    """Read an idx file (gzip or plain) into a numpy array, checking its header (see :func:`parse_idx`)."""
    return parse_idx(read_idx_bytes(path), str(path), dtype=dtype, ndim=ndim)


def read_idx_hashed(path: Path, *, dtype: np.dtype | None = UINT8, ndim: int | None = None) -> tuple[np.ndarray, str]:
    """Like :func:`read_idx`, plus the sha256 of the decompressed idx bytes (the same for any gzip of it)."""
    data = read_idx_bytes(path)
    return parse_idx(data, str(path), dtype=dtype, ndim=ndim), hashlib.sha256(data).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as idx bytes (the inverse of :func:`parse_idx`)."""
    arr = np.asarray(array)
    code = _CODES.get(arr.dtype.newbyteorder(">") if arr.dtype.itemsize > 1 else arr.dtype)
    if code is None:
        raise ModalbenchError(f"idx cannot store dtype {arr.dtype}; use one of {[str(d) for d in IDX_TYPES.values()]}")
    big = arr.astype(IDX_TYPES[code], copy=False)
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + big.tobytes(order="C")


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as a gzip-compressed idx file with a fixed gzip header (reproducible bytes)."""
    Path(path).write_bytes(gzip.compress(idx_bytes(array), compresslevel=9, mtime=0))
