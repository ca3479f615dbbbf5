"""Gas-sensor (UCI 251) loader: real excerpt lines, names, resampling, split by location, errors, end-to-end."""

from __future__ import annotations

import hashlib
import importlib.util
import io
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
from modalbench.loaders import gas_sensor as gs
from modalbench.loaders.download import RemoteFile
from modalbench.store import with_window_variables

FIXTURE = DATA_DIR / "gas_sensor" / "WTD_upload.zip"
REAL_NAME = "201012081822_board_setPoint_500V_fan_setPoint_060_mfc_setPoint_CO_1000ppm_p7"
FAST = {"retries": 0, "backoff": 0.0, "timeout": 5.0}
SMALL = {
    "resample": {"method": "bin_mean", "rate_hz": 1.0, "duration_s": 10},
    "window": {"length": 4, "step": {"train": 1, "val": 2, "test": 2}, "label_rule": "last"},
}

_spec = importlib.util.spec_from_file_location("gas_fixture", DATA_DIR / "gas_sensor" / "make_fixture.py")
fx = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(fx)  # type: ignore[union-attr]


def ctx_for(tmp_path: Path, raw_dir: Path | None, verification: str = "strict") -> PrepareContext:
    return PrepareContext(root=str(tmp_path / "root"), raw_dir=raw_dir, verification=verification, progress=False)


def params(**over) -> dict:
    p = gs.GasSensor().default_params()
    p.update(SMALL)
    p.update(over)
    return p


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    d = tmp_path / "raw"
    d.mkdir()
    shutil.copy(FIXTURE, d / gs.LEGACY_NAME)
    return d


def member_bytes(name: str) -> bytes:
    with zipfile.ZipFile(FIXTURE) as zf:
        return zf.read(name)


# ---------------------------------------------------------------- real excerpt


def test_real_excerpt_lines_parse(shared_dir):
    d = shared_dir / "formats" / "gas_open_sampling"
    parts = [(d / f"{REAL_NAME}.{s}").read_bytes() for s in ("head5", "mid3", "tail3")]
    assert all(p.endswith(b"\t\n") for p in parts)  # trailing TAB before the newline
    table = gs.read_numeric_table(io.BytesIO(b"".join(parts)), gs.GAS_FORMAT, where=REAL_NAME, dtype=np.float64)
    assert table.shape == (11, 92)
    assert table[:, 0].tolist() == [0, 11, 31, 40, 60, 31010, 31030, 31050, 259980, 259990, 260000]
    assert (table[:, gs.FLAG_COLUMNS] == 1).all()  # the constant board flags
    assert table[5, 3:6].tolist() == [100, 100, 100] and table[5, 2] == 3435  # gas release, fan reading
    assert table[0, 9] == pytest.approx(24.29) and table[0, 10] == pytest.approx(46.21)
    t, s = gs.parse_gas_file(io.BytesIO(b"".join(parts)), where=REAL_NAME)
    assert s.shape == (11, 8, 9)
    assert s[0, 0, 0] == 490 and s[0, 7, 0] == 665 and s[0, 0, 1] == 291  # B1S1, B1S8, B2S1 of the first line
    assert s[0, 7, 8] == table[0, 12 + 9 * 8 + 7]  # B9S8 = last field
    meta = gs.parse_member_name(f"WTD_upload/CO_1000/L4/{REAL_NAME}")
    assert meta == {
        "gas": "CO",
        "folder": "CO_1000",
        "concentration_ppm": 1000,
        "location": "L4",
        "position": 7,
        "heater_voltage": 5.0,
        "fan_setpoint": 60,
        "fan_rpm": 3900,
        "timestamp": "201012081822",
    }
    r = gs.resample_bins(t, s.reshape(len(t), -1), 260)
    assert r.shape == (260, 72)
    assert r[0, 0] == pytest.approx((490 * 5) / 5)  # bin 0: the five head lines of B1S1 (all 490)
    assert r[31, 9 * 1] == pytest.approx((541 + 541 + 542) / 3)  # bin 31: B1S2 of the three mid lines
    assert np.isnan(r[1]).all()  # the excerpt has no samples in [1, 2) s


# ---------------------------------------------------------------- units


