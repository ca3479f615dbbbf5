"""OPPORTUNITY loader: column/label tables vs the real files, parsing, errors, checksums, split, end-to-end prepare."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import threading
import time
import tracemalloc
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from helpers import DATA_DIR, zipbombs
from helpers import opportunity_synth as synth
from helpers.httpserver import unused_url
from modalbench.datasets import PrepareContext
from modalbench.errors import ModalbenchError
from modalbench.loaders import opportunity as op
from modalbench.loaders import opportunity_columns as oc
from modalbench.loaders.download import RemoteFile
from modalbench.store import with_window_variables

FIXTURE = DATA_DIR / "opportunity" / "OpportunityUCIDataset.zip"
MEMBER = op.MEMBER_DIR + "{}.dat"
FAST = {"retries": 0, "backoff": 0.0, "timeout": 5.0}


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    d = tmp_path / "raw"
    d.mkdir()
    shutil.copy(FIXTURE, d / op.LEGACY_NAME)
    return d


def ctx_for(tmp_path: Path, raw_dir: Path | None, verification: str = "warn") -> PrepareContext:
    return PrepareContext(root=str(tmp_path / "root"), raw_dir=raw_dir, verification=verification, progress=False)


def fixture_checksums(path: Path = FIXTURE) -> dict[str, tuple[str, int]]:
    with zipfile.ZipFile(path) as zf:
        return {
            Path(n).name: (hashlib.sha256(zf.read(n)).hexdigest(), zf.getinfo(n).file_size)
            for n in zf.namelist()
            if n.endswith(".dat")
        }


def member_text(name: str, path: Path = FIXTURE) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(MEMBER.format(name))


def naive_parse(data: bytes) -> np.ndarray:
    """Independent reference parser: split every line on whitespace, float() every token."""
    return np.array([[float(t) for t in line.split()] for line in data.decode().splitlines() if line.strip()])


def rezip(
    src: Path,
    dst: Path,
    *,
    drop: tuple[str, ...] = (),
    add: dict[str, bytes] | None = None,
    replace: dict[str, bytes] | None = None,
) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for n in zin.namelist():
            if any(n.endswith(d) for d in drop):
                continue
            zout.writestr(n, (replace or {}).get(n, zin.read(n)))
        for n, data in (add or {}).items():
            zout.writestr(n, data)
    return dst


# ---------------------------------------------------------------- tables derived from the real files


def test_modalities_derived_from_real_column_names(shared_dir):
    text = (shared_dir / "formats/opportunity/column_names.txt").read_text(encoding="latin-1")
    cols = oc.parse_column_names(text)
    assert len(cols) == 250
    assert oc.derive_modalities(cols) == oc.MODALITY_COLUMNS
    assert oc.derive_label_columns(cols) == oc.LABEL_COLUMNS
    oc.check_column_names(text)
    groups = oc.MODALITY_COLUMNS
    assert len(groups) == 19 and sum(len(g.columns) for g in groups) == 113
    flat = [c for g in groups for c in g.columns]
    expected = (
        list(range(2, 38))
        + list(range(38, 47))
        + list(range(51, 60))
        + list(range(64, 73))
        + list(range(77, 86))
        + list(range(90, 99))
        + list(range(103, 135))
    )
    assert flat == expected  # the column ranges named in the issue
    assert [len(g.columns) for g in groups] == [3] * 12 + [9] * 5 + [16] * 2
    assert not any("Quaternion" in c for g in groups for c in g.channels)
    assert oc.LABEL_COLUMNS["Locomotion"] == 244 and oc.LABEL_COLUMNS["ML_Both_Arms"] == 250


def test_committed_tables_are_the_generators_output_verbatim() -> None:
    """The tables name the shared channel tuples and column ranges once; regenerating them changes nothing."""
    source = Path(oc.__file__).read_text()
    assert oc.render_python(oc.MODALITY_COLUMNS, oc.LABEL_COLUMNS) in source
    assert {g.channels for g in oc.MODALITY_COLUMNS} == set(oc.CHANNEL_SET_NAMES)
    assert oc.IMU_CHANNELS[:3] == oc.ACC_CHANNELS and len(oc.SHOE_CHANNELS) == 16


def test_modified_column_names_are_rejected(shared_dir):
    text = (shared_dir / "formats/opportunity/column_names.txt").read_text(encoding="latin-1")
    bad = text.replace(
        "Column: 47 InertialMeasurementUnit BACK Quaternion1", "Column: 47 InertialMeasurementUnit BACK gyroW"
    )
    assert bad != text
    with pytest.raises(ModalbenchError, match="imu_back"):
        oc.check_column_names(bad, where="x/column_names.txt")
    with pytest.raises(ModalbenchError, match="expected 250"):
        oc.parse_column_names(text.replace("Column: 250 ML_Both_Arms", ""))


def test_class_tables_match_label_legend(shared_dir):
    raw = (shared_dir / "formats/opportunity/label_legend.txt").read_bytes()
    assert b"\r\n" in raw  # the real file is CRLF
    legend = oc.parse_label_legend(raw.decode("latin-1"))
    assert oc.LOCOMOTION_CLASSES == ("null",) + tuple(legend["Locomotion"][i] for i in (1, 2, 4, 5))
    assert oc.GESTURE_CLASSES[1:] == tuple(legend["ML_Both_Arms"][i] for i in oc.GESTURE_IDS)
    assert len(oc.GESTURE_CLASSES) == 18 and oc.GESTURE_CLASSES[1] == "Open Door 1"
    assert oc.GESTURE_CLASSES[17] == "Toggle Switch"
    assert set(legend["ML_Both_Arms"]) == set(oc.GESTURE_IDS)


def test_member_checksums_match_lfs_pointers(shared_dir):
    text = (shared_dir / "formats/opportunity/lfs_pointers_dat.txt").read_text()
    got = {m[0]: (m[1], int(m[2])) for m in re.findall(r"(S\d-\w+\.dat) .*?oid sha256:([0-9a-f]{64}) size (\d+)", text)}
    assert len(got) == 24
    assert got == op.DAT_CHECKSUMS


def test_synthetic_layout_matches_real_column_kinds(shared_dir):
    text = (shared_dir / "formats/opportunity/column_names.txt").read_text(encoding="latin-1")
    assert synth.layout_from_column_names(oc.parse_column_names(text)) == synth.LAYOUT


# ---------------------------------------------------------------- protocol


@pytest.mark.parametrize(
    "subject,session,s4,expected",
    [
        (1, "ADL3", False, "train"),
        (1, "Drill", False, "train"),
        (2, "ADL1", False, "train"),
        (3, "Drill", False, "train"),
        (2, "ADL3", False, "val"),
        (3, "ADL3", False, "val"),
        (2, "ADL4", False, "test"),
        (3, "ADL5", False, "test"),
        (4, "ADL1", False, None),
        (4, "ADL3", True, "val"),
        (4, "Drill", True, "train"),
        (4, "ADL5", True, "test"),
    ],
)
def test_challenge_split(subject, session, s4, expected):
    assert op.challenge_split(subject, session, s4) == expected


def test_label_mapping_and_unknown_ids():
    raw = np.array([0, 1, 2, 4, 5], dtype=np.float32)
    assert op.map_labels(raw, op._LOCO, where="w", column=244).tolist() == [0, 1, 2, 3, 4]
    g = np.array([0, *oc.GESTURE_IDS], dtype=np.float32)
    assert op.map_labels(g, op._GEST, where="w", column=250).tolist() == list(range(18))
    with pytest.raises(ModalbenchError, match=r"w line 2 column 244: unknown label id 3"):
        op.map_labels(np.array([1, 3], np.float32), op._LOCO, where="w", column=244)
    with pytest.raises(ModalbenchError, match=r"line 1 column 250: label nan"):
        op.map_labels(np.array([np.nan], np.float32), op._GEST, where="w", column=250)


# ---------------------------------------------------------------- parsing


def test_parse_values_and_labels_of_fixture_member():
    data = member_text("S1-ADL1")
    x, y = op.parse_dat(io.BytesIO(data), where="S1-ADL1.dat")
    ref = naive_parse(data)
    assert x.shape == (20, 113) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x, ref[:, op.CHANNEL_COLUMNS].astype(np.float32))
    assert x[:, 0].tolist() == [10.0 * i for i in range(20)]  # column 2 = 10 i
    assert y[:, 0].tolist() == [1] * 10 + [4] * 10  # raw 1 (Stand) -> 1, raw 5 (Lie) -> 4
    assert y[:, 1].tolist() == [0] * 6 + [1] * 8 + [17] * 6  # 406516 -> 1, 405506 -> 17


def test_channel_mapping_row():
    x, _ = op.parse_dat(io.BytesIO(member_text("S1-ADL2")), where="S1-ADL2.dat")
    cols = op.CHANNEL_COLUMNS + 1  # 1-based file columns
    assert np.array_equal(x[0, 1:], 10.0 * cols[1:])  # row 0 holds 10·column in every column >= 3
    slices = op.modality_slices()
    assert x[0, slices["imu_rua"]].tolist() == [10.0 * c for c in range(51, 60)]  # quaternions 47–50 skipped
    assert x[0, slices["imu_r_shoe"]][-1] == 1340.0  # R-SHOE Compass = column 134


def test_nan_kept_and_crlf_tolerated():
    x, _ = op.parse_dat(io.BytesIO(member_text("S2-ADL3")), where="S2-ADL3.dat")
    hip = op.modality_slices()["acc_hip"]
    assert np.isnan(x[:21, hip]).all() and not np.isnan(x[21:, hip]).any()
    crlf = member_text("S3-ADL1")
    assert b"\r\n" in crlf
    x2, y2 = op.parse_dat(io.BytesIO(crlf), where="S3-ADL1.dat")
    x3, y3 = op.parse_dat(io.BytesIO(crlf.replace(b"\r\n", b"\n")), where="lf")
    np.testing.assert_array_equal(x2, x3)
    np.testing.assert_array_equal(y2, y3)


def _broken(data: bytes, line: int, fn) -> bytes:
    lines = data.split(b"\n")
    lines[line - 1] = fn(lines[line - 1])
    return b"\n".join(lines)


@pytest.mark.parametrize(
    "edit,pattern",
    [
        (lambda ln: ln + b" 7", r"S1-ADL1\.dat line 3: 251 fields, expected 250"),
        (lambda ln: ln.rsplit(b" ", 1)[0], r"S1-ADL1\.dat line 3: 249 fields, expected 250"),
        (
            lambda ln: b" ".join([*ln.split()[:6], b"12a", *ln.split()[7:]]),
            r"S1-ADL1\.dat line 3 field 7: '12a' is not a number",
        ),
        (lambda ln: b"\n" + ln, r"S1-ADL1\.dat line 3: blank line inside the data"),
    ],
)
def test_malformed_rows_name_member_line_and_field(edit, pattern):
    bad = _broken(member_text("S1-ADL1"), 3, edit)
    rows = op.scan_stream(io.BytesIO(bad))[2]  # as load() does: rows counted before parsing
    with pytest.raises(ModalbenchError, match=pattern):
        op.parse_dat(io.BytesIO(bad), where="S1-ADL1.dat", rows=rows, reopen=lambda: io.BytesIO(bad))


def test_fast_path_checks_fields_it_does_not_convert():
    """Quaternion field 47 is not used (not converted by the fast path), yet a bad token there is still reported."""
    assert 46 not in op.CHANNEL_COLUMNS
    bad = _broken(member_text("S1-ADL1"), 4, lambda ln: b" ".join([*ln.split()[:46], b"n/a", *ln.split()[47:]]))
    rows = op.scan_stream(io.BytesIO(bad))[2]
    with pytest.raises(ModalbenchError, match=r"S1-ADL1\.dat line 4 field 47: 'n/a' is not a number"):
        op.parse_dat(io.BytesIO(bad), where="S1-ADL1.dat", rows=rows, reopen=lambda: io.BytesIO(bad))


def test_fast_and_general_parsers_agree():
    text = _broken(member_text("S1-ADL1"), 2, lambda ln: b" ".join([ln.split()[0], b"NaN", *ln.split()[2:]]))
    fast = op.parse_dat(io.BytesIO(text), where="a")
    spaced = op.parse_dat(io.BytesIO(text.replace(b" ", b"  ")), where="b")  # runs of spaces: the pandas path
    for f, g in zip(fast, spaced):
        np.testing.assert_array_equal(f, g)
    assert np.isnan(fast[0][1, 0]) and not np.isnan(fast[0][0, 0])  # NaN kept by both paths


def test_unknown_label_in_file_names_line():
    bad = _broken(member_text("S1-ADL1"), 5, lambda ln: ln.rsplit(b" ", 1)[0] + b" 999")
    with pytest.raises(ModalbenchError, match=r"S1-ADL1\.dat line 5 column 250: unknown label id 999"):
        op.parse_dat(io.BytesIO(bad), where="S1-ADL1.dat")


def test_scan_stream_counts_rows():
    assert op.scan_stream(io.BytesIO(b"1 2\n3 4\n"))[1:] == (8, 2)
    assert op.scan_stream(io.BytesIO(b"1 2\n3 4"))[2] == 2
    assert op.scan_stream(io.BytesIO(b"1 2\n3 4\n\n \r\n"))[2] == 2
    assert op.scan_stream(io.BytesIO(b""))[2] == 0
    data = member_text("S3-ADL1")
    digest, size, rows = op.scan_stream(io.BytesIO(data), block=1000)  # rows across block boundaries
    assert (digest, size, rows) == (hashlib.sha256(data).hexdigest(), len(data), 20)


def test_synthetic_generator_round_trip(tmp_path):
    p = tmp_path / "S9-ADL1.dat"
    size = synth.write_opportunity_dat(p, 3000, seed=5, nan_rate=0.1, chunk_rows=700)
    data = p.read_bytes()
    assert size == len(data) and not (tmp_path / "S9-ADL1.dat.incomplete").exists()
    ref = naive_parse(data)
    assert ref.shape == (3000, 250)
    assert np.array_equal(ref[:, 0], np.round(np.arange(3000) * 1000 / 30))
    sensors = ref[:, 1:243]
    assert 0.02 < np.isnan(sensors).mean() < 0.15  # NaN runs near the requested rate
    assert not np.isnan(ref[:, 243:]).any()
    for col, ids in synth.LABEL_IDS.items():
        assert set(np.unique(ref[:, col - 1]).astype(int)) <= set(ids)
    x, _ = op.parse_dat(io.BytesIO(data), where="synthetic")  # every label is in the real id space
    assert x.shape == (3000, 113)
    synth.write_opportunity_dat(tmp_path / "again.dat", 3000, seed=5, nan_rate=0.1, chunk_rows=700)
    assert (tmp_path / "again.dat").read_bytes() == data  # deterministic in the seed


# ---------------------------------------------------------------- load()


def test_load_challenge_split_and_recordings(tmp_path, raw):
    ctx = ctx_for(tmp_path, raw)
    b = op.Opportunity()
    with pytest.warns(UserWarning, match="--verification warn"):
        recs = b.load(b.default_params(), ctx)
    by_split: dict[str, set[str]] = {}
    for r in recs:
        by_split.setdefault(r.split, set()).add(r.id)
    s23 = {f"S{k}-{s}" for k in (2, 3) for s in ("ADL1", "ADL2", "Drill")}
    assert by_split["train"] == {f"S1-{s}" for s in op.SESSIONS} | s23
    assert by_split["val"] == {"S2-ADL3", "S3-ADL3"}
    assert by_split["test"] == {"S2-ADL4", "S2-ADL5", "S3-ADL4", "S3-ADL5"}
    rec = next(r for r in recs if r.id == "S1-ADL1")
    assert set(rec.streams) == {g.name for g in oc.MODALITY_COLUMNS}
    assert rec.streams["imu_l_shoe"].shape == (20, 16) and rec.streams["acc_hip"].dtype == np.float32
    assert rec.labels["gestures"].compute().tolist() == [0] * 6 + [1] * 8 + [17] * 6
    assert rec.meta["subject"] == "S1" and rec.meta["session"] == "ADL1"
    json.dumps([r.meta for r in recs])  # json-able
    prov = ctx.provenance["members"]
    assert prov["mode"] == "warn" and prov["status"] == "mismatch"
    assert prov["members"]["S1-ADL1.dat"]["status"] == "mismatch"
    assert prov["members"]["S1-ADL1.dat"]["expected_sha256"] == op.DAT_CHECKSUMS["S1-ADL1.dat"][0]
    assert ctx.provenance["archive"]["name"] == op.LEGACY_NAME


def test_include_s4(tmp_path, raw):
    b = op.Opportunity()
    params = b.default_params() | {"include_s4": True}
    recs = b.load(params, ctx_for(tmp_path, raw, "off"))
    s4 = {r.id: r.split for r in recs if r.id.startswith("S4")}
    assert s4 == {
        "S4-ADL1": "train",
        "S4-ADL2": "train",
        "S4-Drill": "train",
        "S4-ADL3": "val",
        "S4-ADL4": "test",
        "S4-ADL5": "test",
    }


def test_strict_mismatch_names_both_hashes_and_override(tmp_path, raw):
    b = op.Opportunity()
    with pytest.raises(ModalbenchError) as ei:
        b.load(b.default_params(), ctx_for(tmp_path, raw, "strict"))
    msg = str(ei.value)
    actual = fixture_checksums()["S1-ADL1.dat"][0]
    assert op.DAT_CHECKSUMS["S1-ADL1.dat"][0] in msg and actual in msg
    assert "--verification warn" in msg and "third-party" in msg


def test_strict_passes_with_matching_checksums_and_uses_scan_cache(tmp_path, raw, monkeypatch):
    monkeypatch.setattr(op.Opportunity, "member_checksums", fixture_checksums())
    b = op.Opportunity()
    ctx = ctx_for(tmp_path, raw, "strict")
    recs = b.load(b.default_params(), ctx)
    assert len(recs) == 18
    assert ctx.provenance["members"]["status"] == "ok"
    assert all(m["status"] == "ok" for m in ctx.provenance["members"]["members"].values())

    def no_rescan(*a, **k):
        raise AssertionError("members were scanned again")

    monkeypatch.setattr(op, "_scan_member", no_rescan)
    monkeypatch.setattr(op, "_parse_and_keep", no_rescan)
    again = ctx_for(tmp_path, raw, "strict")
    assert len(b.load(b.default_params(), again)) == 18
    assert again.provenance["members"] == ctx.provenance["members"]  # every member, from the caches


def test_nested_uci_wrapper_zip(tmp_path):
    d = tmp_path / "raw"
    d.mkdir()
    with zipfile.ZipFile(d / op.ARCHIVE_NAME, "w", zipfile.ZIP_STORED) as zf:
        zf.write(FIXTURE, "OpportunityUCIDataset.zip")
        zf.writestr("readme.txt", b"wrapper")
    b = op.Opportunity()
    ctx = ctx_for(tmp_path, d, "off")
    recs = b.load(b.default_params(), ctx)
    assert len(recs) == 18
    inner = tmp_path / "root" / "opportunity" / "raw" / "OpportunityUCIDataset.zip"
    assert inner.is_file() and inner.read_bytes() == FIXTURE.read_bytes()
    assert ctx.provenance["archive"]["name"] == op.ARCHIVE_NAME


def test_archive_column_names_is_checked(tmp_path, shared_dir):
    real = (shared_dir / "formats/opportunity/column_names.txt").read_bytes()
    d = tmp_path / "raw"
    d.mkdir()
    good = rezip(FIXTURE, d / op.LEGACY_NAME, add={op.MEMBER_DIR + "column_names.txt": real})
    b = op.Opportunity()
    assert len(b.load(b.default_params(), ctx_for(tmp_path, d, "off"))) == 18
    bad = real.replace(b"Column: 2 Accelerometer RKN^ accX", b"Column: 2 Accelerometer RKN^ quatX")
    rezip(FIXTURE, good, add={op.MEMBER_DIR + "column_names.txt": bad})
    with pytest.raises(ModalbenchError, match="column_names.txt"):
        b.load(b.default_params(), ctx_for(tmp_path, d, "off"))


def test_missing_member_is_named(tmp_path):
    d = tmp_path / "raw"
    d.mkdir()
    rezip(FIXTURE, d / op.LEGACY_NAME, drop=("S2-ADL3.dat",))
    b = op.Opportunity()
    with pytest.raises(ModalbenchError, match=r"missing member\(s\) OpportunityUCIDataset/dataset/S2-ADL3\.dat"):
        b.load(b.default_params(), ctx_for(tmp_path, d, "off"))


def test_malformed_member_error_surfaces_when_loading(tmp_path):
    """Members are parsed once, while loading: a bad row stops the load, naming the member, line and field."""
    d = tmp_path / "raw"
    d.mkdir()
    name = MEMBER.format("S2-ADL4")
    bad = _broken(member_text("S2-ADL4"), 4, lambda ln: ln.replace(b" ", b" x", 1))
    rezip(FIXTURE, d / op.LEGACY_NAME, replace={name: bad})
    b = op.Opportunity()
    where = r"OpportunityUCIDataset\.zip:OpportunityUCIDataset/dataset/S2-ADL4\.dat"
    with pytest.raises(ModalbenchError, match=where + " line 4 field 2"):
        b.load(b.default_params(), ctx_for(tmp_path, d, "off"))


def test_members_are_parsed_once_and_kept(tmp_path, monkeypatch):
    d = tmp_path / "raw"
    d.mkdir()
    shutil.copy(FIXTURE, d / op.LEGACY_NAME)
    b = op.Opportunity()
    first = b.load(b.default_params(), ctx_for(tmp_path, d, "off"))
    ref = {r.id: r.streams["imu_back"].compute() for r in first}
    calls = []
    real = op._parse_and_keep
    monkeypatch.setattr(op, "_parse_and_keep", lambda *a: calls.append(a[1]) or real(*a))
    again = b.load(b.default_params(), ctx_for(tmp_path, d, "off"))
    assert calls == []  # the kept arrays were read, not the text
    for r in again:
        np.testing.assert_array_equal(r.streams["imu_back"].compute(), ref[r.id])
    archive, _ = b.fetch_archive(ctx_for(tmp_path, d, "off"))
    os.utime(archive, ns=(1, 1))  # another archive (new mtime): parsed again
    b.load(b.default_params(), ctx_for(tmp_path, d, "off"))
    assert len(calls) == len(first)


def test_download_from_local_server(tmp_path, http_server, monkeypatch):
    url = http_server.add_file("226/opportunity.zip", FIXTURE)
    monkeypatch.setattr(
        op.Opportunity,
        "remote_files",
        lambda self: [RemoteFile(op.ARCHIVE_NAME, (url,)), RemoteFile(op.LEGACY_NAME, (url,))],
    )
    monkeypatch.setattr(op.Opportunity, "fetch_options", FAST)
    b = op.Opportunity()
    ctx = ctx_for(tmp_path, None, "off")
    assert len(b.load(b.default_params(), ctx)) == 18
    assert (tmp_path / "root" / "opportunity" / "raw" / op.ARCHIVE_NAME).is_file()
    assert ctx.provenance["archive"]["sha256"] == hashlib.sha256(FIXTURE.read_bytes()).hexdigest()


def test_no_network_error_names_url_file_and_place(tmp_path, monkeypatch):
    b0 = op.Opportunity()
    url = unused_url(op.ARCHIVE_NAME)
    real = b0.remote_files()[0]
    monkeypatch.setattr(
        op.Opportunity,
        "remote_files",
        lambda self: [RemoteFile(op.ARCHIVE_NAME, (url,), manual=real.manual), RemoteFile(op.LEGACY_NAME, (url,))],
    )
    monkeypatch.setattr(op.Opportunity, "fetch_options", FAST)
    with pytest.raises(ModalbenchError) as ei:
        op.Opportunity().load(b0.default_params(), ctx_for(tmp_path, None))
    msg = str(ei.value)
    assert op.ARCHIVE_NAME in msg and str(tmp_path / "root" / "opportunity" / "raw") in msg
    assert op.CANONICAL_URL in msg  # the manual hint names the real URL


def test_source_info_lists_member_checksums():
    info = op.Opportunity().source_info()
    assert op.CANONICAL_URL in info["urls"]
    files = {f["name"]: f for f in info["files"]}
    assert files[op.MEMBER_DIR + "S3-Drill.dat"]["size"] == 72116889
    assert len(files) == 25


# ---------------------------------------------------------------- end to end through the prepare pipeline


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    pipeline = pytest.importorskip("modalbench.preprocess.pipeline")
    import xarray as xr

    base = tmp_path_factory.mktemp("opp-e2e")
    d = base / "raw"
    d.mkdir()
    shutil.copy(FIXTURE, d / op.LEGACY_NAME)
    with pytest.warns(UserWarning):
        res = pipeline.prepare("opportunity", root=base / "root", raw=d, verification="warn", progress=False)
    return with_window_variables(xr.open_zarr(res.path, consolidated=False)), res.attrs


def test_prepare_window_counts_and_labels(prepared):
    ds, attrs = prepared
    # train: 12 files of 20 rows (6 windows, step 1) + S1-ADL3..5 of 23 rows (9 windows); val/test: 23 rows, step 8
    assert attrs["n_samples"] == {"train": 9 * 6 + 3 * 9, "val": 2 * 2, "test": 4 * 2}
    assert attrs["n_recordings"] == 18
    assert attrs["classes"] == list(oc.LOCOMOTION_CLASSES)
    assert attrs["tasks"]["gestures"]["classes"] == list(oc.GESTURE_CLASSES)
    ids = [r["id"] for r in attrs["recordings"]]
    k = ids.index("S1-ADL1")
    sel = (ds["recording"] == k).values
    assert ds["offset"].values[sel].tolist() == [0, 1, 2, 3, 4, 5]
    assert ds["label"].values[sel].tolist() == [4] * 6  # last sample rows 14..19: raw 5 (Lie)
    assert ds["label_gestures"].values[sel].tolist() == [17] * 6
    assert attrs["source"]["provenance"]["members"]["mode"] == "warn"


def test_prepare_scales_from_train_only(prepared):
    ds, attrs = prepared
    norm = attrs["normalisation"]["acc_rkn_upper"]
    assert norm["min"][0] == 0.0 and norm["max"][0] == 220.0  # column 2 in train files only (5000 elsewhere)
    lo, hi = attrs["split_ranges"]["val"][0], attrs["split_ranges"]["test"][1]
    x = ds["acc_rkn_upper"].values
    np.testing.assert_allclose(x[lo:hi, :, 0], 1.0)  # 5000 clipped to the top of [-1, 1]
    tr = attrs["split_ranges"]["train"]
    np.testing.assert_allclose([x[tr[0] : tr[1], :, 0].min(), x[tr[0] : tr[1], :, 0].max()], [-1.0, 1.0], atol=1e-6)
    k = [r["id"] for r in attrs["recordings"]].index("S1-ADL1")
    first = int(np.flatnonzero((ds["recording"] == k).values)[0])
    np.testing.assert_allclose(x[first, :, 0], -1.0 + 2.0 * (10.0 * np.arange(15)) / 220.0, atol=1e-6)


def test_prepare_nan_becomes_unavailable_or_partial(prepared):
    ds, attrs = prepared
    ids = [r["id"] for r in attrs["recordings"]]
    k = ids.index("S2-ADL3")
    sel = np.flatnonzero((ds["recording"] == k).values)
    assert ds["offset"].values[sel].tolist() == [0, 8]
    m = [mm["name"] for mm in attrs["modalities"]].index("acc_hip")
    avail = ds["available"].values[sel]
    assert avail[:, m].tolist() == [False, True]  # rows 0–14 all NaN; rows 8–22 partly
    w = ds["acc_hip"].values[sel[1]]
    assert np.isnan(w[:13]).all() and not np.isnan(w[13:]).any()  # rows 8–20 NaN, 21–22 present
    lh = [mm["name"] for mm in attrs["modalities"]].index("acc_lh")
    assert avail[0, lh] and np.isnan(ds["acc_lh"].values[sel[0]][3]).all()  # one NaN row: still available


def test_synthetic_zip_is_accepted_by_the_loader(tmp_path):
    d = tmp_path / "raw"
    total = synth.write_opportunity_zip(d / op.LEGACY_NAME, rows_per_file=40, seed=3, nan_rate=0.05)
    with zipfile.ZipFile(d / op.LEGACY_NAME) as zf:
        names = zf.namelist()
        assert len(names) == 24 and sum(i.file_size for i in zf.infolist()) == total
    recs = op.Opportunity().load(op.Opportunity().default_params(), ctx_for(tmp_path, d, "off"))
    assert len(recs) == 18 and all(r.length == 40 for r in recs)
    assert recs[0].streams["imu_back"].compute().shape == (40, 9)


def test_builder_metadata_and_val_exclusion():
    b = op.Opportunity()
    p = b.default_params()
    mods = b.modalities(p)
    assert [m.name for m in mods] == [g.name for g in oc.MODALITY_COLUMNS]
    assert mods[0].shape == (15, 3) and mods[0].channels == ("accX", "accY", "accZ")
    assert mods[-1].shape == (15, 16) and mods[-1].channels[-1] == "Compass"
    assert [t.name for t in b.tasks(p)] == ["locomotion", "gestures"]
    assert b.block_missing_lengths(p) == (300, 900)
    assert p["window"] == {"length": 15, "step": {"train": 1, "val": 8, "test": 8}, "label_rule": "last"}
    assert p["scaling"] == {"method": "minmax", "range": [-1.0, 1.0], "clip": True}
    assert b.val_excluded_classes(p) == {"gestures": (0,)}
    assert b.val_excluded_classes(p | {"exclude_null_val": False}) == {}
    with pytest.raises(ModalbenchError, match="only 'challenge'"):
        b.load(p | {"split": "random"}, PrepareContext(root="unused"))


# ---------------------------------------------------------------- hostile archives, raw directory, mirrors


@pytest.mark.parametrize("mode", ["strict", "warn", "off"])
def test_zip_bomb_member_is_refused_before_reading_with_bounded_memory(tmp_path, monkeypatch, mode):
    monkeypatch.setattr(op.Opportunity, "member_checksums", fixture_checksums())
    d = tmp_path / "raw"
    d.mkdir()
    bomb = zipbombs.replace_with_zeros(FIXTURE, d / op.LEGACY_NAME, "S1-ADL1.dat", mib=64)
    assert bomb.stat().st_size < 1_000_000
    b = op.Opportunity()
    tracemalloc.start()
    try:
        with pytest.raises(ModalbenchError) as ei:
            b.load(b.default_params(), ctx_for(tmp_path, d, mode))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(ei.value)
    assert "\n" not in msg and f"archive {bomb}: member '{MEMBER.format('S1-ADL1')}' declares 67108864 bytes" in msg
    assert peak < 8 * zipbombs.MIB  # the 64 MiB member was never inflated
    assert not (tmp_path / "root" / "opportunity" / "raw" / f"{op.LEGACY_NAME}.parsed").exists()


def lying_bomb(raw_dir: Path, name: str = "S1-ADL1") -> Path:
    """The fixture archive with member ``name`` replaced by 8 MiB of zeros whose headers claim 4,000 bytes."""
    raw_dir.mkdir(exist_ok=True)
    bomb = zipbombs.replace_with_zeros(FIXTURE, raw_dir / op.LEGACY_NAME, f"{name}.dat", mib=8)
    zipbombs.lie_about_size(bomb, MEMBER.format(name), 4000)
    return bomb


def test_member_whose_data_outgrows_its_declared_size_is_a_one_line_error(tmp_path, monkeypatch):
    d = tmp_path / "raw"
    bomb = lying_bomb(d)
    member = MEMBER.format("S1-ADL1")
    b = op.Opportunity()
    limits = b.member_limits(bomb, [member], "off")
    assert limits == {member: 4000}  # the declared size: what load() passes to the member readers
    # the bomb's own read, alone in this thread (no other member allocates meanwhile): bounded by its limit
    for read in (
        partial(op._parse_and_keep, str(bomb), member, True, tmp_path / "kept"),
        partial(op._scan_member, str(bomb), member, True),
    ):
        tracemalloc.start()
        try:
            with pytest.raises(ModalbenchError, match="cannot read member"):
                read(max_bytes=limits[member])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < zipbombs.MIB  # 8 MiB of zeros behind the header: never inflated
    monkeypatch.setattr(op.Opportunity, "threads", 1)
    with pytest.raises(ModalbenchError) as ei:
        b.load(b.default_params(), ctx_for(tmp_path, d, "off"))
    msg = str(ei.value)
    assert "\n" not in msg and f"archive {bomb}: cannot read member '{member}'" in msg


@pytest.mark.parametrize(
    "bomb_name,verification,reader",
    [("S1-ADL1", "off", "_parse_and_keep"), ("S4-ADL1", "warn", "_scan_member")],  # a used / an unused member
)
def test_an_error_stops_the_member_threads_before_load_raises(tmp_path, monkeypatch, bomb_name, verification, reader):
    """The failing member is first in order; the next one is slow: load raises only after it has finished and
    no member starts after the error."""
    d = tmp_path / "raw"
    bomb = lying_bomb(d, bomb_name)
    other_started = threading.Event()
    started: list[str] = []
    finished: list[str] = []
    real = getattr(op, reader)

    def slow_or_bomb(archive: str, member: str, *rest):
        if member == MEMBER.format(bomb_name):
            other_started.wait(10)  # fail while another member is running
            return real(archive, member, *rest)
        started.append(member)
        other_started.set()
        time.sleep(0.5)
        result = real(archive, member, *rest)
        finished.append(member)
        return result

    monkeypatch.setattr(op, reader, slow_or_bomb)
    b = op.Opportunity()
    assert b.threads == 2
    with pytest.raises(ModalbenchError, match=f"archive {re.escape(str(bomb))}: cannot read member"):
        b.load(b.default_params(), ctx_for(tmp_path, d, verification))
    at_raise = list(started), list(finished)
    alive = [t.name for t in threading.enumerate() if t.name.startswith(op.MEMBER_THREAD_PREFIX)]
    assert at_raise[0] and at_raise[0] == at_raise[1]  # the member running beside the bomb had finished
    assert alive == []
    assert len(started) < 5  # not every member: they stopped being handed out
    time.sleep(0.7)
    assert (started, finished) == at_raise  # and nothing ran after load raised


def test_run_per_member_reports_the_first_failing_member_in_order_not_in_time():
    c_failed = threading.Event()
    ran: list[str] = []

    def task(member: str) -> op.MemberScan:
        ran.append(member)
        if member == "c":
            c_failed.set()
            raise ModalbenchError("c is broken")
        if member == "a":
            c_failed.wait(10)  # a fails after c, in time
            raise ModalbenchError("a is broken")
        return op.MemberScan(member, None, 0, 0)

    with pytest.raises(ModalbenchError, match="a is broken"):
        op.run_per_member(task, ["a", "b", "c", "d"], threads=2)
    assert sorted(ran) == ["a", "b", "c"]  # d was not handed out after c failed


def test_run_per_member_keeps_member_order_and_starts_nothing_after_an_error():
    def task(member: str) -> op.MemberScan:
        time.sleep(0.02 * (4 - len(member)))  # the earlier members finish last
        return op.MemberScan(member, None, len(member), 0)

    members = ["a", "bb", "ccc", "dddd"]
    assert [r.member for r in op.run_per_member(task, members, threads=2)] == members
    assert [r.member for r in op.run_per_member(task, members, threads=8)] == members
    assert op.run_per_member(task, [], threads=2) == []
    ran: list[str] = []

    def fail_on_b(member: str) -> op.MemberScan:
        ran.append(member)
        if member == "b":
            raise ModalbenchError("b is broken")
        return op.MemberScan(member, None, 0, 0)

    with pytest.raises(ModalbenchError, match="b is broken"):
        op.run_per_member(fail_on_b, ["a", "b", "c", "d"], threads=1)
    assert ran == ["a", "b"]


def test_prepare_context_mirrors_are_tried_before_uci(tmp_path, http_server, monkeypatch):
    http_server.add_file(f"copy/opportunity/{op.ARCHIVE_NAME}", FIXTURE)
    dead = unused_url(op.ARCHIVE_NAME)
    monkeypatch.setattr(op.Opportunity, "canonical_url", dead)
    monkeypatch.setattr(op.Opportunity, "legacy_url", dead)
    monkeypatch.setattr(op.Opportunity, "fetch_options", FAST)
    ctx = PrepareContext(
        root=str(tmp_path / "root"), mirrors=(http_server.url("copy"),), verification="off", progress=False
    )
    b = op.Opportunity()
    assert len(b.load(b.default_params(), ctx)) == 18
    assert [r.path for r in http_server.requests] == [f"copy/opportunity/{op.ARCHIVE_NAME}"]
    assert ctx.provenance["archive"]["name"] == op.ARCHIVE_NAME


def test_members_are_read_by_the_cluster_workers_on_a_cluster_and_by_local_threads_otherwise(tmp_path, monkeypatch):
    import dask
    import dask.threaded
    from distributed import Client

    from modalbench.cluster import local_cluster

    archive = tmp_path / op.LEGACY_NAME
    shutil.copy(FIXTURE, archive)
    members = sorted(m for m in zipfile.ZipFile(archive).namelist() if m.endswith(".dat"))[:2]
    local = []
    real = op.run_per_member
    monkeypatch.setattr(op, "run_per_member", lambda *a, **k: local.append(1) or real(*a, **k))
    with dask.config.set(scheduler=dask.threaded.get):
        assert not op.on_a_cluster()
        here = op.scan_members(archive, members, hash_it=True)
    assert local == [1]
    with local_cluster(1) as cluster, Client(cluster):
        assert op.on_a_cluster()
        there = op.scan_members(archive, members, hash_it=True)
    assert local == [1]  # the cluster read them
    assert here == there
