"""Scale-out: prepare on a dask.distributed LocalCluster equals the local scheduler byte for byte;
a real S3 API (moto server on 127.0.0.1, via s3fs) works as a data root end to end."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from modalbench.preprocess.pipeline import prepare


def tree_digest(path: Path) -> dict[str, str]:
    return {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*"))
        if f.is_file()
    }


@pytest.mark.timeout(240)
def test_distributed_prepare_is_byte_identical_to_local(tmp_path):
    local = prepare("synthetic", root=tmp_path / "local", progress=False)
    dist = prepare("synthetic", root=tmp_path / "dist", progress=False, workers=2)
    a, b = tree_digest(local.path), tree_digest(dist.path)
    assert len(a) > 20 and a == b


@pytest.fixture
def s3_root():
    pytest.importorskip("moto")
    pytest.importorskip("s3fs")
    from helpers.s3server import s3_server

    with s3_server("modalbench-ci"):
        yield "s3://modalbench-ci/bench"


@pytest.mark.timeout(240)
def test_s3_root_prepare_scenarios_and_reader(s3_root, tmp_path):
    from modalbench.data import make_loader
    from modalbench.errors import StoreError
    from modalbench.paths import resolve_root
    from modalbench.scenarios import generate_scenarios, load_scenario
    from modalbench.store import locate, open_store

    res = prepare("synthetic", root=s3_root, progress=False)
    assert str(res.path).startswith("s3://modalbench-ci/bench/synthetic/v1/")
    assert prepare("synthetic", root=s3_root, progress=False).skipped  # the marker is read back from S3
    ds = open_store("synthetic", root=s3_root)
    assert ds.attrs["fingerprint"] == res.attrs["fingerprint"]

    # same data as a local prepare
    local = open_store("synthetic", root=prepare("synthetic", root=tmp_path, progress=False).path.parents[2])
    assert local.attrs["fingerprint"] == ds.attrs["fingerprint"]
    np.testing.assert_array_equal(local["m2"].values, ds["m2"].values)

    results = generate_scenarios(s3_root, "synthetic", ["missing-modalities", "block-missing"], seed=0)
    local_results = generate_scenarios(tmp_path, "synthetic", ["missing-modalities", "block-missing"], seed=0)
    assert [r.manifest["sha256"] for r in results] == [r.manifest["sha256"] for r in local_results]
    reader = load_scenario(s3_root, "synthetic", "missing-modalities@v2", seed=0)
    assert reader.condition_table.shape == (255, 8)

    # the training reader with two DataLoader workers, each opening its own S3 file system
    n = sum(len(lab) for _, _, lab in make_loader(s3_root, "synthetic", "train", batch_size=128, num_workers=2))
    assert n == ds.attrs["n_samples"]["train"]

    # an interrupted object-store write has no marker: readers refuse it
    root = resolve_root(s3_root)
    (root / "synthetic" / "v1" / "COMPLETE").unlink()
    with pytest.raises(StoreError, match="not prepared|incomplete"):
        locate(s3_root, "synthetic")
