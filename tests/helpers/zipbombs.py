"""Decompression bombs for archive tests: members of zeros (about 1000:1) and zip headers that lie about sizes."""

from __future__ import annotations

import zipfile
from pathlib import Path

MIB = 1 << 20


def write_zeros(zf: zipfile.ZipFile, name: str, mib: int) -> None:
    """Add member ``name`` holding ``mib`` MiB of zeros, streamed (the test never holds them in memory)."""
    with zf.open(name, "w", force_zip64=True) as out:
        for _ in range(mib):
            out.write(bytes(MIB))


def zeros_zip(path: Path, name: str = "bomb.dat", mib: int = 16) -> Path:
    """A zip whose one member inflates to ``mib`` MiB of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        write_zeros(zf, name, mib)
    return path


def replace_with_zeros(src: Path, dst: Path, member_suffix: str, mib: int) -> Path:
    """Copy zip ``src`` to ``dst`` with the member ending in ``member_suffix`` replaced by ``mib`` MiB of zeros."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename.endswith(member_suffix):
                write_zeros(zout, info.filename, mib)
            else:
                zout.writestr(info.filename, zin.read(info))
    return dst


def lie_about_size(path: Path, member: str, declared: int) -> None:
    """Rewrite the uncompressed size of ``member`` in its local header and central directory entry (no ZIP64)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    for sig, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        pos = data.find(sig)
        while pos >= 0:
            if data[pos + name_at : pos + name_at + len(name)] == name:
                data[pos + size_at : pos + size_at + 4] = declared.to_bytes(4, "little")
            pos = data.find(sig, pos + 4)
    path.write_bytes(bytes(data))
