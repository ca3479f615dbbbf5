"""HIGGS (UCI 280) loader: the real first line, block parsing, line-numbered errors, splits, prepare, training."""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import DATA_DIR
from modalbench.datasets import PrepareContext
from modalbench.errors import ModalbenchError
from modalbench.loaders import higgs as hg
from modalbench.loaders.download import RemoteFile

FIXTURE = DATA_DIR / "higgs" / "HIGGS.csv.gz"
ROWS = 2000
TEST_ROWS = 400
SMALL = {"split.test_rows": TEST_ROWS}

_spec = importlib.util.spec_from_file_location("higgs_fixture", DATA_DIR / "higgs" / "make_fixture.py")
fx = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(fx)  # type: ignore[union-attr]


def fixture_table() -> np.ndarray:
    with gzip.open(FIXTURE, "rb") as fh:
        return np.loadtxt(fh, delimiter=",", dtype=np.float64).astype(np.float32)


def params(**over) -> dict:
    p = hg.Higgs().default_params()
    p["split"]["test_rows"] = TEST_ROWS
    p.update(over)
    return p


def ctx_for(tmp_path: Path, raw: Path | None) -> PrepareContext:
    return PrepareContext(root=str(tmp_path / "root"), raw_dir=raw, progress=False)


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    d = tmp_path / "raw"
    d.mkdir()
    shutil.copy(FIXTURE, d / hg.LEGACY_NAME)
    return d


def write_gz(path: Path, text: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fx.gzip_bytes(text))
    return path


# ---------------------------------------------------------------- parsing


def test_real_first_line(shared_dir):
    text = (shared_dir / "formats" / "higgs" / "HIGGS.head1.csv").read_bytes()
    row = hg.parse_block(text if text.endswith(b"\n") else text + b"\n", where="HIGGS.csv.gz", first_line=1)
    assert row.shape == (1, 29) and row.dtype == np.float32
    assert row[0, 0] == 1.0
    low, high = row[0, hg.LOW], row[0, hg.HIGH]
    assert low.shape == (21,) and high.shape == (7,)
    assert low[0] == np.float32(0.869293212890625) and low[8] == 0.0  # lepton_pT; jet_1_b_tag
    assert high[0] == np.float32(1.353760004043579102) and high[-1] == np.float32(0.8766783475875854)  # m_jj, m_wwbb
    assert len(hg.LOW_FEATURES) == 21 and len(hg.HIGH_FEATURES) == 7


def test_fixture_is_in_the_real_format():
    with gzip.open(FIXTURE, "rt") as fh:
        first = fh.readline().rstrip("\n").split(",")
    assert len(first) == 29 and all(len(f.split("e")[0].split(".")[1]) == 18 for f in first)


@pytest.mark.parametrize("block_bytes", [7_000, 50_000, 1 << 26])
def test_blocks_give_the_same_rows_and_line_numbers(tmp_path, block_bytes):
    index = hg.parse_to_blocks(FIXTURE, tmp_path / "parsed", block_bytes=block_bytes)
    arrays = [np.load(tmp_path / "parsed" / b["file"]) for b in index["blocks"]]
    np.testing.assert_array_equal(np.concatenate(arrays), fixture_table())
    assert index["rows"] == ROWS
    firsts = [b["first_line"] for b in index["blocks"]]
    assert firsts == [1 + sum(b["rows"] for b in index["blocks"][:k]) for k in range(len(firsts))]
    assert (len(firsts) > 1) == (block_bytes < 1 << 20)


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (lambda f: f[:-1], r"HIGGS\.csv\.gz line 1234: 28 fields, expected 29"),
        (lambda f: f[:5] + ["abc"] + f[6:], r"HIGGS\.csv\.gz line 1234 field 6: 'abc' is not a number"),
        (lambda f: ["2.000000000000000000e+00"] + f[1:], r"HIGGS\.csv\.gz line 1234 field 1: label 2\.0 is not 0 or 1"),
    ],
)
def test_malformed_row_names_the_line(tmp_path, edit, pattern):
    lines = fx.higgs_text(fx.make_rows(1500)).split(b"\n")
    fields = lines[1233].decode().split(",")
    lines[1233] = ",".join(edit(fields)).encode()
    path = write_gz(tmp_path / "HIGGS.csv.gz", b"\n".join(lines))
    with pytest.raises(ModalbenchError, match=pattern):
        hg.parse_to_blocks(path, tmp_path / "parsed", block_bytes=40_000)  # the bad line is in a later block


