"""MM-IMDB loader: the Fuel-layout HDF5 (layout, split attribute, genres, real missing data), download and --raw
prepare through the CLI, and one-line errors naming both files when nothing is at hand."""

from __future__ import annotations

import json
from pathlib import Path

import dask
import h5py
import numpy as np
import pytest

from helpers.httpserver import unused_url
from helpers.mmimdb_fixture import GENRES, SOURCES, split_array, write_fuel_hdf5
from modalbench.baselines import baseline_names
from modalbench.datasets import PrepareContext
from modalbench.errors import ModalbenchError
from modalbench.loaders import mmimdb as mm

SIZES = (20, 6, 8)
NO_PLOT = (3, 21)  # a train and a dev movie without a usable plot
NO_POSTER = (5,)


@pytest.fixture()
def raw(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    d = tmp_path / "raw"
    arrays = write_fuel_hdf5(d / mm.HDF5_NAME, SIZES, no_plot=NO_PLOT, no_poster=NO_POSTER)
    return d, arrays


def ctx_for(tmp_path: Path, raw_dir: Path | None) -> PrepareContext:
    return PrepareContext(root=str(tmp_path / "root"), raw_dir=raw_dir, progress=False)


def store_attrs(root: Path) -> dict:
    return json.loads((root / "mmimdb" / "v1" / "store.zarr" / "zarr.json").read_text())["attributes"]


# ---------------------------------------------------------------- the file


def test_fixture_has_the_fuel_layout(raw):
    d, _ = raw
    with h5py.File(d / mm.HDF5_NAME, "r") as f:
        assert set(f) == set(SOURCES)
        assert f["features"].dtype == np.float32 and f["vgg_features"].shape == (34, 4096)
        assert f["images"].shape == (34, 3, 256, 160) and f["images"].dtype == np.int32
        assert f["genres"].dtype == np.int32 and f["imdb_ids"].dtype == np.dtype("S7")
        assert h5py.check_vlen_dtype(f["sequences"].dtype) == np.dtype("int32")
        assert [d.label for d in f["images"].dims] == ["batch", "channel", "height", "width"]
        assert tuple(json.loads(f["genres"].attrs["target_names"])) == mm.GENRES == GENRES
        split = f.attrs["split"]
        assert split.dtype.names == ("split", "source", "start", "stop", "indices", "available", "comment")
        assert len(split) == 3 * len(SOURCES)


def test_fuel_split_rows_are_read_per_source_and_checked(raw):
    d, _ = raw
    with h5py.File(d / mm.HDF5_NAME, "r") as f:
        rows = mm.fuel_split_rows(f.attrs["split"], ("features", "genres"), "f.hdf5")
    assert rows == {"train": (0, 20), "val": (20, 26), "test": (26, 34)}
    sources = {"features": (0, 20), "genres": (0, 19)}
    bad = split_array({"train": sources, "dev": {"features": (20, 26), "genres": (20, 26)}, "test": sources})
    with pytest.raises(ModalbenchError, match=r"f\.hdf5: split 'train' has rows"):
        mm.fuel_split_rows(bad, ("features", "genres"), "f.hdf5")
    gap = split_array({"train": {"features": (0, 20)}, "dev": {"features": (21, 26)}, "test": {"features": (26, 34)}})
    with pytest.raises(ModalbenchError, match="not consecutive"):
        mm.fuel_split_rows(gap, ("features",), "f.hdf5")
    no_dev = split_array({"train": {"features": (0, 20)}, "test": {"features": (20, 34)}})
    with pytest.raises(ModalbenchError, match="no dev rows"):
        mm.fuel_split_rows(no_dev, ("features",), "f.hdf5")


def test_published_file_must_have_the_published_split():
    mm.check_published(dict(mm.PUBLISHED_SPLIT), mm.PUBLISHED_ROWS, "f")
    shifted = {"train": (0, 15_000), "val": (15_000, 18_160), "test": (18_160, 25_959)}
    with pytest.raises(ModalbenchError, match="differ from the published"):
        mm.check_published(shifted, mm.PUBLISHED_ROWS, "f")
    mm.check_published(shifted, 1000, "f")  # only the full file is held to the published rows
    assert mm.PUBLISHED_SPLIT["val"][1] - mm.PUBLISHED_SPLIT["val"][0] == 2_608
    assert mm.PUBLISHED_SPLIT["test"][1] - mm.PUBLISHED_SPLIT["test"][0] == 7_799


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda f: f["genres"].attrs.__setitem__("target_names", json.dumps(list(GENRES[::-1]))), "target_names"),
        (lambda f: f.attrs.__delitem__("split"), "no root attribute 'split'"),
        (lambda f: f.__delitem__("vgg_features"), "no dataset 'vgg_features'"),
    ],
)
def test_a_file_not_in_the_layout_is_a_one_line_error(raw, tmp_path, edit, pattern):
    d, _ = raw
    with h5py.File(d / mm.HDF5_NAME, "a") as f:
        edit(f)
    with pytest.raises(ModalbenchError, match=pattern) as ei:
        mm.MMIMDB().load(mm.MMIMDB().default_params(), ctx_for(tmp_path, d))
    assert "\n" not in str(ei.value) and mm.HDF5_NAME in str(ei.value)


