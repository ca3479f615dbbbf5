"""Every registered baseline trains one epoch and is evaluated on the image and audio datasets (fixture stores):
``mnist-halves`` and ``fashion-halves`` (two 1×28×14 image halves) and ``avmnist`` (a 1×28×28 image and a 1×112×112
spectrogram), each with the encoder its modality kind picks."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import DATA_DIR
from helpers.mnist_fixture import N_TEST, VAL_SIZE, fixture_checksums, raw_folder
from modalbench.app.workflows import EvalSpec, TrainSpec, run_evaluation, run_training
from modalbench.baselines import baseline_names
from modalbench.baselines.encoders import ImageCNNEncoder, LeNetEncoder, make_encoders
from modalbench.data import open_reader
from modalbench.loaders.fashion_halves import FashionHalves
from modalbench.loaders.mnist_halves import MnistHalves
from modalbench.preprocess.pipeline import prepare

_spec = importlib.util.spec_from_file_location("avmnist_fixture", DATA_DIR / "avmnist" / "make_fixture.py")
fx = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(fx)  # type: ignore[union-attr]

DATASETS = ("mnist-halves", "fashion-halves", "avmnist")
SCENARIOS = ("missing-modalities",)  # its "both" condition is the full test set


@pytest.fixture(scope="module")
def image_audio_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One root with the three datasets prepared from generated raw files (300 + 100 MNIST-format images)."""
    root = tmp_path_factory.mktemp("image-audio-root")
    raw = raw_folder(tmp_path_factory.mktemp("idx"))
    small = {"split.val_size": VAL_SIZE}
    for cls in (MnistHalves, FashionHalves):
        with fixture_checksums(cls):
            prepare(cls.name, root=root, raw=raw, overrides=small, progress=False)
    av_raw = tmp_path_factory.mktemp("avmnist-raw")
    raw_folder(av_raw / "mnist")
    fx.write_fsdd(av_raw, takes=2)
    fx.write_esc50(av_raw)
    with fixture_checksums(MnistHalves):
        prepare("avmnist", root=root, raw=av_raw, overrides=small, progress=False)
    return root


@pytest.mark.parametrize("dataset", DATASETS)
def test_encoders_follow_the_modality_kind(image_audio_root: Path, dataset: str) -> None:
    meta = open_reader(image_audio_root, dataset, "train").meta
    encoders = make_encoders(meta, 32)
    kinds = {s.name: s.kind for s in meta.modalities}
    for spec, enc in zip(meta.modalities, encoders, strict=True):
        expected = LeNetEncoder if kinds[spec.name] == "spectrogram" else ImageCNNEncoder
        assert type(enc) is expected, (dataset, spec.name)
    if dataset == "avmnist":
        assert kinds == {"image": "image", "audio": "spectrogram"}
        lenet = encoders[1]
        convs = [m for m in lenet.modules() if isinstance(m, torch.nn.Conv2d)]
        assert [c.kernel_size for c in convs] == [(5, 5)] * 5
        assert [c.out_channels for c in convs] == [8, 16, 32, 64, 128]


@pytest.mark.parametrize("baseline", baseline_names())
@pytest.mark.parametrize("dataset", DATASETS)
def test_every_baseline_trains_and_evaluates(
    image_audio_root: Path, dataset: str, baseline: str, tmp_path: Path
) -> None:
    root = str(image_audio_root)
    res = run_training(
        TrainSpec(baseline, dataset, root=root, epochs=1, batch_size=64, out=tmp_path / "ckpt", progress=False)
    )
    assert res.epochs_run == 1 and np.isfinite(res.train_losses[0])
    doc = run_evaluation(EvalSpec(dataset, root=root, checkpoint=tmp_path / "ckpt", scenarios=SCENARIOS))
    assert doc["dataset"]["name"] == dataset
    scores = {s["id"]: s for s in doc["scenarios"]}
    assert set(scores) == {"missing-modalities@v2"}
    conditions = scores["missing-modalities@v2"]["conditions"]
    assert len(conditions) == 3  # both, first only, second only
    for cond in conditions:
        assert cond["n_scored"] == N_TEST
        f1 = cond["metrics"]["f1_weighted"]
        assert len(f1) == 1 and 0.0 <= f1[0] <= 1.0
