"""Benchmark 3 — robustness sweep: all 14,319 missing-modality conditions of a 19-modality model over an
OPPORTUNITY-sized test set (~9,800 windows).

The evaluator's encode-once fast path (encode each test batch once, then only ``fuse`` per condition, several
conditions batched together) against running the full forward per condition. The plain path is timed on a
subset of conditions and reported per condition; the fast path runs all of them.
Targets: fast >= 20× plain per condition; the whole sweep under 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modalbench.baselines.registry import create_baseline
from modalbench.data import open_reader
from modalbench.engine.evaluation import evaluate_conditions
from modalbench.preprocess.pipeline import prepare
from modalbench.scenarios import generate_scenarios, load_scenario

from .conftest import OPPORTUNITY_CHANNELS

PLAIN_CONDITIONS = 24


@pytest.fixture(scope="module")
def sweep_data(bench_root):
    # test split: one recording of 78,400 steps → (78,400 − 15) // 8 + 1 ≈ 9,800 windows (step 8, as OPPORTUNITY)
    params = {
        "modalities": 19,
        "channels": OPPORTUNITY_CHANNELS,
        "recordings": 3,
        "split_ratios": [1, 1, 1],
        "length": 78_400,
        "classes": 5,
        "window.step": {"train": 64, "val": 64, "test": 8},
    }
    root = bench_root / "sweep"
    prepare("synthetic", root=root, overrides=params, progress=False)
    generate_scenarios(root, "synthetic", ["missing-modalities@v1"], seed=0)
    scen = load_scenario(root, "synthetic", "missing-modalities@v1", seed=0)
    inputs, natural, labels = open_reader(root, "synthetic", "test").read_all()
    inputs = {k: torch.from_numpy(np.nan_to_num(v)) for k, v in inputs.items()}
    meta = open_reader(root, "synthetic", "test").meta
    table = torch.from_numpy(np.asarray(scen.condition_table, dtype=bool))
    assert table.shape == (14_319, 19) and len(labels) >= 9_700
    return meta, inputs, torch.from_numpy(natural), torch.from_numpy(labels), table


@pytest.mark.parametrize("method", ["embracenet", "late"])
def test_sweep_fast_path(benchmark, sweep_data, method):
    meta, inputs, natural, labels, table = sweep_data
    torch.manual_seed(0)
    model = create_baseline(method, meta).eval()
    benchmark.group = f"sweep-{method}"
    benchmark.extra_info.update(role="modalbench", conditions=int(table.shape[0]), windows=int(len(labels)))

    def run():
        with torch.no_grad():
            return evaluate_conditions(model, inputs, natural, labels, table, batch_size=1024, use_fast_path=True)

    res = benchmark.pedantic(run, rounds=1, iterations=1)
    assert res["f1_weighted"].shape == (table.shape[0],)
    benchmark.extra_info["items"] = int(table.shape[0])  # conditions per second


@pytest.mark.parametrize("method", ["embracenet", "late"])
def test_sweep_plain_forward(benchmark, sweep_data, method):
    meta, inputs, natural, labels, table = sweep_data
    torch.manual_seed(0)
    model = create_baseline(method, meta).eval()
    subset = table[torch.linspace(0, table.shape[0] - 1, PLAIN_CONDITIONS).long()]
    benchmark.group = f"sweep-{method}"
    benchmark.extra_info.update(role="reference", reference="plain-forward", conditions=PLAIN_CONDITIONS)

    def run():
        with torch.no_grad():
            return evaluate_conditions(model, inputs, natural, labels, subset, batch_size=1024, use_fast_path=False)

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["items"] = PLAIN_CONDITIONS