def test_not_an_hdf5_file(tmp_path):
    d = tmp_path / "raw"
    d.mkdir()
    (d / mm.HDF5_NAME).write_bytes(b"<html>not found</html>")
    with pytest.raises(ModalbenchError, match="not a readable HDF5 file"):
        mm.MMIMDB().load(mm.MMIMDB().default_params(), ctx_for(tmp_path, d))


def test_load_reads_splits_labels_and_real_missing_data(raw, tmp_path):
    d, arrays = raw
    ctx = ctx_for(tmp_path, d)
    splits = mm.MMIMDB().load(mm.MMIMDB().default_params(), ctx)
    assert [s.split for s in splits] == ["train", "val", "test"] and [s.n for s in splits] == list(SIZES)
    train, val, _ = splits
    text = train.inputs["text"].compute()
    assert np.isnan(text[3]).all() and not np.isnan(np.delete(text, 3, axis=0)).any()
    np.testing.assert_array_equal(np.delete(text, 3, axis=0), np.delete(arrays["features"][:20], 3, axis=0))
    np.testing.assert_array_equal(val.inputs["image"].compute(), arrays["vgg_features"][20:26])
    np.testing.assert_array_equal(train.labels["genre"].compute(), arrays["genres"][:20])
    avail = np.asarray(train.available)
    assert avail.shape == (20, 2) and not avail[3, 0] and avail[3, 1] and not avail[5, 1] and avail.sum() == 38
    assert not np.asarray(val.available)[1, 0]  # row 21 of the file
    assert "unavailable" not in ctx.provenance  # counted by the pipeline's statistics pass, not by load()
    (counts,) = dask.compute(ctx.deferred_provenance["unavailable"])
    assert counts == {
        "text": {"train": 1, "val": 1, "test": 0},
        "image": {"train": 1, "val": 0, "test": 0},
    }
    prov = ctx.provenance
    assert prov["file"]["verification"] == "tofu" and len(prov["file"]["sha256"]) == 64
    assert prov["split_rows"] == {"train": [0, 20], "val": [20, 26], "test": [26, 34]}


def test_reads_happen_in_blocks_inside_tasks(raw, tmp_path, monkeypatch):
    d, _ = raw
    monkeypatch.setattr(mm.MMIMDB, "block_rows", 7)
    calls: list[tuple[str, int, int]] = []
    real = mm.read_rows

    def spy(path: str, source: str, start: int, stop: int) -> np.ndarray:
        calls.append((source, start, stop))
        return real(path, source, start, stop)

    monkeypatch.setattr(mm, "read_rows", spy)
    train = mm.MMIMDB().load(mm.MMIMDB().default_params(), ctx_for(tmp_path, d))[0]
    assert calls == []  # nothing read until computed
    assert train.inputs["image"].chunks[0] == (7, 7, 6)
    train.inputs["image"].compute()
    assert sorted(c for c in calls if c[0] == "vgg_features") == [
        ("vgg_features", 0, 7),
        ("vgg_features", 7, 14),
        ("vgg_features", 14, 20),
    ]