@pytest.mark.parametrize("block_bytes", [1_000, 4_096, 100_000])
@pytest.mark.parametrize("final_newline", [True, False])
def test_line_block_reader_gives_whole_lines_in_reused_buffers(block_bytes, final_newline):
    import io

    text = fx.higgs_text(fx.make_rows(300))
    if not final_newline:
        text = text[:-1]
    reader = hg.LineBlockReader(io.BytesIO(text), block_bytes, slots=2, read_bytes=777)
    blocks, owners = [], []
    for view in reader:
        assert bytes(view[-1:]) == b"\n"
        owners.append(view.obj)
        blocks.append(bytes(view))  # copy before the buffer is reused
    assert b"".join(blocks) == (text if final_newline else text + b"\n")
    assert all(b.count(b"\n") >= 1 for b in blocks)
    assert len({id(o) for o in owners}) == min(2, len(blocks))  # two buffers, reused in turn


def test_a_line_longer_than_a_block_is_one_line_error():
    import io

    with pytest.raises(ModalbenchError, match=r"^HIGGS\.csv\.gz: a line longer than 1,000 bytes; expected rows of 29"):
        list(hg.LineBlockReader(io.BytesIO(b"1," * 2000 + b"\n"), 1_000, where="HIGGS.csv.gz"))


