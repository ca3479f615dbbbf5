"""The tiny MNIST-format fixture (tests/data/mnist, SYNTHETIC images): raw folders and md5s for loader tests."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from . import DATA_DIR

MNIST_DIR = DATA_DIR / "mnist"
FILE_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
#: the fixture's split sizes with ``split.val_size = VAL_SIZE``
VAL_SIZE = 50
N_TRAIN, N_TEST = 300, 100


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def raw_folder(dest: Path, names: Iterable[str] = FILE_NAMES) -> Path:
    """``dest`` holding copies of the named fixture files (a ``--raw`` folder)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(MNIST_DIR / name, dest / name)
    return dest


@contextmanager
def fixture_checksums(builder_cls: type) -> Iterator[None]:
    """``builder_cls.files`` with the fixture's md5s (the published ones belong to the real files)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            builder_cls, "files", {k: (name, md5_of(MNIST_DIR / name)) for k, (name, _) in builder_cls.files.items()}
        )
        mp.setattr(builder_cls, "content_sha256", {})
        yield