class ScanFirstMMIMDB(mm.MMIMDB):
    """The straightforward loader: availability scanned eagerly with h5py before anything else (a third read of the
    features); the store it gives is the reference the single-pass loader must reproduce byte for byte."""

    def load(self, params, ctx):
        splits = super().load(params, ctx)
        path = Path(ctx.raw_dir) / mm.HDF5_NAME
        with h5py.File(path, "r") as fh:
            gone = {m: mm.missing_rows(fh[src][...]) for m, src in mm.FEATURE_SOURCES.items()}
        ctx.deferred_provenance.clear()
        ctx.provenance["unavailable"] = {
            m: {s: int(g[lo:hi].sum()) for s, (lo, hi) in ctx.provenance["split_rows"].items()} for m, g in gone.items()
        }
        for sp in splits:
            lo, hi = ctx.provenance["split_rows"][sp.split]
            sp.available = np.stack([~gone[m][lo:hi] for m in mm.FEATURE_SOURCES], axis=1)
        return splits


def test_single_pass_store_is_byte_identical_to_the_scan_first_store(raw, tmp_path, monkeypatch):
    from modalbench.preprocess import pipeline
    from modalbench.preprocess.pipeline import prepare

    d, _ = raw
    monkeypatch.setattr(mm.MMIMDB, "block_rows", 7)
    new = prepare("mmimdb", root=tmp_path / "new", raw=d, progress=False)
    monkeypatch.setattr(pipeline, "get_dataset", lambda name: ScanFirstMMIMDB())
    old = prepare("mmimdb", root=tmp_path / "old", raw=d, progress=False)
    assert "rows" in old.attrs["source"]["provenance"]
    assert new.attrs["fingerprint"] == old.attrs["fingerprint"]
    assert new.attrs["source"]["provenance"]["unavailable"] == {
        "text": {"train": 1, "val": 1, "test": 0},
        "image": {"train": 1, "val": 0, "test": 0},
    }
    version = Path("mmimdb") / "v1"
    assert (tmp_path / "new" / version / "checksums.json").read_bytes() == (
        tmp_path / "old" / version / "checksums.json"
    ).read_bytes()


def test_prepare_reads_each_feature_row_twice(raw, tmp_path, monkeypatch):
    """Statistics and availability counts come from one pass, the write from a second: every row of
    ``vgg_features`` is read twice (not three times: no separate availability scan)."""
    from modalbench.preprocess.pipeline import prepare

    d, _ = raw
    monkeypatch.setattr(mm.MMIMDB, "block_rows", 7)
    read: list[int] = []
    real_getitem = h5py.Dataset.__getitem__

    def counting(self, key):
        out = real_getitem(self, key)
        if self.name == "/vgg_features":
            read.append(np.asarray(out).shape[0])
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting)
    res = prepare("mmimdb", root=tmp_path / "root", raw=d, progress=False)
    assert sum(read) == 2 * sum(SIZES)
    assert res.attrs["source"]["provenance"]["unavailable"]["image"] == {"train": 1, "val": 0, "test": 0}


def test_unknown_representation_is_an_error():
    with pytest.raises(ModalbenchError, match="representation 'pixels' is not one of"):
        mm.MMIMDB().modalities({"representation": "pixels"})


# ---------------------------------------------------------------- prepare through the command line


def test_prepare_with_raw_standardises_with_train_statistics(raw, tmp_path):
    import xarray as xr

    from modalbench.app.cli import main

    d, arrays = raw
    root = tmp_path / "root"
    assert main(["prepare", "mmimdb", "--quiet", "--root", str(root), "--raw", str(d)]) == 0
    attrs = store_attrs(root)
    assert attrs["task_type"] == "multilabel" and attrs["classes"] == list(GENRES)
    assert attrs["tasks"]["genre"]["primary_metric"] == "f1_weighted"
    assert attrs["n_samples"] == {"train": 20, "val": 6, "test": 8}
    assert attrs["source"]["provenance"]["unavailable"]["text"]["train"] == 1
    ds = xr.open_zarr(root / "mmimdb" / "v1" / "store.zarr", consolidated=False)
    assert ds["label"].shape == (34, 23) and ds["text"].shape == (34, 300)
    train_text = ds["text"].values[:20]
    kept = np.delete(np.arange(20), 3)
    np.testing.assert_allclose(train_text[kept].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train_text[kept].std(axis=0), 1.0, atol=1e-4)
    raw_mean = arrays["features"][:20][kept].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(attrs["normalisation"]["text"]["mean"], raw_mean, rtol=1e-5, atol=1e-7)
    assert np.isnan(train_text[3]).all()
    assert not ds["available"].values[3, 0] and ds["available"].values[3, 1]


