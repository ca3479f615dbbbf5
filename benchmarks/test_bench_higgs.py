"""Benchmark 5 — HIGGS prepare throughput: ``HIGGS.csv.gz`` text → standardised float32 sample store.

modalbench (`prepare higgs --raw DIR`: one streaming decompression into reused buffers, blocks parsed by the C fast
path in 2 threads into a float32 ``.npy`` cache while the archive is hashed, train statistics from one fused pass per
block, dask + zarr for the store) against the obvious script
(``pandas.read_csv`` of the whole ``.gz``, default float64, then ``np.save``), both in fresh subprocesses on the
same generated file: ≥ 1 GB of text in the exact UCI format (29 fields, ``%.18e``, gzip level 6), made of four
distinct seeded 100,000-row blocks repeated (gzip's 32 KB window never sees the repetition).
Reported: MB of text per second, MB per CPU-second (user + system time of the child, all its threads, from the start
of the timed work, so imports count in neither figure: the honest figure on a machine shared with other jobs, where
wall time measures the neighbours too) and each child's peak RSS (VmHWM). Both children import what they use
before their timer starts (pandas; modalbench's pipeline, loader, zarr, numcodecs, fsspec). The decode floor row only decompresses the file (ISA-L igzip, no parsing): no prepare can beat it.
Targets: ≥ 3× the reference, peak RSS < 1 GB.
Not part of ``make test``: run ``python -m benchmarks.run benchmarks/test_bench_higgs.py``
(``HIGGS_BENCH_TEXT_MB=300`` for a quicker run on a smaller file).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap

import pytest

from .test_bench_prepare import PEAK

TEXT_BYTES = int(float(os.environ.get("HIGGS_BENCH_TEXT_MB", "1050")) * 1e6)
BLOCK_ROWS = 100_000

CPU = textwrap.dedent("""
    def own_cpu_seconds():
        import resource
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
""")

MODALBENCH_CHILD = (
    PEAK
    + CPU
    + textwrap.dedent("""
    import json, sys, time
    from modalbench.preprocess.pipeline import prepare
    import modalbench.loaders.higgs, zarr, numcodecs, fsspec  # what prepare imports: the reference's pandas import is untimed too
    raw, root = sys.argv[1], sys.argv[2]
    if __name__ == "__main__":
        t, c = time.perf_counter(), own_cpu_seconds()
        prepare("higgs", root=root, raw=raw, verification="off", force=True, progress=False,
                overrides={"split.test_rows": 100_000})  # files smaller than the real one
        print(json.dumps({"seconds": time.perf_counter() - t, "cpu_seconds": own_cpu_seconds() - c,
                          "peak_rss_mb": own_peak_kb() / 1024}))
""")
)

REFERENCE_CHILD = (
    PEAK
    + CPU
    + textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import pandas as pd
    path, out = sys.argv[1], sys.argv[2]
    t, c = time.perf_counter(), own_cpu_seconds()
    table = pd.read_csv(path, header=None).to_numpy()
    np.save(out + "/higgs.npy", table)
    print(json.dumps({"seconds": time.perf_counter() - t, "cpu_seconds": own_cpu_seconds() - c,
                      "peak_rss_mb": own_peak_kb() / 1024}))
""")
)

DECODE_CHILD = (
    PEAK
    + CPU
    + textwrap.dedent("""
    import json, sys, time
    from isal import igzip
    path = sys.argv[1]
    t, c = time.perf_counter(), own_cpu_seconds()
    with igzip.open(path, "rb") as fh:
        while fh.read(4 << 20):
            pass
    print(json.dumps({"seconds": time.perf_counter() - t, "cpu_seconds": own_cpu_seconds() - c,
                      "peak_rss_mb": own_peak_kb() / 1024}))
""")
)


@pytest.fixture(scope="module")
def higgs_file(tmp_path_factory):
    """``HIGGS.csv.gz`` with at least TEXT_BYTES of text; returns (raw dir, path, text MB)."""
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tests" / "data" / "higgs"))
    from make_fixture import higgs_text, make_rows

    raw = tmp_path_factory.mktemp("higgs-raw")
    path = raw / "HIGGS.csv.gz"
    blocks = [higgs_text(make_rows(BLOCK_ROWS, seed=s)) for s in range(4)]
    written = 0
    with (
        open(path, "wb") as fh,
        gzip.GzipFile(filename="HIGGS.csv", mode="wb", fileobj=fh, mtime=0, compresslevel=6) as gz,
    ):
        k = 0
        while written < TEXT_BYTES:
            gz.write(blocks[k % 4])
            written += len(blocks[k % 4])
            k += 1
    return raw, path, written / 1e6


def _run(code: str, *args: str) -> dict:
    os.sync()  # every child starts with no dirty pages to write back (the generated file, the previous child's output)
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _record(benchmark, result: dict, text_mb: float, role: str, **extra) -> None:
    benchmark.extra_info.update(
        role=role,
        text_mb=round(text_mb, 1),
        mb_per_s=round(text_mb / result["seconds"], 2),
        mb_per_cpu_s=round(text_mb / result["cpu_seconds"], 2),
        cpu_seconds=round(result["cpu_seconds"], 2),
        peak_rss_mb=round(result["peak_rss_mb"]),
        items=text_mb,
        **extra,
    )


def test_higgs_decode_floor(benchmark, higgs_file, tmp_path):
    _, path, text_mb = higgs_file
    benchmark.group = "prepare-higgs"
    result = benchmark.pedantic(lambda: _run(DECODE_CHILD, str(path)), rounds=1, iterations=1)
    _record(benchmark, result, text_mb, "floor", floor="igzip decode only")


def test_higgs_prepare_modalbench(benchmark, higgs_file, tmp_path):
    raw, _, text_mb = higgs_file
    benchmark.group = "prepare-higgs"
    result = benchmark.pedantic(
        lambda: _run(MODALBENCH_CHILD, str(raw), str(tmp_path / "root")), rounds=1, iterations=1
    )
    _record(benchmark, result, text_mb, "modalbench")


def test_higgs_prepare_reference_pandas(benchmark, higgs_file, tmp_path):
    _, path, text_mb = higgs_file
    benchmark.group = "prepare-higgs"
    result = benchmark.pedantic(lambda: _run(REFERENCE_CHILD, str(path), str(tmp_path)), rounds=1, iterations=1)
    _record(benchmark, result, text_mb, "reference", reference="pandas.read_csv+np.save")
