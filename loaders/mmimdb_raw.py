"""``mmimdb`` with ``representation = raw``: posters and plots parsed from the authors' ``mmimdb.tar.gz``.

Archive layout (Arevalo et al. 2017, the archive the HDF5 was built from): ``mmimdb/split.json``
(``{"train": [ids], "dev": [ids], "test": [ids]}``, IMDb ids as strings), and per movie
``mmimdb/dataset/<id>.json`` (IMDb metadata; this representation reads ``genres``, a list of names, and
``plot``, a list of strings) and ``mmimdb/dataset/<id>.jpeg`` (the poster, any size).

Protocol (every parameter is in ``params.raw`` of the store):

* split: ``split.json`` (``dev`` → ``val``), rows in the file's order; an id listed without its JSON member, a
  missing ``split.json`` or an id in two splits is a one-line error naming the member;
* labels: the 23 published genres, multi-hot in the published order; other genre names in a JSON (IMDb has a few
  more, e.g. ``Adult``) are ignored and counted in the provenance (``ignored_genres``);
* posters (modality ``image``, kind ``image``): decoded with Pillow, converted to RGB and **letterboxed** to
  ``raw.image_size`` (default 256×160, the HDF5's ``images``): scaled by ``min(H/h, W/w)`` (bilinear, the aspect
  kept), centred, the rest zero; stored uint8 ``3×H×W``, read as ``x / 255`` (``reader_scale``);
* plots (modality ``text``, kind ``text``, int32 token ids): the ``plot`` strings joined with a space, lower-cased
  and cut into word tokens with the regular expression :data:`TOKEN_PATTERN` (``[a-z0-9']+``: letters, digits
  and apostrophes; punctuation separates words); the vocabulary comes from the **training split only**: words
  with at least ``raw.min_count`` occurrences, ordered by count (descending) then alphabetically, ids from 2;
  ``<pad>`` = 0, ``<unk>`` = 1 (every other word, e.g. one seen only in test); padded with 0 to ``raw.max_length``
  tokens (``"longest"``, the default: the longest training plot, as the published code pads to the longest; a
  longer val/test plot, or any plot beyond ``raw.max_length_cap``, is truncated and counted). The true length is
  the per-sample variable ``text_length``; the vocabulary's size and sha256 are in the provenance;
* real missing data: a movie whose ``plot`` is missing, empty or has no word token → ``text`` unavailable; a
  poster that is missing or that Pillow cannot decode → ``image`` unavailable (all-zero pixels), never dropped
  and never an error; counts per modality and split in ``source.provenance.unavailable`` (``modalbench info``).

Reading: gzip is not splittable, so the archive is read once as a stream (``tarfile`` mode ``r|gz``, nothing
extracted to disk). JSON members are parsed as they pass; posters are collected in batches of
``batch_members`` and decoded and letterboxed by a pool of threads (Pillow releases the GIL while decoding),
each batch written as one ``.npy`` block next to the archive (``<archive>.parsed/posters-<H>x<W>/``, with an
``index.json`` keyed by the archive's sha256); memory holds one batch. The store's dask tasks gather their rows
from the memory-mapped blocks; a second prepare with the same archive and image size reuses the blocks.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np

from modalbench.atomic import atomic_file, write_json_atomic
from modalbench.errors import ModalbenchError
from modalbench.jsonio import loads_json, read_json
from modalbench.meta import PAD_TOKEN_ID, UNK_TOKEN_ID, ModalitySpec
from modalbench.preprocess.types import SampleSplit

SPLIT_MEMBER = "mmimdb/split.json"
DATASET_PREFIX = "mmimdb/dataset/"
POSTER_SUFFIXES = (".jpeg", ".jpg")
#: the most bytes a member may declare, by kind: each is read whole into memory. The authors' archive has a 3 MB
#: split.json, movie JSONs of a few KB and posters of 10-200 KB; these caps are far above and far below a bomb.
MEMBER_BYTES = {"split": 64 << 20, "movie JSON": 8 << 20, "poster": 32 << 20}
#: word tokens of a lower-cased plot (letters, digits, apostrophes)
TOKEN_PATTERN = re.compile(r"[a-z0-9']+")
PAD, UNK = "<pad>", "<unk>"
#: archive split names -> ours
ARCHIVE_SPLITS = {"train": "train", "dev": "val", "test": "test"}
SPLITS = ("train", "val", "test")
#: version of the parsed-poster cache layout (bump when :func:`letterbox` or the index change)
CACHE_VERSION = 1
#: posters decoded per batch (one ``.npy`` block each): 256 × 3 × 256 × 160 bytes = 31 MB
BATCH_MEMBERS = 256
#: output rows gathered per dask task (128 posters of 3×256×160: 16 MB)
TASK_ROWS = 128
DEFAULT_PARAMS: dict[str, Any] = {
    "image_size": [256, 160],
    "min_count": 1,
    "max_length": "longest",
    "max_length_cap": 4096,
}
CHANNELS = ("red", "green", "blue")


# ---------------------------------------------------------------- posters


def letterbox(image: Any, height: int, width: int) -> np.ndarray:
    """A Pillow image as ``(3, height, width)`` uint8 RGB: scaled by ``min(height/h, width/w)`` (bilinear, the
    aspect ratio kept, each side at least 1 pixel), centred (the odd pixel of a margin goes to the bottom/right),
    the margins zero."""
    from PIL import Image

    rgb = image.convert("RGB")
    w, h = rgb.size
    scale = min(height / h, width / w)
    nw, nh = max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale)))
    resized = rgb if (nw, nh) == (w, h) else rgb.resize((nw, nh), Image.Resampling.BILINEAR)
    out = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - nh) // 2, (width - nw) // 2
    out[top : top + nh, left : left + nw] = np.asarray(resized, dtype=np.uint8)
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def decode_poster(data: bytes, height: int, width: int) -> np.ndarray | None:
    """A poster's bytes letterboxed (:func:`letterbox`), or None when Pillow cannot decode them."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return letterbox(img, height, width)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


