"""Dataset metadata shared by the store, the scenario engine and the baselines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MODALITY_KINDS = ("series", "image", "vector", "spectrogram", "text", "skeleton", "video")
TASK_TYPES = ("multiclass", "multilabel")
SPLITS = ("train", "val", "test")
SPLIT_CODES = {name: code for code, name in enumerate(SPLITS)}
#: dtypes a modality may be stored as; ``uint8`` modalities are stored unscaled and scaled by the reader; ``int32``
#: holds token ids (kind ``text``), stored as they are and returned by the reader as float32 ids (exact below 2**24)
STORAGE_DTYPES = ("float32", "uint8", "int32")
#: the reader's scale of a ``uint8`` modality (pixels 0..255 -> 0..1)
UINT8_READER_SCALE = 1.0 / 255.0
#: the reader's scale per non-float storage dtype (token ids are returned unchanged, as float32)
READER_SCALES = {"uint8": UINT8_READER_SCALE, "int32": 1.0}
#: token id of the padding (and of a token modality's fill) and of an out-of-vocabulary word
PAD_TOKEN_ID = 0
UNK_TOKEN_ID = 1


@dataclass(frozen=True)
class ModalitySpec:
    """One modality: its name, kind and per-sample shape (see docs/store-format.md for dims by kind)."""

    name: str
    kind: str
    shape: tuple[int, ...]
    channels: tuple[str, ...] = ()
    #: how the store keeps the values: ``float32`` (scaled by the pipeline) or ``uint8`` (raw bytes, scaled by the
    #: reader with ``attrs["reader_scale"][name]``; see docs/store-format.md)
    storage_dtype: str = "float32"
    #: token modalities (kind ``text``): the vocabulary size, ``<pad>`` and ``<unk>`` included (0: not tokens)
    vocab_size: int = 0

    def __post_init__(self) -> None:
        if self.kind not in MODALITY_KINDS:
            raise ValueError(f"modality {self.name!r}: kind {self.kind!r} not in {MODALITY_KINDS}")
        if self.storage_dtype not in STORAGE_DTYPES:
            raise ValueError(f"modality {self.name!r}: storage_dtype {self.storage_dtype!r} not in {STORAGE_DTYPES}")
        if self.storage_dtype == "int32" and (self.kind != "text" or self.vocab_size < 2):
            raise ValueError(f"modality {self.name!r}: int32 storage holds token ids (kind text, vocab_size >= 2)")

    @property
    def dims(self) -> tuple[str, ...]:
        """Store dimension names after ``sample``."""
        n = self.name
        return {
            "series": ("time", f"{n}_channel"),
            "image": (f"{n}_channel", f"{n}_height", f"{n}_width"),
            "vector": (f"{n}_feature",),
            "spectrogram": (f"{n}_channel", f"{n}_freq", f"{n}_frame"),
            "text": (f"{n}_token",),
            "skeleton": (f"{n}_time", f"{n}_body", f"{n}_joint", f"{n}_coord"),
            "video": (f"{n}_time", f"{n}_channel", f"{n}_height", f"{n}_width"),
        }[self.kind]

    @property
    def n_channels(self) -> int:
        """Channel count: last axis for series and skeleton (x, y, z), second for video, first for
        image/spectrogram, features for vector."""
        return self.shape[self.channel_axis]

    @property
    def channel_axis(self) -> int:
        """Axis of the channels within one sample (without the sample dim)."""
        if self.kind in ("series", "skeleton"):
            return len(self.shape) - 1
        return 1 if self.kind == "video" else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form; ``storage_dtype`` only when it is not the default (float32 stores keep their fingerprint)."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "dims": list(self.dims),
            "shape": list(self.shape),
            "channels": list(self.channels),
        }
        if self.storage_dtype != "float32":
            out["storage_dtype"] = self.storage_dtype
        if self.vocab_size:
            out["vocab_size"] = self.vocab_size
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModalitySpec:
        return cls(
            d["name"],
            d["kind"],
            tuple(int(s) for s in d["shape"]),
            tuple(d.get("channels", ())),
            d.get("storage_dtype", "float32"),
            int(d.get("vocab_size", 0)),
        )


@dataclass(frozen=True)
class DatasetMeta:
    """What a model needs to know about a dataset: modalities, classes, task type."""

    name: str
    modalities: tuple[ModalitySpec, ...]
    classes: tuple[str, ...]
    task_type: str = "multiclass"
    version: str = ""
    task: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def modality_names(self) -> list[str]:
        return [m.name for m in self.modalities]

    @property
    def n_modalities(self) -> int:
        return len(self.modalities)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def modality(self, name: str) -> ModalitySpec:
        for m in self.modalities:
            if m.name == name:
                return m
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "task": self.task,
            "task_type": self.task_type,
            "classes": list(self.classes),
            "modalities": [m.to_dict() for m in self.modalities],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetMeta:
        return cls(
            name=d["name"],
            version=d.get("version", ""),
            task=d.get("task", ""),
            task_type=d.get("task_type", "multiclass"),
            classes=tuple(d["classes"]),
            modalities=tuple(ModalitySpec.from_dict(m) for m in d["modalities"]),
        )

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any], task: str | None = None) -> DatasetMeta:
        """Build from a store's attributes, optionally for a non-default task."""
        task = task or attrs.get("task", "")
        tinfo = attrs.get("tasks", {}).get(task, {})
        return cls(
            name=attrs["dataset"],
            version=attrs.get("version", ""),
            task=task,
            task_type=tinfo.get("task_type", attrs.get("task_type", "multiclass")),
            classes=tuple(tinfo.get("classes", attrs["classes"])),
            modalities=tuple(ModalitySpec.from_dict(m) for m in attrs["modalities"]),
        )
