"""A tiny ``multimodal_imdb.hdf5`` in the exact Fuel layout of the authors' ``make_dataset.py`` (gmu-mmimdb).

Same root datasets, dtypes, dimension labels and attributes: ``features`` (N×300 float32), ``vgg_features``
(N×4096 float32), ``three_grams`` / ``word_grams`` (float32, narrow here), ``images`` (N×3×256×160 int32),
``sequences`` (variable-length int32), ``genres`` (N×23 int32, ``target_names`` a JSON list), ``imdb_ids`` (S7),
and the root attribute ``split``: Fuel's ``H5PYDataset.create_split_array`` record array (``split``, ``source``,
``start``, ``stop``, ``indices`` (object reference), ``available``, ``comment``) over every split × source.
"""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path

import h5py
import numpy as np

GENRES = (
    "Drama",
    "Comedy",
    "Romance",
    "Thriller",
    "Crime",
    "Action",
    "Adventure",
    "Horror",
    "Documentary",
    "Mystery",
    "Sci-Fi",
    "Fantasy",
    "Family",
    "Biography",
    "War",
    "History",
    "Music",
    "Animation",
    "Musical",
    "Western",
    "Sport",
    "Short",
    "Film-Noir",
)
SOURCES = ("features", "three_grams", "sequences", "images", "vgg_features", "imdb_ids", "word_grams", "genres")


def split_array(split_dict: dict[str, dict[str, tuple[int, int]]]) -> np.ndarray:
    """Fuel's split array (``H5PYDataset.create_split_array`` with ``(start, stop)`` tuples, no comments)."""
    sources = sorted({s for d in split_dict.values() for s in d})
    dtype = np.dtype(
        [
            ("split", "S", max(len(s) for s in split_dict)),
            ("source", "S", max(len(s) for s in sources)),
            ("start", np.int64),
            ("stop", np.int64),
            ("indices", h5py.special_dtype(ref=h5py.Reference)),
            ("available", np.bool_),
            ("comment", "S", 1),
        ]
    )
    arr = np.empty(len(split_dict) * len(sources), dtype=dtype)
    for i, (split, source) in enumerate(product(split_dict, sources)):
        start, stop = split_dict[split].get(source, (0, 0))
        arr[i] = (split.encode(), source.encode(), start, stop, h5py.Reference(), source in split_dict[split], b".")
    return arr


def write_fuel_hdf5(
    path: Path,
    sizes: tuple[int, int, int] = (20, 6, 8),
    *,
    seed: int = 0,
    no_plot: tuple[int, ...] = (),
    no_poster: tuple[int, ...] = (),
    target_names: tuple[str, ...] = GENRES,
    pixels: bool = True,
) -> dict[str, np.ndarray]:
    """Write the file; rows in ``no_plot`` get an all-zero ``features`` vector, ``no_poster`` all-zero
    ``vgg_features``; ``pixels=False`` leaves ``images`` unwritten (all chunks empty: fast for large files).
    Returns the arrays written (``features``, ``vgg_features``, ``genres``)."""
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    text = rng.normal(0.1, 0.2, size=(n, 300)).astype(np.float32)
    image = np.abs(rng.normal(0.0, 1.5, size=(n, 4096))).astype(np.float32)  # ReLU fc7 activations
    genres = (rng.random((n, len(GENRES))) < np.linspace(0.5, 0.05, len(GENRES))).astype(np.int32)
    genres[genres.sum(axis=1) == 0, 0] = 1  # every movie has a genre
    genres[:, -1] = 0  # Film-Noir: no positives in the fixture (a class without positives)
    text[list(no_plot)] = 0.0
    image[list(no_poster)] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        features = f.create_dataset("features", data=text, dtype="float32")
        vgg = f.create_dataset("vgg_features", data=image, dtype="float32")
        three = f.create_dataset("three_grams", data=rng.random((n, 16), dtype=np.float32), dtype="float32")
        words = f.create_dataset("word_grams", data=rng.random((n, 12), dtype=np.float32), dtype="float32")
        images = f.create_dataset(
            "images", (n, 3, 256, 160), dtype="int32", compression="gzip", chunks=(1, 3, 256, 160)
        )
        if pixels:
            images[:, :, :8, :8] = rng.integers(0, 256, size=(n, 3, 8, 8), dtype=np.int32)
        seqs = f.create_dataset("sequences", (n,), dtype=h5py.special_dtype(vlen=np.dtype("int32")))
        for i in range(n):
            seqs[i] = rng.integers(0, 50, size=int(rng.integers(1, 12)), dtype=np.int32)
        g = f.create_dataset("genres", data=genres, dtype="int32")
        ids = f.create_dataset("imdb_ids", (n,), dtype="S7")
        ids[...] = np.asarray([f"{1000000 + 37 * i:07d}" for i in range(n)], dtype="S7")
        g.attrs["target_names"] = json.dumps(list(target_names))
        for ds, labels in (
            (features, ("batch", "features")),
            (three, ("batch", "features")),
            (words, ("batch", "features")),
            (ids, ("batch",)),
            (g, ("batch", "classes")),
            (vgg, ("batch", "features")),
            (images, ("batch", "channel", "height", "width")),
        ):
            for k, label in enumerate(labels):
                ds.dims[k].label = label
        a, b = sizes[0], sizes[0] + sizes[1]
        ranges = {"train": (0, a), "dev": (a, b), "test": (b, n)}
        f.attrs["split"] = split_array({s: {src: r for src in SOURCES} for s, r in ranges.items()})
    return {"features": text, "vgg_features": image, "genres": genres}