# ---------------------------------------------------------------- plots


def tokenize(plot: Any) -> list[str]:
    """Word tokens of a ``plot`` field (a list of strings, joined with a space; a string; or None)."""
    if plot is None:
        return []
    text = plot if isinstance(plot, str) else " ".join(str(p) for p in plot)
    return TOKEN_PATTERN.findall(text.lower())


def build_vocabulary(train_plots: Iterable[list[str]], min_count: int) -> list[str]:
    """``[<pad>, <unk>, words…]``: training words seen at least ``min_count`` times, most frequent first (ties
    alphabetical), so the ids do not depend on the order of the movies."""
    counts: Counter[str] = Counter()
    for tokens in train_plots:
        counts.update(tokens)
    words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return [PAD, UNK, *words]


def encode(tokens: list[str], ids: dict[str, int], length: int) -> np.ndarray:
    """``(length,)`` int32 ids (``<unk>`` for unknown words), truncated or padded with ``<pad>``."""
    out = np.full(length, PAD_TOKEN_ID, dtype=np.int32)
    kept = tokens[:length]
    out[: len(kept)] = [ids.get(t, UNK_TOKEN_ID) for t in kept]
    return out


# ---------------------------------------------------------------- the streaming pass


def _member_id(name: str, suffix: str) -> str:
    return name[len(DATASET_PREFIX) : -len(suffix)]


def _write_block(path: Path, block: np.ndarray) -> None:
    with atomic_file(path) as fh:
        np.save(fh, block, allow_pickle=False)


