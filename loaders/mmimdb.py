"""``mmimdb``: MM-IMDB (Arevalo et al., "Gated Multimodal Units for Information Fusion", ICLR-W 2017), movie genres
from plots and posters: 25,959 movies, 23 genres, multi-label. Used by GMU and MFAS (Pérez-Rúa et al., CVPR 2019).

Source (``representation = features``, the default; the setting of GMU's, CentralNet's and MFAS's published numbers):
the authors' Fuel-format HDF5 ``multimodal_imdb.hdf5`` (primary host ``lisi1.unal.edu.co`` and an archive.org mirror;
neither publishes a checksum, so the sha256 of the first download is shown and stored: trust on first use). Its
root-level datasets, as written by the authors' ``make_dataset.py``:

* ``features`` N×300 float32: the mean word2vec vector of the plot's words  → modality ``text`` (kind ``vector``);
* ``vgg_features`` N×4096 float32: VGG-16 fc7 activations of the poster      → modality ``image`` (kind ``vector``);
* ``genres`` N×23 int32 multi-hot with the attribute ``target_names`` (a JSON list, the published order below);
* ``images`` N×3×256×160, ``sequences`` (variable-length int32), ``imdb_ids`` (S7), ``three_grams``,
  ``word_grams`` (not used by this representation);
* the root attribute ``split``: Fuel's split array (records ``split``, ``source``, ``start``, ``stop``, ``indices``,
  ``available``, ``comment``) with the published rows train 0–15,551, dev 15,552–18,159, test 18,160–25,958.

Protocol (every parameter is recorded in the store):

* split: the file's Fuel ``split`` attribute (``dev`` → ``val``); a file with the published 25,959 rows must have
  the published 15,552 / 2,608 / 7,799 rows, anything else is refused;
* labels: the 23 genres, multi-hot, in the published order (:data:`GENRES`; the file's ``target_names`` must match);
* standardisation with train-only statistics (``scaling.method = standard``), float32 store;
* missing data that is real: a row whose vector is all zeros or not finite (a plot without any word2vec word, a
  poster without features) is stored as NaN with ``available = False`` for that modality, never dropped; its
  statistics leave it out, and the counts per modality and split are in the store's ``source.provenance``
  (``modalbench info mmimdb --json``);
* task ``genre`` (multi-label) with ``primary_metric = f1_weighted`` (MFAS Table 3 ranks by weighted F1).

Reading: h5py, inside dask tasks, ``block_rows`` rows per task (each task opens the file, reads its rows and closes
it), so the 8 GB file is never read whole and the tasks run on any scheduler. Each feature block is read once per
pass and gives both its rows and their availability: the counts of unavailable rows are deferred provenance
(:attr:`~modalbench.datasets.PrepareContext.deferred_provenance`), computed in the same pass as the train
statistics, so the file is read twice in all (statistics and counts, then the write).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import dask
import dask.array as da
import numpy as np

from modalbench.datasets import DatasetBuilder, PrepareContext, TaskInfo, register_dataset
from modalbench.errors import ModalbenchError
from modalbench.meta import ModalitySpec
from modalbench.paths import local_raw_dir, resolve_root
from modalbench.preprocess.types import SampleSplit

from . import mmimdb_raw
from .download import RemoteFile, fetch_for

HDF5_NAME = "multimodal_imdb.hdf5"
ARCHIVE_NAME = "mmimdb.tar.gz"
HDF5_URLS = (
    "http://lisi1.unal.edu.co/mmimdb/multimodal_imdb.hdf5",
    "https://archive.org/download/mmimdb/multimodal_imdb.hdf5",
)
ARCHIVE_URLS = (
    "http://lisi1.unal.edu.co/mmimdb/mmimdb.tar.gz",
    "https://archive.org/download/mmimdb/mmimdb.tar.gz",
)
HOMEPAGE = "https://github.com/johnarevalo/gmu-mmimdb"

#: the 23 genres in the published order (most frequent first; ``genres.attrs["target_names"]`` of the HDF5)
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
#: the published split rows ``[start, stop)`` (Arevalo et al. 2017; MFAS uses the same)
PUBLISHED_SPLIT = {"train": (0, 15_552), "val": (15_552, 18_160), "test": (18_160, 25_959)}
PUBLISHED_ROWS = 25_959
#: modality -> HDF5 dataset of the ``features`` representation
FEATURE_SOURCES = {"text": "features", "image": "vgg_features"}
FEATURE_DIMS = {"text": 300, "image": 4096}
LABEL_SOURCE = "genres"
#: Fuel's split names -> ours
FUEL_SPLITS = {"train": "train", "dev": "val", "test": "test"}
SPLITS = ("train", "val", "test")
REPRESENTATIONS = ("features", "raw")
#: the store version of ``representation = raw`` (another dataset version: never ranked with ``features``)
RAW_VERSION = "raw-v1"
#: rows per read task (4096-d float32: 16 MB)
BLOCK_ROWS = 1024


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | np.bytes_) else str(value)


def fuel_split_rows(split_attr: Any, sources: tuple[str, ...], where: str) -> dict[str, tuple[int, int]]:
    """``{train|val|test: (start, stop)}`` from Fuel's ``split`` attribute, the same rows for every source in
    ``sources``; one-line errors name ``where`` and what is wrong."""
    try:
        records = [(_text(r["split"]), _text(r["source"]), int(r["start"]), int(r["stop"])) for r in split_attr]
        flags = [bool(r["available"]) for r in split_attr]
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise ModalbenchError(f"{where}: attribute 'split' is not a Fuel split array ({exc})") from None
    rows: dict[str, tuple[int, int]] = {}
    for (split, source, start, stop), ok in zip(records, flags, strict=True):
        if source not in sources or not ok:
            continue
        if split not in FUEL_SPLITS:
            raise ModalbenchError(f"{where}: split {split!r} is not one of {', '.join(FUEL_SPLITS)}")
        ours = FUEL_SPLITS[split]
        if ours in rows and rows[ours] != (start, stop):
            raise ModalbenchError(
                f"{where}: split {split!r} has rows {rows[ours]} for one source and {(start, stop)} for {source!r}"
            )
        rows[ours] = (start, stop)
    missing = [s for s in FUEL_SPLITS if FUEL_SPLITS[s] not in rows]
    if missing:
        raise ModalbenchError(f"{where}: the 'split' attribute has no {', '.join(missing)} rows for {sources}")
    order = [rows[s] for s in SPLITS]
    if order[0][0] != 0 or any(a[1] != b[0] for a, b in zip(order, order[1:])) or any(a >= b for a, b in order):
        raise ModalbenchError(f"{where}: split rows {dict(rows)} are not consecutive train, dev, test ranges from 0")
    return rows


def check_published(rows: dict[str, tuple[int, int]], n_rows: int, where: str) -> None:
    """A file with the published 25,959 rows must use the published split (15,552 / 2,608 / 7,799)."""
    if n_rows == PUBLISHED_ROWS and rows != PUBLISHED_SPLIT:
        raise ModalbenchError(f"{where}: split rows {rows} differ from the published ones {PUBLISHED_SPLIT}")


def missing_rows(block: np.ndarray) -> np.ndarray:
    """Rows that hold no data: all zeros, or any value not finite (``(n,)`` bool)."""
    block = np.asarray(block)
    return ~np.isfinite(block).all(axis=1) | ~block.any(axis=1)


def read_rows(path: str, source: str, start: int, stop: int) -> np.ndarray:
    """Rows ``[start, stop)`` of the HDF5 dataset ``source`` (opens and closes the file: safe in any dask worker)."""
    import h5py

    with h5py.File(path, "r") as fh:
        return np.asarray(fh[source][start:stop])


def read_feature_block(path: str, source: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[start, stop)`` of a feature dataset as float32 with the rows that hold no data set to NaN, and the
    ``(n,)`` bool mask of the rows that hold data (one read gives both)."""
    block = read_rows(path, source, start, stop).astype(np.float32, copy=False)
    gone = missing_rows(block)
    if gone.any():
        block = block.copy()
        block[gone] = np.nan
    return block, ~gone


