"""The local prepare path: no dask.distributed import without a cluster; per-dataset store compression."""

from __future__ import annotations

import subprocess
import sys

import xarray as xr

from modalbench.preprocess.pipeline import encoding_for, prepare


def test_local_prepare_does_not_import_distributed(tmp_path):
    code = (
        "import sys\n"
        "from modalbench.preprocess.pipeline import prepare\n"
        f"prepare('digits', root={str(tmp_path)!r}, progress=False)\n"
        "print('distributed' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_stores_are_compressed_unless_the_dataset_opts_out(tmp_path):
    res = prepare("digits", root=tmp_path, progress=False)
    ds = xr.open_zarr(res.path, consolidated=False)
    (codec,) = ds["left"].encoding["compressors"]
    assert codec.cname.value == "zstd"
    assert all(e["compressors"] == () for e in encoding_for(ds, compress=False).values())
