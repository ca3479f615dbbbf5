"""Benchmark 1 — prepare throughput: raw OPPORTUNITY-format text → windowed store.

modalbench (`prepare opportunity --raw DIR`: streaming from the zip, dask, zarr) against the DeepConvLSTM-style
reference script (``numpy.loadtxt`` of each ``.dat`` + in-memory windowing + ``np.save``), both in fresh
subprocesses on the same synthetic archive (realistic values and NaN rate). Reported: MB of used raw text per second,
peak RSS at two input sizes, and a LocalCluster of 1 and 2 worker processes.
Targets: >= 10× the reference; peak RSS independent of input size; 2 workers >= 1.6× one.
A third row, the *decode floor*, only inflates and parses the same members on 2 threads (pyarrow, nothing
converted beyond the used fields, nothing written): no prepare can beat it, so it bounds the reachable ratio.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile

import pytest

SIZES_ROWS = {"200MB": 7_500, "400MB": 15_000}  # rows per .dat file (24 files)

#: peak RSS of the child itself: Linux carries ``ru_maxrss`` over fork + exec, so RUSAGE_SELF would report the
#: pytest parent's size; VmHWM belongs to the new address space
PEAK = textwrap.dedent("""
    import resource

    def own_peak_kb():
        try:
            with open("/proc/self/status") as fh:
                return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
""")

MODALBENCH_CHILD = PEAK + textwrap.dedent("""
    import json, resource, sys, time
    from modalbench.preprocess.pipeline import prepare
    raw, root, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if __name__ == "__main__":
        t = time.perf_counter()
        prepare("opportunity", root=root, raw=raw, verification="off", force=True, progress=False,
                workers=workers or None)
        secs = time.perf_counter() - t
        rss = max(own_peak_kb(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        print(json.dumps({"seconds": secs, "peak_rss_mb": rss / 1024}))
""")

REFERENCE_CHILD = PEAK + textwrap.dedent("""
    # the DeepConvLSTM-style script: np.loadtxt every session, select the 113 channels, min/max from train,
    # sliding windows (15 steps; step 1 train, 8 val/test) in memory, np.save each split
    import io, json, resource, sys, time, zipfile
    import numpy as np
    from modalbench.loaders.opportunity import CHANNEL_COLUMNS, challenge_split
    archive, out = sys.argv[1], sys.argv[2]
    t = time.perf_counter()
    splits = {"train": [], "val": [], "test": []}
    with zipfile.ZipFile(archive) as zf:
        for name in sorted(zf.namelist()):
            if not name.endswith(".dat"):
                continue
            subj, sess = name.rsplit("/", 1)[1][:-4].split("-")
            split = challenge_split(int(subj[1:]), sess)
            if split is None:
                continue
            data = np.loadtxt(io.BytesIO(zf.read(name)), dtype=np.float32)
            splits[split].append((data[:, CHANNEL_COLUMNS], data[:, 243]))
    train = np.concatenate([x for x, _ in splits["train"]])
    lo, hi = np.nanmin(train, axis=0), np.nanmax(train, axis=0)
    span = np.where(hi > lo, hi - lo, 1)
    for split, recs in splits.items():
        step = 1 if split == "train" else 8
        xs, ys = [], []
        for x, y in recs:
            x = np.clip(2 * (x - lo) / span - 1, -1, 1)
            w = np.lib.stride_tricks.sliding_window_view(x, 15, axis=0)[::step].transpose(0, 2, 1)
            xs.append(np.ascontiguousarray(w))
            ys.append(y[14::step][: len(w)])
        np.save(f"{out}/{split}_x.npy", np.concatenate(xs))
        np.save(f"{out}/{split}_y.npy", np.concatenate(ys))
    secs = time.perf_counter() - t
    print(json.dumps({"seconds": secs, "peak_rss_mb": own_peak_kb() / 1024}))
""")


FLOOR_CHILD = textwrap.dedent("""
    # inflate + parse the used members on 2 threads and drop the result: the cost of reading the input at all
    import io, json, sys, time, zipfile
    from concurrent.futures import ThreadPoolExecutor
    from modalbench.loaders.opportunity import challenge_split, parse_dat
    archive = sys.argv[1]
    names = [n for n in zipfile.ZipFile(archive).namelist() if n.endswith(".dat")
             and challenge_split(int(n.rsplit("/", 1)[1][1]), n.rsplit("-", 1)[1][:-4])]

    def one(name):
        with zipfile.ZipFile(archive) as zf:
            data = zf.read(name)
        return parse_dat(io.BytesIO(data), where=name)[0].shape

    t = time.perf_counter()
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(one, names))
    print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": 0}))
""")


@pytest.fixture(scope="module", params=list(SIZES_ROWS))
def archive(request, tmp_path_factory):
    from helpers.opportunity_synth import write_opportunity_zip
    from modalbench.loaders.opportunity import challenge_split

    raw = tmp_path_factory.mktemp(f"opp-{request.param}")
    path = raw / "OpportunityUCIDataset.zip"
    write_opportunity_zip(path, SIZES_ROWS[request.param], seed=0)
    with zipfile.ZipFile(path) as zf:
        used = sum(
            i.file_size
            for i in zf.infolist()
            if i.filename.endswith(".dat")
            and challenge_split(int(i.filename.rsplit("/", 1)[1][1]), i.filename.rsplit("-", 1)[1][:-4])
        )
    return request.param, raw, path, used / 1e6


def _run(code: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_prepare_modalbench(benchmark, archive, workers, tmp_path):
    """``workers=0``: the local threaded scheduler (2 threads); 1 and 2: a LocalCluster of that many processes
    (the 1-process cluster is the reference of the scaling ratio)."""
    size, raw, _, used_mb = archive
    benchmark.group = f"prepare-{size}"
    result = benchmark.pedantic(
        lambda: _run(MODALBENCH_CHILD, str(raw), str(tmp_path / "root"), str(workers)), rounds=1, iterations=1
    )
    role = {"role": "reference", "reference": "1-worker-cluster"} if workers == 1 else {"role": "modalbench"}
    benchmark.extra_info.update(
        **role,
        workers=workers or "local-threads",
        raw_mb=round(used_mb, 1),
        mb_per_s=round(used_mb / result["seconds"], 2),
        peak_rss_mb=round(result["peak_rss_mb"]),
        items=used_mb,
    )


def test_prepare_reference_loadtxt(benchmark, archive, tmp_path):
    size, _, path, used_mb = archive
    benchmark.group = f"prepare-{size}"
    result = benchmark.pedantic(lambda: _run(REFERENCE_CHILD, str(path), str(tmp_path)), rounds=1, iterations=1)
    benchmark.extra_info.update(
        role="reference",
        reference="loadtxt+numpy",
        raw_mb=round(used_mb, 1),
        mb_per_s=round(used_mb / result["seconds"], 2),
        peak_rss_mb=round(result["peak_rss_mb"]),
        items=used_mb,
    )


def test_prepare_decode_floor(benchmark, archive):
    """Not a reference of the ratio: the bound set by inflating and parsing the input (2 threads, no output)."""
    size, _, path, used_mb = archive
    benchmark.group = f"prepare-{size}"
    result = benchmark.pedantic(lambda: _run(FLOOR_CHILD, str(path)), rounds=1, iterations=1)
    benchmark.extra_info.update(
        role="bound", raw_mb=round(used_mb, 1), mb_per_s=round(used_mb / result["seconds"], 2), items=used_mb
    )