def lazy_rows(
    path: Path, source: str, start: int, stop: int, width: tuple[int, ...], dtype: Any, block_rows: int
) -> da.Array:
    """Rows ``[start, stop)`` of ``source`` as a dask array of ``block_rows``-row chunks, each read by one task (the
    features go through :func:`lazy_features`, which also gives their availability)."""
    parts = []
    for lo in range(start, stop, block_rows):
        hi = min(stop, lo + block_rows)
        task = dask.delayed(read_rows, pure=True)(str(path), source, lo, hi)
        parts.append(da.from_delayed(task, shape=(hi - lo, *width), dtype=dtype))
    if not parts:
        return da.zeros((0, *width), dtype=dtype)
    return da.concatenate(parts, axis=0)


def lazy_features(
    path: Path, source: str, start: int, stop: int, width: int, block_rows: int
) -> tuple[da.Array, da.Array]:
    """Rows ``[start, stop)`` of the feature dataset ``source`` (``(n, width)`` float32, NaN where a row holds no
    data) and their availability (``(n,)`` bool), both cut from the same ``block_rows``-row read tasks: a pass that
    computes both reads each block once."""
    rows, present = [], []
    for lo in range(start, stop, block_rows):
        hi = min(stop, lo + block_rows)
        task = dask.delayed(read_feature_block, pure=True, nout=2)(str(path), source, lo, hi)
        rows.append(da.from_delayed(task[0], shape=(hi - lo, width), dtype=np.float32))
        present.append(da.from_delayed(task[1], shape=(hi - lo,), dtype=bool))
    if not rows:
        return da.zeros((0, width), dtype=np.float32), da.zeros((0,), dtype=bool)
    return da.concatenate(rows, axis=0), da.concatenate(present, axis=0)