def test_prepare_downloads_from_the_mirror_when_the_host_is_down(raw, tmp_path, http_server, monkeypatch):
    from modalbench.app.cli import main

    d, _ = raw
    live = http_server.add_file("download/mmimdb/multimodal_imdb.hdf5", d / mm.HDF5_NAME)
    monkeypatch.setattr(mm.MMIMDB, "hdf5_urls", (unused_url("mmimdb/multimodal_imdb.hdf5"), live))
    monkeypatch.setattr(mm.MMIMDB, "fetch_options", {"retries": 0, "backoff": 0.0, "timeout": 5.0})
    root = tmp_path / "root"
    assert main(["prepare", "mmimdb", "--quiet", "--root", str(root)]) == 0
    attrs = store_attrs(root)
    fetched = attrs["source"]["provenance"]["file"]
    assert (root / "mmimdb" / "raw" / mm.HDF5_NAME).is_file()
    assert fetched["verification"] == "tofu" and fetched["sha256"] == _sha256(d / mm.HDF5_NAME)
    assert fetched["size"] == (d / mm.HDF5_NAME).stat().st_size
    assert attrs["n_samples"]["test"] == 8


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_without_files_and_network_one_line_names_both_files(tmp_path, monkeypatch, capsys):
    from modalbench.app.cli import main

    monkeypatch.setattr(mm.MMIMDB, "hdf5_urls", (unused_url("a.hdf5"), unused_url("b.hdf5")))
    monkeypatch.setattr(mm.MMIMDB, "fetch_options", {"retries": 0, "backoff": 0.0, "timeout": 5.0})
    root = tmp_path / "root"
    assert main(["prepare", "mmimdb", "--quiet", "--root", str(root)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1  # the other stderr lines are fetch's notices as it moves from one source to the next
    err = err[0]
    for text in (mm.HDF5_NAME, mm.ARCHIVE_NAME, *mm.ARCHIVE_URLS, str(root / "mmimdb" / "raw"), "--raw DIR"):
        assert text in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["prepare", "mmimdb", "--quiet", "--root", str(root), "--raw", str(empty)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1
        and err.startswith("error:")
        and f"--raw directory {empty}" in err
        and mm.ARCHIVE_URLS[1] in err
    )


# ---------------------------------------------------------------- multi-label end to end on the fixture store


@pytest.fixture(scope="module")
def mmimdb_root(tmp_path_factory) -> Path:
    from modalbench.app.cli import main

    base = tmp_path_factory.mktemp("mmimdb")
    write_fuel_hdf5(base / "raw" / mm.HDF5_NAME, (40, 12, 16), no_plot=NO_PLOT, no_poster=NO_POSTER)
    root = base / "root"
    assert main(["prepare", "mmimdb", "--quiet", "--root", str(root), "--raw", str(base / "raw")]) == 0
    assert main(["scenarios", "mmimdb", "--root", str(root)]) == 0
    return root


@pytest.mark.parametrize("name", baseline_names())
def test_every_baseline_trains_one_epoch_with_balanced_bce(mmimdb_root: Path, name: str, tmp_path: Path) -> None:
    from modalbench.app.workflows import TrainSpec, run_training
    from modalbench.store import open_store

    res = run_training(
        TrainSpec(name, "mmimdb", root=str(mmimdb_root), epochs=1, batch_size=16, out=tmp_path / "ckpt", progress=False)
    )
    assert res.epochs_run == 1 and np.isfinite(res.train_losses[0]) and 0.0 <= res.best_score <= 1.0
    cfg = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    labels = open_store("mmimdb", root=mmimdb_root)["label"].values[:40]
    pos = labels.sum(axis=0)
    expected = np.where(pos > 0, (40 - pos) / np.maximum(pos, 1), 1.0)
    np.testing.assert_allclose(cfg["label_pos_weight"], expected, rtol=1e-5)
    assert cfg["label_pos_weight"][-1] == 1.0  # Film-Noir has no positives in the fixture


def test_train_gmu_evaluate_four_f1s_submit_and_leaderboard(mmimdb_root: Path, tmp_path: Path, capsys) -> None:
    import shutil

    from modalbench.app.cli import main
    from modalbench.app.workflows import EvalSpec, equivalent_command
    from modalbench.leaderboard.board import PACKAGE_DIR

    root = str(mmimdb_root)
    runs = tmp_path / "runs"
    train = ["train", "gmu", "--dataset", "mmimdb", "--root", root, "--epochs", "1", "--seeds", "0,1,2"]
    assert main([*train, "--out", str(runs)]) == 0
    results = tmp_path / "results.json"
    evaluate = ["evaluate", "--dataset", "mmimdb", "--root", root, "--checkpoint", str(runs), "--seeds", "0,1,2"]
    capsys.readouterr()
    assert main([*evaluate, "--out", str(results)]) == 0
    printed = capsys.readouterr().out
    assert all(f"{v} F1 %" in printed for v in ("micro", "macro", "weighted", "samples"))
    doc = json.loads(results.read_text())
    families = {s["id"].split("@")[0] for s in doc["scenarios"]}
    assert {"full", "missing-modalities", "random-missing"} <= families
    metrics = doc["scenarios"][0]["conditions"][0]["metrics"]
    assert set(metrics) == {"f1_micro", "f1_macro", "f1_weighted", "f1_samples"}
    assert all(len(v) == 3 and all(0.0 <= x <= 1.0 for x in v) for v in metrics.values())
    strict = tmp_path / "strict.json"
    assert main([*evaluate, "--threshold", "0.99", "--out", str(strict)]) == 0
    high = json.loads(strict.read_text())["scenarios"][0]["conditions"][0]["metrics"]
    assert high["f1_micro"] != metrics["f1_micro"]  # fewer labels predicted above 0.99
    spec = EvalSpec("mmimdb", checkpoint=runs, threshold=0.99)
    assert equivalent_command(spec).endswith("--threshold 0.99") and "threshold" not in equivalent_command(
        EvalSpec("mmimdb", checkpoint=runs)
    )

    board = tmp_path / "board"
    board.mkdir()
    shutil.copy(PACKAGE_DIR / "official.json", board / "official.json")
    assert main(["register-official", "mmimdb", "--root", root, "--leaderboard", str(board)]) == 0
    assert main(["submit", str(results), "--leaderboard", str(board)]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "--dataset", "mmimdb", "--leaderboard", str(board), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    reproduced = [r for r in rows if r["source"] == "reproduced"]
    reported = [r for r in rows if r["source"] == "reported"]
    assert reproduced and all(r["metric"] == "f1_weighted" and r["model"] == "gmu" for r in reproduced)
    # the paper's weighted_f1 rows show under our dataset and canonical metric name, the paper's own in reported_as
    gmu_paper = [r for r in reported if r["model"] == "gmu" and r["metric"] == "f1_weighted"]
    assert gmu_paper and gmu_paper[0]["mean"] == pytest.approx(0.6170) and gmu_paper[0]["dataset"] == "mmimdb"
    assert main(["leaderboard", "--dataset", "mmimdb", "--leaderboard", str(board)]) == 0
    text = capsys.readouterr().out
    assert "mfas-2019 Table 3" in text and "weighted F1" in text


def test_mfas_search_small_budget_then_train(mmimdb_root: Path, tmp_path: Path) -> None:
    from modalbench.app.cli import main

    root = str(mmimdb_root)
    log = tmp_path / "search.jsonl"
    search = ["search", "mfas", "--dataset", "mmimdb", "--root", root, "--budget", "small", "--batch-size", "16"]
    assert main([*search, "--log", str(log)]) == 0
    best = tmp_path / "search.best.json"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert best.is_file() and len(lines) >= 2
    train = ["train", "mfas", "--dataset", "mmimdb", "--root", root, "--arch", str(best), "--epochs", "1"]
    assert main([*train, "--out", str(tmp_path / "m"), "--quiet"]) == 0
    assert json.loads((tmp_path / "m" / "config.json").read_text())["dataset"]["name"] == "mmimdb"