def scan_archive(
    archive: Path,
    out: Path,
    *,
    key: str,
    image_size: tuple[int, int],
    threads: int = 2,
    batch_members: int = BATCH_MEMBERS,
) -> dict[str, Any]:
    """Read ``archive`` once as a stream: parse ``split.json`` and every movie JSON (genres, plot), decode and
    letterbox the posters ``batch_members`` at a time in ``threads`` threads, one ``.npy`` block per batch in
    ``out``. Returns (and writes as ``out/index.json``) the split, the movies, where each poster is
    (``[block, row]``) and the posters Pillow could not decode. An ``index.json`` with the same ``key`` is reused.
    """
    index_path = out / "index.json"
    if index_path.is_file():
        index = read_json(index_path, max_bytes=1 << 30)
        if index.get("key") == key:
            return dict(index)
        index_path.unlink()  # another archive or size: its blocks are overwritten below, never reused half-written
    height, width = image_size
    where = archive.name
    split: Any = None
    movies: dict[str, dict[str, Any]] = {}
    posters: dict[str, list[int]] = {}
    undecodable: list[str] = []
    blocks: list[dict[str, Any]] = []
    batch: list[tuple[str, bytes]] = []
    out.mkdir(parents=True, exist_ok=True)

    def flush(pool: ThreadPoolExecutor) -> None:
        if not batch:
            return
        decoded = list(pool.map(lambda item: decode_poster(item[1], height, width), batch))
        good = [(pid, arr) for (pid, _), arr in zip(batch, decoded, strict=True) if arr is not None]
        undecodable.extend(pid for (pid, _), arr in zip(batch, decoded, strict=True) if arr is None)
        batch.clear()
        if not good:
            return
        k = len(blocks)
        name = f"block-{k:05d}.npy"
        _write_block(out / name, np.stack([arr for _, arr in good]))
        blocks.append({"file": name, "rows": len(good)})
        for row, (pid, _) in enumerate(good):
            posters[pid] = [k, row]

    try:
        tf = tarfile.open(archive, mode="r|gz")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ModalbenchError(f"{where}: not a readable .tar.gz archive ({exc})") from None
    n_members = 0
    with tf, ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        try:
            for info in tf:
                if not info.isreg():
                    continue
                name = info.name[2:] if info.name.startswith("./") else info.name
                n_members += 1
                is_json = name.startswith(DATASET_PREFIX) and name.endswith(".json")
                poster = next((s for s in POSTER_SUFFIXES if name.endswith(s)), None)
                if name != SPLIT_MEMBER and not is_json and not (name.startswith(DATASET_PREFIX) and poster):
                    continue  # members this representation does not read
                kind = "split" if name == SPLIT_MEMBER else "movie JSON" if is_json else "poster"
                if info.size > MEMBER_BYTES[kind]:  # a tar member is framed by its size: no more can be read
                    raise ModalbenchError(
                        f"{where}: member {name} declares {info.size:,} bytes, more than the {MEMBER_BYTES[kind]:,} "
                        f"allowed for a {kind}; not the authors' mmimdb.tar.gz, or a damaged copy"
                    )
                fh = tf.extractfile(info)
                data = fh.read() if fh is not None else b""
                if name == SPLIT_MEMBER:
                    split = loads_json(data, f"{where}: {name}")
                elif is_json:
                    doc = loads_json(data, f"{where}: {name}", allow_nan=True)
                    if not isinstance(doc, dict):
                        raise ModalbenchError(f"{where}: {name} is not a JSON object")
                    movies[_member_id(name, ".json")] = {"genres": doc.get("genres"), "plot": doc.get("plot")}
                elif poster is not None:
                    batch.append((_member_id(name, poster), data))
                    if len(batch) >= batch_members:
                        flush(pool)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ModalbenchError(f"{where}: the archive is truncated or corrupt ({exc}); download it again") from None
        flush(pool)
    if split is None:
        raise ModalbenchError(f"{where}: no member {SPLIT_MEMBER}; is this the authors' mmimdb.tar.gz?")
    index = {
        "key": key,
        "image_size": [height, width],
        "members": n_members,
        "split": split,
        "movies": movies,
        "posters": posters,
        "undecodable": sorted(undecodable),
        "blocks": blocks,
    }
    write_json_atomic(index_path, index, indent=None)
    return index


def cache_key(sha256: str, image_size: Sequence[int]) -> str:
    """The parsed-poster cache key: archive content, image size and cache layout version."""
    return f"v{CACHE_VERSION}:{sha256}:{int(image_size[0])}x{int(image_size[1])}"


# ---------------------------------------------------------------- splits


