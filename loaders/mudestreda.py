"""``mudestreda``: the Multimodal Device State Recognition dataset of a milling tool (Zenodo record 8238653).

Truchan, Naumov, Abedin, Palmer, Ahmadi, "Multimodal Isotropic Neural Architecture with Patch Embedding"
(Minape), ICONIP 2023. 512 observations ``T<tool>R<run>B<block>`` of a milling tool, 3 classes by flank wear
(sharp / used / dulled), 4 modalities:

* ``tool``: the RGB microscope image of the flank (1550×500 JPEG), resized to ``image_size.tool`` = [H, W]
  (default [128, 384], which keeps the 3.1:1 aspect ratio);
* ``spec_x``, ``spec_y``, ``spec_z``: the renderings of the spectrograms of the three force signals (495×368 RGBA
  PNG), resized to ``image_size.spec`` (default [128, 128]). The renderings are opaque: RGBA → RGB drops the alpha
  channel (Pillow's ``convert("RGB")``, no compositing).

Pixels are stored as uint8 (one byte a pixel; ``storage_dtype = uint8``) and scaled by the reader to float32
``x / 255`` in [0, 1] (attrs ``reader_scale``, as mnist-halves and avmnist; ``scaling.method = none``), channel-first
``(3, H, W)``. Store versions ``tool-v2`` / ``random-v2`` (v1 stored float32, four times the bytes);
Pillow resizes with the bilinear filter (antialiased when shrinking). Labels come from the record's label CSVs
(``id,image_label,tool_label``; every CSV of the archives is read and they must agree).

Splits (``split``, recorded in the store). Each distribution is a dataset name of its own, so their stores,
versions and leaderboard tables never mix: ``mudestreda`` (version ``tool-v2``) and ``mudestreda-random``
(version ``random-v2``; every fold and repetition has its own fingerprint):

* ``tool`` (``mudestreda``): whole tools per split, ``tool_split`` = T1–T8 train, T9 validation, T10 test, so
  no phase of a test tool is seen in training (the random split leaks: sibling blocks of one run land in train
  and test);
* ``random`` (``mudestreda-random``): the paper's 80/10/10 ten-fold cross-validation with 5 repetitions.
  Repetition ``repeat`` (0–4) shuffles the samples of each class with seed ``cv_seed + repeat`` and deals them
  round-robin into 10 folds (stratified); fold ``fold`` (0–9) is the test set, fold ``fold + 1 (mod 10)``
  validation, the rest training.

A sample whose image of one modality is absent from the archives keeps that modality unavailable (zeros,
``available = False``); ids without any image or without a label are skipped and counted in the provenance.

Download: the record's file listing (``https://zenodo.org/api/records/8238653``) gives every file's size and md5
as Zenodo publishes them; each archive (zip/tar) of the record is fetched and verified, or used from ``--raw DIR``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.parse
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

import dask
import dask.array as da
import numpy as np

from modalbench.datasets import DatasetBuilder, PrepareContext, TaskInfo, register_dataset
from modalbench.errors import ModalbenchError
from modalbench.meta import ModalitySpec
from modalbench.paths import raw_dir, resolve_root
from modalbench.preprocess.types import SampleSplit

from .download import RemoteFile, fetch, fetch_for, verify_file

RECORD_ID = "8238653"
LISTING_URL = f"https://zenodo.org/api/records/{RECORD_ID}"
RECORD_URL = f"https://zenodo.org/records/{RECORD_ID}"
LISTING_NAME = f"zenodo-{RECORD_ID}.json"
#: both split distributions read the same downloaded archives (``<root>/mudestreda/raw``)
RAW_FOLDER = "mudestreda"
CLASSES = ("sharp", "used", "dulled")
#: modality name → folder of the record
FOLDERS = {"tool": "tool", "spec_x": "specX", "spec_y": "specY", "spec_z": "specZ"}
MODALITIES = tuple(FOLDERS)
ID_RE = re.compile(r"^T(\d+)R(\d+)B(\d+)$")
MEMBER_RE = re.compile(r"(?:^|/)(tool|specX|specY|specZ)/(T\d+R\d+B\d+)\.(png|jpe?g)$", re.IGNORECASE)
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
N_FOLDS = 10
N_REPEATS = 5
LABEL_HEADER = ["id", "image_label", "tool_label"]


# ---------------------------------------------------------------- Zenodo listing


def listing_files(listing: dict[str, Any], *, where: str = LISTING_NAME) -> list[RemoteFile]:
    """The archives of a Zenodo record listing (``files``: key, size, ``md5:<hex>`` checksum, links)."""
    files = listing.get("files")
    if not isinstance(files, list):
        raise ModalbenchError(f"{where}: field 'files' must be a list of the record's files")
    out = []
    for i, f in enumerate(files):
        if not isinstance(f, dict) or not isinstance(f.get("key"), str):
            raise ModalbenchError(f"{where}: files[{i}] must be an object with a string 'key'")
        key = f["key"]
        if not key.lower().endswith(ARCHIVE_SUFFIXES):
            continue
        checksum = str(f.get("checksum", ""))
        algo, _, value = checksum.partition(":")
        md5 = value if algo == "md5" and value else None
        links = f.get("links") or {}
        url = links.get("content") or links.get("self") or links.get("download")
        if not url:
            url = f"{RECORD_URL}/files/{urllib.parse.quote(key)}?download=1"
        size = f.get("size")
        out.append(
            RemoteFile(
                name=key.rsplit("/", 1)[-1],
                urls=(url,),
                md5=md5,
                size=int(size) if isinstance(size, int) else None,
                manual=f"download {key} from {RECORD_URL} and pass --raw DIR",
            )
        )
    if not out:
        raise ModalbenchError(f"{where}: the record lists no archive ({', '.join(ARCHIVE_SUFFIXES)})")
    return out


# ---------------------------------------------------------------- labels and splits


def parse_label_csv(text: str, *, where: str) -> dict[str, int]:
    """``id,image_label,tool_label`` rows → id → class index (0 sharp, 1 used, 2 dulled); errors name the line."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip() for c in rows[0]] != LABEL_HEADER:
        raise ModalbenchError(f"{where} line 1: header must be {','.join(LABEL_HEADER)}")
    out: dict[str, int] = {}
    for lineno, row in enumerate(rows[1:], 2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 3:
            raise ModalbenchError(f"{where} line {lineno}: {len(row)} fields, expected 3 ({','.join(LABEL_HEADER)})")
        sid, image_label, tool_label = (c.strip() for c in row)
        if not ID_RE.match(sid):
            raise ModalbenchError(f"{where} line {lineno} field id: {sid!r} is not T<tool>R<run>B<block>")
        if image_label not in CLASSES:
            raise ModalbenchError(
                f"{where} line {lineno} field image_label: {image_label!r} is not one of {', '.join(CLASSES)}"
            )
        cls = CLASSES.index(image_label)
        if tool_label != str(cls + 1):
            raise ModalbenchError(
                f"{where} line {lineno} field tool_label: {tool_label!r} does not match "
                f"image_label {image_label} (expected {cls + 1})"
            )
        if out.get(sid, cls) != cls:
            raise ModalbenchError(f"{where} line {lineno}: {sid} is labelled twice with different classes")
        out[sid] = cls
    return out


def tool_of(sample_id: str) -> int:
    m = ID_RE.match(sample_id)
    if m is None:
        raise ModalbenchError(f"mudestreda: id {sample_id!r} is not T<tool>R<run>B<block>")
    return int(m.group(1))


def id_order(sample_id: str) -> tuple[int, int, int]:
    m = ID_RE.match(sample_id)
    assert m is not None
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def tool_split_codes(ids: list[str], tool_split: dict[str, list[int]]) -> np.ndarray:
    """Per id 0 train / 1 val / 2 test / -1 unused, by tool number."""
    by_tool: dict[int, int] = {}
    for code, split in enumerate(("train", "val", "test")):
        for t in tool_split.get(split, []):
            if int(t) in by_tool:
                raise ModalbenchError(f"mudestreda: tool {t} is listed in two splits of tool_split")
            by_tool[int(t)] = code
    return np.array([by_tool.get(tool_of(i), -1) for i in ids], dtype=np.int8)


def random_split_codes(labels: np.ndarray, *, fold: int, repeat: int, seed: int) -> np.ndarray:
    """Ten-fold stratified CV: fold ``fold`` test, ``fold+1 (mod 10)`` validation, the rest train; deterministic."""
    if not 0 <= fold < N_FOLDS:
        raise ModalbenchError(f"mudestreda: fold must be in 0..{N_FOLDS - 1}, got {fold}")
    if not 0 <= repeat < N_REPEATS:
        raise ModalbenchError(f"mudestreda: repeat must be in 0..{N_REPEATS - 1}, got {repeat}")
    rng = np.random.Generator(np.random.PCG64(seed + repeat))
    folds = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        folds[idx] = (offset + np.arange(len(idx))) % N_FOLDS
        offset += len(idx)
    codes = np.zeros(len(labels), dtype=np.int8)
    codes[folds == fold] = 2
    codes[folds == (fold + 1) % N_FOLDS] = 1
    return codes


# ---------------------------------------------------------------- images


def decode_image(data: bytes, size: tuple[int, int], *, where: str) -> np.ndarray:
    """JPEG/PNG bytes → ``(3, H, W)`` uint8 (alpha dropped, bilinear resize to ``size`` = (H, W))."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB").resize((int(size[1]), int(size[0])), Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ModalbenchError(f"{where}: not a readable image ({exc})") from None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1))


def _decode_batch(sources: tuple[tuple[str, str] | None, ...], size: tuple[int, int]) -> np.ndarray:
    """``(n, 3, H, W)`` for ``(archive, member)`` pairs (None: an absent image, left as zeros)."""
    from .archive import open_member

    out = np.zeros((len(sources), 3, int(size[0]), int(size[1])), dtype=np.uint8)
    for i, src in enumerate(sources):
        if src is None:
            continue
        archive, member = src
        with open_member(Path(archive), member) as fh:
            data = fh.read()
        out[i] = decode_image(data, size, where=f"{Path(archive).name}:{member}")
    return out


@register_dataset
class Mudestreda(DatasetBuilder):
    name = "mudestreda"
    version = "tool-v2"
    description = (
        "Mudestreda (Zenodo 8238653): milling-tool wear, 512 samples, tool microscope image + 3 force "
        "spectrograms, 3 classes (Minape, ICONIP 2023)"
    )
    license = "CC BY 4.0 (Zenodo)"
    homepage = RECORD_URL
    citation = (
        "H. Truchan, E. Naumov, R. Abedin, G. Palmer, Z. Ahmadi. Multimodal Isotropic Neural Architecture "
        "with Patch Embedding. ICONIP 2023, LNCS 14447, pp. 173-187."
    )
    structure = "samples"
    #: the split distribution this dataset name stands for (``mudestreda-random`` is the other one)
    split: ClassVar[str] = "tool"
    #: the record's file listing (tests point it at a local server)
    listing_url: ClassVar[str] = LISTING_URL
    #: extra keyword arguments of :func:`.download.fetch` (retries, timeout, backoff)
    fetch_options: ClassVar[dict[str, Any]] = {}
    #: images per dask task (not a data parameter)
    batch: ClassVar[int] = 32

    def default_params(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "tool_split": {"train": [1, 2, 3, 4, 5, 6, 7, 8], "val": [9], "test": [10]},
            "fold": 0,
            "repeat": 0,
            "cv_seed": 0,
            "image_size": {"tool": [128, 384], "spec": [128, 128]},
            "scaling": {"method": "none", "range": [0.0, 1.0], "clip": False},
        }

    def _size(self, params: dict[str, Any], modality: str) -> tuple[int, int]:
        key = "tool" if modality == "tool" else "spec"
        size = params["image_size"][key]
        if len(size) != 2 or any(int(v) < 1 for v in size):
            raise ModalbenchError(f"mudestreda: image_size.{key} must be [height, width] > 0, got {size!r}")
        return int(size[0]), int(size[1])

    def modalities(self, params: dict[str, Any]) -> list[ModalitySpec]:
        return [
            ModalitySpec(m, "image", (3, *self._size(params, m)), ("red", "green", "blue"), storage_dtype="uint8")
            for m in MODALITIES
        ]

    def tasks(self, params: dict[str, Any]) -> list[TaskInfo]:
        return [TaskInfo("wear", "multiclass", CLASSES)]

    def source_info(self) -> dict[str, Any]:
        info = super().source_info()
        info["urls"] = [RECORD_URL, self.listing_url]
        info["files"] = [{"name": LISTING_NAME, "note": "Zenodo file listing: size and md5 of every file"}]
        return info

    # -------------------------------------------------------------- raw files

    def remote_files(self, ctx: PrepareContext) -> tuple[list[RemoteFile], dict[str, Any]]:
        """The record's archives from its Zenodo listing (from ``--raw``, the download folder, or the API)."""
        dest = raw_dir(resolve_root(ctx.root), RAW_FOLDER)
        listing_file = RemoteFile(
            LISTING_NAME,
            (self.listing_url,),
            manual=f"save {LISTING_URL} as {LISTING_NAME}, or place the record's archives "
            f"from {RECORD_URL} in --raw DIR",
        )
        placed = Path(ctx.raw_dir) / LISTING_NAME if ctx.raw_dir is not None else None
        if placed is not None and placed.is_file():
            path = placed
        else:
            try:
                path = fetch(listing_file, dest, verification="off", progress=False, **self.fetch_options).path
            except ModalbenchError:
                if ctx.raw_dir is None:
                    raise
                return self._placed_archives(Path(ctx.raw_dir)), {
                    "listing": "unavailable (offline); archives under --raw used unverified"
                }
        try:
            listing = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModalbenchError(f"{path}: not a Zenodo record listing (JSON): {exc}") from None
        return listing_files(listing, where=str(path)), {"listing": self.listing_url}

    def _placed_archives(self, raw: Path) -> list[RemoteFile]:
        if not raw.is_dir():
            raise ModalbenchError(f"--raw directory {raw} does not exist (it should hold the archives of {RECORD_URL})")
        found = sorted(p.name for p in raw.iterdir() if p.is_file() and p.name.lower().endswith(ARCHIVE_SUFFIXES))
        if not found:
            raise ModalbenchError(
                f"no archive of {RECORD_URL} in --raw directory {raw} (and its listing "
                f"{LISTING_URL} could not be fetched)"
            )
        return [RemoteFile(name, ()) for name in found]

    def fetch_archives(self, ctx: PrepareContext) -> tuple[list[Path], dict[str, Any]]:
        """Every archive of the record, verified against the listing; returns paths and the provenance record."""
        files, record = self.remote_files(ctx)
        dest = raw_dir(resolve_root(ctx.root), RAW_FOLDER)
        paths, fetched = [], []
        for f in files:
            if not f.urls and ctx.raw_dir is not None:
                res = verify_file(Path(ctx.raw_dir) / f.name, f, "off")
            else:
                res = fetch_for(ctx, f, dest, self.name, **self.fetch_options)
            paths.append(Path(res.path))
            fetched.append(
                {"name": f.name, "md5": f.md5, "size": f.size, "sha256": res.sha256, "verification": res.verification}
            )
        return paths, {**record, "files": fetched}

    # -------------------------------------------------------------- load

    def scan(self, archives: list[Path]) -> tuple[dict[str, dict[str, tuple[str, str]]], dict[str, int]]:
        """Images (id → modality → (archive, member)) and labels (id → class) found in ``archives``."""
        from .archive import iter_members, open_member

        images: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
        labels: dict[str, int] = {}
        folder_to_modality = {v.lower(): k for k, v in FOLDERS.items()}
        for archive in archives:
            for member in iter_members(archive):
                m = MEMBER_RE.search(member)
                if m is not None:
                    modality = folder_to_modality[m.group(1).lower()]
                    prev = images[m.group(2)].get(modality)
                    if prev is not None:
                        raise ModalbenchError(
                            f"{archive.name}: two {modality} images for {m.group(2)}: {prev[1]!r} and {member!r}"
                        )
                    images[m.group(2)][modality] = (str(archive), member)
                elif member.lower().endswith(".csv"):
                    with open_member(archive, member) as fh:
                        text = fh.read().decode("utf-8-sig", errors="replace")
                    if not text.lstrip().lower().startswith("id,"):
                        continue
                    where = f"{archive.name}:{member}"
                    for sid, cls in parse_label_csv(text, where=where).items():
                        if labels.get(sid, cls) != cls:
                            raise ModalbenchError(
                                f"{where}: {sid} is {CLASSES[cls]} here but "
                                f"{CLASSES[labels[sid]]} in another label file"
                            )
                        labels[sid] = cls
        return dict(images), labels

    def load(self, params: dict[str, Any], ctx: PrepareContext) -> list[SampleSplit]:
        archives, fetched = self.fetch_archives(ctx)
        images, labels = self.scan(archives)
        if not labels:
            raise ModalbenchError(f"{', '.join(a.name for a in archives)}: no label CSV (id,image_label,tool_label)")
        ids = sorted((i for i in labels if i in images), key=id_order)
        if not ids:
            raise ModalbenchError(
                f"{', '.join(a.name for a in archives)}: no labelled sample has an image "
                f"(expected <folder>/T<t>R<r>B<b>.png|jpg in {', '.join(FOLDERS.values())})"
            )
        y = np.array([labels[i] for i in ids], dtype=np.int64)
        split = params["split"]
        if split != self.split:
            other = {"tool": "mudestreda", "random": "mudestreda-random"}.get(split)
            hint = f"; prepare `{other}` for the {split} split" if other else ""
            raise ModalbenchError(
                f"{self.name}: split {split!r} is not supported (this dataset is the {self.split} split){hint}"
            )
        if split == "tool":
            codes = tool_split_codes(ids, params["tool_split"])
        else:
            codes = random_split_codes(
                y, fold=int(params["fold"]), repeat=int(params["repeat"]), seed=int(params["cv_seed"])
            )
        ctx.provenance.update(
            {
                "archives": fetched,
                "samples": {
                    "used": len(ids),
                    "labels_without_images": sorted(set(labels) - set(images))[:20],
                    "images_without_labels": sorted(set(images) - set(labels))[:20],
                    "incomplete": {i: sorted(set(MODALITIES) - set(images[i])) for i in ids if len(images[i]) < 4},
                },
            }
        )
        out = []
        for code, name in enumerate(("train", "val", "test")):
            idx = np.flatnonzero(codes == code)
            split_ids = [ids[i] for i in idx]
            inputs = {}
            for modality in MODALITIES:
                size = self._size(params, modality)
                parts = []
                for start in range(0, len(split_ids), self.batch):
                    part = split_ids[start : start + self.batch]
                    sources = tuple(images[i].get(modality) for i in part)
                    block = dask.delayed(_decode_batch, pure=True)(sources, size)
                    parts.append(da.from_delayed(block, shape=(len(part), 3, *size), dtype=np.uint8))
                inputs[modality] = da.concatenate(parts, axis=0) if parts else da.zeros((0, 3, *size), dtype=np.uint8)
            available = np.array([[m in images[i] for m in MODALITIES] for i in split_ids], dtype=bool)
            out.append(
                SampleSplit(
                    split=name,
                    inputs=inputs,
                    labels={"wear": y[idx]},
                    available=available.reshape(len(split_ids), len(MODALITIES)),
                )
            )
        return out


@register_dataset
class MudestredaRandom(Mudestreda):
    """The paper's random distribution (80/10/10 ten-fold CV, 5 repetitions: ``--set fold=k --set repeat=r``).

    A dataset name of its own (version ``random-v2``) so that its results never share a leaderboard table with
    the tool split's; folds and repetitions differ in the store's parameters and fingerprint.
    """

    name = "mudestreda-random"
    version = "random-v2"
    split = "random"
    description = (
        "Mudestreda, random distribution (80/10/10, ten-fold CV x 5 repetitions; leaks same-run siblings "
        "between train and test, as in the Minape paper)"
    )