def test_member_names():
    assert gs.parse_member_name("WTD_upload/CO_1000/L4/README") is None
    assert gs.parse_member_name("WTD_upload/CO_1000/L4/") is None
    m = gs.parse_member_name(
        "x/WTD_upload/Toluene_200/L6/201103011200_board_setPoint_400V_fan_setPoint_100_mfc_setPoint_Toluene_200ppm_p11"
    )
    assert m["location"] == "L6" and m["heater_voltage"] == 4.0 and m["fan_rpm"] == 5500 and m["position"] == 11
    with pytest.raises(ModalbenchError, match="disagree"):
        gs.parse_member_name(
            "WTD_upload/CO_1000/L4/201012081822_board_setPoint_500V_fan_setPoint_060_mfc_setPoint_CO_4000ppm_p7"
        )


def test_resample_bin_means_by_hand():
    t = np.array([0, 400, 999, 1000, 1500, 3100, 3999, 4000])
    x = np.array([[1, 10], [2, 20], [3, 30], [4, 40], [6, 60], [7, 70], [9, 90], [100, 100]], dtype=float)
    r = gs.resample_bins(t, x, duration_s=4)
    assert r.dtype == np.float32 and r.shape == (4, 2)
    np.testing.assert_allclose(r[0], [2, 20])  # 0, 400, 999 ms
    np.testing.assert_allclose(r[1], [5, 50])  # 1000, 1500 ms
    assert np.isnan(r[2]).all()  # empty second
    np.testing.assert_allclose(r[3], [8, 80])  # 4000 ms is beyond the 4-s grid
    r2 = gs.resample_bins(t[::-1], x[::-1], duration_s=4)  # order does not matter
    np.testing.assert_array_equal(np.isnan(r), np.isnan(r2))
    np.testing.assert_allclose(np.nan_to_num(r), np.nan_to_num(r2))


def test_trials_ranked_by_timestamp():
    metas = [
        {"folder": "A_1", "location": "L1", "heater_voltage": 5.0, "fan_setpoint": 60, "timestamp": ts}
        for ts in ("201012091030", "201012081822", "201012101000")
    ]
    metas.append(
        {"folder": "A_1", "location": "L2", "heater_voltage": 5.0, "fan_setpoint": 60, "timestamp": "201001010000"}
    )
    gs.assign_trials(metas)
    assert [m["trial"] for m in metas] == [2, 1, 3, 1]


def _fixture_member(folder: str, loc: int) -> str:
    f = next(f for f in fx.FILES if f[0] == folder and f[1] == loc)
    return fx.member_name(*f)


@pytest.mark.parametrize(
    "edit,pattern",
    [
        (lambda ln: ln + b"7\t", r"line 3: 93 fields, expected 92"),
        (lambda ln: ln.split(b"\t", 1)[1], r"line 3: 91 fields, expected 92"),
        (
            lambda ln: b"\t".join([ln.split(b"\t")[0], b"abc", *ln.split(b"\t")[2:]]),
            r"line 3 field 2: 'abc' is not a number",
        ),
    ],
)
def test_malformed_gas_lines(edit, pattern):
    name = _fixture_member("CO_1000", 3)
    lines = member_bytes(name).split(b"\n")
    lines[2] = edit(lines[2])
    bad = b"\n".join(lines)
    with pytest.raises(ModalbenchError, match=pattern):
        gs.parse_gas_file(io.BytesIO(bad), where=name, reopen=lambda: io.BytesIO(bad))


def test_file_without_trailing_tabs_parses_the_same():
    data = member_bytes(_fixture_member("CO_1000", 3))
    t1, s1 = gs.parse_gas_file(io.BytesIO(data), where="a")
    t2, s2 = gs.parse_gas_file(io.BytesIO(data.replace(b"\t\n", b"\r\n")), where="b")
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(s1, s2)


# ---------------------------------------------------------------- load()


