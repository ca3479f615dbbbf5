"""Fixtures shared by the benchmarks: OPPORTUNITY-shaped synthetic stores and digits."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# the raw-format generators live with the tests (tests/helpers)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

#: OPPORTUNITY's 19 body-worn sensors: 12 3-axis accelerometers, 5 upper-body IMUs (9), 2 shoe IMUs (16) = 113 channels
OPPORTUNITY_CHANNELS = [3] * 12 + [9] * 5 + [16] * 2


def opportunity_shaped(length: int, recordings: int = 6, train_step: int = 1) -> dict:
    return {
        "modalities": 19,
        "channels": OPPORTUNITY_CHANNELS,
        "recordings": recordings,
        "length": length,
        "classes": 5,
        "nan_rate": 0.01,
        "window.step": {"train": train_step, "val": 8, "test": 8},
    }


@pytest.fixture(scope="session")
def bench_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = Path(os.environ.get("MODALBENCH_BENCH_ROOT") or tmp_path_factory.mktemp("bench-root"))
    os.environ["MODALBENCH_HOME"] = str(root)
    return root


@pytest.fixture(scope="session")
def opp_store(bench_root: Path) -> Path:
    """An OPPORTUNITY-shaped synthetic store: 19 modalities, 113 channels, 15-step windows (~40k train windows)."""
    from modalbench.preprocess.pipeline import prepare

    prepare("synthetic", root=bench_root, overrides=opportunity_shaped(20_000, train_step=2), progress=False)
    return bench_root


@pytest.fixture(scope="session")
def digits_store(bench_root: Path) -> Path:
    from modalbench.preprocess.pipeline import prepare

    prepare("digits", root=bench_root, progress=False)
    return bench_root
