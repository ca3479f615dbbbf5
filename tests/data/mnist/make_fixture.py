"""Generate the tiny MNIST-format fixture (SYNTHETIC images, the real idx layout, gzip-compressed).

Run from the repository root: ``.venv/bin/python tests/data/mnist/make_fixture.py``. Writes the four files under
their canonical names (``train-images-idx3-ubyte.gz`` … ``t10k-labels-idx1-ubyte.gz``): 300 training and 100 test
28×28 uint8 images. The idx encoding is written here by hand (magic ``00 00 08 <ndim>``, big-endian uint32 sizes),
independently of modalbench's reader; gzip headers have mtime 0, so the bytes (and md5s) are reproducible.

Hand-made content the tests rely on:

* labels cycle ``0, 1, …, 9`` (training: 30 per class; test: 10 per class);
* image of class ``k``: a bright 4-pixel-wide vertical bar at columns ``2k .. 2k+3`` clipped to the image (so the
  left half alone shows classes 0–5 and the right half classes 6–9, and some classes straddle the cut), a
  horizontal bar at rows ``2k+4 .. 2k+7`` across the whole width (visible in both halves), plus seeded noise 0..40;
* pixel (0, 0) of training image ``i`` is ``i % 251`` (traceable order) and of test image ``i`` is ``250 - i % 251``.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 784
N_TRAIN, N_TEST = 300, 100


def idx(array: np.ndarray) -> bytes:
    """uint8 array -> idx bytes."""
    assert array.dtype == np.uint8
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def images_for(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = rng.integers(0, 41, size=(len(labels), 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        out[i, :, 2 * k: 2 * k + 4] = 255
        out[i, 2 * k + 4: 2 * k + 8, :] = 200
    return out


def write(name: str, array: np.ndarray) -> None:
    (HERE / name).write_bytes(gzip.compress(idx(array), compresslevel=9, mtime=0))


def main() -> None:
    rng = np.random.Generator(np.random.PCG64(SEED))
    train_y = (np.arange(N_TRAIN) % 10).astype(np.uint8)
    test_y = (np.arange(N_TEST) % 10).astype(np.uint8)
    train_x, test_x = images_for(train_y, rng), images_for(test_y, rng)
    train_x[:, 0, 0] = np.arange(N_TRAIN) % 251
    test_x[:, 0, 0] = 250 - np.arange(N_TEST) % 251
    write("train-images-idx3-ubyte.gz", train_x)
    write("train-labels-idx1-ubyte.gz", train_y)
    write("t10k-images-idx3-ubyte.gz", test_x)
    write("t10k-labels-idx1-ubyte.gz", test_y)


if __name__ == "__main__":
    main()