def inspect_hdf5(path: Path) -> dict[str, Any]:
    """Shapes, genre names and split rows of a Fuel-layout ``multimodal_imdb.hdf5``; one-line errors name the file
    and the dataset or attribute that is not as expected."""
    import h5py

    where = str(path)
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise ModalbenchError(f"{where}: not a readable HDF5 file ({exc}); delete it and download it again") from None
    with fh:
        for name in (*FEATURE_SOURCES.values(), LABEL_SOURCE):
            if name not in fh:
                raise ModalbenchError(f"{where}: no dataset {name!r}; is this the Fuel-format {HDF5_NAME}?")
        n_rows = int(fh[LABEL_SOURCE].shape[0])
        for m, name in FEATURE_SOURCES.items():
            shape = tuple(fh[name].shape)
            if shape != (n_rows, FEATURE_DIMS[m]):
                raise ModalbenchError(
                    f"{where}: dataset {name!r} has shape {shape}, expected ({n_rows}, {FEATURE_DIMS[m]})"
                )
        if tuple(fh[LABEL_SOURCE].shape) != (n_rows, len(GENRES)):
            raise ModalbenchError(
                f"{where}: dataset 'genres' has shape {tuple(fh[LABEL_SOURCE].shape)}, expected ({n_rows}, {len(GENRES)})"
            )
        raw_names = fh[LABEL_SOURCE].attrs.get("target_names")
        if raw_names is None:
            raise ModalbenchError(f"{where}: dataset 'genres' has no attribute 'target_names'")
        try:
            names = tuple(json.loads(_text(raw_names)))
        except ValueError:
            raise ModalbenchError(f"{where}: genres.attrs['target_names'] is not a JSON list") from None
        if names != GENRES:
            raise ModalbenchError(f"{where}: genres.attrs['target_names'] = {list(names)}, expected {list(GENRES)}")
        if "split" not in fh.attrs:
            raise ModalbenchError(f"{where}: no root attribute 'split' (Fuel's split array)")
        rows = fuel_split_rows(fh.attrs["split"], (*FEATURE_SOURCES.values(), LABEL_SOURCE), where)
    if rows["test"][1] != n_rows:
        raise ModalbenchError(f"{where}: the split ends at row {rows['test'][1]} but the file has {n_rows} rows")
    check_published(rows, n_rows, where)
    return {"rows": n_rows, "split": rows}


