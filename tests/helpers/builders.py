"""Tiny in-test dataset builders (not registered)."""

from __future__ import annotations

import numpy as np

from modalbench.datasets import DatasetBuilder, TaskInfo
from modalbench.meta import ModalitySpec
from modalbench.preprocess.types import Recording


class OutlierSeries(DatasetBuilder):
    """One 2-channel series modality; val/test recordings contain huge outliers."""

    name = "outlier-series"
    structure = "windowed"

    def default_params(self):
        return {
            "window": {"length": 5, "step": {"train": 1, "val": 5, "test": 5}, "label_rule": "last"},
            "scaling": {"method": "minmax", "range": [-1.0, 1.0], "clip": True},
        }

    def modalities(self, params):
        return [ModalitySpec("s", "series", (5, 2), ("a", "b"))]

    def tasks(self, params):
        return [TaskInfo("t", "multiclass", ("x", "y"))]

    def load(self, params, ctx):
        rng = np.random.default_rng(0)
        recs = []
        for i, split in enumerate(["train", "train", "val", "test"]):
            x = rng.normal(size=(40, 2)).astype(np.float32)
            if split != "train":
                x[3] = 1e6
            x[7, 0] = np.nan
            recs.append(Recording(f"r{i}", split, {"s": x}, {"t": (np.arange(40) % 2).astype(np.int64)}))
        return recs
