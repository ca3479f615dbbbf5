"""Data-parallel training in spawned processes (gloo backend, file store) for tests/engine/test_distributed.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from modalbench.baselines import create_baseline
from modalbench.meta import DatasetMeta, ModalitySpec

META = DatasetMeta(
    "halves",
    (ModalitySpec("left", "image", (1, 8, 4)), ModalitySpec("right", "image", (1, 8, 4))),
    tuple(str(i) for i in range(10)),
)
GLOBAL_BATCH = 16
STEPS = 6


def data(n: int = GLOBAL_BATCH * STEPS) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Fixed inputs, availability and labels (seed 0)."""
    g = torch.Generator().manual_seed(0)
    inputs = {m.name: torch.rand(n, *m.shape, generator=g) * 2 - 1 for m in META.modalities}
    return inputs, torch.ones(n, 2, dtype=torch.bool), torch.randint(0, 10, (n,), generator=g)


def batches(rank: int, world_size: int) -> Iterator[Any]:
    """Step i's global batch is samples [i*G, (i+1)*G); rank r feeds its r-th slice of it."""
    inputs, avail, labels = data()
    local = GLOBAL_BATCH // world_size
    for i in range(STEPS):
        s = i * GLOBAL_BATCH + rank * local
        yield {k: v[s : s + local] for k, v in inputs.items()}, avail[s : s + local], labels[s : s + local]


def train(method: str, rank: int, world_size: int) -> dict[str, torch.Tensor]:
    """Train ``method`` for 2 epochs on this rank's batches; returns the trained state dict."""
    from modalbench.engine.trainer import fit

    torch.manual_seed(0)
    model = create_baseline(method, META, dropout=0.0)  # dropout masks of a local batch differ from the global one's
    result = fit(
        model,
        lambda epoch: batches(rank, world_size),
        lambda: batches(0, 1),
        epochs=2,
        lr=1e-2,
        seed=0,
        progress=False,
    )
    return {k: v.detach().clone() for k, v in result.model.state_dict().items()}


def rank_main(rank: int, world_size: int, method: str, store: str, out: str) -> None:
    """Entry point of one spawned rank: join the gloo group, train, rank 0 saves the weights."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    try:
        state = train(method, rank, world_size)
        if rank == 0:
            torch.save(state, Path(out))
    finally:
        dist.destroy_process_group()
