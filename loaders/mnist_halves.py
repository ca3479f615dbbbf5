"""``mnist-halves``: MNIST cut into two image halves, the bimodal MNIST of EmbraceNet (Choi & Lee 2019, §6.1).

Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to document recognition", Proc. IEEE
86(11), 1998. Raw files: the four idx files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, md5 as published and listed by torchvision), fetched
from the canonical site or its mirrors (:mod:`.download`), parsed with numpy (:mod:`.idx`).

* modalities ``left``/``right`` (``cut=vertical``, 1×28×14 each) or ``top``/``bottom`` (``cut=horizontal``, 1×14×28);
* split: the official 60,000 training / 10,000 test images; validation = the last ``split.val_size`` (5,000)
  training images;
* pixels are stored as uint8 (``storage.dtype``) and scaled by the reader to ``x / 255`` (attrs ``reader_scale``),
  so the store keeps one byte a pixel; ``storage.dtype=float32`` stores train-min–max-scaled floats instead;
* ``subset``: ``full`` (the four files), ``test-only`` (train/val/test cut from the 10,000 test images, seeded and
  stratified by ``split.test_only``) or ``auto`` (default): ``test-only`` when ``--raw DIR`` holds the test files
  but no ``train-images-idx3-ubyte.gz``, with a warning; else ``full``. The resolved value is a parameter of the
  store, so a partial store has its own fingerprint and is never ranked with the full set.

Copies whose gzip bytes differ from the published archives (recompressed mirrors) are accepted when the sha256 of
their decompressed idx bytes matches :attr:`IdxHalves.content_sha256`; the store records that sha256 per file (the
same for every gzip of the same data), so the fingerprint does not depend on how the file was compressed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from modalbench.datasets import DatasetBuilder, PrepareContext, TaskInfo, register_dataset
from modalbench.errors import ModalbenchError
from modalbench.meta import STORAGE_DTYPES, ModalitySpec
from modalbench.preprocess.types import SampleSplit

from .digits import stratified_split
from .download import RemoteFile, fetch_for
from .idx import read_idx_bytes, read_idx_hashed

FILE_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
TEST_KEYS = ("test_images", "test_labels")
SUBSETS = ("auto", "full", "test-only")
CUTS = {"vertical": ("left", "right"), "horizontal": ("top", "bottom")}
SIDE = 28


def cut_halves(images: np.ndarray, cut: str) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 28, 28)`` images → two ``(N, 1, …)`` halves: left/right (vertical cut) or top/bottom (horizontal)."""
    half = images.shape[-1] // 2
    if cut == "vertical":
        return images[:, None, :, :half], images[:, None, :, half:]
    if cut == "horizontal":
        half = images.shape[-2] // 2
        return images[:, None, :half, :], images[:, None, half:, :]
    raise ModalbenchError(f"parameter cut must be one of {', '.join(CUTS)} (got {cut!r})")