def test_load_split_labels_meta_and_values(tmp_path, raw):
    b = gs.GasSensor()
    ctx = ctx_for(tmp_path, raw)
    recs = b.load(params(), ctx)
    by_split: dict[str, list] = {}
    for r in recs:
        by_split.setdefault(r.split, []).append(r)
    assert {k: len(v) for k, v in by_split.items()} == {"train": 8, "val": 3, "test": 3}
    assert {r.meta["location"] for r in by_split["train"]} == {"L1", "L3", "L5"}
    assert {r.meta["location"] for r in by_split["val"]} == {"L2"}
    assert {r.meta["location"] for r in by_split["test"]} == {"L4"}
    assert not any(r.meta["location"] == "L6" for r in recs)
    json.dumps([r.meta for r in recs])
    co1 = sorted(
        (r for r in recs if r.meta["folder"] == "CO_1000" and r.meta["location"] == "L1"),
        key=lambda r: r.meta["timestamp"],
    )
    assert [r.meta["trial"] for r in co1] == [1, 2]
    r = co1[0]
    assert r.meta["concentration_ppm"] == 1000 and r.meta["fan_rpm"] == 3900 and r.meta["heater_voltage"] == 5.0
    assert set(r.streams) == {f"sensor{s}" for s in range(1, 9)}
    assert np.asarray(r.labels["gas"]).tolist() == [gs.GASES.index("CO")] * 10
    k = np.arange(10)
    for s in (1, 4, 8):
        x = r.streams[f"sensor{s}"].compute()
        assert x.shape == (10, 9) and x.dtype == np.float32
        expected = 100 * s + np.arange(1, 10)[None, :] + 10 * k[:, None]
        np.testing.assert_array_equal(x, expected)
    co4 = next(r for r in recs if r.meta["folder"] == "CO_4000" and r.meta["location"] == "L4")
    assert np.asarray(co4.labels["gas"])[0] == gs.GASES.index("CO")  # both CO concentrations: one class
    assert co4.meta["concentration_ppm"] == 4000 and co4.meta["fan_rpm"] == 5500 and co4.meta["heater_voltage"] == 6.0
    assert co4.streams["sensor2"].compute()[3, 4] == 5000 + 200 + 5 + 30
    eth = next(r for r in recs if r.meta["gas"] == "Ethylene")
    assert np.asarray(eth.labels["gas"])[0] == gs.GASES.index("Ethylene")
    gap = next(r for r in recs if r.meta["folder"] == "CO_1000" and r.meta["location"] == "L2")
    x = gap.streams["sensor3"].compute()
    assert np.isnan(x[3:5]).all() and not np.isnan(x[[0, 1, 2, 5, 6, 7, 8, 9]]).any()
    prov = ctx.provenance
    assert prov["members"]["files"] == 16 and prov["members"]["skipped"] == 0
    assert prov["archive"]["name"] == gs.LEGACY_NAME and prov["archive"]["verification"] == "tofu"
    assert prov["archive"]["sha256"] == hashlib.sha256(FIXTURE.read_bytes()).hexdigest()


def test_custom_location_split_and_overlap_error(tmp_path, raw):
    b = gs.GasSensor()
    recs = b.load(params(split={"train": ["L1"], "val": [], "test": ["L6"]}), ctx_for(tmp_path, raw))
    assert sorted(r.split for r in recs) == ["test", "test"] + ["train"] * 4
    with pytest.raises(ModalbenchError, match="L1 is in both train and test"):
        b.load(params(split={"train": ["L1"], "val": [], "test": ["L1"]}), ctx_for(tmp_path, raw))


def test_batches_parse_each_member_once(tmp_path, raw, monkeypatch):
    monkeypatch.setattr(gs.GasSensor, "batch", 2)
    calls = []
    real = gs._parse_batch

    def counting(archive, members, *rest):
        calls.append(members)
        return real(archive, members, *rest)

    monkeypatch.setattr(gs, "_parse_batch", counting)
    recs = gs.GasSensor().load(params(), ctx_for(tmp_path, raw))
    import dask

    dask.compute(*[r.streams["sensor1"] for r in recs], scheduler="synchronous")
    assert calls and all(len(m) <= 2 for m in calls)
    parsed = [x for m in calls for x in m]
    assert len(parsed) == len(set(parsed)) == 14  # every used member once, L6 never


