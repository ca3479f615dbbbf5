"""avmnist: canonical archive placement, regeneration from MNIST + FSDD + ESC-50 (formats generated in the tests),
PCA energy, spectrogram geometry, SNR mixing, clear errors."""

from __future__ import annotations

import importlib.util
import tarfile
from pathlib import Path

import numpy as np
import pytest

from helpers import DATA_DIR
from helpers.mnist_fixture import MNIST_DIR, N_TEST, N_TRAIN, VAL_SIZE, fixture_checksums, raw_folder
from modalbench.errors import ModalbenchError
from modalbench.loaders.avmnist import log_spectrogram, mix, pca_basis, pca_reconstruct
from modalbench.loaders.idx import read_idx
from modalbench.loaders.mnist_halves import MnistHalves
from modalbench.preprocess.pipeline import prepare
from modalbench.store import open_store

_spec = importlib.util.spec_from_file_location("avmnist_fixture", DATA_DIR / "avmnist" / "make_fixture.py")
fx = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(fx)  # type: ignore[union-attr]

SPEC = {"n_fft": 222, "hop_length": 72, "floor": 1e-10}


# ---------------------------------------------------------------- canonical


def test_canonical_archive_splits_and_content(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    fx.write_canonical(raw, n_train=60, n_test=20)
    res = prepare("avmnist", root=tmp_path / "r", raw=raw, progress=False, overrides={"split.val_size": 10})
    a = res.attrs
    assert a["params"]["source"] == "canonical" and a["source"]["provenance"]["source"] == "canonical"
    assert a["n_samples"] == {"train": 50, "val": 10, "test": 20}
    ds = open_store("avmnist", root=tmp_path / "r")
    assert ds["image"].shape == (80, 1, 28, 28) and ds["audio"].shape == (80, 1, 112, 112)
    img = ds["image"].values[:, 0, 0, 0]
    # train rows 0..49 -> i/1000 min-max scaled with the train split: i / 49; val continues (50..59)/49
    np.testing.assert_allclose(img[:60], np.arange(60) / 49, rtol=1e-5)
    np.testing.assert_allclose(img[60:], np.arange(20) / 49, rtol=1e-5, atol=1e-6)
    aud = ds["audio"].values[:, 0, 5, 7]
    np.testing.assert_allclose(aud[:50], 1 - np.arange(50) / 49, rtol=1e-5, atol=1e-6)  # -i scaled: max -> 1
    assert ds["label"].values.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    # a second prepare with other parameters reads the extracted arrays (no second extraction needed)
    assert (tmp_path / "r" / "avmnist" / "raw" / "avmnist.npy" / "SOURCE").is_file()


def test_canonical_refuses_pickled_npy(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    fx.write_canonical(raw)
    folder = raw / "avmnist"
    with tarfile.open(raw / "avmnist.tar.gz") as tf:
        tf.extractall(raw, filter="data")
    (raw / "avmnist.tar.gz").unlink()
    np.save(folder / "test_labels.npy", np.array([{"x": 1}] * 20, dtype=object), allow_pickle=True)
    with pytest.raises(ModalbenchError, match="test_labels.npy: not a plain numeric .npy array") as ei:
        prepare("avmnist", root=tmp_path / "r", raw=raw, progress=False, overrides={"split.val_size": 10})
    assert "\n" not in str(ei.value)


def test_canonical_absent_says_where_to_put_it(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    with pytest.raises(ModalbenchError, match=r"put avmnist.tar.gz .* in .*raw and pass --raw"):
        prepare("avmnist", root=tmp_path / "r", raw=tmp_path / "raw", progress=False, overrides={"source": "canonical"})


def test_regenerate_without_sources_names_the_folder(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw_folder(raw / "mnist")
    with fixture_checksums(MnistHalves), pytest.raises(ModalbenchError, match=r"raw/fsdd/recordings/"):
        prepare("avmnist", root=tmp_path / "r", raw=raw, progress=False, overrides={"split.val_size": VAL_SIZE})


# ---------------------------------------------------------------- regenerate


@pytest.fixture(scope="module")
def regen_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("avmnist-raw")
    raw_folder(raw / "mnist")
    fx.write_fsdd(raw)
    fx.write_esc50(raw)
    return raw


def test_regenerated_store(tmp_path: Path, regen_raw: Path) -> None:
    with fixture_checksums(MnistHalves):
        res = prepare(
            "avmnist", root=tmp_path / "r", raw=regen_raw, progress=False, overrides={"split.val_size": VAL_SIZE}
        )
        again = prepare(
            "avmnist", root=tmp_path / "r2", raw=regen_raw, progress=False, overrides={"split.val_size": VAL_SIZE}
        )
    a = res.attrs
    assert a["params"]["source"] == "regenerate"
    assert a["n_samples"] == {"train": N_TRAIN - VAL_SIZE, "val": VAL_SIZE, "test": N_TEST}
    assert a["source"]["provenance"]["audio_files"] == {"fsdd": 120, "esc50": 5}
    assert a["fingerprint"] == again.attrs["fingerprint"]
    ds, ds2 = open_store("avmnist", root=tmp_path / "r"), open_store("avmnist", root=tmp_path / "r2")
    audio = ds["audio"].values
    assert audio.shape == (N_TRAIN + N_TEST, 1, 112, 112) and np.isfinite(audio).all()
    np.testing.assert_array_equal(audio, ds2["audio"].values)  # seeded pairing and noise
    # the spoken digit k is a 300 + 100 k Hz tone: the loudest frequency bin follows the label
    labels = ds["label"].values
    peak = audio[:, 0].mean(axis=2).argmax(axis=1)
    expected = np.round((300 + 100 * labels) / (8000 / 222)).astype(int)
    assert (np.abs(peak - expected) <= 1).mean() > 0.95
    # images: the PCA reconstruction (fitted on the train split) of the fixture digits, min-max scaled
    train = read_idx(MNIST_DIR / "train-images-idx3-ubyte.gz", ndim=3)
    mean, basis, kept = pca_basis(train[: N_TRAIN - VAL_SIZE], 0.25)
    assert a["source"]["provenance"]["pca"]["components"] == basis.shape[1]
    rec = pca_reconstruct(train[:5, None], mean, basis)
    st = a["normalisation"]["image"]
    np.testing.assert_allclose(ds["image"].values[:5], (rec - st["min"][0]) / (st["max"][0] - st["min"][0]), atol=1e-5)


def test_regenerate_without_noise(tmp_path: Path, regen_raw: Path) -> None:
    raw = tmp_path / "raw"
    raw_folder(raw / "mnist")
    fx.write_fsdd(raw, takes=2)
    with fixture_checksums(MnistHalves):
        res = prepare(
            "avmnist",
            root=tmp_path / "r",
            raw=raw,
            progress=False,
            overrides={"split.val_size": VAL_SIZE, "audio.noise": "none"},
        )
    assert res.attrs["source"]["provenance"]["audio_files"] == {"fsdd": 80, "esc50": 0}


def test_pca_keeps_the_fewest_components_reaching_the_energy() -> None:
    rng = np.random.Generator(np.random.PCG64(0))
    x = (rng.standard_normal((400, 64)) * np.linspace(10, 0.1, 64)).astype(np.float32)
    mean, basis, kept = pca_basis(x, 0.25)
    k = basis.shape[1]
    assert kept >= 0.25
    _, smaller, kept_less = pca_basis(x, kept - 1e-3)
    assert smaller.shape[1] == k  # same k just below the reached share
    assert pca_basis(x, 0.5)[1].shape[1] > k
    rec = pca_reconstruct(x, mean, basis)
    removed = ((x - rec) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    assert removed == pytest.approx(1 - kept, abs=0.02)


def test_log_spectrogram_geometry_and_peak() -> None:
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None]
    s = log_spectrogram(tone, SPEC)
    assert s.shape == (1, 1, 112, 112) and s.dtype == np.float32
    assert s[0, 0].mean(axis=1).argmax() == round(1000 / (8000 / 222))
    assert log_spectrogram(np.zeros((1, 8000), np.float32), SPEC).min() == pytest.approx(-100.0)


def test_mix_reaches_the_snr() -> None:
    rng = np.random.Generator(np.random.PCG64(1))
    speech = rng.standard_normal((3, 8000)).astype(np.float32)
    noise = rng.standard_normal((3, 8000)).astype(np.float32) * 3
    power = np.mean(speech.astype(np.float64) ** 2, axis=1)
    out = mix(speech, power, noise, 10.0)
    added = out - speech
    snr = 10 * np.log10(power / np.mean(added.astype(np.float64) ** 2, axis=1))
    np.testing.assert_allclose(snr, 10.0, atol=1e-3)
    np.testing.assert_array_equal(mix(speech, power, None, 10.0), speech)