def split_ids(index: dict[str, Any], where: str) -> dict[str, list[str]]:
    """``{train|val|test: [ids]}`` from ``split.json``; one-line errors name the member and the id."""
    split = index["split"]
    if not isinstance(split, dict) or any(not isinstance(split.get(s), list) for s in ARCHIVE_SPLITS):
        raise ModalbenchError(f"{where}: {SPLIT_MEMBER} must be an object with lists 'train', 'dev' and 'test'")
    seen: dict[str, str] = {}
    out: dict[str, list[str]] = {}
    for theirs, ours in ARCHIVE_SPLITS.items():
        ids = [str(i) for i in split[theirs]]
        for i in ids:
            if i in seen:
                raise ModalbenchError(f"{where}: {SPLIT_MEMBER} lists id {i!r} in both {seen[i]!r} and {theirs!r}")
            seen[i] = theirs
            if i not in index["movies"]:
                raise ModalbenchError(
                    f"{where}: {SPLIT_MEMBER} lists id {i!r} ({theirs}) but there is no member {DATASET_PREFIX}{i}.json"
                )
        out[ours] = ids
    return out


def multi_hot(genres: Any, classes: Sequence[str], member: str, ignored: Counter[str]) -> np.ndarray:
    """``(len(classes),)`` int8 multi-hot of a movie's ``genres`` (names outside ``classes`` are counted in
    ``ignored``)."""
    if genres is None:
        genres = []
    if not isinstance(genres, list) or any(not isinstance(g, str) for g in genres):
        raise ModalbenchError(f"{member}: field 'genres' must be a list of names")
    out = np.zeros(len(classes), dtype=np.int8)
    position = {c: k for k, c in enumerate(classes)}
    for g in genres:
        if g in position:
            out[position[g]] = 1
        else:
            ignored[g] += 1
    return out


def _gather_posters(
    out: str, blocks: list[str], where: list[tuple[int, int]], image_size: tuple[int, int]
) -> np.ndarray:
    """Rows ``where`` (``(block, row)``, ``(-1, -1)`` for no poster: zeros) of the memory-mapped poster blocks."""
    height, width = image_size
    result = np.zeros((len(where), 3, height, width), dtype=np.uint8)
    opened: dict[int, np.ndarray] = {}
    for i, (b, r) in enumerate(where):
        if b < 0:
            continue
        if b not in opened:
            opened[b] = np.load(Path(out) / blocks[b], mmap_mode="r", allow_pickle=False)
        result[i] = opened[b][r]
    return result


def check_params(params: dict[str, Any]) -> None:
    """Refuse bad ``raw.*`` values in one line naming the parameter, before anything is read or fetched."""

    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    size = params["image_size"]
    if not (isinstance(size, list | tuple) and len(size) == 2 and all(whole(v) for v in size)):
        raise ModalbenchError(f"mmimdb: raw.image_size must be [height, width], two integers >= 1 (got {size!r})")
    for key in ("min_count", "max_length_cap"):
        if not whole(params[key]):
            raise ModalbenchError(f"mmimdb: raw.{key} must be an integer >= 1 (got {params[key]!r})")
    if params["max_length"] != "longest" and not whole(params["max_length"]):
        raise ModalbenchError(
            f"mmimdb: raw.max_length must be 'longest' or an integer >= 1 (got {params['max_length']!r})"
        )


