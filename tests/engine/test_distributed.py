"""Data-parallel training: 2 gloo ranks on the CPU give the weights of one process with the same global batch;
the chunk-aware reader gives each rank disjoint chunks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from helpers import distributed
from modalbench.data import ChunkBatches, open_reader

torch.set_num_threads(1)


@pytest.mark.parametrize("method", ["intermediate", "late"])
def test_two_gloo_ranks_match_one_process_with_the_same_global_batch(method: str, tmp_path: Path) -> None:
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available in this torch build")
    out = tmp_path / "ddp.pt"
    mp.spawn(
        distributed.rank_main,
        args=(2, method, str(tmp_path / "store"), str(out)),
        nprocs=2,
        join=True,
    )
    ddp = torch.load(out, weights_only=True)  # our own file, written by rank 0
    single = distributed.train(method, 0, 1)
    assert ddp.keys() == single.keys()
    moved = [k for k in single if single[k].is_floating_point()]
    assert moved
    for k in moved:
        assert torch.allclose(ddp[k], single[k], atol=1e-5, rtol=1e-4), k
    # and training did change the weights (the comparison is not between two untouched models)
    torch.manual_seed(0)
    init = distributed.create_baseline(method, distributed.META, dropout=0.0).state_dict()
    assert any(not torch.equal(init[k], single[k]) for k in moved)


def test_ranks_read_disjoint_chunks_covering_the_split(digits_root: Path) -> None:
    reader = open_reader(digits_root, "digits", "train")
    reader.chunk_rows = 100  # digits is one chunk: read it as if it had 100-row chunks (11 ranges)
    assert len(reader.chunk_ranges()) >= 4
    seen = []
    for rank in (0, 1):
        ds = ChunkBatches(reader, batch_size=64, seed=3, cache_bytes=0, rank=rank, world_size=2)
        ds.set_epoch(1)
        reads: list[tuple[int, int]] = []
        real = reader.read_lazy

        def spy(s: int, e: int, real=real, reads=reads):  # type: ignore[no-untyped-def]
            reads.append((s, e))
            return real(s, e)

        reader.read_lazy = spy  # type: ignore[method-assign]
        try:
            n = sum(len(b[2]) for b in ds)
        finally:
            del reader.read_lazy
        seen.append((set(reads), n))
    (r0, n0), (r1, n1) = seen
    assert r0 and r1 and not (r0 & r1)  # disjoint chunks
    assert r0 | r1 == set(reader.chunk_ranges())  # together: the whole split
    assert n0 + n1 == len(reader)


def test_a_rank_outside_the_world_is_refused(digits_root: Path) -> None:
    from modalbench.errors import ModalbenchError

    reader = open_reader(digits_root, "digits", "train")
    with pytest.raises(ModalbenchError, match="rank 2 of world size 2"):
        ChunkBatches(reader, rank=2, world_size=2)
