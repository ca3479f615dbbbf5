"""Store schema, fingerprint, train-only statistics, laziness, atomicity, idempotence and --force."""

import json
import signal
import subprocess
import sys
import time

import dask
import numpy as np
import pytest
import xarray as xr

from helpers.builders import OutlierSeries  # noqa: F401
from modalbench.datasets import PrepareContext
from modalbench.errors import ModalbenchError, StoreError
from modalbench.preprocess import pipeline
from modalbench.preprocess.pipeline import build_dataset, compute_stats, prepare
from modalbench.store import fingerprint, locate, open_store, summary

REQUIRED_ATTRS = {
    "dataset",
    "version",
    "modalities",
    "classes",
    "task",
    "task_type",
    "tasks",
    "source",
    "params",
    "normalisation",
    "split_ranges",
    "n_samples",
    "store_format",
    "modalbench_version",
    "fingerprint",
}


def test_digits_store_schema(digits_root):
    ds = open_store("digits", root=digits_root)
    assert REQUIRED_ATTRS <= set(ds.attrs)
    assert {"left", "right", "label", "split", "available"} <= set(ds.data_vars)
    assert ds["left"].dims == ("sample", "left_channel", "left_height", "left_width")
    assert ds["left"].shape == (1797, 1, 8, 4) and ds["left"].dtype == np.float32
    assert ds["available"].dims == ("sample", "modality") and ds["available"].dtype == bool
    assert sum(ds.attrs["n_samples"].values()) == 1797
    # samples ordered by split, ranges consistent with the split variable
    split = ds["split"].values
    for code, name in enumerate(("train", "val", "test")):
        s, e = ds.attrs["split_ranges"][name]
        assert np.all(split[s:e] == code)
    # every coordinate is an integer range, except the modality names
    for dim, n in ds.sizes.items():
        expected = ["left", "right"] if dim == "modality" else np.arange(n)  # modalities by name
        np.testing.assert_array_equal(ds[dim].values.astype(object if dim == "modality" else None), expected)
    assert ds.attrs["fingerprint"] == fingerprint(ds.attrs)


def test_digits_matches_sklearn_source(digits_root):
    from sklearn.datasets import load_digits

    ds = open_store("digits", root=digits_root)
    imgs = load_digits().images
    # minmax scaling to [0, 1] from train min/max (0 and 16 for these images)
    st = ds.attrs["normalisation"]["left"]
    assert st["min"] == [0.0] and st["max"] == [16.0]
    left = ds["left"].values[:, 0] * 16.0
    right = ds["right"].values[:, 0] * 16.0
    both = np.concatenate([left, right], axis=2)
    # each stored sample is one of the source images, halves kept together, labels consistent
    key = {img.tobytes(): lab for img, lab in zip(imgs.astype(np.float32), load_digits().target)}
    labels = ds["label"].values
    hits = [key.get(np.round(b).astype(np.float32).tobytes()) for b in both]
    assert all(h is not None for h in hits)
    assert np.mean(np.asarray(hits) == labels) == 1.0


def test_fingerprint_stable_across_runs(tmp_path):
    a = prepare("digits", root=tmp_path / "a", progress=False)
    b = prepare("digits", root=tmp_path / "b", progress=False)
    assert a.attrs["fingerprint"] == b.attrs["fingerprint"]
    c = prepare("digits", root=tmp_path / "c", overrides={"split.seed": 1}, progress=False)
    assert c.attrs["fingerprint"] != a.attrs["fingerprint"]


def test_train_only_statistics_ignore_outliers_in_val_and_test():
    b = OutlierSeries()
    params = b.default_params()
    items = b.load(params, PrepareContext(root="."))
    stats = compute_stats(b, params, items)["stats"]["s"]
    train = np.concatenate([np.asarray(r.streams["s"]) for r in items if r.split == "train"])
    np.testing.assert_allclose(stats["min"], np.nanmin(train, axis=0))
    np.testing.assert_allclose(stats["max"], np.nanmax(train, axis=0))
    np.testing.assert_allclose(stats["mean"], np.nanmean(train, axis=0), rtol=1e-6)
    assert max(stats["max"]) < 100  # the val/test outliers (1e6) did not leak in


class _Raise:
    def __call__(self, *a, **k):
        raise AssertionError("a dask compute happened before to_zarr")


def test_building_the_dataset_is_lazy(tmp_path):
    b = OutlierSeries()
    params = b.default_params()
    ctx = PrepareContext(root=str(tmp_path))
    items = b.load(params, ctx)
    computed = compute_stats(b, params, items)
    with dask.config.set(scheduler=_Raise()):
        ds = build_dataset(b, params, items, computed, ctx)
    assert "s" not in ds  # store format 2: windows are cut from the streams when read
    assert isinstance(ds["stream_s"].data, dask.array.Array)
    with dask.config.set(scheduler=_Raise()), pytest.raises(AssertionError, match="before to_zarr"):
        _ = ds["stream_s"].values