def test_second_pass_reads_the_batch_cache(tmp_path, raw, monkeypatch):
    recs = gs.GasSensor().load(params(), ctx_for(tmp_path, raw))
    first = np.stack([r.streams["sensor5"].compute() for r in recs])
    cache = tmp_path / "root" / "gas-sensor" / "raw" / "WTD_upload.zip.cache"
    assert len(list(cache.glob("*.npy"))) == 13  # one per used (gas folder, location) directory
    assert not list(cache.glob("*incomplete*"))

    def no_parse(*a, **k):
        raise AssertionError("parsed again")

    monkeypatch.setattr(gs, "load_gas_file", no_parse)
    again = gs.GasSensor().load(params(), ctx_for(tmp_path, raw))
    np.testing.assert_array_equal(np.stack([r.streams["sensor5"].compute() for r in again]), first)
    with pytest.raises(AssertionError, match="parsed again"):  # other resampling parameters: new cache key
        gs.GasSensor().load(
            params(resample={"method": "bin_mean", "rate_hz": 1.0, "duration_s": 9}), ctx_for(tmp_path, raw)
        )[0].streams["sensor1"].compute()


def test_nested_uci_download_zip(tmp_path):
    d = tmp_path / "raw"
    d.mkdir()
    with zipfile.ZipFile(d / gs.ARCHIVE_NAME, "w", zipfile.ZIP_STORED) as zf:
        zf.write(FIXTURE, "WTD_upload.zip")
    recs = gs.GasSensor().load(params(), ctx_for(tmp_path, d))
    assert len(recs) == 14
    assert (tmp_path / "root" / "gas-sensor" / "raw" / "WTD_upload.zip").is_file()


