"""Benchmark 6 — MM-IMDB prepare throughput: Fuel-layout ``multimodal_imdb.hdf5`` → standardised zarr store.

modalbench (`prepare mmimdb --raw DIR`: h5py reads of ``block_rows`` rows inside dask tasks, twice: train-only
statistics together with the availability counts, then the zarr write) against the obvious script (h5py reads ``features``, ``vgg_features``
and ``genres`` whole, standardises with the training rows' mean/std in numpy, writes one zarr array each), both in
fresh subprocesses on the same generated file in the authors' layout with the published row count (25,959 rows:
300 + 4,096 float32 features per movie, 456 MB of feature data; the 3×256×160 ``images`` dataset is written
empty-chunked, as neither reads it). Reported: MB of feature data per second and each child's peak RSS (VmHWM).
Not part of ``make test``: run ``python -m benchmarks.run benchmarks/test_bench_mmimdb.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from .test_bench_prepare import PEAK

ROWS = (15_552, 2_608, 7_799)  # the published split

MODALBENCH_CHILD = PEAK + textwrap.dedent("""
    import json, sys, time
    from modalbench.preprocess.pipeline import prepare
    raw, root = sys.argv[1], sys.argv[2]
    if __name__ == "__main__":
        t = time.perf_counter()
        prepare("mmimdb", root=root, raw=raw, verification="off", force=True, progress=False)
        print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": own_peak_kb() / 1024}))
""")

REFERENCE_CHILD = PEAK + textwrap.dedent("""
    import json, sys, time
    import h5py
    import numpy as np
    import zarr
    path, out = sys.argv[1], sys.argv[2]
    t = time.perf_counter()
    with h5py.File(path, "r") as f:
        arrays = {name: f[name][...] for name in ("features", "vgg_features", "genres")}
        n_train = 15_552
    group = zarr.open_group(out + "/reference.zarr", mode="w")
    for name in ("features", "vgg_features"):
        x = arrays[name]
        mean, std = x[:n_train].mean(axis=0), x[:n_train].std(axis=0)
        group.create_array(name, data=((x - mean) / np.where(std > 0, std, 1)).astype(np.float32))
    group.create_array("genres", data=arrays["genres"].astype(np.int8))
    print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": own_peak_kb() / 1024}))
""")


@pytest.fixture(scope="module")
def mmimdb_file(tmp_path_factory):
    """A full-size ``multimodal_imdb.hdf5`` in the Fuel layout; returns (raw dir, path, feature MB)."""
    from helpers.mmimdb_fixture import write_fuel_hdf5

    raw = tmp_path_factory.mktemp("mmimdb-raw")
    path = raw / "multimodal_imdb.hdf5"
    write_fuel_hdf5(path, ROWS, seed=0, no_plot=(7, 20_000), no_poster=(11,), pixels=False)
    return raw, path, sum(ROWS) * (300 + 4096) * 4 / 1e6


def _run(code: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_mmimdb_prepare_modalbench(benchmark, mmimdb_file, tmp_path):
    raw, _, mb = mmimdb_file
    benchmark.group = "prepare-mmimdb"
    result = benchmark.pedantic(
        lambda: _run(MODALBENCH_CHILD, str(raw), str(tmp_path / "root")), rounds=1, iterations=1
    )
    benchmark.extra_info.update(
        role="modalbench",
        feature_mb=round(mb, 1),
        mb_per_s=round(mb / result["seconds"], 2),
        peak_rss_mb=round(result["peak_rss_mb"]),
        items=mb,
    )


def test_mmimdb_prepare_reference_h5py(benchmark, mmimdb_file, tmp_path):
    _, path, mb = mmimdb_file
    benchmark.group = "prepare-mmimdb"
    result = benchmark.pedantic(lambda: _run(REFERENCE_CHILD, str(path), str(tmp_path)), rounds=1, iterations=1)
    benchmark.extra_info.update(
        role="reference",
        reference="h5py read-all + numpy standardise + zarr write",
        feature_mb=round(mb, 1),
        mb_per_s=round(mb / result["seconds"], 2),
        peak_rss_mb=round(result["peak_rss_mb"]),
        items=mb,
    )
