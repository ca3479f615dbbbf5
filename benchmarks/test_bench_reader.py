"""Benchmark 2 — training reader: windows/s from a zarr store into torch batches of 256.

modalbench's chunk-aware loader (0 and 2 workers) against the upper bound of indexing in-memory tensors and
against naive per-sample random zarr reads (map-style Dataset + DataLoader shuffle). Target: >= 0.5× in-memory.
A *hand-over bound* row times 2 workers that only send ready-made batches (grouped as the loader groups them):
what moving batches from worker processes to the main process costs, before any reading.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from modalbench.data import GROUPED, BatchLoader, ChunkBatches, SampleDataset, make_loader, open_reader, to_torch_packed

BATCH = 256
NAIVE_SAMPLES = 1024  # per-sample random zarr reads are slow: time a few batches only


def _epoch(loader) -> int:
    n = 0
    for _inputs, _avail, label in loader:
        n += len(label)
    return n


@pytest.fixture(params=["opportunity-shaped", "digits"])
def store(request, opp_store, digits_store):
    return (opp_store, "synthetic") if request.param == "opportunity-shaped" else (digits_store, "digits")


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("cache", ["in-ram", "chunk-reads"])
def test_reader_modalbench(benchmark, store, workers, cache):
    root, name = store
    benchmark.group = f"reader-{name}"
    benchmark.extra_info.update(role="modalbench", workers=workers, path=cache)
    cache_bytes = 2**30 if cache == "in-ram" else 0
    loader = make_loader(root, name, "train", batch_size=BATCH, num_workers=workers, seed=0, cache_bytes=cache_bytes)

    def run():  # the loader (and, without workers, its RAM cache) lives across epochs, as in training
        return _epoch(loader)

    n = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["items"] = n


def test_reader_in_memory(benchmark, store):
    """Upper bound: shuffled batches gathered from tensors already in RAM."""
    root, name = store
    benchmark.group = f"reader-{name}"
    benchmark.extra_info.update(role="reference", reference="in-memory")
    inputs, avail, label = open_reader(root, name, "train").read_all()
    tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
    avail_t, label_t = torch.from_numpy(avail), torch.from_numpy(label)
    gen = torch.Generator().manual_seed(0)

    def run():
        perm = torch.randperm(len(label_t), generator=gen)
        n = 0
        for s in range(0, len(perm), BATCH):
            idx = perm[s : s + BATCH]
            batch = ({k: v[idx] for k, v in tensors.items()}, avail_t[idx], label_t[idx])
            n += len(batch[2])
        return n

    benchmark.extra_info["items"] = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)


def test_reader_naive_random_zarr(benchmark, store):
    """Naive reference: map-style per-sample random reads from zarr (only a few batches: it is slow)."""
    root, name = store
    benchmark.group = f"reader-{name}"
    benchmark.extra_info.update(role="reference", reference="naive-random-zarr")
    ds = SampleDataset(open_reader(root, name, "train"))
    loader = DataLoader(ds, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(0))

    def run():
        n = 0
        for _i, (_inputs, _avail, label) in enumerate(loader):
            n += len(label)
            if n >= NAIVE_SAMPLES:
                break
        return n

    benchmark.extra_info["items"] = benchmark.pedantic(run, rounds=1, iterations=1)


class _ReadyBatches(torch.utils.data.IterableDataset):
    """Sends one pre-gathered group of batches again and again: only the worker → main hand-over is timed."""

    def __init__(self, batch, n_batches: int, group: int) -> None:
        self.batch, self.n_batches, self.group = batch, n_batches, group

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        for _ in range(info.id, -(-self.n_batches // self.group), info.num_workers):
            yield {GROUPED: BATCH, "batch": to_torch_packed(self.batch)}


def test_reader_worker_handover_bound(benchmark, store):
    root, name = store
    benchmark.group = f"reader-{name}"
    reader = open_reader(root, name, "train")
    group = ChunkBatches(reader, batch_size=BATCH).group_for_workers()
    batch = reader.read(0, BATCH * group)
    loader = BatchLoader(
        _ReadyBatches(batch, len(reader) // BATCH, group),
        batch_size=None,
        num_workers=2,
        persistent_workers=True,
        multiprocessing_context="fork",
    )  # as the loader's workers
    benchmark.extra_info.update(role="bound", workers=2, batches_per_message=group)
    benchmark.extra_info["items"] = benchmark.pedantic(lambda: _epoch(loader), rounds=3, iterations=1, warmup_rounds=1)