def load_splits(
    index: dict[str, Any], parsed: Path, params: dict[str, Any], classes: Sequence[str], where: str
) -> tuple[list[SampleSplit], list[ModalitySpec], dict[str, Any]]:
    """The three sample splits (``text`` token ids, ``image`` uint8 posters), their modality specs (the token
    length and vocabulary size depend on the training plots) and the provenance."""
    check_params(params)
    height, width = (int(v) for v in params["image_size"])
    min_count = int(params["min_count"])
    cap = int(params["max_length_cap"])
    ids = split_ids(index, where)
    movies = index["movies"]
    tokens = {s: [tokenize(movies[i]["plot"]) for i in ids[s]] for s in SPLITS}
    vocab = build_vocabulary(tokens["train"], min_count)
    if len(vocab) >= 2**24:
        raise ModalbenchError(
            f"mmimdb: vocabulary of {len(vocab)} words; raise raw.min_count (ids must stay below 2**24)"
        )
    word_ids = {w: k for k, w in enumerate(vocab)}
    wanted = params["max_length"]
    if wanted == "longest":
        length = max((len(t) for t in tokens["train"]), default=1)
    else:
        length = int(wanted)
    length = max(1, min(length, cap))
    blocks = [b["file"] for b in index["blocks"]]
    posters = index["posters"]
    undecodable = set(index["undecodable"])
    ignored: Counter[str] = Counter()
    specs = [
        ModalitySpec("text", "text", (length,), storage_dtype="int32", vocab_size=len(vocab)),
        ModalitySpec("image", "image", (3, height, width), CHANNELS, storage_dtype="uint8"),
    ]
    out: list[SampleSplit] = []
    unavailable: dict[str, dict[str, int]] = {"text": {}, "image": {}}
    poster_gaps: dict[str, dict[str, int]] = {"missing": {}, "undecodable": {}}
    truncated: dict[str, int] = {}
    for split in SPLITS:
        n = len(ids[split])
        text = np.stack([encode(t, word_ids, length) for t in tokens[split]]) if n else np.zeros((0, length), np.int32)
        lengths = np.asarray([min(len(t), length) for t in tokens[split]], dtype=np.int32)
        has_text = np.asarray([len(t) > 0 for t in tokens[split]], dtype=bool)
        rows = [tuple(posters.get(i, (-1, -1))) for i in ids[split]]
        has_image = np.asarray([r[0] >= 0 for r in rows], dtype=bool)
        labels = (
            np.stack(
                [
                    multi_hot(movies[i]["genres"], classes, f"{where}: {DATASET_PREFIX}{i}.json", ignored)
                    for i in ids[split]
                ]
            )
            if n
            else np.zeros((0, len(classes)), np.int8)
        )
        unavailable["text"][split] = int((~has_text).sum())
        unavailable["image"][split] = int((~has_image).sum())
        poster_gaps["undecodable"][split] = sum(i in undecodable for i in ids[split])
        poster_gaps["missing"][split] = int((~has_image).sum()) - poster_gaps["undecodable"][split]
        truncated[split] = int(sum(len(t) > length for t in tokens[split]))
        parts = []
        for lo in range(0, n, TASK_ROWS):
            chunk = rows[lo : lo + TASK_ROWS]
            task = dask.delayed(_gather_posters, pure=True)(str(parsed), blocks, chunk, (height, width))
            parts.append(da.from_delayed(task, shape=(len(chunk), 3, height, width), dtype=np.uint8))
        image = da.concatenate(parts, axis=0) if parts else da.zeros((0, 3, height, width), dtype=np.uint8)
        out.append(
            SampleSplit(
                split=split,
                inputs={"text": da.from_array(text, chunks=(TASK_ROWS, length)), "image": image},
                labels={"genre": da.from_array(labels, chunks=(TASK_ROWS, len(classes)))},
                available=da.from_array(np.stack([has_text, has_image], axis=1), chunks=(TASK_ROWS, 2)),
                extras={"text_length": ((), da.from_array(lengths, chunks=TASK_ROWS))},
            )
        )
    vocab_sha = hashlib.sha256("\n".join(vocab).encode("utf-8")).hexdigest()
    provenance = {
        "members": int(index["members"]),
        "movies": {s: len(ids[s]) for s in SPLITS},
        "movies_not_in_split": len(movies) - sum(len(ids[s]) for s in SPLITS),
        "unavailable": unavailable,
        "posters": poster_gaps,
        "vocabulary": {
            "size": len(vocab),
            "pad_id": PAD_TOKEN_ID,
            "unk_id": UNK_TOKEN_ID,
            "min_count": min_count,
            "sha256": vocab_sha,
        },
        "token_length": length,
        "truncated_plots": truncated,
        "ignored_genres": dict(sorted(ignored.items())),
    }
    return out, specs, provenance
