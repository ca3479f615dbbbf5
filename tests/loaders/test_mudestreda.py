"""Mudestreda (Zenodo 8238653) loader: real excerpt, Zenodo listing download, label CSVs, splits, prepare,
Minape training and a submission to a private leaderboard copy."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import DATA_DIR
from helpers.httpserver import unused_url
from modalbench.datasets import PrepareContext
from modalbench.errors import ModalbenchError
from modalbench.loaders import mudestreda as mu

FIXTURE = DATA_DIR / "mudestreda" / "Mudestreda.zip"
FAST = {"retries": 0, "backoff": 0.0, "timeout": 5.0}
SIZES = {"tool": [8, 24], "spec": [8, 8]}

_spec = importlib.util.spec_from_file_location("mudestreda_fixture", DATA_DIR / "mudestreda" / "make_fixture.py")
fx = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(fx)  # type: ignore[union-attr]


def listing_for(url: str, data: bytes, name: str = "Mudestreda.zip", md5: str | None = None) -> dict:
    """A Zenodo-style record listing (InvenioRDM API) with one archive and one non-archive file."""
    return {
        "id": mu.RECORD_ID,
        "files": [
            {
                "key": name,
                "size": len(data),
                "checksum": f"md5:{md5 or hashlib.md5(data).hexdigest()}",
                "links": {"self": url},
            },
            {"key": "README.md", "size": 3, "checksum": "md5:" + "0" * 32, "links": {"self": url + ".md"}},
        ],
    }


def params(**over) -> dict:
    p = mu.Mudestreda().default_params()
    p["image_size"] = dict(SIZES)
    p.update(over)
    return p


def ctx_for(tmp_path: Path, raw: Path | None, verification: str = "strict") -> PrepareContext:
    return PrepareContext(root=str(tmp_path / "root"), raw_dir=raw, verification=verification, progress=False)


@pytest.fixture()
def served(http_server, monkeypatch):
    """The fixture archive and its Zenodo listing on the local server; the builder pointed at it."""
    data = FIXTURE.read_bytes()
    url = http_server.add_file("files/Mudestreda.zip", data)
    http_server.add_file("api/records/8238653", json.dumps(listing_for(url, data)).encode())
    monkeypatch.setattr(mu.Mudestreda, "listing_url", http_server.url("api/records/8238653"))
    monkeypatch.setattr(mu.Mudestreda, "fetch_options", FAST)
    return http_server


# ---------------------------------------------------------------- real excerpt


def test_real_labels_and_images(shared_dir, tmp_path):
    base = shared_dir / "formats" / "mudestreda"
    for dist in ("labels_original_random", "labels_original_tool"):
        labels = {}
        for split in ("train", "val", "test"):
            labels.update(mu.parse_label_csv((base / dist / f"{split}.csv").read_text(), where=f"{dist}/{split}.csv"))
        assert labels["T3R1B1"] == 0 and labels["T1R6B3"] == 1 and labels["T2R14B3"] == 2 and len(labels) == 9
    from PIL import Image

    with Image.open(base / "specX" / "T3R1B1.png") as img:
        assert img.mode == "RGBA" and img.size == (495, 368)
        assert np.asarray(img)[..., 3].min() == 255  # opaque: dropping alpha loses nothing
    with Image.open(base / "tool" / "T3R1B1.jpg") as img:
        assert img.size == (1550, 500)
    spec = mu.decode_image((base / "specX" / "T3R1B1.png").read_bytes(), (128, 128), where="specX/T3R1B1.png")
    tool = mu.decode_image((base / "tool" / "T3R1B1.jpg").read_bytes(), (128, 384), where="tool/T3R1B1.jpg")
    assert spec.shape == (3, 128, 128) and tool.shape == (3, 128, 384) and spec.dtype == tool.dtype == np.uint8
    assert tool.std() > 2.0 and spec.max() > spec.min()
    # the nine-sample demo subset in the record's layout: only T3R1B1 has images, the other labels are skipped
    archive = tmp_path / "raw" / "demo.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for folder in ("specX", "specY", "specZ"):
            zf.write(base / folder / "T3R1B1.png", f"Data/dataset_original/{folder}/T3R1B1.png")
        zf.write(base / "tool" / "T3R1B1.jpg", "Data/dataset_original/tool/T3R1B1.jpg")
        for split in ("train", "val", "test"):
            zf.write(
                base / "labels_original_tool" / f"{split}.csv", f"Data/labels_original/tool_distribution/{split}.csv"
            )
    images, labels = mu.Mudestreda().scan([archive])
    assert set(images) == {"T3R1B1"} and set(images["T3R1B1"]) == set(mu.MODALITIES) and len(labels) == 9


# ---------------------------------------------------------------- listing, labels, splits


def test_listing_files_takes_archives_with_md5_and_size():
    files = mu.listing_files(listing_for("http://x/a.zip", b"abc", md5="a" * 32))
    assert len(files) == 1
    f = files[0]
    assert (f.name, f.md5, f.size, f.urls) == ("Mudestreda.zip", "a" * 32, 3, ("http://x/a.zip",))
    fallback = mu.listing_files({"files": [{"key": "d.tar.gz", "size": 5, "checksum": "md5:" + "b" * 32}]})
    assert fallback[0].urls == (f"{mu.RECORD_URL}/files/d.tar.gz?download=1",)
    with pytest.raises(ModalbenchError, match="lists no archive"):
        mu.listing_files({"files": [{"key": "README.md"}]})
    with pytest.raises(ModalbenchError, match="'files' must be a list"):
        mu.listing_files({"hits": []})


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("id,label\nT1R1B1,sharp\n", "line 1: header must be id,image_label,tool_label"),
        ("id,image_label,tool_label\nT1R1B1,sharp,1\nT1R2B1,blunt,3\n", "line 3 field image_label: 'blunt'"),
        ("id,image_label,tool_label\nT1R1B1,used,3\n", "line 2 field tool_label: '3' does not match"),
        ("id,image_label,tool_label\nX1,used,2\n", "line 2 field id: 'X1'"),
        ("id,image_label,tool_label\nT1R1B1,used\n", "line 2: 2 fields, expected 3"),
    ],
)
def test_label_csv_errors_name_the_line(text, pattern):
    with pytest.raises(ModalbenchError, match=pattern):
        mu.parse_label_csv(text, where="labels.csv")


def test_random_split_is_ten_stratified_folds_per_repeat():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    tests = np.zeros(len(y), dtype=int)
    for k in range(10):
        codes = mu.random_split_codes(y, fold=k, repeat=0, seed=0)
        assert (codes == 2).sum() == 10 and (codes == 1).sum() == 10 and (codes == 0).sum() == 80
        assert np.bincount(y[codes == 2], minlength=3).tolist() == [5, 3, 2]  # stratified
        nxt = mu.random_split_codes(y, fold=(k + 1) % 10, repeat=0, seed=0)
        np.testing.assert_array_equal(codes == 1, nxt == 2)  # validation = the next fold
        tests += codes == 2
    assert (tests == 1).all()  # each sample is tested exactly once per repeat
    np.testing.assert_array_equal(
        mu.random_split_codes(y, fold=3, repeat=2, seed=0), mu.random_split_codes(y, fold=3, repeat=2, seed=0)
    )
    assert not np.array_equal(
        mu.random_split_codes(y, fold=3, repeat=1, seed=0), mu.random_split_codes(y, fold=3, repeat=2, seed=0)
    )
    with pytest.raises(ModalbenchError, match="fold must be in 0..9"):
        mu.random_split_codes(y, fold=10, repeat=0, seed=0)
    with pytest.raises(ModalbenchError, match="repeat must be in 0..4"):
        mu.random_split_codes(y, fold=0, repeat=5, seed=0)


def test_tool_split_keeps_tools_whole():
    ids = [i for i, _ in fx.sample_ids()]
    codes = mu.tool_split_codes(ids, {"train": [1, 2, 3, 4, 5, 6, 7, 8], "val": [9], "test": [10]})
    assert {mu.tool_of(i) for i, c in zip(ids, codes) if c == 2} == {10}
    assert {mu.tool_of(i) for i, c in zip(ids, codes) if c == 1} == {9}
    with pytest.raises(ModalbenchError, match="tool 9 is listed in two splits"):
        mu.tool_split_codes(ids, {"train": [9], "val": [9]})


# ---------------------------------------------------------------- download and load


def test_download_from_the_zenodo_listing(tmp_path, served):
    splits = mu.Mudestreda().load(params(), ctx := ctx_for(tmp_path, None))
    assert [s.n for s in splits] == [24, 3, 3]
    test = splits[2]
    assert test.labels["wear"].tolist() == [0, 1, 2]
    tool = test.inputs["tool"].compute()
    assert tool.shape == (3, 3, 8, 24) and tool.dtype == np.uint8 and tool.max() > tool.min()
    assert test.inputs["spec_x"].shape == (3, 3, 8, 8) and test.available.all()
    # the class shifts the red channel in the fixture: sharp < used < dulled
    red = tool[:, 0].mean(axis=(1, 2))
    assert red[0] < red[1] < red[2]
    files = ctx.provenance["archives"]["files"]
    assert files[0]["verification"] == "verified-md5"
    assert files[0]["md5"] == hashlib.md5(FIXTURE.read_bytes()).hexdigest()


def test_md5_mismatch_is_an_error_in_strict_mode(tmp_path, http_server, monkeypatch):
    data = FIXTURE.read_bytes()
    url = http_server.add_file("files/Mudestreda.zip", data)
    http_server.add_file("api/records/8238653", json.dumps(listing_for(url, data, md5="c" * 32)).encode())
    monkeypatch.setattr(mu.Mudestreda, "listing_url", http_server.url("api/records/8238653"))
    monkeypatch.setattr(mu.Mudestreda, "fetch_options", FAST)
    with pytest.raises(ModalbenchError, match="md5 expected c{32}"):
        mu.Mudestreda().load(params(), ctx_for(tmp_path, None))


def test_raw_dir_with_and_without_the_listing(tmp_path, served, monkeypatch):
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(FIXTURE, raw / "Mudestreda.zip")
    ctx = ctx_for(tmp_path, raw)
    assert [s.n for s in mu.Mudestreda().load(params(), ctx)] == [24, 3, 3]
    assert ctx.provenance["archives"]["files"][0]["verification"] == "verified-md5"
    assert not (tmp_path / "root" / "mudestreda" / "raw" / "Mudestreda.zip").exists()  # used in place
    monkeypatch.setattr(mu.Mudestreda, "listing_url", unused_url("api/records/8238653"))
    offline = ctx_for(tmp_path / "offline", raw)
    assert [s.n for s in mu.Mudestreda().load(params(), offline)] == [24, 3, 3]
    assert "unavailable" in offline.provenance["archives"]["listing"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModalbenchError, match="no archive of https://zenodo.org/records/8238653"):
        mu.Mudestreda().load(params(), ctx_for(tmp_path / "offline2", empty))


def test_missing_image_leaves_the_modality_unavailable(tmp_path, served):
    raw = tmp_path / "raw"
    raw.mkdir()
    with zipfile.ZipFile(FIXTURE) as src, zipfile.ZipFile(raw / "Mudestreda.zip", "w") as dst:
        for info in src.infolist():
            if info.filename != "Mudestreda/specY/T10R5B2.png":
                dst.writestr(info, src.read(info))
    ctx = ctx_for(tmp_path, raw, verification="off")
    test = mu.Mudestreda().load(params(), ctx)[2]
    assert test.available.tolist() == [[True] * 4, [True, True, False, True], [True] * 4]
    assert (test.inputs["spec_y"].compute()[1] == 0).all()
    assert ctx.provenance["samples"]["incomplete"] == {"T10R5B2": ["spec_y"]}


def test_unknown_split_and_unreadable_image(tmp_path, served):
    with pytest.raises(ModalbenchError, match="split 'leaky' is not supported"):
        mu.Mudestreda().load(params(split="leaky"), ctx_for(tmp_path, None))
    with pytest.raises(ModalbenchError, match="prepare `mudestreda-random` for the random split"):
        mu.Mudestreda().load(params(split="random"), ctx_for(tmp_path, None))
    random = mu.MudestredaRandom()
    p = {**random.default_params(), "image_size": SIZES, "fold": 2, "repeat": 1}
    splits = random.load(p, ctx_for(tmp_path, None))
    assert [s.n for s in splits] == [24, 3, 3]
    labels = np.array([c for _, c in fx.sample_ids()])
    codes = mu.random_split_codes(labels, fold=2, repeat=1, seed=0)
    assert sorted(splits[2].labels["wear"].tolist()) == sorted(labels[codes == 2].tolist())
    with pytest.raises(ModalbenchError, match=r"T1R1B1\.jpg: not a readable image"):
        mu.decode_image(b"not an image", (8, 8), where="Mudestreda/tool/T1R1B1.jpg")


# ---------------------------------------------------------------- end to end


def test_prepare_train_minape_evaluate_and_submit(tmp_path, served):
    from modalbench.app.cli import main

    root = str(tmp_path / "root")
    sizes = ["--set", "image_size.tool=[8,24]", "--set", "image_size.spec=[8,8]"]
    assert main(["prepare", "mudestreda", "--quiet", "--root", root, *sizes]) == 0
    random_cli = ["prepare", "mudestreda-random", "--quiet", "--root", root, *sizes, "--set", "fold=3"]
    assert main([*random_cli, "--set", "repeat=2"]) == 0
    tool_attrs = json.loads((Path(root) / "mudestreda" / "tool-v2" / "store.zarr" / "zarr.json").read_text())
    random_attrs = json.loads((Path(root) / "mudestreda-random" / "random-v2" / "store.zarr" / "zarr.json").read_text())
    tool_attrs, random_attrs = tool_attrs["attributes"], random_attrs["attributes"]
    assert (tool_attrs["version"], random_attrs["version"]) == ("tool-v2", "random-v2")
    assert tool_attrs["params"]["split"] == "tool" and (
        random_attrs["params"]["fold"],
        random_attrs["params"]["repeat"],
    ) == (3, 2)
    assert tool_attrs["fingerprint"] != random_attrs["fingerprint"]
    assert tool_attrs["n_samples"] == {"train": 24, "val": 3, "test": 3}
    # one byte a pixel in the store; the reader scales to [0, 1] with the recorded reader_scale
    import zarr

    from modalbench.store import open_store

    assert tool_attrs["reader_scale"] == {m: pytest.approx(1 / 255) for m in ("tool", "spec_x", "spec_y", "spec_z")}
    assert all(m["storage_dtype"] == "uint8" for m in tool_attrs["modalities"])
    group = zarr.open_group(str(Path(root) / "mudestreda" / "tool-v2" / "store.zarr"), mode="r")
    stored = group["tool"][:]
    assert stored.dtype == np.uint8 and stored.max() > 1
    scaled = open_store("mudestreda", root=root)["tool"].values
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, stored.astype(np.float32) / 255.0, rtol=1e-6)
    assert random_attrs["n_samples"] == {"train": 24, "val": 3, "test": 3}

    assert main(["scenarios", "mudestreda", "--root", root]) == 0
    runs = tmp_path / "runs"
    assert (
        main(
            [
                "train",
                "minape",
                "--dataset",
                "mudestreda",
                "--root",
                root,
                "--epochs",
                "1",
                "--seeds",
                "0,1,2",
                "--out",
                str(runs),
            ]
        )
        == 0
    )
    results = tmp_path / "results.json"
    assert (
        main(
            [
                "evaluate",
                "--dataset",
                "mudestreda",
                "--root",
                root,
                "--checkpoint",
                str(runs),
                "--seeds",
                "0,1,2",
                "--out",
                str(results),
            ]
        )
        == 0
    )
    res = json.loads(results.read_text())
    assert res["dataset"]["name"] == "mudestreda" and len(res["seeds"]) == 3
    from modalbench.leaderboard.board import PACKAGE_DIR

    board = tmp_path / "board"  # a private copy: register-official must not touch the packaged official.json
    board.mkdir()
    shutil.copy(PACKAGE_DIR / "official.json", board / "official.json")
    packaged = (PACKAGE_DIR / "official.json").read_bytes()
    assert main(["register-official", "mudestreda", "--root", root, "--leaderboard", str(board)]) == 0
    assert main(["submit", str(results), "--leaderboard", str(board)]) == 0
    official = json.loads((board / "official.json").read_text())
    assert official["datasets"]["mudestreda@tool-v2"]["fingerprint"] == tool_attrs["fingerprint"]
    assert len(list((board / "submissions" / "mudestreda" / "wear").glob("*.json"))) == 1
    assert (PACKAGE_DIR / "official.json").read_bytes() == packaged
