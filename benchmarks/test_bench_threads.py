"""Benchmark 5 — torch threads: one digits training epoch (EmbraceNet, the README's model) and one evaluation on
digits' standard scenarios, at torch's default intra-op thread count (all cores) and at
:func:`modalbench.app.workflows.default_threads` (what the CLI uses when ``--threads`` is not given).
The ratio table of ``python -m benchmarks.run benchmarks/test_bench_threads.py`` gives default_threads' speed-up."""

from __future__ import annotations

import pytest
import torch

from modalbench.app.workflows import EvalSpec, TrainSpec, batches_for, default_threads, run_evaluation, run_training
from modalbench.baselines.registry import create_baseline
from modalbench.engine.trainer import fit

#: torch's own choice, read at import before any benchmark fixture changes it
TORCH_DEFAULT_THREADS = torch.get_num_threads()
SETTINGS = {"torch-default": TORCH_DEFAULT_THREADS, "default_threads": default_threads()}


def _roles(benchmark, setting: str) -> None:
    threads = SETTINGS[setting]
    if setting == "default_threads":
        benchmark.extra_info.update(role="modalbench", threads=threads)
    else:
        benchmark.extra_info.update(role="reference", reference=f"torch default ({threads} threads)", threads=threads)


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits_batches(digits_store):
    b = batches_for(digits_store, "digits", None, batch_size=64, seed=0)
    return b.meta, list(b.train(0)), list(b.val())


@pytest.fixture(scope="module")
def digits_checkpoint(digits_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("threads") / "embracenet"
    torch.set_num_threads(1)
    run_training(
        TrainSpec(
            baseline="embracenet",
            dataset="digits",
            root=str(digits_store),
            epochs=2,
            seed=0,
            out=out,
            hparams={"adj_pre": True},
            progress=False,
            device="cpu",
        )
    )
    return out


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_threads_train_epoch(benchmark, digits_batches, setting):
    meta, train, val = digits_batches
    benchmark.group = "threads-train-epoch-digits-embracenet"
    _roles(benchmark, setting)
    torch.set_num_threads(SETTINGS[setting])
    model = create_baseline("embracenet", meta, adj_pre=True)

    def run():
        fit(model, lambda e: train, lambda: val, epochs=1, lr=1e-2, seed=0, progress=False)

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["items"] = sum(len(b[2]) for b in train)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_threads_evaluation(benchmark, digits_store, digits_checkpoint, setting):
    benchmark.group = "threads-evaluate-digits-embracenet"
    _roles(benchmark, setting)
    torch.set_num_threads(SETTINGS[setting])
    spec = EvalSpec(dataset="digits", root=str(digits_store), checkpoint=digits_checkpoint, device="cpu")
    result = run_evaluation(spec)  # warm-up: scenarios generated, test split read
    assert result["hardware"]["threads"] == SETTINGS[setting]

    benchmark.pedantic(lambda: run_evaluation(spec), rounds=3, iterations=1, warmup_rounds=0)
    benchmark.extra_info["items"] = sum(len(s["conditions"]) for s in result["scenarios"])  # conditions per run