def test_windowed_store_respects_recordings(synthetic_root):
    ds = open_store("synthetic", root=synthetic_root)
    p = ds.attrs["params"]["window"]
    rec = ds["recording"].values
    off = ds["offset"].values
    lengths = ds["recording_length"].values
    starts = ds["recording_start"].values
    assert np.all(off + p["length"] <= lengths[rec])  # no window crosses a recording
    # window count per recording follows the formula with the split's step
    rsplit = ds["recording_split"].values
    for r in range(len(lengths)):
        step = p["step"][("train", "val", "test")[rsplit[r]]]
        assert np.sum(rec == r) == (lengths[r] - p["length"]) // step + 1
    # windows equal slices of the stored continuous streams; labels follow the 'last' rule
    x = ds["m0"].values
    stream = ds["stream_m0"].values
    for i in (0, len(rec) // 2, len(rec) - 1):
        s = starts[rec[i]] + off[i]
        np.testing.assert_array_equal(x[i], stream[s : s + p["length"]])
        assert ds["label"].values[i] == ds["stream_label"].values[s + p["length"] - 1]
    # availability: all-NaN windows are unavailable, others available
    allnan = np.isnan(x).all(axis=(1, 2))
    np.testing.assert_array_equal(ds["available"].values[:, 0], ~allnan)
    # train-only minmax scaling to [-1, 1]: train streams span exactly the range
    tr = rsplit[rec] == 0
    assert np.nanmin(x[tr]) == pytest.approx(-1.0) and np.nanmax(x[tr]) == pytest.approx(1.0)


def test_rerun_is_noop_and_changed_params_need_force(tmp_path):
    prepare("digits", root=tmp_path, progress=False)
    marker = tmp_path / "digits" / "v1" / "COMPLETE"
    before = marker.stat().st_mtime_ns
    t = time.perf_counter()
    res = prepare("digits", root=tmp_path, progress=False)
    assert res.skipped and time.perf_counter() - t < 5  # generous: the claim itself is measured in benchmarks
    assert marker.stat().st_mtime_ns == before
    with pytest.raises(StoreError, match="--force"):
        prepare("digits", root=tmp_path, overrides={"split.seed": 7}, progress=False)
    res = prepare("digits", root=tmp_path, overrides={"split.seed": 7}, force=True, progress=False)
    assert not res.skipped
    assert json.loads(marker.read_text())["params"]["split"]["seed"] == 7


def test_failure_midway_leaves_no_store(tmp_path, monkeypatch):
    real = pipeline.write_store

    def broken(ds, path, progress=True, **kw):
        real(ds, path, progress=progress, **kw)  # the store is fully written ...
        raise RuntimeError("disk full")  # ... but the prepare still fails

    monkeypatch.setattr(pipeline, "write_store", broken)
    with pytest.raises(RuntimeError):
        prepare("digits", root=tmp_path, progress=False)
    with pytest.raises(StoreError, match="not prepared"):
        locate(tmp_path, "digits")
    assert not (tmp_path / "digits" / "v1").exists()
    assert not (tmp_path / "digits" / "v1.incomplete").exists()


def test_killed_prepare_is_not_accepted_and_recovers(tmp_path):
    code = (
        "import os, signal\n"
        "from modalbench.preprocess import pipeline\n"
        "real = pipeline.write_store\n"
        "def w(ds, path, progress=True, **kw):\n"
        "    real(ds, path, progress=progress, **kw)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "pipeline.write_store = w\n"
        f"pipeline.prepare('digits', root={str(tmp_path)!r}, progress=False)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert (tmp_path / "digits" / "v1.incomplete" / "store.zarr").exists()
    with pytest.raises(StoreError, match="incomplete"):
        open_store("digits", root=tmp_path)
    res = prepare("digits", root=tmp_path, progress=False)
    assert not res.skipped and summary(tmp_path, "digits")["n_samples_total"] == 1797
    assert not (tmp_path / "digits" / "v1.incomplete").exists()


def test_store_is_chunked_along_sample_with_blosc_zstd(synthetic_root):
    import zarr

    path, _ = locate(synthetic_root, "synthetic")
    g = zarr.open_group(str(path), mode="r")
    assert "m0" not in g  # windows are not stored (store format 2)
    arr = g["stream_m0"]
    assert arr.chunks[1:] == arr.shape[1:]
    codecs = [type(c).__name__ for c in arr.compressors]
    assert codecs == ["BloscCodec"] and arr.compressors[0].cname.value == "zstd"
    assert arr.compressors[0].shuffle.value == "bitshuffle"


def test_virtual_window_variables_index_like_stored_ones(synthetic_root):
    ds = open_store("synthetic", root=synthetic_root)
    assert ds["m1"].attrs["virtual"] == "windows of stream_m1" and ds["m1"].dims == ("sample", "time", "m1_channel")
    g = ds["recording_start"].values[ds["recording"].values] + ds["offset"].values
    stream = ds["stream_m1"].values
    expected = np.stack([stream[s : s + 15] for s in g])
    np.testing.assert_array_equal(ds["m1"].values, expected)
    np.testing.assert_array_equal(ds["m1"].isel(sample=[7, 2, 40]).values, expected[[7, 2, 40]])
    np.testing.assert_array_equal(ds["m1"].isel(sample=5, time=slice(3, 9), m1_channel=1).values, expected[5, 3:9, 1])
    np.testing.assert_array_equal(ds["m1"].isel(sample=slice(10, 20), time=-1).values, expected[10:20, -1])
    lazy = open_store("synthetic", root=synthetic_root, chunks={})
    assert isinstance(lazy["m1"].data, dask.array.Array)
    np.testing.assert_array_equal(lazy["m1"][100:130].values, expected[100:130])
    assert "m1" in summary(synthetic_root, "synthetic")["virtual_variables"]


def test_fingerprint_ignores_library_versions(tmp_path, monkeypatch):
    """The fingerprint covers data and preprocessing; library versions are provenance outside it."""
    import sklearn

    a = prepare("digits", root=tmp_path / "a", progress=False)
    monkeypatch.setattr(sklearn, "__version__", "0.0.1-other")
    b = prepare("digits", root=tmp_path / "b", progress=False)
    assert b.attrs["provenance"]["libraries"]["scikit-learn"] == "0.0.1-other"
    assert a.attrs["provenance"] != b.attrs["provenance"]
    assert a.attrs["fingerprint"] == b.attrs["fingerprint"] == fingerprint(b.attrs)
    assert "0.0.1-other" not in json.dumps({k: v for k, v in b.attrs.items() if k != "provenance"})
    # the data file itself is covered: its sha256 is in the fingerprinted source
    (entry,) = a.attrs["source"]["files"]
    assert len(entry["sha256"]) == 64 and entry["size"] > 10_000
    changed = dict(b.attrs, source={**b.attrs["source"], "files": [dict(entry, sha256="0" * 64)]})
    assert fingerprint(changed) != a.attrs["fingerprint"]


def test_store_version_is_the_registered_builders():
    from modalbench.store import store_version

    assert store_version("digits") == "v1"


def test_xarray_view_names_modalities_and_plain_open_zarr_is_quiet(digits_root) -> None:
    import warnings

    from modalbench.store import locate

    ds = open_store("digits", root=digits_root)
    assert [str(m) for m in ds["modality"].values] == ["left", "right"]
    assert ds["available"].sel(modality="left").shape == (ds.sizes["sample"],)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # consolidated metadata: no "failed to open with consolidated" warning
        plain = xr.open_zarr(str(locate(digits_root, "digits")[0]))
    assert [str(m) for m in plain["modality"].values] == ["left", "right"]
    with pytest.warns(DeprecationWarning, match="open_store\\(name, root=root"):
        old = open_store(digits_root, "digits")  # the former argument order still works during the transition
    assert old.attrs["fingerprint"] == ds.attrs["fingerprint"]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("avmnist", ("avmnist", None)), ("avmnist@v1-regen", ("avmnist", "v1-regen")), ("digits@v1", ("digits", "v1"))],
)
def test_split_dataset_ref(ref: str, expected: tuple[str, str | None]) -> None:
    from modalbench.store import split_dataset_ref

    assert split_dataset_ref(ref) == expected