def test_train_moments_give_the_numpy_statistics(tmp_path):
    index = hg.parse_to_blocks(FIXTURE, tmp_path / "parsed", block_bytes=20_000)
    codes = hg.split_codes(ROWS, test_rows=TEST_ROWS, val_fraction=0.05, seed=0, subset="full")
    parts, start = [], 0
    for b in index["blocks"]:
        parts.append(hg.block_moments(tmp_path / "parsed" / b["file"], codes[start : start + b["rows"]] == 0))
        start += b["rows"]
    assert len(parts) > 3
    from modalbench.moments import merge_named, raw_stats

    merged = merge_named(parts, hg.MODALITIES)
    train = fixture_table()[codes == 0].astype(np.float64)
    for name, cols in (("low", hg.LOW), ("high", hg.HIGH)):
        st = raw_stats(merged[name])
        np.testing.assert_allclose(st["mean"], train[:, cols].mean(axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(st["std"], train[:, cols].std(axis=0), rtol=1e-10)
        np.testing.assert_array_equal(st["min"], train[:, cols].min(axis=0))
        assert list(st["count"]) == [int((codes == 0).sum())] * (cols.stop - cols.start)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    data = FIXTURE.read_bytes()
    path = tmp_path / "HIGGS.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModalbenchError, match="truncated or corrupt"):
        hg.parse_to_blocks(path, tmp_path / "parsed")


def test_uci_zip_member_is_read(tmp_path):
    archive = tmp_path / hg.ARCHIVE_NAME
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(FIXTURE, hg.MEMBER_NAME)
    index = hg.parse_to_blocks(archive, tmp_path / "parsed")
    assert index["rows"] == ROWS


def test_parse_once_then_cache(tmp_path, monkeypatch):
    first = hg.parse_to_blocks(FIXTURE, tmp_path / "parsed")
    monkeypatch.setattr(hg, "open_text", lambda path: pytest.fail("the text was read again"))
    assert hg.parse_to_blocks(FIXTURE, tmp_path / "parsed") == first


# ---------------------------------------------------------------- protocol


def test_split_codes_are_seeded_and_sized():
    codes = hg.split_codes(11_000, test_rows=500, val_fraction=0.05, seed=0, subset="full")
    assert (codes[-500:] == 2).all() and (codes[:-500] != 2).all()
    assert (codes == 1).sum() == 525 and (codes == 0).sum() == 10_500 - 525
    np.testing.assert_array_equal(
        codes, hg.split_codes(11_000, test_rows=500, val_fraction=0.05, seed=0, subset="full")
    )
    assert not np.array_equal(codes, hg.split_codes(11_000, test_rows=500, val_fraction=0.05, seed=1, subset="full"))
    small = hg.split_codes(11_000, test_rows=500, val_fraction=0.05, seed=0, subset="small")
    np.testing.assert_array_equal(small == 1, codes == 1)  # the same validation rows
    assert (small == 0).sum() == round((10_500 - 525) / 3) and ((small == 0) <= (codes == 0)).all()
    with pytest.raises(ModalbenchError, match="subset 'tiny'"):
        hg.split_codes(100, test_rows=10, val_fraction=0.05, seed=0, subset="tiny")
    with pytest.raises(ModalbenchError, match="test_rows = 100"):
        hg.split_codes(100, test_rows=100, val_fraction=0.05, seed=0, subset="full")


def test_load_splits_and_values(tmp_path, raw):
    table = fixture_table()
    splits = hg.Higgs().load(params(), ctx_for(tmp_path, raw))
    by = {s.split: s for s in splits}
    assert [s.split for s in splits] == ["train", "val", "test"]
    assert by["test"].n == TEST_ROWS and by["val"].n == 80 and by["train"].n == 1520
    np.testing.assert_array_equal(by["test"].inputs["low"].compute(), table[-TEST_ROWS:, 1:22])
    np.testing.assert_array_equal(by["test"].inputs["high"].compute(), table[-TEST_ROWS:, 22:])
    np.testing.assert_array_equal(by["test"].labels["signal"].compute(), table[-TEST_ROWS:, 0].astype(np.int64))
    codes = hg.split_codes(ROWS, test_rows=TEST_ROWS, val_fraction=0.05, seed=0, subset="full")
    np.testing.assert_array_equal(by["val"].inputs["low"].compute(), table[codes == 1, 1:22])
    small = hg.Higgs().load(params(subset="small"), ctx_for(tmp_path, raw))
    assert small[0].n == round(1520 / 3) and small[1].n == 80 and small[2].n == TEST_ROWS


def test_placed_copy_is_hashed_in_another_thread_while_it_is_parsed(tmp_path, raw, monkeypatch):
    import hashlib
    import threading

    seen: dict[str, object] = {}
    real_fetch, real_parse = hg.Higgs.fetch_archive, hg.parse_to_blocks

    def fetch(self, ctx):
        seen["fetch"] = threading.get_ident()
        return real_fetch(self, ctx)

    def parse(*args, **kwargs):
        seen["parse"] = threading.get_ident()
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(hg.Higgs, "fetch_archive", fetch)
    monkeypatch.setattr(hg, "parse_to_blocks", parse)
    ctx = ctx_for(tmp_path, raw)
    hg.Higgs().load(params(), ctx)
    assert seen["fetch"] != seen["parse"] == threading.get_ident()
    assert ctx.provenance["archive"]["sha256"] == hashlib.sha256((raw / hg.LEGACY_NAME).read_bytes()).hexdigest()


def test_a_failed_verification_is_reported_before_a_parse_error(tmp_path, raw, monkeypatch):
    lines = fx.higgs_text(fx.make_rows(1500)).split(b"\n")
    lines[10] = b"abc"
    write_gz(raw / hg.LEGACY_NAME, b"\n".join(lines))

    def fetch(self, ctx):
        raise ModalbenchError("checksum mismatch for HIGGS.csv.gz")

    monkeypatch.setattr(hg.Higgs, "fetch_archive", fetch)
    with pytest.raises(ModalbenchError, match="checksum mismatch"):
        hg.Higgs().load(params(), ctx_for(tmp_path, raw))
    monkeypatch.undo()
    with pytest.raises(ModalbenchError, match=r"line 11"):  # without the mismatch, the parse error itself
        hg.Higgs().load(params(), ctx_for(tmp_path, raw))


def test_with_raw_only_the_raw_folder_decides_which_archive_is_used(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    with zipfile.ZipFile(raw / hg.ARCHIVE_NAME, "w") as zf:
        zf.write(FIXTURE, hg.MEMBER_NAME)
    ctx = ctx_for(tmp_path, raw)
    b = hg.Higgs()
    b.download_directory(ctx).mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE, b.download_directory(ctx) / hg.LEGACY_NAME)  # an older download of the legacy file
    path, fetched = b.fetch_archive(ctx)
    assert path == raw / hg.ARCHIVE_NAME and fetched["name"] == hg.ARCHIVE_NAME
    assert b.archive_in(raw) == raw / hg.ARCHIVE_NAME and b.archive_in(None) is None


def test_download_falls_back_to_the_legacy_url(tmp_path, http_server, monkeypatch):
    url = http_server.add_file("280/HIGGS.csv.gz", FIXTURE)
    dead = http_server.url("280/missing.zip")
    monkeypatch.setattr(hg.Higgs, "fetch_options", {"retries": 0, "backoff": 0.0, "timeout": 5.0})
    monkeypatch.setattr(
        hg.Higgs,
        "remote_files",
        lambda self: [RemoteFile(hg.ARCHIVE_NAME, (dead, dead)), RemoteFile(hg.LEGACY_NAME, (dead,))],
    )
    with pytest.raises(ModalbenchError, match="HTTP 404") as ei:
        hg.Higgs().load(params(), ctx_for(tmp_path, None))
    assert str(tmp_path / "root" / "higgs" / "raw") in str(ei.value)
    # the canonical zip is gone, its mirror (the legacy URL) serves the bare .gz under the zip's name
    monkeypatch.setattr(
        hg.Higgs,
        "remote_files",
        lambda self: [RemoteFile(hg.ARCHIVE_NAME, (dead, url)), RemoteFile(hg.LEGACY_NAME, (url,))],
    )
    splits = hg.Higgs().load(params(), ctx_for(tmp_path, None))
    assert splits[2].n == TEST_ROWS and (tmp_path / "root" / "higgs" / "raw" / hg.ARCHIVE_NAME).is_file()


# ---------------------------------------------------------------- end to end


def test_prepare_standardises_with_train_statistics(tmp_path, raw):
    import xarray as xr

    from modalbench.preprocess.pipeline import prepare

    res = prepare("higgs", root=tmp_path / "root", raw=raw, progress=False, overrides=SMALL)
    attrs = res.attrs
    assert attrs["n_samples"] == {"train": 1520, "val": 80, "test": TEST_ROWS}
    assert attrs["tasks"]["signal"]["primary_metric"] == "roc_auc"
    assert attrs["params"]["split"] == {"test_rows": TEST_ROWS, "val_fraction": 0.05, "seed": 0}
    assert attrs["source"]["provenance"]["parsed"]["rows"] == ROWS
    ds = xr.open_zarr(res.path, consolidated=False)
    assert ds["low"].dtype == np.float32 and ds["high"].shape == (ROWS, 7)
    split = ds["split"].values
    train_low = ds["low"].values[split == 0]
    np.testing.assert_allclose(train_low.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(train_low.std(axis=0), 1.0, atol=1e-3)
    table = fixture_table()
    codes = hg.split_codes(ROWS, test_rows=TEST_ROWS, val_fraction=0.05, seed=0, subset="full")
    raw_train = table[codes == 0, 1:22].astype(np.float64)
    np.testing.assert_allclose(attrs["normalisation"]["low"]["mean"], raw_train.mean(axis=0), rtol=1e-6, atol=1e-9)
    assert ds["low"].encoding["compressors"] == ()  # full-mantissa floats: written uncompressed (Higgs docstring)
    small = prepare("higgs", root=tmp_path / "root2", raw=raw, progress=False, overrides={**SMALL, "subset": "small"})
    assert small.attrs["fingerprint"] != attrs["fingerprint"] and small.attrs["n_samples"]["train"] == 507


def test_train_mul_on_the_fixture_store(tmp_path, raw):
    from modalbench.app.cli import main

    root = str(tmp_path / "root")
    assert (
        main(
            ["prepare", "higgs", "--quiet", "--root", root, "--raw", str(raw), "--set", f"split.test_rows={TEST_ROWS}"]
        )
        == 0
    )
    out = tmp_path / "runs" / "mul"
    assert main(["train", "mul", "--dataset", "higgs", "--root", root, "--epochs", "2", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (out / "model.pt").is_file()
    assert config["model"]["name"] == "mul" and config["model"]["meta"]["name"] == "higgs"
    assert [m["name"] for m in config["model"]["meta"]["modalities"]] == ["low", "high"]
    assert config["model"]["meta"]["classes"] == ["background", "signal"]


def test_evaluate_mul_reports_binary_metrics_per_condition_and_submit_accepts_them(tmp_path, raw):
    from sklearn.metrics import roc_auc_score

    from modalbench.app.cli import main
    from modalbench.leaderboard.board import PACKAGE_DIR

    root = str(tmp_path / "root")
    prepare = [
        "prepare",
        "higgs",
        "--quiet",
        "--root",
        root,
        "--raw",
        str(raw),
        "--set",
        f"split.test_rows={TEST_ROWS}",
    ]
    assert main(prepare) == 0
    assert main(["scenarios", "higgs", "--root", root]) == 0
    runs = tmp_path / "runs"
    train = ["train", "mul", "--dataset", "higgs", "--root", root, "--epochs", "1", "--seeds", "0,1,2"]
    assert main([*train, "--out", str(runs)]) == 0
    results = tmp_path / "results.json"
    evaluate = ["evaluate", "--dataset", "higgs", "--root", root, "--checkpoint", str(runs), "--seeds", "0,1,2"]
    assert main([*evaluate, "--scenarios", "full,missing-modalities", "--out", str(results)]) == 0
    res = json.loads(results.read_text())
    by_id = {sc["id"]: sc for sc in res["scenarios"]}
    assert set(by_id) == {"full@v1", "missing-modalities@v2"}
    for sc in res["scenarios"]:
        for cond in sc["conditions"]:
            m = cond["metrics"]
            assert set(m) == {"accuracy", "error_rate", "roc_auc", "f1_weighted", "f1_macro"}
            assert all(len(v) == 3 and 0.0 <= min(v) <= max(v) <= 1.0 for v in m.values())
            np.testing.assert_allclose(np.add(m["error_rate"], m["accuracy"]), 1.0, atol=1e-9)
    # the full condition's AUC is scikit-learn's on the test split, for the checkpoint of seed 0
    import torch

    from modalbench.app.workflows import load_test
    from modalbench.baselines import create_baseline
    from modalbench.engine.checkpoint import load_checkpoint

    test = load_test(root, "higgs", None)
    model = load_checkpoint(runs / "seed-0", create_baseline).eval()
    with torch.inference_mode():
        inputs = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in test.inputs.items()}
        logits = model(inputs, torch.from_numpy(test.natural)).double().numpy()
    want = roc_auc_score(test.labels, logits[:, 1] - logits[:, 0])
    assert by_id["full@v1"]["conditions"][0]["metrics"]["roc_auc"][0] == pytest.approx(want, abs=1e-6)

    board = tmp_path / "board"
    board.mkdir()
    shutil.copy(PACKAGE_DIR / "official.json", board / "official.json")
    assert main(["register-official", "higgs", "--root", root, "--leaderboard", str(board)]) == 0
    assert main(["submit", str(results), "--leaderboard", str(board)]) == 0
    entry = json.loads((board / "leaderboard.json").read_text())["entries"][0]
    assert entry["key"] == "higgs/signal/mul--full-modality" and entry["ranked"]
    assert entry["scenarios"]["full@v1"]["metrics"]["roc_auc"] == res["aggregates"]["full@v1"]["metrics"]["roc_auc"]
    # register-official copied the store's primary metric; the leaderboard ranks and shows HIGGS by ROC AUC
    official = json.loads((board / "official.json").read_text())
    assert official["datasets"]["higgs@v1"]["primary_metrics"] == {"signal": "roc_auc"}
    assert entry["primary_metric"] == "roc_auc" and entry["scenarios"]["full@v1"]["rank"] == 1
    from modalbench.leaderboard.board import load_leaderboard
    from modalbench.leaderboard.view import table_rows

    rows = table_rows(load_leaderboard(board), dataset="higgs")
    ours = [r for r in rows if r["source"] == "reproduced" and r["scenario"] == "full@v1"]
    assert [(r["model"], r["metric"]) for r in ours] == [("mul", "roc_auc")]
    assert ours[0]["mean"] == res["aggregates"]["full@v1"]["metrics"]["roc_auc"]["mean"]
    mul_paper = [r for r in rows if r["source"] == "reported" and r["model"] == "mul" and r["metric"] == "roc_auc"]
    assert sorted(r["mean"] for r in mul_paper) == pytest.approx([0.865, 0.883])  # HIGGS-small, full (Mul Table 2)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("split.test_rows=abc", "higgs: split.test_rows must be an integer >= 1, got 'abc'"),
        ("split.val_fraction=1.5", "higgs: split.val_fraction must be a number in [0, 1), got 1.5"),
        ("subset=tiny", "higgs: subset must be full or small, got 'tiny'"),
    ],
)
def test_bad_parameters_are_one_line_before_any_fetch(tmp_path, monkeypatch, capsys, setting, message):
    from modalbench.app.cli import main

    monkeypatch.setattr(hg.Higgs, "fetch_archive", lambda self, ctx: pytest.fail("fetched before checking"))
    assert main(["prepare", "higgs", "--root", str(tmp_path), "--set", setting]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {message}"]
    assert not (tmp_path / "higgs" / "v1").exists()
