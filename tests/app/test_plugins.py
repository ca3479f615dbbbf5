"""A dataset and a method from outside the package, found through entry points or --plugin / MODALBENCH_PLUGINS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = '''
"""A tiny plug-in: the ``twoblobs`` dataset (two vector modalities, three classes) and the ``tinylinear`` method."""
import numpy as np
import torch
from torch import nn

from modalbench.baselines.base import FusionModel
from modalbench.baselines.registry import register_baseline
from modalbench.datasets import DatasetBuilder, TaskInfo, TrainingDefaults, register_dataset
from modalbench.meta import ModalitySpec
from modalbench.preprocess.types import SampleSplit


@register_dataset
class TwoBlobs(DatasetBuilder):
    name, version, structure = "twoblobs", "v1", "samples"
    description = "three Gaussian blobs seen through two noisy views"
    license = "CC0"
    synthetic = True

    def default_params(self):
        return {"seed": 0, "scaling": {"method": "standard"}}

    def modalities(self, params):
        return [ModalitySpec("a", "vector", (4,)), ModalitySpec("b", "vector", (3,))]

    def tasks(self, params):
        return [TaskInfo("blob", "multiclass", ("x", "y", "z"))]

    def training_defaults(self):
        return TrainingDefaults(epochs=3, lr=1e-2, batch_size=32, reason="tiny")

    def load(self, params, ctx):
        rng = np.random.Generator(np.random.PCG64(params["seed"]))
        out = []
        for split, n in (("train", 240), ("val", 90), ("test", 90)):
            y = rng.integers(0, 3, n)
            a = (rng.normal(size=(n, 4)) + 2.0 * y[:, None]).astype(np.float32)
            b = (rng.normal(size=(n, 3)) - 2.0 * y[:, None]).astype(np.float32)
            out.append(SampleSplit(split=split, inputs={"a": a, "b": b}, labels={"blob": y.astype(np.int64)}))
        return out


@register_baseline("tinylinear")
class TinyLinear(FusionModel):
    """One linear layer on the concatenated views (missing views zeroed)."""

    def __init__(self, meta, **hparams):
        super().__init__(meta, **hparams)
        self.lin = nn.Linear(7, meta.n_classes)

    def forward(self, inputs, available):
        a = inputs["a"].flatten(1) * available[:, :1]
        b = inputs["b"].flatten(1) * available[:, 1:2]
        return self.lin(torch.cat([a, b], 1))
'''


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MODALBENCH_PLUGINS")}
    return {**env, "MODALBENCH_HOME": str(tmp_path / "home"), **extra}


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modalbench", *args], env=env, cwd=cwd, capture_output=True, text=True)


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    """``site/mbplug.py`` plus an installed-looking ``mbplug-0.1.dist-info`` with its entry points."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "mbplug.py").write_text(PLUGIN)
    dist = site / "mbplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mbplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[modalbench.datasets]\nblobs = mbplug\n\n[modalbench.methods]\nblobs = mbplug\n"
    )
    return site


def _check_prepare_and_train(env: dict[str, str], cwd: Path, tmp_path: Path, *plugin: str) -> None:
    proc = _run(env, cwd, *plugin, "datasets", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["twoblobs"]["modalities"] == ["a", "b"] and "digits" in rows
    proc = _run(env, cwd, *plugin, "prepare", "twoblobs", "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "run"
    proc = _run(env, cwd, *plugin, "train", "tinylinear", "--dataset", "twoblobs", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "3 epochs, lr 0.01, batch size 32" in proc.stderr  # the plug-in dataset's own training defaults
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["name"] == "tinylinear" and cfg["dataset"]["name"] == "twoblobs"
    assert cfg["best_val_score"] > 0.6  # separable blobs, three classes (chance ~0.33): a real model, trained


def test_plugin_found_through_entry_points(plugin_dir: Path, tmp_path: Path) -> None:
    env = _env(tmp_path, PYTHONPATH=str(plugin_dir))
    _check_prepare_and_train(env, tmp_path, tmp_path)


def test_plugin_named_with_option_or_environment(plugin_dir: Path, tmp_path: Path) -> None:
    (plugin_dir / "mbplug-0.1.dist-info" / "entry_points.txt").unlink()  # no entry points: name the module
    work = tmp_path / "work"
    work.mkdir()
    (work / "mbplug.py").write_text(PLUGIN)  # a module in the current directory, no PYTHONPATH
    _check_prepare_and_train(_env(tmp_path), work, tmp_path, "--plugin", "mbplug")
    proc = _run(_env(tmp_path, MODALBENCH_PLUGINS="mbplug"), work, "datasets")
    assert proc.returncode == 0 and "twoblobs" in proc.stdout, proc.stderr[-2000:]
