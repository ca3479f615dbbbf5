"""The dataset registry and the interface every dataset loader implements.

Adding a dataset is one module in ``loaders/`` with a :class:`DatasetBuilder` subclass decorated
with ``@register_dataset``, plus one import line in ``loaders/__init__.py``; datasets outside the package
register through the ``modalbench.datasets`` entry-point group (:mod:`modalbench.plugins`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .meta import ModalitySpec
from .plugins import load_plugins
from .registry import Registry


@dataclass
class PrepareContext:
    """Where a prepare runs: the data root, raw files, download mirrors, checksum verification mode."""

    root: str
    raw_dir: Path | None = None  # --raw DIR: archives the user already has
    # the one local directory for downloaded archives and what loaders derive from them (paths.local_raw_dir:
    # <root>/<name>/raw, or ~/.cache/modalbench/<name>/raw under a remote root); None: loaders compute that
    download_dir: Path | None = None
    # --mirror URL: base URLs (or local directories) tried first, as <mirror>/<dataset>/<file name>
    mirrors: tuple[str, ...] = ()
    verification: str = "strict"  # strict | warn | off
    progress: bool = True
    provenance: dict[str, Any] = field(default_factory=dict)  # loaders record what they verified
    # provenance that needs the data: {key: nested dict/list of dask collections}, computed by the pipeline in the
    # same pass as the train statistics (so it shares their reads) and then merged into ``provenance``
    deferred_provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingDefaults:
    """Training settings that reach a sensible model on a dataset (used when ``--epochs/--lr/--batch-size`` are
    not given, printed by ``modalbench train`` and recorded in checkpoints and results)."""

    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 64
    reason: str = "EmbraceNet's set-up (Choi & Lee 2019, §6.2): Adam lr 1e-3, batch 64"

    def as_dict(self) -> dict[str, Any]:
        """``{"epochs", "lr", "batch_size"}``."""
        return {"epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size}


@dataclass(frozen=True)
class TaskInfo:
    name: str
    task_type: str  # multiclass | multilabel
    classes: tuple[str, ...]
    val_excluded: tuple[int, ...] = ()  # class indices left out of validation (model selection), e.g. a null class
    primary_metric: str | None = None  # the metric the dataset's papers rank by (e.g. "roc_auc"); None: the default


class DatasetBuilder:
    """Base class of a dataset: static description plus ``load`` that parses raw data lazily.

    ``structure`` is ``"windowed"`` (``load`` returns :class:`~modalbench.preprocess.types.Recording`
    objects that the pipeline scales and windows) or ``"samples"`` (``load`` returns one
    :class:`~modalbench.preprocess.types.SampleSplit` per split).
    """

    name: ClassVar[str]
    version: ClassVar[str] = "v1"
    description: ClassVar[str] = ""
    license: ClassVar[str] = ""
    homepage: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    structure: ClassVar[str] = "samples"
    synthetic: ClassVar[bool] = False
    #: compress the store's chunks (Blosc zstd + bitshuffle); a dataset of full-mantissa floats, which gain ~10 %
    #: from it at a large cost in write time, turns it off
    compress_store: ClassVar[bool] = True
    #: train statistics of uint8 modalities from per-channel 256-bin histograms (exact, one pass, no float64
    #: copy of the pixels); off by default, so the stores built before keep their statistics bit for bit
    histogram_stats: ClassVar[bool] = False

    def default_params(self) -> dict[str, Any]:
        """Every preprocessing parameter with its default (recorded in the store)."""
        return {}

    def modalities(self, params: dict[str, Any]) -> list[ModalitySpec]:
        raise NotImplementedError

    def tasks(self, params: dict[str, Any]) -> list[TaskInfo]:
        """Tasks; the first is the default (stored as ``label``)."""
        raise NotImplementedError

    def source_info(self) -> dict[str, Any]:
        """URLs, files and checksums (recorded in the store's ``source`` attribute)."""
        return {
            "urls": [self.homepage] if self.homepage else [],
            "files": [],
            "license": self.license,
            "citation": self.citation,
        }

    def versions(self) -> tuple[str, ...]:
        """Every version this builder writes, preferred first (a store is looked up in this order when no version
        is given); one unless the version depends on the parameters (:meth:`version_for`)."""
        return (self.version,)

    def description_for(self, params: dict[str, Any]) -> str:
        """The store's description for the resolved ``params`` (``description`` unless a parameter changes what
        the store holds)."""
        return self.description

    def version_for(self, params: dict[str, Any]) -> str:
        """The version a store prepared with the resolved ``params`` gets (its folder and leaderboard key
        ``name@version``); override with :meth:`versions` when two builds must never be ranked together."""
        return self.version

    def resolve_params(self, params: dict[str, Any], raw_dir: Path | None, download_dir: Path) -> dict[str, Any]:
        """Parameters whose value depends on the raw files at hand (e.g. ``subset=auto``), resolved before prepare
        compares them with an existing store's; the default returns ``params`` unchanged."""
        return params

    def load(self, params: dict[str, Any], ctx: PrepareContext) -> list[Any]:
        """Parse the raw data into Recordings or SampleSplits (lazy dask arrays where the data is large)."""
        raise NotImplementedError

    def training_defaults(self) -> TrainingDefaults:
        """Default training settings for this dataset (override when the generic ones do not reach a good model)."""
        return TrainingDefaults()

    def block_missing_lengths(self, params: dict[str, Any]) -> tuple[int, int] | None:
        """[L_min, L_max] of block-missing gaps in time steps, or None when there are no recordings."""
        return None


DATASETS: Registry[type[DatasetBuilder]] = Registry("dataset")


def register_dataset(cls: type[DatasetBuilder]) -> type[DatasetBuilder]:
    """Class decorator: register a dataset builder under its ``name``."""
    DATASETS.add(cls.name, cls)
    return cls


def get_dataset(name: str) -> DatasetBuilder:
    """An instance of the registered builder ``name`` (suggests close names when unknown); a prepared-dataset
    reference ``NAME@VERSION`` gives NAME's builder."""
    _load_builtin()
    return DATASETS.get(name.partition("@")[0])()


def dataset_names() -> list[str]:
    _load_builtin()
    return DATASETS.names()


def _load_builtin() -> None:
    load_plugins("modalbench.datasets")  # the built-in loaders are the "builtin" entry point
