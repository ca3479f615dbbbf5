"""NTU RGB+D datasets: prepare from generated zips in the real layout, splits against the published lists, the
missing-skeleton exclusion, trust on first use, body-part modalities, RGB clips, and training on the stores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers.ntu_fixture import MISSING_SAMPLE, fixture_names, reference_sample, tiny_avi, write_raw
from modalbench.baselines.registry import baseline_names
from modalbench.errors import ModalbenchError
from modalbench.loaders.ntu import (
    ACTIONS,
    BODY_PARTS,
    MISSING_60_FILE,
    MISSING_120_FILE,
    TRAIN_SETUPS_120,
    TRAIN_SUBJECTS_60,
    TRAIN_SUBJECTS_120,
    assign_splits,
    is_training,
    parse_sample_name,
    read_missing_list,
    validation_subjects,
)
from modalbench.loaders.ntu_video import read_video
from modalbench.preprocess.pipeline import prepare
from modalbench.store import open_store


@pytest.fixture(scope="module")
def ntu_raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    raw = tmp_path_factory.mktemp("ntu-raw")
    return raw, write_raw(raw)


@pytest.fixture(scope="module")
def parts_root(tmp_path_factory: pytest.TempPathFactory, ntu_raw) -> Path:
    root = tmp_path_factory.mktemp("ntu-parts-root")
    prepare("ntu60-parts", root=root, raw=ntu_raw[0], progress=False, overrides={"skeleton.frames": 16})
    return root


# ---------------------------------------------------------------- published lists


def test_published_split_lists() -> None:
    assert len(TRAIN_SUBJECTS_60) == 20 and len(TRAIN_SUBJECTS_120) == 53
    assert set(TRAIN_SUBJECTS_60) <= set(TRAIN_SUBJECTS_120)
    assert TRAIN_SETUPS_120 == tuple(range(2, 33, 2))
    assert len(ACTIONS) == 120 and ACTIONS[0] == "drink water" and ACTIONS[59] == "walking apart from each other"
    assert ACTIONS[119].startswith("finger-guessing game")
    # every cross-subject rule against the published lists, over all subjects / cameras / setups
    for p in range(1, 107):
        assert is_training((1, 1, p, 1, 1), "xsub") == (p in TRAIN_SUBJECTS_60)
        assert is_training((1, 1, p, 1, 1), "xsub120") == (p in TRAIN_SUBJECTS_120)
    assert [c for c in (1, 2, 3) if is_training((1, c, 1, 1, 1), "xview")] == [2, 3]
    assert [s for s in range(1, 33) if is_training((s, 1, 1, 1, 1), "xset")] == list(range(2, 33, 2))


def test_missing_lists_have_the_official_counts() -> None:
    m60, m120 = read_missing_list(MISSING_60_FILE), read_missing_list(MISSING_120_FILE)
    assert len(m60) == 302 and len(m120) == 535 and m60 <= m120 and MISSING_SAMPLE in m60


def test_shipped_missing_lists_are_the_official_files(shared_dir: Path) -> None:
    for shipped, name in (
        (MISSING_60_FILE, "NTU_RGBD_samples_with_missing_skeletons.txt"),
        (MISSING_120_FILE, "NTU_RGBD120_samples_with_missing_skeletons.txt"),
    ):
        real = shared_dir / "formats" / "ntu" / name
        if not real.is_file():
            pytest.skip(f"{real} not present")
        assert shipped.read_bytes() == real.read_bytes()


def test_sample_names_and_validation_subjects() -> None:
    assert parse_sample_name("S017C003P020R002A060") == (17, 3, 20, 2, 60)
    with pytest.raises(ModalbenchError, match="is not SsssCcccPpppRrrrAaaa"):
        parse_sample_name("S17C3P20R2A60")
    v = validation_subjects(TRAIN_SUBJECTS_60, 0.1, seed=0)
    assert len(v) == 2 and set(v) <= set(TRAIN_SUBJECTS_60)
    assert v == validation_subjects(TRAIN_SUBJECTS_60, 0.1, seed=0)
    assert any(validation_subjects(TRAIN_SUBJECTS_60, 0.1, seed=s) != v for s in range(1, 6))
    codes = np.array([[1, c, p, 1, 1] for c in (1, 2, 3) for p in (1, 2, 3, 4, 5, 6, 8)])
    split, val = assign_splits(codes, "xsub", 0.25, seed=0)
    train_subjects = {int(p) for p, s in zip(codes[:, 2], split, strict=True) if s == "train"}
    val_subjects = {int(p) for p, s in zip(codes[:, 2], split, strict=True) if s == "val"}
    test_subjects = {int(p) for p, s in zip(codes[:, 2], split, strict=True) if s == "test"}
    assert val_subjects == set(val) and not train_subjects & val_subjects  # subject-disjoint
    assert test_subjects == {3, 6} and train_subjects | val_subjects == {1, 2, 4, 5, 8}


# ---------------------------------------------------------------- prepare


def test_prepare_ntu60_skeleton_store(ntu_raw, tmp_path: Path) -> None:
    raw, texts = ntu_raw
    res = prepare("ntu60", root=tmp_path / "r", raw=raw, progress=False, overrides={"skeleton.frames": 16})
    a = res.attrs
    prov = a["source"]["provenance"]
    assert prov["excluded_missing_skeletons"] == 1 and prov["samples"] == len(fixture_names()) - 1
    assert [m["name"] for m in a["modalities"]] == ["skeleton"] and a["params"]["rgb"]["use"] is False
    (f,) = prov["files"]
    assert f["name"] == "nturgbd_skeletons_s001_to_s017.zip" and len(f["sha256"]) == 64 and f["size"] > 0
    ds = open_store("ntu60", root=tmp_path / "r")
    assert ds["skeleton"].shape == (45, 16, 2, 25, 3)
    codes = ds["ntu_code"].values
    split = ds["split"].values
    subjects_by = {k: set(codes[split == i, 2].tolist()) for i, k in enumerate(("train", "val", "test"))}
    assert subjects_by["test"] == {3, 6}
    assert subjects_by["train"] | subjects_by["val"] == {1, 2, 4} and len(subjects_by["val"]) == 1
    assert prov["val_subjects"] == sorted(subjects_by["val"])
    assert ds["label"].values.tolist() == (codes[:, 4] - 1).tolist()
    # sample values: the store holds exactly what the per-line reference parser gives (scaling none)
    names = [f"S{c[0]:03d}C{c[1]:03d}P{c[2]:03d}R{c[3]:03d}A{c[4]:03d}" for c in codes]
    for i in (0, 17, 44):
        np.testing.assert_allclose(ds["skeleton"].values[i], reference_sample(texts[names[i]].encode(), 16), atol=1e-6)
    two = [i for i, n in enumerate(names) if n.endswith("A003")]
    assert (
        ds["body_mask"].values[two].all()
        and not ds["body_mask"].values[[i for i in range(45) if i not in two], :, 1].any()
    )
    assert (ds["n_frames"].values >= 12).all()


def test_prepare_parses_every_skeleton_file_once(ntu_raw, tmp_path: Path, monkeypatch) -> None:
    """The statistics pass parses the training blocks and keeps them; the write reads them back: each of the 45
    files is parsed once, and the store is the same as one written without the kept blocks."""
    from modalbench.loaders import ntu

    raw, _ = ntu_raw
    parsed: list[str] = []
    real = ntu.read_skeleton

    def counting(data: bytes, where: str, **kw):
        parsed.append(where.rsplit("/", 1)[-1])
        return real(data, where, **kw)

    monkeypatch.setattr(ntu, "read_skeleton", counting)
    res = prepare("ntu60", root=tmp_path / "r", raw=raw, progress=False, overrides={"skeleton.frames": 16})
    assert len(parsed) == len(set(parsed)) == 45
    kept = sorted((tmp_path / "r" / "ntu60" / "raw" / ntu.PARSED_DIR).glob("*.npz"))
    assert kept and not list(kept[0].parent.glob("*incomplete*"))
    first_sums = (tmp_path / "r" / "ntu60" / "v1" / "checksums.json").read_bytes()
    parsed.clear()  # a second prepare finds the kept training blocks: only validation and test are parsed
    again = prepare(
        "ntu60", root=tmp_path / "r", raw=raw, progress=False, force=True, overrides={"skeleton.frames": 16}
    )
    assert again.attrs["normalisation"] == res.attrs["normalisation"]
    assert 0 < len(parsed) < 45
    monkeypatch.setattr(ntu, "PARSED_DIR", "elsewhere")  # nothing kept: parsed twice as before, same bytes
    plain = prepare("ntu60", root=tmp_path / "p", raw=raw, progress=False, overrides={"skeleton.frames": 16})
    assert plain.attrs["fingerprint"] == res.attrs["fingerprint"]
    assert (tmp_path / "p" / "ntu60" / "v1" / "checksums.json").read_bytes() == first_sums


def test_a_damaged_kept_block_is_parsed_again(ntu_raw, tmp_path: Path) -> None:
    from modalbench.loaders import ntu

    raw, _ = ntu_raw
    first = prepare("ntu60", root=tmp_path / "r", raw=raw, progress=False, overrides={"skeleton.frames": 16})
    for kept in (tmp_path / "r" / "ntu60" / "raw" / ntu.PARSED_DIR).glob("*.npz"):
        kept.write_bytes(b"PK\x03\x04 truncated")
    again = prepare(
        "ntu60", root=tmp_path / "r", raw=raw, progress=False, force=True, overrides={"skeleton.frames": 16}
    )
    assert again.attrs["normalisation"] == first.attrs["normalisation"]
    ds = open_store("ntu60", root=tmp_path / "r")
    assert ds["skeleton"].shape == (45, 16, 2, 25, 3) and np.isfinite(ds["skeleton"].values).all()


def test_missing_skeletons_kept_on_request(ntu_raw, tmp_path: Path) -> None:
    res = prepare(
        "ntu60-parts",
        root=tmp_path / "r",
        raw=ntu_raw[0],
        progress=False,
        overrides={"skeleton.frames": 8, "exclude_missing": False},
    )
    assert res.attrs["source"]["provenance"]["excluded_missing_skeletons"] == 0
    assert sum(res.attrs["n_samples"].values()) == len(fixture_names())


def test_cross_view_split(ntu_raw, tmp_path: Path) -> None:
    prepare(
        "ntu60-parts", root=tmp_path / "r", raw=ntu_raw[0], progress=False,
        overrides={"skeleton.frames": 8, "protocol": "xview"},
    )  # fmt: skip
    ds = open_store("ntu60-parts", root=tmp_path / "r")
    codes, split = ds["ntu_code"].values, ds["split"].values
    assert set(codes[split == 2, 1].tolist()) == {1} and set(codes[split != 2, 1].tolist()) == {2, 3}
    assert not set(codes[split == 0, 2].tolist()) & set(codes[split == 1, 2].tolist())


def test_parts_store_cuts_the_skeleton(parts_root: Path, ntu_raw, tmp_path: Path) -> None:
    ds = open_store("ntu60-parts", root=parts_root)
    assert ds.attrs["modalities"][0]["kind"] == "skeleton"
    assert [m["name"] for m in ds.attrs["modalities"]] == list(BODY_PARTS)
    assert sorted(j for joints in BODY_PARTS.values() for j in joints) == list(range(25))
    full = prepare("ntu60", root=tmp_path / "r", raw=ntu_raw[0], progress=False, overrides={"skeleton.frames": 16})
    whole = open_store("ntu60", root=tmp_path / "r")["skeleton"].values
    assert full.attrs["n_samples"] == ds.attrs["n_samples"]
    for name, joints in BODY_PARTS.items():
        np.testing.assert_array_equal(ds[name].values, whole[:, :, :, list(joints)])


def test_without_files_one_line_says_where_to_register(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModalbenchError) as ei:
        prepare("ntu60", root=tmp_path / "r", raw=tmp_path / "empty", progress=False)
    msg = str(ei.value)
    assert "\n" not in msg and "rose1.ntu.edu.sg" in msg and "nturgbd_skeletons_s001_to_s017.zip" in msg
    assert str(tmp_path / "empty") in msg
    with pytest.raises(ModalbenchError, match="nturgbd_skeletons_s018_to_s032.zip"):
        prepare("ntu120", root=tmp_path / "r", raw=tmp_path / "empty", progress=False)


def test_changed_archive_is_a_mismatch_after_first_use(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_raw(raw, seed=1)
    prepare("ntu60-parts", root=tmp_path / "r", raw=raw, progress=False, overrides={"skeleton.frames": 8})
    record = json.loads((tmp_path / "r" / "ntu60-parts" / "raw" / "placed-sha256.json").read_text())
    assert len(record["nturgbd_skeletons_s001_to_s017.zip"]["sha256"]) == 64
    write_raw(raw, seed=2)
    with pytest.raises(ModalbenchError, match="checksum mismatch for nturgbd_skeletons_s001_to_s017.zip"):
        prepare(
            "ntu60-parts", root=tmp_path / "r", raw=raw, progress=False, overrides={"skeleton.frames": 8}, force=True
        )
    # --verification warn accepts the changed file (and the record keeps the first one)
    prepare(
        "ntu60-parts", root=tmp_path / "r", raw=raw, progress=False, overrides={"skeleton.frames": 8}, force=True,
        verification="warn",
    )  # fmt: skip
    again = json.loads((tmp_path / "r" / "ntu60-parts" / "raw" / "placed-sha256.json").read_text())
    assert again == record


def test_malformed_member_names_the_member_and_line(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    names = fixture_names()
    texts = write_raw(raw, names=names)
    bad = names[3]
    texts[bad] = texts[bad].replace("\n25\n", "\n24\n", 1)
    from helpers.ntu_fixture import SKELETON_FOLDER, write_zip

    write_zip(
        raw / "nturgbd_skeletons_s001_to_s017.zip",
        {f"{SKELETON_FOLDER}/{k}.skeleton": v.encode() for k, v in texts.items()},
    )
    with pytest.raises(ModalbenchError, match=rf"{bad}\.skeleton line 4: joint count 24, expected 25"):
        prepare("ntu60-parts", root=tmp_path / "r", raw=raw, progress=False, overrides={"skeleton.frames": 4})


def test_unknown_protocol(ntu_raw, tmp_path: Path) -> None:
    with pytest.raises(ModalbenchError, match="protocol must be one of xsub, xset"):
        prepare("ntu120-parts", root=tmp_path / "r", raw=ntu_raw[0], progress=False, overrides={"protocol": "xview"})


# ---------------------------------------------------------------- RGB


def test_read_video_samples_uniformly() -> None:
    import io

    clip = read_video(io.BytesIO(tiny_avi(n_frames=12)), "gen", frames=4, size=16)
    assert clip.shape == (4, 3, 16, 16) and clip.dtype == np.uint8
    red = clip[:, 0].mean(axis=(1, 2))
    # frames 0, 4, 7, 11 (round(linspace(0, 11, 4))) have red 0, 40, 70, 110 (lossy codec: a few levels off)
    assert np.allclose(red, [0, 40, 70, 110], atol=6)
    with pytest.raises(ModalbenchError, match="gen: not a decodable video"):
        read_video(io.BytesIO(b"not a video at all" * 10), "gen")


def test_prepare_with_rgb(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_raw(raw, rgb=True)
    res = prepare(
        "ntu60", root=tmp_path / "r", raw=raw, progress=False,
        overrides={"skeleton.frames": 8, "rgb.frames": 4, "rgb.size": 16, "exclude_missing": False},
    )  # fmt: skip
    a = res.attrs
    assert a["params"]["rgb"]["use"] is True and [m["name"] for m in a["modalities"]] == ["skeleton", "rgb"]
    assert {f["name"] for f in a["source"]["provenance"]["files"]} == {
        "nturgbd_skeletons_s001_to_s017.zip",
        "nturgbd_rgb_s001.zip",
    }
    ds = open_store("ntu60", root=tmp_path / "r")
    assert ds["rgb"].shape == (46, 4, 3, 16, 16)
    avail = ds["available"].values
    codes = ds["ntu_code"].values
    names = [f"S{c[0]:03d}C{c[1]:03d}P{c[2]:03d}R{c[3]:03d}A{c[4]:03d}" for c in codes]
    # the missing-skeleton sample has no video in the fixture: rgb unavailable for it only
    assert [n for n, ok in zip(names, avail[:, 1], strict=True) if not ok] == [MISSING_SAMPLE]
    red = ds["rgb"].values[names.index(fixture_names()[0]), :, 0].mean(axis=(1, 2))
    assert red[0] < red[-1]  # frames sampled in order over the clip


# ---------------------------------------------------------------- scenarios and training


def test_scenarios_on_parts(parts_root: Path, capsys) -> None:
    from modalbench.app.cli import main

    assert main(["scenarios", "ntu60-parts", "--root", str(parts_root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_id = {r["scenario"]: r for r in rows if "skipped" not in r}
    assert {"full@v1", "missing-modalities@v2", "random-missing@v1"} <= set(by_id)
    assert by_id["missing-modalities@v2"]["n_conditions"] == 2**5 - 1


@pytest.mark.parametrize("name", baseline_names())
def test_every_baseline_trains_one_epoch_on_parts(parts_root: Path, name: str, tmp_path: Path) -> None:
    from modalbench.app.workflows import TrainSpec, run_training

    res = run_training(
        TrainSpec(
            name, "ntu60-parts", root=str(parts_root), epochs=1, batch_size=16, out=tmp_path / "c", progress=False
        )
    )
    assert res.epochs_run == 1 and np.isfinite(res.train_losses[0]) and 0.0 <= res.best_score <= 1.0


def test_cli_video_and_pose_prepare_scenarios_train_evaluate_submit_leaderboard(tmp_path: Path, capsys) -> None:
    """MFAS's setting on the fixture: skeleton + RGB (2 modalities), CLI end to end; the leaderboard of ntu60 shows
    MFAS's reported NTU rows beside the reproduced entry."""
    import shutil

    from modalbench.app.cli import main
    from modalbench.leaderboard.board import PACKAGE_DIR

    raw = tmp_path / "raw"
    write_raw(raw, rgb=True)
    root = str(tmp_path / "root")
    sets = ["--set", "skeleton.frames=8", "--set", "rgb.frames=4", "--set", "rgb.size=16"]
    assert main(["prepare", "ntu60", "--quiet", "--root", root, "--raw", str(raw), *sets]) == 0
    capsys.readouterr()
    assert main(["info", "ntu60", "--root", root, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert "excluded_missing_skeletons" in json.dumps(info)
    assert main(["scenarios", "ntu60", "--root", root, "--json"]) == 0
    rows = {r["scenario"]: r for r in json.loads(capsys.readouterr().out) if "skipped" not in r}
    assert rows["missing-modalities@v2"]["n_conditions"] == 3
    runs = tmp_path / "runs"
    train = ["train", "late", "--dataset", "ntu60", "--root", root, "--epochs", "1", "--batch-size", "16"]
    assert main([*train, "--seeds", "0,1,2", "--out", str(runs)]) == 0
    results = tmp_path / "results.json"
    evaluate = ["evaluate", "--dataset", "ntu60", "--root", root, "--checkpoint", str(runs), "--seeds", "0,1,2"]
    assert main([*evaluate, "--out", str(results)]) == 0
    res = json.loads(results.read_text())
    assert res["dataset"]["name"] == "ntu60" and len(res["seeds"]) == 3
    board = tmp_path / "board"
    board.mkdir()
    shutil.copy(PACKAGE_DIR / "official.json", board / "official.json")
    shutil.copytree(PACKAGE_DIR / "reference", board / "reference")
    assert main(["register-official", "ntu60", "--root", root, "--leaderboard", str(board)]) == 0
    assert main(["submit", str(results), "--leaderboard", str(board)]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "--leaderboard", str(board), "--dataset", "ntu60", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    shown = shown["rows"] if isinstance(shown, dict) else shown
    reported = {r["model"]: r["mean"] for r in shown if r["source"] == "reported"}
    # the paper's accuracy_pct rows show as our accuracy (a fraction)
    assert reported["mfas"] == pytest.approx(0.9004) and reported["two-stream"] == pytest.approx(0.886)
    assert len(reported) == 6
    assert {r["dataset"] for r in shown if r["source"] == "reproduced"} == {"ntu60"}


def test_ntu120_cross_setup_reads_both_skeleton_archives(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    first = fixture_names()
    write_raw(raw, names=first)
    later = [f"S018C001P{p:03d}R001A{a:03d}" for p in (45, 46, 47) for a in (61, 120)]
    texts = write_raw(tmp_path / "later", names=later)
    from helpers.ntu_fixture import SKELETON_FOLDER, write_zip

    write_zip(
        raw / "nturgbd_skeletons_s018_to_s032.zip",
        {f"{SKELETON_FOLDER}/{k}.skeleton": v.encode() for k, v in texts.items()},
    )
    res = prepare(
        "ntu120-parts", root=tmp_path / "r", raw=raw, progress=False,
        overrides={"skeleton.frames": 4, "protocol": "xset"},
    )  # fmt: skip
    prov = res.attrs["source"]["provenance"]
    assert prov["samples"] == len(first) - 1 + len(later) and prov["missing_list"] == MISSING_120_FILE.name
    assert len(res.attrs["classes"]) == 120
    ds = open_store("ntu120-parts", root=tmp_path / "r")
    codes, split = ds["ntu_code"].values, ds["split"].values
    assert set(codes[split == 2, 0].tolist()) == {1} and set(codes[split != 2, 0].tolist()) == {18}  # even setups
    assert sorted(set(ds["label"].values[split != 2].tolist())) == [60, 119]
    write_raw(tmp_path / "bad", names=[*first, "S001C001P001R001A061"])
    with pytest.raises(ModalbenchError, match="sample S001C001P001R001A061 has action > 60"):
        prepare("ntu60-parts", root=tmp_path / "r60", raw=tmp_path / "bad", progress=False)
