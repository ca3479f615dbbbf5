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


# ---------------------------------------------------------------- representation=raw: mmimdb.tar.gz → store
#
# modalbench (`prepare mmimdb --raw DIR --set representation=raw`: one streaming pass over the tar.gz, posters
# decoded and letterboxed to 3×256×160 in batches of 256 written as blocks, plots tokenised with a train-only
# vocabulary, zarr write; one decoding thread and dask's synchronous scheduler, i.e. one core like the reference)
# against the plain script: `tarfile.extractall` to disk, then a loop that reads every JSON (tokenises the plot)
# and letterboxes every JPEG with Pillow into one in-memory uint8 array, then `np.save`. Both on the same generated
# archive in the real layout (RAW_MOVIES movies, posters of 120–300 × 80–200 pixels, JPEG quality 90), in fresh
# subprocesses. Reported: members (JSON + JPEG) per second and each child's peak RSS (VmHWM).

RAW_MOVIES = (3_000, 500, 1_500)

RAW_MODALBENCH_CHILD = PEAK + textwrap.dedent("""
    import json, sys, time
    import dask
    from modalbench.loaders.mmimdb import MMIMDB
    from modalbench.preprocess.pipeline import prepare
    raw, root = sys.argv[1], sys.argv[2]
    MMIMDB.threads = 1  # one decoding thread and dask's synchronous scheduler: one core, like the reference
    if __name__ == "__main__":
        t = time.perf_counter()
        with dask.config.set(scheduler="synchronous"):
            prepare("mmimdb", root=root, raw=raw, verification="off", force=True, progress=False,
                    overrides={"representation": "raw"})
        print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": own_peak_kb() / 1024}))
""")

RAW_REFERENCE_CHILD = PEAK + textwrap.dedent("""
    import json, re, sys, tarfile, time
    from pathlib import Path
    import numpy as np
    from PIL import Image
    path, out = sys.argv[1], Path(sys.argv[2])
    t = time.perf_counter()
    with tarfile.open(path, "r:gz") as tf:
        tf.extractall(out / "extracted", filter="data")
    folder = out / "extracted" / "mmimdb" / "dataset"
    ids = sorted(p.stem for p in folder.glob("*.json"))
    images = np.zeros((len(ids), 3, 256, 160), dtype=np.uint8)
    plots = []
    for k, i in enumerate(ids):
        doc = json.loads((folder / f"{i}.json").read_text())
        plots.append(re.findall(r"[a-z0-9']+", " ".join(doc.get("plot") or []).lower()))
        poster = folder / f"{i}.jpeg"
        if not poster.exists():
            continue
        try:
            with Image.open(poster) as img:
                rgb = img.convert("RGB")
        except OSError:
            continue
        w, h = rgb.size
        s = min(256 / h, 160 / w)
        nw, nh = max(1, min(160, round(w * s))), max(1, min(256, round(h * s)))
        small = np.asarray(rgb.resize((nw, nh), Image.Resampling.BILINEAR))
        top, left = (256 - nh) // 2, (160 - nw) // 2
        images[k, :, top:top + nh, left:left + nw] = small.transpose(2, 0, 1)
    np.save(out / "images.npy", images)
    print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": own_peak_kb() / 1024}))
""")


@pytest.fixture(scope="module")
def mmimdb_archive(tmp_path_factory):
    """A ``mmimdb.tar.gz`` in the authors' layout with RAW_MOVIES movies; returns (raw dir, path, members)."""
    import json as json_mod

    import numpy as np

    from helpers.mmimdb_fixture import GENRES
    from helpers.mmimdb_raw_fixture import WORDS, jpeg_bytes, write_tar_gz

    rng = np.random.default_rng(0)
    raw = tmp_path_factory.mktemp("mmimdb-archive")
    members = []
    split: dict[str, list[str]] = {}
    for k, (name, n) in enumerate(zip(("train", "dev", "test"), RAW_MOVIES)):
        split[name] = [f"{k + 1}{i:06d}" for i in range(n)]
        for i in split[name]:
            plot = [" ".join(rng.choice(WORDS, int(rng.integers(20, 200)))) + "."]
            genres = [GENRES[j] for j in rng.choice(23, 2, replace=False)]
            doc = {"title": i, "genres": genres, "plot": plot, "imdbID": i}
            members.append((f"mmimdb/dataset/{i}.json", json_mod.dumps(doc).encode()))
            h, w = int(rng.integers(120, 300)), int(rng.integers(80, 200))
            base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
            pixels = np.ascontiguousarray(np.kron(base, np.ones((8, 8, 1), np.uint8))[:h, :w])
            members.append((f"mmimdb/dataset/{i}.jpeg", jpeg_bytes(pixels, quality=90)))
    members.append(("mmimdb/split.json", json_mod.dumps(split).encode()))
    path = raw / "mmimdb.tar.gz"
    write_tar_gz(path, members)
    return raw, path, len(members)


def _run_raw(benchmark, code: str, args: list[str], n: int, **info: str) -> None:
    """One round of ``code`` in a fresh child; records members/s and the child's peak RSS."""
    benchmark.group = "prepare-mmimdb-raw"
    result = benchmark.pedantic(lambda: _run(code, *args), rounds=1, iterations=1)
    rate = round(n / result["seconds"], 1)
    benchmark.extra_info.update(info, members=n, members_per_s=rate, peak_rss_mb=round(result["peak_rss_mb"]), items=n)


def test_mmimdb_raw_prepare_modalbench(benchmark, mmimdb_archive, tmp_path):
    raw, _, n = mmimdb_archive
    _run_raw(benchmark, RAW_MODALBENCH_CHILD, [str(raw), str(tmp_path / "root")], n, role="modalbench")


def test_mmimdb_raw_prepare_reference_extract_then_pillow(benchmark, mmimdb_archive, tmp_path):
    _, path, n = mmimdb_archive
    reference = "tarfile extractall + Pillow loop + np.save"
    _run_raw(benchmark, RAW_REFERENCE_CHILD, [str(path), str(tmp_path)], n, role="reference", reference=reference)
