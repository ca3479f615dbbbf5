"""MM-IMDB ``representation=raw``: the archive streamed once (split.json, movie JSONs, posters), letterboxed uint8
posters, train-only vocabulary and int32 token ids, real missing data counted, one-line layout errors, download
from the local server, determinism, and every baseline training on the store."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from helpers.mmimdb_raw_fixture import (
    CORRUPT_JPEG,
    TEST_ONLY_WORD,
    VAL_ONLY_WORD,
    jpeg_bytes,
    movie_members,
    write_mmimdb_archive,
    write_tar_gz,
)
from modalbench.baselines import baseline_names
from modalbench.errors import ModalbenchError
from modalbench.loaders import mmimdb as mm
from modalbench.loaders import mmimdb_raw as mr

#: a small letterbox so that the baselines train quickly (the default 256×160 is tested on its own)
SMALL = ["--set", "representation=raw", "--set", "raw.image_size=[32,20]"]


def prepare(root: Path, raw_dir: Path, *extra: str) -> int:
    from modalbench.app.cli import main

    return main(["prepare", "mmimdb", "--quiet", "--root", str(root), "--raw", str(raw_dir), *extra])


def raw_attrs(root: Path) -> dict:
    return json.loads((root / "mmimdb" / mm.RAW_VERSION / "store.zarr" / "zarr.json").read_text())["attributes"]


def open_raw(root: Path):
    import xarray as xr

    return xr.open_zarr(root / "mmimdb" / mm.RAW_VERSION / "store.zarr", consolidated=False)


@pytest.fixture()
def archive(tmp_path: Path):
    return write_mmimdb_archive(tmp_path / "raw" / mm.ARCHIVE_NAME)


# ---------------------------------------------------------------- units


def test_tokenize_lowercases_word_tokens_and_joins_the_plot_list():
    assert mr.tokenize(["It's a Man's WORLD.", "Part 2: the end!"]) == [
        "it's",
        "a",
        "man's",
        "world",
        "part",
        "2",
        "the",
        "end",
    ]
    assert mr.tokenize(None) == [] and mr.tokenize([]) == [] and mr.tokenize(["...", "!"]) == []


def test_vocabulary_counts_order_and_min_count():
    vocab = mr.build_vocabulary([["b", "a", "b"], ["c", "a", "b"]], min_count=1)
    assert vocab == ["<pad>", "<unk>", "b", "a", "c"]  # by count, ties alphabetical
    assert mr.build_vocabulary([["b", "a", "b"], ["c"]], min_count=2) == ["<pad>", "<unk>", "b"]
    ids = {w: k for k, w in enumerate(vocab)}
    np.testing.assert_array_equal(mr.encode(["a", "zz", "c"], ids, 5), [3, 1, 4, 0, 0])
    np.testing.assert_array_equal(mr.encode(["a", "b", "c"], ids, 2), [3, 2])


def _solid(h: int, w: int) -> object:
    from PIL import Image

    return Image.new("RGB", (w, h), (200, 10, 30))


@pytest.mark.parametrize(
    ("h", "w", "box"),
    [
        (100, 50, (0, 256, 16, 144)),  # tall: scale 2.56 → 256×128, 16 columns of zeros each side
        (50, 200, (108, 148, 0, 160)),  # wide: scale 0.8 → 40×160, rows 108..147
        (256, 160, (0, 256, 0, 160)),  # the exact size: unchanged
    ],
)
def test_letterbox_keeps_the_aspect_centres_and_pads_with_zeros(h, w, box):
    out = mr.letterbox(_solid(h, w), 256, 160)
    assert out.shape == (3, 256, 160) and out.dtype == np.uint8
    top, bottom, left, right = box
    inside = np.zeros((256, 160), dtype=bool)
    inside[top:bottom, left:right] = True
    assert (out[:, ~inside] == 0).all()
    np.testing.assert_array_equal(out[:, inside].reshape(3, -1)[:, 0], [200, 10, 30])
    assert (out[0, inside] == 200).all() and (out[2, inside] == 30).all()


def test_letterbox_converts_grey_and_rgba_to_rgb():
    from PIL import Image

    grey = Image.new("L", (10, 10), 77)
    assert (mr.letterbox(grey, 8, 8) == 77).all()
    rgba = Image.new("RGBA", (10, 10), (1, 2, 3, 4))
    np.testing.assert_array_equal(mr.letterbox(rgba, 4, 4)[:, 2, 2], [1, 2, 3])


def test_a_corrupt_poster_decodes_to_none():
    assert mr.decode_poster(CORRUPT_JPEG, 8, 8) is None
    assert mr.decode_poster(b"", 8, 8) is None
    good = jpeg_bytes(np.full((6, 4, 3), 128, np.uint8))
    assert mr.decode_poster(good, 6, 4).shape == (3, 6, 4)


# ---------------------------------------------------------------- prepare through the command line


def test_prepare_raw_builds_tokens_posters_labels_and_counts(archive, tmp_path):
    root = tmp_path / "root"
    assert prepare(root, archive.path.parent, *SMALL) == 0
    attrs = raw_attrs(root)
    assert attrs["version"] == "raw-v1" and attrs["n_samples"] == {"train": 20, "val": 6, "test": 8}
    assert "plot token ids and letterboxed posters" in attrs["description"]
    mods = {m["name"]: m for m in attrs["modalities"]}
    assert mods["text"]["kind"] == "text" and mods["text"]["storage_dtype"] == "int32"
    assert mods["image"]["shape"] == [3, 32, 20] and mods["image"]["storage_dtype"] == "uint8"
    assert attrs["reader_scale"] == {"image": pytest.approx(1 / 255), "text": 1.0}
    # tokens are not standardised; their fill value is the pad id
    norm = attrs["normalisation"]["text"]
    assert norm["method"] == "tokens" and norm["pad_id"] == 0 and set(norm["scaled_mean"]) == {0.0}
    assert attrs["normalisation"]["image"]["method"] == "reader_scale"
    prov = attrs["source"]["provenance"]
    assert prov["unavailable"]["text"] == {"train": 1, "val": 0, "test": 1}
    assert prov["unavailable"]["image"] == {"train": 1, "val": 1, "test": 0}
    assert prov["posters"] == {
        "undecodable": {"train": 1, "val": 0, "test": 0},
        "missing": {"train": 0, "val": 1, "test": 0},
    }
    assert prov["file"]["name"] == mm.ARCHIVE_NAME and prov["file"]["size"] == archive.path.stat().st_size
    ds = open_raw(root)
    assert ds["text"].dtype == np.int32 and ds["image"].dtype == np.uint8
    ids = archive.split["train"] + archive.split["dev"] + archive.split["test"]
    avail = ds["available"].values
    for row, i in enumerate(ids):
        assert avail[row, 0] == bool(archive.plots[i]), i
        assert avail[row, 1] == (archive.poster_size[i] is not None), i
        expected = np.zeros(len(mm.GENRES), np.int8)
        for g in archive.genres[i]:
            if g in mm.GENRES:
                expected[mm.GENRES.index(g)] = 1
        np.testing.assert_array_equal(ds["label"].values[row], expected)
    assert prov["ignored_genres"]["Adult"] == sum("Adult" in g for g in archive.genres.values())
    lengths = ds["text_length"].values
    text = ds["text"].values
    assert (lengths == (text != 0).sum(axis=1)).all() and lengths[3] == 0
    assert text.shape[1] == max(len(mr.tokenize(archive.plots[i])) for i in archive.split["train"])
    assert not ds["image"].values[~avail[:, 1]].any()  # unavailable posters are zeros


def test_vocabulary_comes_from_the_training_split_only(archive, tmp_path):
    root = tmp_path / "root"
    assert prepare(root, archive.path.parent, *SMALL, "--set", "raw.max_length=40") == 0
    attrs = raw_attrs(root)
    train_tokens = [mr.tokenize(archive.plots[i]) for i in archive.split["train"]]
    vocab = mr.build_vocabulary(train_tokens, 1)
    assert VAL_ONLY_WORD not in vocab and TEST_ONLY_WORD not in vocab
    prov = attrs["source"]["provenance"]["vocabulary"]
    assert prov["size"] == len(vocab) == {m["name"]: m for m in attrs["modalities"]}["text"]["vocab_size"]
    assert prov["pad_id"] == 0 and prov["unk_id"] == 1
    ds = open_raw(root)
    text = ds["text"].values
    assert text.shape[1] == 40
    n_train, n_val = 20, 6
    ids = {w: k for k, w in enumerate(vocab)}
    for row, i in enumerate(archive.split["test"]):
        tokens = mr.tokenize(archive.plots[i])
        np.testing.assert_array_equal(text[n_train + n_val + row], mr.encode(tokens, ids, 40))
        if tokens:  # the test-only word is the last one of every test plot: <unk>
            assert text[n_train + n_val + row, len(tokens) - 1] == 1
    assert (text[:n_train] != 1).all()  # no training word is unknown


def test_posters_are_letterboxed_exactly_at_the_default_size(archive, tmp_path):
    from PIL import Image

    root = tmp_path / "root"
    assert prepare(root, archive.path.parent, "--set", "representation=raw") == 0
    ds = open_raw(root)
    assert ds["image"].shape[1:] == (3, 256, 160)
    members = dict(movie_members()[0])
    for row in (0, 7):
        i = archive.split["train"][row]
        with Image.open(io.BytesIO(members[f"mmimdb/dataset/{i}.jpeg"])) as img:
            expected = mr.letterbox(img, 256, 160)
        np.testing.assert_array_equal(ds["image"].values[row], expected)


def test_two_prepares_give_identical_stores(archive, tmp_path):
    from modalbench.store import read_marker

    digests = []
    for k in range(2):
        root = tmp_path / f"root{k}"
        assert prepare(root, archive.path.parent, *SMALL) == 0
        digests.append(read_marker(root, "mmimdb", mm.RAW_VERSION)["checksums_sha256"])
    assert digests[0] == digests[1]
    # the parsed-poster cache is reused by a forced rebuild and gives the same store
    assert prepare(tmp_path / "root0", archive.path.parent, *SMALL, "--force") == 0
    assert read_marker(tmp_path / "root0", "mmimdb", mm.RAW_VERSION)["checksums_sha256"] == digests[0]


def test_raw_parameters_need_the_raw_representation_and_features_params_keep_no_raw_key(archive, tmp_path, capsys):
    b = mm.MMIMDB()
    features = b.resolve_params(b.default_params(), None, tmp_path)
    assert "raw" not in features and features["representation"] == "features"  # the v1 fingerprint is unchanged
    raw = b.resolve_params({**b.default_params(), "representation": "raw"}, None, tmp_path)
    assert raw["raw"] == mr.DEFAULT_PARAMS and "scaling" not in raw  # nothing of the raw store is scaled
    assert prepare(tmp_path / "r", archive.path.parent, *SMALL, "--set", "scaling.method=minmax") == 2
    assert "scaling applies to representation=features only" in capsys.readouterr().err
    assert prepare(tmp_path / "root", archive.path.parent, "--set", "raw.min_count=2") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "raw.min_count applies to representation=raw only" in err
    with pytest.raises(ModalbenchError, match="known once the archive is read"):
        b.modalities({"representation": "raw"})


def _bad_archive(tmp_path: Path, edit) -> Path:
    members, _ = movie_members((8, 3, 3))
    members = edit(members)
    d = tmp_path / "bad"
    write_tar_gz(d / mm.ARCHIVE_NAME, members)
    return d


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda ms: [m for m in ms if m[0] != "mmimdb/split.json"], "no member mmimdb/split.json"),
        (
            lambda ms: [m for m in ms if m[0] != "mmimdb/dataset/1000001.json"],
            "lists id '1000001' (train) but there is no member mmimdb/dataset/1000001.json",
        ),
        (
            lambda ms: [*ms[:-1], ("mmimdb/split.json", b'{"train": [], "test": []}')],
            "mmimdb/split.json must be an object with lists 'train', 'dev' and 'test'",
        ),
        (
            lambda ms: [("mmimdb/dataset/1000000.json", b"{not json"), *ms[1:]],
            "mmimdb/dataset/1000000.json",
        ),
    ],
)
def test_a_wrong_layout_is_one_line_naming_the_member(tmp_path, capsys, edit, pattern):
    d = _bad_archive(tmp_path, edit)
    assert prepare(tmp_path / "root", d, *SMALL) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("modalbench: ")]
    assert len(err) == 1 and err[0].startswith("error:") and pattern in err[0], err  # (the other: the TOFU notice)
    assert mm.ARCHIVE_NAME in err[0]


@pytest.mark.parametrize(
    ("member", "kind"), [("mmimdb/dataset/1000000.json", "movie JSON"), ("mmimdb/split.json", "split")]
)
def test_an_oversized_member_is_refused_before_it_is_read(tmp_path, capsys, monkeypatch, member, kind):
    d = _bad_archive(tmp_path, lambda ms: ms)
    monkeypatch.setitem(mr.MEMBER_BYTES, kind, 20)  # the fixture's members are larger than 20 bytes
    assert prepare(tmp_path / "root", d, *SMALL) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("modalbench: ")]
    assert len(err) == 1 and "declares" in err[0] and f"more than the 20 allowed for a {kind}" in err[0], err
    assert not (tmp_path / "root" / "mmimdb" / mm.RAW_VERSION).exists()


def test_not_a_gzip_tar_is_one_line(tmp_path, capsys):
    d = tmp_path / "bad"
    d.mkdir()
    (d / mm.ARCHIVE_NAME).write_bytes(b"this is not gzip")
    assert prepare(tmp_path / "root", d, *SMALL) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("modalbench: ")]
    assert len(err) == 1 and "not a readable .tar.gz archive" in err[0], err


def test_prepare_raw_downloads_the_archive_from_the_local_server(archive, tmp_path, http_server, monkeypatch):
    from helpers.httpserver import unused_url
    from modalbench.app.cli import main

    live = http_server.add_file("download/mmimdb/mmimdb.tar.gz", archive.path)
    monkeypatch.setattr(mm.MMIMDB, "archive_urls", (unused_url("mmimdb/mmimdb.tar.gz"), live))
    monkeypatch.setattr(mm.MMIMDB, "fetch_options", {"retries": 0, "backoff": 0.0, "timeout": 5.0})
    root = tmp_path / "root"
    assert main(["prepare", "mmimdb", "--quiet", "--root", str(root), *SMALL]) == 0
    assert (root / "mmimdb" / "raw" / mm.ARCHIVE_NAME).is_file()
    attrs = raw_attrs(root)
    assert attrs["source"]["provenance"]["file"]["verification"] == "tofu"
    assert attrs["n_samples"]["test"] == 8


def test_info_shows_the_unavailable_counts(archive, tmp_path, capsys):
    from modalbench.app.cli import main

    root = tmp_path / "root"
    assert prepare(root, archive.path.parent, *SMALL) == 0
    capsys.readouterr()
    assert main(["info", "mmimdb@raw-v1", "--root", str(root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["source"]["provenance"]["unavailable"]["image"]["train"] == 1
    assert info["source"]["provenance"]["movies_not_in_split"] == 0
    assert main(["info", "mmimdb@raw-v1", "--root", str(root)]) == 0
    text = capsys.readouterr().out
    assert "unavailable: text train 1, val 0, test 1; image train 1, val 1, test 0" in " ".join(text.split())


# ---------------------------------------------------------------- training on the raw store


@pytest.fixture(scope="module")
def raw_root(tmp_path_factory) -> Path:
    from modalbench.app.cli import main

    base = tmp_path_factory.mktemp("mmimdb-raw")
    write_mmimdb_archive(base / "raw" / mm.ARCHIVE_NAME, (40, 12, 16))
    root = base / "root"
    assert prepare(root, base / "raw", *SMALL) == 0
    assert main(["scenarios", "mmimdb", "--root", str(root)]) == 0
    return root


@pytest.mark.parametrize("name", baseline_names())
def test_every_baseline_trains_one_epoch_on_the_raw_store(raw_root: Path, name: str, tmp_path: Path) -> None:
    from modalbench.app.workflows import TrainSpec, run_training

    res = run_training(
        TrainSpec(name, "mmimdb", root=str(raw_root), epochs=1, batch_size=16, out=tmp_path / "ckpt", progress=False)
    )
    assert res.epochs_run == 1 and np.isfinite(res.train_losses[0]) and 0.0 <= res.best_score <= 1.0
    cfg = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert cfg["dataset"]["version"] == "raw-v1"


def test_train_gmu_and_evaluate_report_the_four_f1s_on_the_raw_store(raw_root: Path, tmp_path: Path, capsys):
    from modalbench.app.cli import main

    root = str(raw_root)
    runs = tmp_path / "runs"
    assert main(["train", "gmu", "--dataset", "mmimdb", "--root", root, "--epochs", "1", "--out", str(runs)]) == 0
    results = tmp_path / "results.json"
    capsys.readouterr()
    evaluate = ["evaluate", "--dataset", "mmimdb", "--root", root, "--checkpoint", str(runs)]
    assert main([*evaluate, "--out", str(results)]) == 0
    printed = capsys.readouterr().out
    assert all(f"{v} F1 %" in printed for v in ("micro", "macro", "weighted", "samples"))
    doc = json.loads(results.read_text())
    metrics = doc["scenarios"][0]["conditions"][0]["metrics"]
    assert set(metrics) == {"f1_micro", "f1_macro", "f1_weighted", "f1_samples"}
    assert doc["dataset"]["version"] == "raw-v1"


def test_knn_and_regress_fills_are_refused_for_token_ids(raw_root: Path) -> None:
    from modalbench.app.workflows import fit_train_imputer
    from modalbench.data import open_reader

    reader = open_reader(raw_root, "mmimdb", "test")
    assert reader.meta.modality("text").vocab_size > 2
    inputs, _, _ = reader.read(0, 4)
    assert inputs["text"].dtype == np.float32 and np.array_equal(inputs["text"], np.round(inputs["text"]))
    for strategy in ("knn", "regress"):
        with pytest.raises(ModalbenchError, match=f"--fill {strategy}: modality 'text' holds token ids"):
            fit_train_imputer(reader, strategy)


def test_the_stream_is_read_once_in_batches_and_the_batch_size_does_not_change_the_data(archive, tmp_path, monkeypatch):
    import tarfile

    modes = []
    real_open = tarfile.open

    def spy(*args, **kwargs):
        modes.append(kwargs.get("mode"))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(tarfile, "open", spy)
    small = mr.scan_archive(archive.path, tmp_path / "a", key="k", image_size=(16, 10), threads=2, batch_members=4)
    whole = mr.scan_archive(archive.path, tmp_path / "b", key="k", image_size=(16, 10), threads=1, batch_members=999)
    assert modes == ["r|gz", "r|gz"]  # one streaming pass each (gzip is not splittable)
    assert all(b["rows"] <= 4 for b in small["blocks"]) and len(small["blocks"]) >= 8
    assert len(whole["blocks"]) == 1 and small["undecodable"] == whole["undecodable"] == archive.corrupt
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        ["index.json", *(b["file"] for b in small["blocks"])]
    )  # nothing extracted: decoded blocks and the index only
    params = {**mr.DEFAULT_PARAMS, "image_size": [16, 10]}
    a = mr.load_splits(small, tmp_path / "a", params, mm.GENRES, "x")[0]
    b = mr.load_splits(whole, tmp_path / "b", params, mm.GENRES, "x")[0]
    for sa, sb in zip(a, b, strict=True):
        np.testing.assert_array_equal(sa.inputs["image"].compute(), sb.inputs["image"].compute())
        np.testing.assert_array_equal(sa.inputs["text"].compute(), sb.inputs["text"].compute())
    # the same key reuses the index without reading the archive; another key reads it again
    assert mr.scan_archive(archive.path, tmp_path / "a", key="k", image_size=(16, 10)) == small and len(modes) == 2
    mr.scan_archive(archive.path, tmp_path / "a", key="other", image_size=(16, 10))
    assert len(modes) == 3


def test_noisy_modality_leaves_token_ids_clean(raw_root: Path) -> None:
    from modalbench.scenarios import get_scenario
    from modalbench.store import open_store

    scen = get_scenario("noisy-modality").generate(open_store("mmimdb", root=raw_root), seed=0, snrs=[10])
    assert [c["id"] for c in scen.conditions] == ["noise-image-snr10", "noise-all-snr10"]
    assert scen.conditions[-1]["noisy_modalities"] == [1]  # image only; text (index 0) holds token ids
    assert "but the token ids (text)" in scen.conditions[-1]["description"]


@pytest.mark.parametrize(
    "setting, message",
    [
        ("raw.max_length=-3", "raw.max_length must be 'longest' or an integer >= 1 (got -3)"),
        ("raw.image_size=[0,5]", "raw.image_size must be [height, width], two integers >= 1 (got [0, 5])"),
        ("raw.min_count=x", "raw.min_count must be an integer >= 1 (got 'x')"),
    ],
)
def test_bad_raw_parameters_are_one_line_before_any_fetch(tmp_path, capsys, setting, message) -> None:
    from modalbench.app.cli import main

    args = ["prepare", "mmimdb", "--root", str(tmp_path), "--set", "representation=raw", "--set", setting]
    assert main(args) == 2  # no --raw and no network: a fetch would print retry lines first
    assert capsys.readouterr().err.strip().splitlines() == [f"error: mmimdb: {message}"]
