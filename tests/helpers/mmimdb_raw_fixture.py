"""A tiny ``mmimdb.tar.gz`` in the real layout of the authors' archive (gmu-mmimdb).

Members: ``mmimdb/dataset/<id>.json`` (IMDb metadata with the real field names: ``genres``, ``plot`` a list of
strings, ``title``, ``year``, ``imdbID``, ``cover url``, …) and ``mmimdb/dataset/<id>.jpeg`` (posters of varying
sizes), then ``mmimdb/split.json`` (``train`` / ``dev`` / ``test`` id lists) last, so a reader cannot rely on
seeing the split first. One movie has no plot, one an empty plot list, one poster is corrupt, one missing.
The archive bytes are deterministic (gzip mtime 0, fixed member times).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers.mmimdb_fixture import GENRES

WORDS = (
    "a young man falls in love with the daughter of his boss while a war rages on and the city "
    "burns detective hunts killer across town family road trip goes wrong robots rise against humans"
).split()
#: a word that appears only in test plots (must map to <unk>)
TEST_ONLY_WORD = "zyzzyva"
#: a word that appears only in validation plots
VAL_ONLY_WORD = "quokka"
CORRUPT_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00garbage, not a JPEG stream"


@dataclass
class RawArchive:
    """What was written: ids per split (archive names train/dev/test), per id its plot, genres and poster size
    (height, width; None when missing or corrupt)."""

    path: Path
    split: dict[str, list[str]]
    plots: dict[str, list[str] | None] = field(default_factory=dict)
    genres: dict[str, list[str]] = field(default_factory=dict)
    poster_size: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    no_plot: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    missing_poster: list[str] = field(default_factory=list)


def jpeg_bytes(pixels: np.ndarray, quality: int = 95) -> bytes:
    """``(H, W, 3)`` uint8 pixels as JPEG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_500_000_000
    info.mode = 0o644
    tf.addfile(info, io.BytesIO(data))


def write_tar_gz(path: Path, members: list[tuple[str, bytes]]) -> None:
    """A deterministic ``.tar.gz`` with ``members`` in order (directories implied)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for name, data in members:
                _add(tf, name, data)


def movie_members(
    sizes: tuple[int, int, int] = (20, 6, 8), *, seed: int = 0
) -> tuple[list[tuple[str, bytes]], RawArchive]:
    """The members of the archive (split.json last) and what they hold."""
    rng = np.random.default_rng(seed)
    names = ("train", "dev", "test")
    ids = {s: [f"{1_000_000 + 100 * k + i:07d}" for i in range(n)] for k, (s, n) in enumerate(zip(names, sizes))}
    info = RawArchive(Path(), ids)
    info.no_plot = [ids["train"][3], ids["test"][1]]  # no 'plot' key / an empty plot list
    info.corrupt = [ids["train"][5]]
    info.missing_poster = [ids["dev"][2]]
    members: list[tuple[str, bytes]] = []
    for split in names:
        for i in ids[split]:
            n_words = int(rng.integers(3, 25))
            words = [str(w) for w in rng.choice(WORDS, n_words)]
            if split == "test":
                words.append(TEST_ONLY_WORD)
            if split == "dev":
                words.append(VAL_ONLY_WORD)
            plot = [" ".join(words[: n_words // 2]).capitalize() + ".", "It's " + " ".join(words[n_words // 2 :]) + "!"]
            picked = [GENRES[j] for j in sorted(rng.choice(len(GENRES) - 1, int(rng.integers(1, 4)), replace=False))]
            if int(rng.integers(0, 5)) == 0:
                picked.append("Adult")  # an IMDb genre outside the published 23
            doc: dict[str, object] = {
                "title": f"Movie {i}",
                "year": int(rng.integers(1950, 2015)),
                "imdbID": i,
                "kind": "movie",
                "genres": picked,
                "rating": round(float(rng.uniform(1, 10)), 1),
                "cover url": f"http://example.invalid/{i}.jpg",
            }
            if i == info.no_plot[0]:
                info.plots[i] = None
            elif i == info.no_plot[1]:
                doc["plot"] = []
                info.plots[i] = []
            else:
                doc["plot"] = plot
                info.plots[i] = plot
            info.genres[i] = picked
            members.append((f"mmimdb/dataset/{i}.json", json.dumps(doc, indent=2).encode()))
            if i in info.missing_poster:
                info.poster_size[i] = None
                continue
            if i in info.corrupt:
                info.poster_size[i] = None
                members.append((f"mmimdb/dataset/{i}.jpeg", CORRUPT_JPEG))
                continue
            h, w = int(rng.integers(24, 90)), int(rng.integers(16, 70))
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            info.poster_size[i] = (h, w)
            members.append((f"mmimdb/dataset/{i}.jpeg", jpeg_bytes(pixels)))
    members.append(("mmimdb/split.json", json.dumps(ids).encode()))
    return members, info


def write_mmimdb_archive(path: Path, sizes: tuple[int, int, int] = (20, 6, 8), *, seed: int = 0) -> RawArchive:
    """Write ``mmimdb.tar.gz`` at ``path`` (see the module docstring); returns what it holds."""
    members, info = movie_members(sizes, seed=seed)
    write_tar_gz(path, members)
    info.path = path
    return info