@register_dataset
class MMIMDB(DatasetBuilder):
    name = "mmimdb"
    version = "v1"
    description = "MM-IMDB: 25,959 movies, plot (word2vec mean) and poster (VGG-16) features, 23 genres multi-label"
    license = "research use (IMDb data; see the authors' page)"
    homepage = HOMEPAGE
    citation = (
        "J. Arevalo, T. Solorio, M. Montes-y-Gómez, F. A. González. Gated Multimodal Units for Information Fusion. "
        "ICLR 2017 Workshop."
    )
    structure = "samples"
    #: rows per HDF5 read task (not a data parameter)
    block_rows = BLOCK_ROWS
    #: the authors' host first, then archive.org (class attributes so a test can point them at a local server)
    hdf5_urls: ClassVar[tuple[str, ...]] = HDF5_URLS
    archive_urls: ClassVar[tuple[str, ...]] = ARCHIVE_URLS
    fetch_options: ClassVar[dict[str, Any]] = {}

    #: threads decoding posters (``representation = raw``; not a data parameter)
    threads = 2
    #: uint8 poster statistics from histograms (the features representation has no uint8 modality)
    histogram_stats = True
    #: the raw representation's modalities, known once :meth:`load` has read the training plots
    _raw_specs: list[ModalitySpec] | None = None

    def default_params(self) -> dict[str, Any]:
        """``raw`` holds the parameters of ``representation = raw`` (dropped for ``features``; see
        :meth:`resolve_params`)."""
        return {
            "representation": "features",
            "scaling": {"method": "standard", "range": [0.0, 1.0], "clip": False},
            "raw": dict(mmimdb_raw.DEFAULT_PARAMS),
        }

    def resolve_params(self, params: dict[str, Any], raw_dir: Path | None, download_dir: Path) -> dict[str, Any]:
        """``features`` stores keep no ``raw`` parameters (their fingerprint is unchanged) and ``raw`` stores no
        ``scaling`` (uint8 posters and token ids are never scaled); setting the other one's is an error naming it."""
        _check_representation(params)
        if params.get("representation", "features") == "raw":
            if params.get("scaling") != self.default_params()["scaling"]:
                raise ModalbenchError(
                    "mmimdb: scaling applies to representation=features only (raw posters are stored as bytes and "
                    "read as x/255; token ids are never scaled)"
                )
            mmimdb_raw.check_params(params["raw"])
            return {k: v for k, v in params.items() if k != "scaling"}
        changed = sorted(k for k, v in params.get("raw", {}).items() if mmimdb_raw.DEFAULT_PARAMS.get(k) != v)
        if changed:
            raise ModalbenchError(
                f"mmimdb: raw.{changed[0]} applies to representation=raw only (add --set representation=raw)"
            )
        return {k: v for k, v in params.items() if k != "raw"}

    def versions(self) -> tuple[str, ...]:
        """``v1`` (``features``) first, then ``raw-v1`` (posters and plots from the archive)."""
        return (self.version, RAW_VERSION)

    def version_for(self, params: dict[str, Any]) -> str:
        """``raw-v1`` for ``representation = raw``, else ``v1``."""
        return RAW_VERSION if params.get("representation") == "raw" else self.version

    def description_for(self, params: dict[str, Any]) -> str:
        """The raw store holds posters and plot tokens, not the published features."""
        if params.get("representation") == "raw":
            return "MM-IMDB: 25,959 movies, plot token ids and letterboxed posters from mmimdb.tar.gz, 23 genres"
        return self.description

    def modalities(self, params: dict[str, Any]) -> list[ModalitySpec]:
        _check_representation(params)
        if params.get("representation") == "raw":
            if self._raw_specs is None:
                raise ModalbenchError(
                    "mmimdb: the raw representation's token length and vocabulary size are known once the archive "
                    "is read (prepare it: modalbench prepare mmimdb --set representation=raw)"
                )
            return list(self._raw_specs)
        return [ModalitySpec(m, "vector", (FEATURE_DIMS[m],)) for m in FEATURE_SOURCES]

    def tasks(self, params: dict[str, Any]) -> list[TaskInfo]:
        return [TaskInfo("genre", "multilabel", GENRES, primary_metric="f1_weighted")]

    def remote_files(self) -> list[RemoteFile]:
        """The Fuel HDF5 (``features``) and the raw archive, each from the authors' host then archive.org."""
        return [
            RemoteFile(HDF5_NAME, self.hdf5_urls, manual="download " + " or ".join(self.hdf5_urls)),
            RemoteFile(ARCHIVE_NAME, self.archive_urls, manual="download " + " or ".join(self.archive_urls)),
        ]

    def source_info(self) -> dict[str, Any]:
        info = super().source_info()
        info["urls"] = [*self.hdf5_urls, *self.archive_urls]
        note = "the hosts publish no checksum (trust on first use: the first download's sha256 is stored)"
        info["files"] = [{"name": f.name, "sha256": f.sha256, "note": note} for f in self.remote_files()]
        return info

    def download_directory(self, ctx: PrepareContext) -> Path:
        """Where downloads go (``<root>/mmimdb/raw`` for a local root)."""
        if ctx.download_dir is not None:
            return Path(ctx.download_dir)
        return local_raw_dir(resolve_root(ctx.root), self.name)

    def fetch_file(self, file: RemoteFile, ctx: PrepareContext) -> tuple[Path, dict[str, Any]]:
        """Fetch (or find under ``--raw``) one raw file; when that fails, one line naming both files, their URLs
        and where to put them."""
        dest = self.download_directory(ctx)
        try:
            res = fetch_for(ctx, file, dest, self.name, **self.fetch_options)
        except ModalbenchError as exc:
            lines = str(exc).splitlines()
            tried = [line.strip() for line in lines if line.startswith("  ")]  # "url: error" per source tried
            first = "; ".join(tried) if tried else lines[0]
            place = f"--raw directory {ctx.raw_dir}" if ctx.raw_dir is not None else f"{dest} (or pass --raw DIR)"
            hdf5, archive = self.remote_files()
            raise ModalbenchError(
                f"mmimdb needs {hdf5.name} (representation=features; {' or '.join(hdf5.urls)}) or {archive.name} "
                f"(representation=raw; {' or '.join(archive.urls)}): put {file.name} in {place} ({first})"
            ) from exc
        path = Path(res.path)
        return path, {
            "name": file.name,
            "size": path.stat().st_size,
            "sha256": res.sha256,
            "verification": res.verification,
        }

    def load(self, params: dict[str, Any], ctx: PrepareContext) -> list[SampleSplit]:
        _check_representation(params)
        if params.get("representation") == "raw":
            return self.load_raw(params, ctx)
        path, fetched = self.fetch_file(self.remote_files()[0], ctx)
        info = inspect_hdf5(path)
        n_rows = info["rows"]
        ctx.provenance.update(
            {"file": fetched, "rows": n_rows, "split_rows": {k: list(v) for k, v in info["split"].items()}}
        )
        unavailable: dict[str, dict[str, da.Array]] = {m: {} for m in FEATURE_SOURCES}
        out = []
        for split in SPLITS:
            lo, hi = info["split"][split]
            inputs, present = {}, {}
            for m, src in FEATURE_SOURCES.items():
                inputs[m], present[m] = lazy_features(path, src, lo, hi, FEATURE_DIMS[m], self.block_rows)
                unavailable[m][split] = (~present[m]).sum()
            labels = lazy_rows(path, LABEL_SOURCE, lo, hi, (len(GENRES),), np.int32, self.block_rows)
            out.append(
                SampleSplit(
                    split=split,
                    inputs=inputs,
                    labels={"genre": labels.astype(np.int8)},
                    available=da.stack([present[m] for m in FEATURE_SOURCES], axis=1),
                )
            )
        # counted in the statistics pass, from the blocks that pass reads anyway
        ctx.deferred_provenance["unavailable"] = unavailable
        return out

    def load_raw(self, params: dict[str, Any], ctx: PrepareContext) -> list[SampleSplit]:
        """``representation = raw``: posters and plots from ``mmimdb.tar.gz`` (see :mod:`.mmimdb_raw`)."""
        path, fetched = self.fetch_file(self.remote_files()[1], ctx)
        raw = params["raw"]
        size = raw["image_size"]
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v >= 1 for v in size)):
            raise ModalbenchError(f"mmimdb: raw.image_size must be [height, width] in pixels (got {size!r})")
        parsed = self.download_directory(ctx) / f"{path.name}.parsed" / f"posters-{size[0]}x{size[1]}"
        index = mmimdb_raw.scan_archive(
            path,
            parsed,
            key=mmimdb_raw.cache_key(fetched["sha256"], size),
            image_size=(size[0], size[1]),
            threads=self.threads,
        )
        splits, specs, provenance = mmimdb_raw.load_splits(index, parsed, raw, GENRES, path.name)
        self._raw_specs = specs
        ctx.provenance.update({"file": fetched, **provenance})
        return splits

    def library_versions(self) -> dict[str, str]:
        import h5py
        import PIL

        return {"h5py": h5py.__version__, "pillow": PIL.__version__}


def _check_representation(params: dict[str, Any]) -> None:
    rep = params.get("representation", "features")
    if rep not in REPRESENTATIONS:
        raise ModalbenchError(f"mmimdb: representation {rep!r} is not one of {', '.join(REPRESENTATIONS)}")
