"""Benchmark — NTU RGB+D skeleton parse + resample throughput (files/s).

modalbench's parser (``loaders/ntu_skeleton.py``: a scan over the frame and body header lines, every joint line
converted by one call of numpy's C text reader, field counts checked from the separator positions, then the two most
active bodies, uniform resampling to 64 frames and centring) against a straightforward per-file Python parser
(line by line, ``float()`` per field; the same selection, resampling and centring). Input: the real
``S001C001P001R001A001.skeleton`` (103 frames, 1 body; ``../shared/formats/ntu``, skipped when absent) and 40
generated files of 30-300 frames with one to three bodies. Items = files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers.ntu_fixture import random_sequence, reference_sample
from modalbench.loaders.ntu_skeleton import read_skeleton

REAL = Path(__file__).resolve().parents[2] / "shared" / "formats" / "ntu" / "S001C001P001R001A001.skeleton"


@pytest.fixture(scope="module")
def files() -> list[bytes]:
    if not REAL.is_file():
        pytest.skip(f"{REAL} is absent")
    rng = np.random.default_rng(0)
    generated = [
        random_sequence(rng, int(rng.integers(30, 301)), n_bodies=int(rng.integers(1, 4))).encode() for _ in range(40)
    ]
    return [REAL.read_bytes(), *generated]


def test_ntu_skeleton_modalbench(benchmark, files):
    benchmark.group = "ntu-skeleton-parse"
    benchmark.extra_info.update(role="modalbench", items_are="files")

    def run():
        out = [read_skeleton(data, "bench", frames=64) for data in files]
        assert out[0].xyz.shape == (64, 2, 25, 3)
        return len(out)

    benchmark.extra_info["items"] = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)


def test_ntu_skeleton_python_parser(benchmark, files):
    """Reference: the per-line parser of tests/helpers/ntu_fixture.py with the same sample rules."""
    benchmark.group = "ntu-skeleton-parse"
    benchmark.extra_info.update(role="reference", reference="per-line python parser")

    def run():
        out = [reference_sample(data, 64) for data in files]
        assert out[0].shape == (64, 2, 25, 3)
        return len(out)

    benchmark.extra_info["items"] = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
