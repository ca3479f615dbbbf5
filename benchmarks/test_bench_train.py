"""Benchmark 4 — train step: samples/s of one training epoch with modalbench's trainer (``fit``) against a minimal
hand-written PyTorch loop of the same model, on ``digits`` and on OPPORTUNITY-shaped synthetic windows.
Target: >= 0.9× the minimal loop (the trainer's overhead is small)."""

from __future__ import annotations

import pytest
import torch

from modalbench.app.workflows import batches_for
from modalbench.baselines.registry import baseline_names, create_baseline
from modalbench.engine.trainer import fit

#: baselines with their own multi-stage training (MFAS search) are measured in their own tests
SKIP = {"mfas", "mae"}
METHODS = [m for m in baseline_names() if m not in SKIP]


def _cached_batches(root, name, batch_size=64):
    b = batches_for(root, name, None, batch_size=batch_size, seed=0)
    train = list(b.train(0))  # read once: both loops consume the same in-memory batches
    val = list(b.val())[:2]
    return b.meta, train, val


@pytest.fixture(scope="module", params=["digits", "opportunity-shaped"])
def data(request, digits_store, opp_store):
    torch.set_num_threads(1)
    if request.param == "digits":
        return request.param, _cached_batches(digits_store, "digits")
    meta, train, val = _cached_batches(opp_store, "synthetic", batch_size=256)
    return request.param, (meta, train[:40], val)


@pytest.mark.parametrize("method", METHODS)
def test_train_epoch_trainer(benchmark, data, method):
    name, (meta, train, val) = data
    benchmark.group = f"train-{name}-{method}"
    benchmark.extra_info.update(role="modalbench")
    model = create_baseline(method, meta)

    def run():
        fit(model, lambda e: train, lambda: val, epochs=1, seed=0, progress=False)

    benchmark.pedantic(run, rounds=2, iterations=1, warmup_rounds=1)
    benchmark.extra_info["items"] = sum(len(b[2]) for b in train)


@pytest.mark.parametrize("method", METHODS)
def test_train_epoch_minimal_loop(benchmark, data, method):
    name, (meta, train, val) = data
    benchmark.group = f"train-{name}-{method}"
    benchmark.extra_info.update(role="reference", reference="minimal-loop")
    model = create_baseline(method, meta)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-2)

    def run():
        model.train()
        for inputs, avail, label in train:
            loss, _ = model.training_loss(inputs, avail, label)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for inputs, avail, _label in val:
                model(inputs, avail)

    benchmark.pedantic(run, rounds=2, iterations=1, warmup_rounds=1)
    benchmark.extra_info["items"] = sum(len(b[2]) for b in train)