@pytest.mark.parametrize("ref", ["avmnist@", "@v1", "a@b@c"])
def test_a_malformed_dataset_ref_is_one_line(ref: str) -> None:
    from modalbench.store import split_dataset_ref

    with pytest.raises(ModalbenchError, match="expected NAME or NAME@VERSION") as ei:
        split_dataset_ref(ref)
    assert "\n" not in str(ei.value)


def test_name_at_version_reaches_that_store(digits_root) -> None:
    from modalbench.store import is_prepared, locate, store_version

    assert store_version("digits@v1", digits_root) == "v1"
    assert locate(digits_root, "digits@v1")[0] == locate(digits_root, "digits")[0]
    assert is_prepared(digits_root, "digits@v1") and not is_prepared(digits_root, "digits@v9")
    with pytest.raises(StoreError, match="'digits' v9 is not prepared"):
        open_store("digits@v9", root=digits_root)


def test_rebuild_command_names_the_bare_dataset_and_the_parameters_of_that_version():
    from modalbench.datasets import get_dataset
    from modalbench.store import rebuild_command

    builder = get_dataset("avmnist")
    params = builder.default_params()
    params["source"] = "regenerate"
    assert builder.version_for(params) == "v1-regen"
    assert rebuild_command("avmnist@v1-regen", params) == "modalbench prepare avmnist --set source=regenerate --force"
    assert rebuild_command("digits", get_dataset("digits").default_params()) == "modalbench prepare digits --force"
    nested = get_dataset("higgs").default_params()
    nested["split"]["test_rows"] = 400
    assert rebuild_command("higgs", nested) == "modalbench prepare higgs --set split.test_rows=400 --force"