def test_malformed_member_error_names_member(tmp_path):
    d = tmp_path / "raw"
    d.mkdir()
    name = _fixture_member("Ethylene_500", 2)
    with zipfile.ZipFile(FIXTURE) as zin, zipfile.ZipFile(d / gs.LEGACY_NAME, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == name:
                lines = data.split(b"\n")
                lines[6] = lines[6].replace(b"\t1\t", b"\t1\tx", 1)
                data = b"\n".join(lines)
            zout.writestr(info, data)
    recs = gs.GasSensor().load(params(), ctx_for(tmp_path, d))
    rec = next(r for r in recs if r.id.endswith(name.split("WTD_upload/")[1]))
    with pytest.raises(ModalbenchError, match=rf"WTD_upload\.zip:{name} line 7 field \d+: 'x\d+' is not a number"):
        rec.streams["sensor1"].compute()


def test_not_a_gas_archive(tmp_path):
    d = tmp_path / "raw"
    d.mkdir()
    with zipfile.ZipFile(d / gs.LEGACY_NAME, "w") as zf:
        zf.writestr("something/else.txt", b"hello")
    with pytest.raises(ModalbenchError, match="no member matches"):
        gs.GasSensor().load(params(), ctx_for(tmp_path, d))


def test_download_from_local_server_and_no_network_message(tmp_path, http_server, monkeypatch):
    url = http_server.add_file("251/WTD_upload.zip", FIXTURE)
    monkeypatch.setattr(
        gs.GasSensor,
        "remote_files",
        lambda self: [RemoteFile(gs.ARCHIVE_NAME, (url,)), RemoteFile(gs.LEGACY_NAME, (url,))],
    )
    monkeypatch.setattr(gs.GasSensor, "fetch_options", FAST)
    assert len(gs.GasSensor().load(params(), ctx_for(tmp_path, None))) == 14
    dead = unused_url(gs.ARCHIVE_NAME)
    monkeypatch.setattr(
        gs.GasSensor,
        "remote_files",
        lambda self: [
            RemoteFile(gs.ARCHIVE_NAME, (dead,), manual=f"download {gs.CANONICAL_URL}"),
            RemoteFile(gs.LEGACY_NAME, (dead,)),
        ],
    )
    with pytest.raises(ModalbenchError) as ei:
        gs.GasSensor().load(params(), ctx_for(tmp_path / "other", None))
    msg = str(ei.value)
    assert gs.ARCHIVE_NAME in msg and str(tmp_path / "other" / "root" / "gas-sensor" / "raw") in msg
    assert gs.CANONICAL_URL in msg


def test_metadata():
    b = gs.GasSensor()
    p = b.default_params()
    mods = b.modalities(p)
    assert [m.name for m in mods] == [f"sensor{s}" for s in range(1, 9)]
    assert all(m.shape == (240, 9) and m.kind == "series" for m in mods)
    assert b.tasks(p)[0].classes == gs.GASES and len(gs.GASES) == 10
    assert p["scaling"]["range"] == [0.0, 1.0]
    assert b.block_missing_lengths(p) == (10, 60)
    assert gs.CANONICAL_URL in b.source_info()["urls"]


# ---------------------------------------------------------------- end to end through the prepare pipeline


def test_prepare_end_to_end(tmp_path, raw):
    pipeline = pytest.importorskip("modalbench.preprocess.pipeline")
    import xarray as xr

    res = pipeline.prepare(
        "gas-sensor",
        root=tmp_path / "root",
        raw=raw,
        progress=False,
        overrides={"resample": SMALL["resample"], "window": SMALL["window"]},
    )
    attrs = res.attrs
    # 10 one-second steps per recording; window 4: 7 train windows (step 1), 4 val/test windows (step 2)
    assert attrs["n_samples"] == {"train": 8 * 7, "val": 3 * 4, "test": 3 * 4}
    assert attrs["classes"] == list(gs.GASES)
    norm = attrs["normalisation"]["sensor1"]
    # train files: sensor 1 board b reads 100 + b + 10 k (k = 0..9), +5000 for CO_4000 (L1 is train)
    assert norm["min"][0] == 101.0 and norm["max"][0] == 5000 + 101 + 90
    ds = with_window_variables(xr.open_zarr(res.path, consolidated=False))
    x = ds["sensor1"].values
    assert np.nanmin(x) >= 0.0 and np.nanmax(x) <= 1.0
    ids = [r["id"] for r in attrs["recordings"]]
    k = next(
        i
        for i, r in enumerate(attrs["recordings"])
        if r["meta"]["folder"] == "CO_1000" and r["meta"]["location"] == "L2"
    )
    start, length = int(ds["recording_start"].values[k]), int(ds["recording_length"].values[k])
    stream = ds["stream_sensor1"].values[start : start + length]
    assert np.isnan(stream[3:5]).all() and not np.isnan(stream[5:]).any()
    assert ds["available"].values.all()  # no window is entirely missing
    assert len(ids) == 14 and attrs["source"]["provenance"]["members"]["files"] == 16


def test_member_declaring_more_than_the_limit_is_refused_before_reading(tmp_path, raw, monkeypatch):
    monkeypatch.setattr(gs.GasSensor, "max_member_bytes", 10_000)  # UCI publishes no sizes: only the limit applies
    with pytest.raises(ModalbenchError) as ei:
        gs.GasSensor().load(params(), ctx_for(tmp_path, raw))
    msg = str(ei.value)
    assert "\n" not in msg and f"archive {raw / gs.LEGACY_NAME}: member 'WTD_upload/" in msg
    assert "more than the 10000 allowed (the limit for members of unknown size); refused before reading" in msg


def test_a_failed_cache_write_leaves_no_file_behind(tmp_path, raw, monkeypatch):
    """The batch cache is written through ``modalbench.atomic``: a write that fails half-way (a full disk) leaves
    neither a truncated ``.npy`` that a later run would read nor a temporary file."""
    real_save = np.save

    def half_then_full(fh, arr, allow_pickle=False):
        fh.write(b"\x93NUMPY partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gs.np, "save", half_then_full)
    recs = gs.GasSensor().load(params(), ctx_for(tmp_path, raw))
    with pytest.raises(OSError, match="No space left"):
        recs[0].streams["sensor5"].compute()
    cache = tmp_path / "root" / "gas-sensor" / "raw" / "WTD_upload.zip.cache"
    assert not cache.exists() or list(cache.iterdir()) == []
    monkeypatch.setattr(gs.np, "save", real_save)
    again = gs.GasSensor().load(params(), ctx_for(tmp_path, raw))
    assert np.isfinite(again[0].streams["sensor5"].compute()).any()
    assert list(cache.glob("*.npy")) and not list(cache.glob("*incomplete*"))