class IdxHalves(DatasetBuilder):
    """An idx image dataset (MNIST layout: 4 files, 28×28 uint8, 10 classes) cut into two halves."""

    structure = "samples"
    #: key -> (file name, md5 of the published gzip)
    files: ClassVar[dict[str, tuple[str, str]]]
    #: base URLs ending in ``/``, canonical first, then mirrors
    mirrors: ClassVar[tuple[str, ...]]
    #: file name -> sha256 of its decompressed idx bytes, where known (accepts recompressed copies)
    content_sha256: ClassVar[dict[str, str]] = {}
    classes: ClassVar[tuple[str, ...]] = tuple(str(d) for d in range(10))
    task_name: ClassVar[str] = "digit"
    #: extra keyword arguments of :func:`.download.fetch` (retries, timeout, backoff)
    fetch_options: ClassVar[dict[str, Any]] = {}
    n_train: ClassVar[int] = 60_000
    n_test: ClassVar[int] = 10_000

    def default_params(self) -> dict[str, Any]:
        return {
            "cut": "vertical",
            "subset": "auto",
            "split": {
                "val_size": 5000,
                "val_from": "end of train",
                "test_only": {"ratios": [0.6, 0.2, 0.2], "seed": 0, "stratified": True},
            },
            "storage": {"dtype": "uint8"},
            "scaling": {"method": "minmax", "range": [0.0, 1.0], "clip": False},
        }

    def modalities(self, params: dict[str, Any]) -> list[ModalitySpec]:
        cut = params["cut"]
        if cut not in CUTS:
            raise ModalbenchError(f"parameter cut must be one of {', '.join(CUTS)} (got {cut!r})")
        dtype = params["storage"]["dtype"]
        if dtype not in STORAGE_DTYPES:
            raise ModalbenchError(f"parameter storage.dtype must be one of {', '.join(STORAGE_DTYPES)} (got {dtype!r})")
        shape = (1, SIDE, SIDE // 2) if cut == "vertical" else (1, SIDE // 2, SIDE)
        return [ModalitySpec(n, "image", shape, ("grey",), storage_dtype=dtype) for n in CUTS[cut]]

    def tasks(self, params: dict[str, Any]) -> list[TaskInfo]:
        return [TaskInfo(self.task_name, "multiclass", self.classes)]

    def source_info(self) -> dict[str, Any]:
        info = super().source_info()
        info["urls"] = list(self.mirrors)
        info["files"] = [{"name": name, "md5": md5} for name, md5 in self.files.values()]
        return info

    def remote_files(self) -> dict[str, RemoteFile]:
        """Every raw file with its mirrors (canonical first) and published md5."""
        manual = (
            f"download the four files from {self.mirrors[0]} (or a mirror: {', '.join(self.mirrors[1:])}) "
            f"and pass the folder with --raw"
        )
        return {
            key: RemoteFile(name=name, urls=tuple(m + name for m in self.mirrors), md5=md5, manual=manual)
            for key, (name, md5) in self.files.items()
        }

    def resolve_params(self, params: dict[str, Any], raw_dir: Path | None, download_dir: Path) -> dict[str, Any]:
        """``subset=auto`` → ``test-only`` when ``raw_dir`` has the test files but no training images, else ``full``."""
        subset = params.get("subset")
        if subset not in SUBSETS:
            raise ModalbenchError(f"{self.name}: parameter subset must be one of {', '.join(SUBSETS)} (got {subset!r})")
        if subset != "auto":
            return params
        resolved = "full"
        if raw_dir is not None and Path(raw_dir).is_dir():
            have = {k: (Path(raw_dir) / name).is_file() for k, (name, _) in self.files.items()}
            if not have["train_images"] and all(have[k] for k in TEST_KEYS):
                resolved = "test-only"
                missing = ", ".join(self.files[k][0] for k in FILE_KEYS if not have[k])
                print(
                    f"modalbench: warning: {self.name}: {missing} not in {raw_dir}; preparing the PARTIAL set "
                    f"subset=test-only (train/val/test cut from the {self.n_test:,} test images). It has its own "
                    f"fingerprint and is never ranked with the full set.",
                    file=sys.stderr,
                )
        return {**params, "subset": resolved}

    # -------------------------------------------------------------- raw files

    def fetch_file(self, key: str, ctx: PrepareContext) -> Path:
        """A verified local copy of raw file ``key``; a recompressed copy under ``--raw`` is accepted by content."""
        rf = self.remote_files()[key]
        dest = ctx.download_dir if ctx.download_dir is not None else Path(ctx.root) / self.name / "raw"
        try:
            return Path(fetch_for(ctx, rf, dest, self.name, **self.fetch_options).path)
        except ModalbenchError:
            known = self.content_sha256.get(rf.name)
            candidate = Path(ctx.raw_dir) / rf.name if ctx.raw_dir is not None else None
            if known is None or candidate is None or not candidate.is_file():
                raise
            import hashlib

            try:
                same = hashlib.sha256(read_idx_bytes(candidate)).hexdigest() == known
            except ModalbenchError:
                same = False
            if not same:
                raise
            print(
                f"modalbench: {candidate}: gzip bytes differ from the published file, decompressed idx content "
                f"verified by sha256",
                file=sys.stderr,
            )
            return candidate

    def read_pair(
        self, images_key: str, labels_key: str, ctx: PrepareContext, record: list[dict[str, Any]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64 of one pair of files, checked against each other."""
        ipath, lpath = self.fetch_file(images_key, ctx), self.fetch_file(labels_key, ctx)
        images, isha = read_idx_hashed(ipath, ndim=3)
        labels, lsha = read_idx_hashed(lpath, ndim=1)
        if images.shape[1:] != (SIDE, SIDE):
            raise ModalbenchError(f"{ipath}: images are {images.shape[1]}x{images.shape[2]}, expected {SIDE}x{SIDE}")
        if len(images) != len(labels):
            raise ModalbenchError(f"{lpath}: {len(labels)} labels for {len(images)} images in {ipath.name}")
        if len(labels) and int(labels.max()) >= len(self.classes):
            raise ModalbenchError(f"{lpath}: label {int(labels.max())} out of range 0..{len(self.classes) - 1}")
        record += [
            {"name": ipath.name, "idx_sha256": isha, "n": int(len(images))},
            {"name": lpath.name, "idx_sha256": lsha, "n": int(len(labels))},
        ]
        return images, labels.astype(np.int64)

    # -------------------------------------------------------------- load

    def load(self, params: dict[str, Any], ctx: PrepareContext) -> list[SampleSplit]:
        params = self.resolve_params(params, ctx.raw_dir, ctx.download_dir or Path(ctx.root))
        self.modalities(params)  # checks cut and storage.dtype before any file is read
        subset = params["subset"]
        record: list[dict[str, Any]] = []
        test_x, test_y = self.read_pair("test_images", "test_labels", ctx, record)
        if subset == "full":
            train_x, train_y = self.read_pair("train_images", "train_labels", ctx, record)
            val_size = int(params["split"]["val_size"])
            if not 0 < val_size < len(train_x):
                raise ModalbenchError(
                    f"{self.name}: parameter split.val_size must be in 1..{len(train_x) - 1} (got {val_size})"
                )
            parts = {
                "train": (train_x[:-val_size], train_y[:-val_size]),
                "val": (train_x[-val_size:], train_y[-val_size:]),
                "test": (test_x, test_y),
            }
        else:
            to = params["split"]["test_only"]
            codes = stratified_split(test_y, tuple(to["ratios"]), int(to["seed"]))
            parts = {
                split: (test_x[codes == code], test_y[codes == code])
                for code, split in enumerate(("train", "val", "test"))
            }
        ctx.provenance.update({"subset": subset, "files": record})
        names = CUTS[params["cut"]]
        to_float = params["storage"]["dtype"] == "float32"
        out = []
        for split, (x, y) in parts.items():
            a, b = cut_halves(x.astype(np.float32) if to_float else x, params["cut"])
            out.append(
                SampleSplit(
                    split=split,
                    inputs={names[0]: np.ascontiguousarray(a), names[1]: np.ascontiguousarray(b)},
                    labels={self.task_name: y},
                )
            )
        return out


@register_dataset
class MnistHalves(IdxHalves):
    name = "mnist-halves"
    version = "v1"
    description = "MNIST handwritten digits as two 28x14 image halves (EmbraceNet bimodal MNIST); uint8 pixels"
    license = "CC BY-SA 3.0 (Y. LeCun, C. Cortes, C. J. C. Burges)"
    homepage = "http://yann.lecun.com/exdb/mnist/"
    citation = (
        "Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to document "
        "recognition. Proceedings of the IEEE 86(11):2278-2324, 1998."
    )
    #: md5 as published (torchvision.datasets.MNIST.resources)
    files = {
        "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    }
    #: canonical site, the S3 mirror torchvision uses, the Google Cloud mirror TensorFlow uses
    mirrors = (
        "http://yann.lecun.com/exdb/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )
    #: sha256 of the decompressed idx bytes (computed from decompressed copies whose class counts match MNIST)
    content_sha256 = {
        "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    }
