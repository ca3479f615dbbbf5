"""avmnist: canonical archive placement, regeneration from MNIST + FSDD + ESC-50 (formats generated in the tests),
PCA energy, spectrogram geometry, SNR mixing, clear errors."""

from __future__ import annotations

import importlib.util
import tarfile
from pathlib import Path

import numpy as np
import pytest

from helpers import DATA_DIR
from helpers.httpserver import unused_url
from helpers.mnist_fixture import FILE_NAMES, MNIST_DIR, N_TEST, N_TRAIN, VAL_SIZE, fixture_checksums, raw_folder
from modalbench.errors import ModalbenchError
from modalbench.loaders.avmnist import (
    AVMnist,
    log_spectrogram,
    mix,
    pca_basis,
    pca_reconstruct,
    recordings_manifest_sha256,
)
from modalbench.loaders.download import RemoteFile
from modalbench.loaders.idx import read_idx
from modalbench.loaders.mnist_halves import MnistHalves
from modalbench.preprocess.pipeline import prepare
from modalbench.store import open_store

_spec = importlib.util.spec_from_file_location("avmnist_fixture", DATA_DIR / "avmnist" / "make_fixture.py")
fx = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(fx)  # type: ignore[union-attr]

SPEC = {"n_fft": 222, "hop_length": 72, "floor": 1e-10}
FAST = {"retries": 0, "backoff": 0.0, "timeout": 5.0}


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


def test_regenerate_without_sources_names_the_folder_and_the_archive(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw_folder(raw / "mnist")
    with fixture_checksums(MnistHalves), pytest.raises(ModalbenchError) as ei:
        prepare("avmnist", root=tmp_path / "r", raw=raw, progress=False, overrides={"split.val_size": VAL_SIZE})
    msg = str(ei.value)
    assert "\n" not in msg and "raw/fsdd/recordings/" in msg
    assert "raw/free-spoken-digit-dataset-1.0.9.tar.gz (tag v1.0.9" in msg and "omit --raw to download it" in msg
    fx.write_fsdd(raw)
    with fixture_checksums(MnistHalves), pytest.raises(ModalbenchError) as ei:
        prepare("avmnist", root=tmp_path / "r", raw=raw, progress=False, overrides={"split.val_size": VAL_SIZE})
    msg = str(ei.value)
    assert "\n" not in msg and "needs ESC-50: " in msg and "raw/ESC-50-master.zip" in msg


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


# ---------------------------------------------------------------- regenerate: release archives, download, versions


@pytest.fixture()
def served_sources(tmp_path: Path, http_server, monkeypatch) -> dict[str, Path]:
    """MNIST (fixture), the FSDD v1.0.9 release archive and ESC-50's repository archive (generated, in GitHub's
    layout) on the local server; every source's first URL is dead, so each file comes from its mirror."""
    made = tmp_path / "made"
    fsdd = fx.write_fsdd_release(made)
    esc50 = fx.write_esc50_archive(made)
    for name in FILE_NAMES:
        http_server.add_file(f"mnist/{name}", MNIST_DIR / name)
    http_server.add_file(f"fsdd/{fsdd.name}", fsdd)
    http_server.add_file(f"esc50/{esc50.name}", esc50)
    monkeypatch.setattr(MnistHalves, "mirrors", (unused_url("dead/"), http_server.url("mnist/")))
    monkeypatch.setattr(MnistHalves, "fetch_options", FAST)
    monkeypatch.setattr(AVMnist, "fetch_options", FAST)
    for attr, path, folder in (("fsdd_remote", fsdd, "fsdd"), ("esc50_remote", esc50, "esc50")):
        remote = RemoteFile(name=path.name, urls=(unused_url(path.name), http_server.url(f"{folder}/{path.name}")))
        monkeypatch.setattr(AVMnist, attr, remote)
    wavs = sorted((made / "staging-fsdd" / "fsdd" / "recordings").iterdir())
    monkeypatch.setattr(AVMnist, "fsdd_manifest_sha256", recordings_manifest_sha256(wavs))
    return {"fsdd": fsdd, "esc50": esc50, "placed": made / "staging-fsdd"}


def test_regenerate_downloads_the_fsdd_release_and_esc50_archive(
    tmp_path: Path, served_sources: dict[str, Path], http_server, regen_raw: Path
) -> None:
    root = tmp_path / "r"
    with fixture_checksums(MnistHalves):
        res = prepare("avmnist", root=root, progress=False, overrides={"split.val_size": VAL_SIZE})
    a = res.attrs
    assert a["params"]["source"] == "regenerate" and a["version"] == "v1-regen"
    assert res.path == root / "avmnist" / "v1-regen" / "store.zarr"
    assert a["n_samples"] == {"train": N_TRAIN - VAL_SIZE, "val": VAL_SIZE, "test": N_TEST}
    assert a["source"]["provenance"]["audio_files"] == {"fsdd": 120, "esc50": 5}
    fsdd = a["source"]["provenance"]["audio_sources"]["fsdd"]
    assert fsdd == {"n": 120, "files_sha256": AVMnist.fsdd_manifest_sha256}
    # every archive came from its mirror, once; the recordings were extracted once under the raw folder
    paths = [r.path for r in http_server.requests if r.status == 200]
    assert paths.count(f"fsdd/{served_sources['fsdd'].name}") == 1 and f"esc50/{served_sources['esc50'].name}" in paths
    assert len(list((root / "avmnist" / "raw" / "fsdd-v1.0.9" / "recordings").glob("*.wav"))) == 120
    assert (root / "avmnist" / "raw" / "esc50" / "meta" / "esc50.csv").is_file()
    # the same recordings placed as folders give the same store (provenance records content, not origin)
    with fixture_checksums(MnistHalves):
        placed = prepare(
            "avmnist", root=tmp_path / "p", raw=regen_raw, progress=False, overrides={"split.val_size": VAL_SIZE}
        )
    assert placed.attrs["fingerprint"] == a["fingerprint"]
    # the archives placed in --raw DIR are used in place (no download)
    raw = tmp_path / "raw"
    raw_folder(raw / "mnist")
    for key in ("fsdd", "esc50"):
        (raw / served_sources[key].name).write_bytes(served_sources[key].read_bytes())
    before = len(http_server.requests)
    with fixture_checksums(MnistHalves):
        again = prepare("avmnist", root=tmp_path / "q", raw=raw, progress=False, overrides={"split.val_size": VAL_SIZE})
    assert again.attrs["fingerprint"] == a["fingerprint"] and len(http_server.requests) == before


def test_fsdd_archive_with_other_recordings_is_one_line_naming_it(
    tmp_path: Path, served_sources: dict[str, Path], monkeypatch
) -> None:
    monkeypatch.setattr(AVMnist, "fsdd_manifest_sha256", "0" * 64)
    with fixture_checksums(MnistHalves), pytest.raises(ModalbenchError) as ei:
        prepare("avmnist", root=tmp_path / "r", progress=False, overrides={"split.val_size": VAL_SIZE})
    msg = str(ei.value)
    assert (
        "\n" not in msg
        and "free-spoken-digit-dataset-1.0.9.tar.gz: its 120 recordings are not those of FSDD v1.0.9" in msg
    )
    assert "expected " + "0" * 64 in msg
    with fixture_checksums(MnistHalves):
        res = prepare(
            "avmnist", root=tmp_path / "r", progress=False, verification="warn", overrides={"split.val_size": VAL_SIZE}
        )
    assert res.attrs["source"]["provenance"]["audio_sources"]["fsdd"]["n"] == 120


def test_canonical_and_regenerated_stores_are_separate_versions(tmp_path: Path, regen_raw: Path, capsys) -> None:
    import json

    from modalbench.app.cli import main
    from modalbench.store import store_version

    root = tmp_path / "r"
    with fixture_checksums(MnistHalves):
        regen = prepare("avmnist", root=root, raw=regen_raw, progress=False, overrides={"split.val_size": VAL_SIZE})
    assert store_version("avmnist", root) == "v1-regen"  # the only one prepared
    assert main(["info", "avmnist", "--root", str(root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["version"] == "v1-regen" and info["params"]["source"] == "regenerate"
    assert info["source"]["provenance"]["source"] == "regenerate"
    canonical_raw = tmp_path / "canonical"
    fx.write_canonical(canonical_raw)
    canon = prepare("avmnist", root=root, raw=canonical_raw, progress=False, overrides={"split.val_size": 10})
    assert canon.attrs["version"] == "v1" and canon.path == root / "avmnist" / "v1" / "store.zarr"
    assert canon.attrs["fingerprint"] != regen.attrs["fingerprint"]
    # both stay; with no version named nothing is picked silently, each is reached by NAME@VERSION
    with pytest.raises(ModalbenchError, match=r"2 versions are prepared .*\(avmnist@v1, avmnist@v1-regen\)"):
        store_version("avmnist", root)
    with pytest.raises(ModalbenchError, match="name the one to use"):
        open_store("avmnist", root=root)
    assert open_store("avmnist@v1", root=root).attrs["params"]["source"] == "canonical"
    assert open_store("avmnist", root=root, version="v1-regen").attrs["params"]["source"] == "regenerate"
    assert main(["info", "avmnist@v1-regen", "--root", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fingerprint"] == regen.attrs["fingerprint"]
    assert main(["info", "avmnist", "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--dataset avmnist@v1-regen" in err and "avmnist@v1," in err


def test_every_command_takes_name_at_version_and_refuses_to_guess(
    tmp_path: Path, regen_raw: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """train, evaluate, search, scenarios and verify on a root with both AV-MNIST versions: ``avmnist@v1-regen``
    reaches that store (and results record its version and fingerprint); plain ``avmnist`` is one line listing
    both versions, exit 2."""
    import json

    from modalbench.app.cli import main

    root = tmp_path / "r"
    with fixture_checksums(MnistHalves):
        regen = prepare("avmnist", root=root, raw=regen_raw, progress=False, overrides={"split.val_size": VAL_SIZE})
    fx.write_canonical(tmp_path / "canonical")
    prepare("avmnist", root=root, raw=tmp_path / "canonical", progress=False, overrides={"split.val_size": 10})
    r = ["--root", str(root)]
    ckpt, result = tmp_path / "ckpt", tmp_path / "result.json"
    train = ["train", "late", *r, "--epochs", "1", "--batch-size", "64", "--out", str(ckpt), "--quiet"]
    evaluate = ["evaluate", *r, "--checkpoint", str(ckpt), "--scenarios", "full", "--out", str(result), "--quiet"]
    ambiguous = [
        [*train, "--dataset", "avmnist"],
        [*evaluate, "--dataset", "avmnist"],
        ["search", "mfas", *r, "--dataset", "avmnist", "--budget", "small", "--log", str(tmp_path / "s.jsonl")],
        ["scenarios", "avmnist", *r],
        ["verify", "avmnist", *r],
    ]
    for argv in ambiguous:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "(avmnist@v1, avmnist@v1-regen)" in err, (argv, err)
    assert main(["scenarios", "avmnist@v1-regen", *r]) == 0
    assert main(["verify", "avmnist@v1-regen", *r]) == 0
    assert "avmnist@v1-regen: intact" in capsys.readouterr().out
    assert (root / "avmnist" / "v1-regen" / "scenarios").is_dir()
    assert not (root / "avmnist" / "v1" / "scenarios").exists()
    assert main([*train, "--dataset", "avmnist@v1-regen"]) == 0
    assert main([*evaluate, "--dataset", "avmnist@v1-regen"]) == 0
    doc = json.loads(result.read_text())
    assert doc["dataset"]["name"] == "avmnist" and doc["dataset"]["version"] == "v1-regen"
    assert doc["dataset"]["fingerprint"] == regen.attrs["fingerprint"]
    assert main([*evaluate, "--dataset", "avmnist@v1"]) == 0  # the same model scored on the other store ...
    other = json.loads(result.read_text())["dataset"]
    assert other["version"] == "v1" and other["fingerprint"] != regen.attrs["fingerprint"]  # ... says which one
