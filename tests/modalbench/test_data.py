"""The training reader: correct batches, chunk-aware shuffling, DataLoader workers (a hang fails via timeout)."""

import numpy as np
import pytest
import torch

from modalbench.data import ChunkBatches, SampleDataset, StoreReader, make_loader, open_reader
from modalbench.errors import StoreError
from modalbench.store import open_store


def _collect(loader):
    xs, avs, ys = [], [], []
    for inputs, avail, label in loader:
        xs.append({k: v.numpy() for k, v in inputs.items()})
        avs.append(avail.numpy())
        ys.append(label.numpy())
    return xs, avs, ys


CACHE = pytest.mark.parametrize("cache_bytes", [0, 2**30], ids=["chunk-reads", "in-ram"])


@CACHE
def test_sequential_batches_equal_the_store(synthetic_root, cache_bytes):
    ds = open_store("synthetic", root=synthetic_root)
    s, e = ds.attrs["split_ranges"]["test"]
    xs, avs, ys = _collect(make_loader(synthetic_root, "synthetic", "test", batch_size=50, cache_bytes=cache_bytes))
    assert all(len(y) == 50 for y in ys[:-1])
    np.testing.assert_array_equal(np.concatenate(ys), ds["label"].values[s:e])
    np.testing.assert_array_equal(np.concatenate([x["m3"] for x in xs]), ds["m3"].values[s:e])
    np.testing.assert_array_equal(np.concatenate(avs), ds["available"].values[s:e])


@CACHE
def test_shuffled_epochs_are_permutations_and_seeded(synthetic_root, cache_bytes):
    reader = open_reader(synthetic_root, "synthetic", "train")
    reader.chunk_rows = 100  # several chunks, so the chunk order is shuffled too
    ds = ChunkBatches(reader, batch_size=64, shuffle=True, seed=3, buffer_chunks=2, cache_bytes=cache_bytes)
    first = np.concatenate([b[2].numpy() for b in ds])
    again = np.concatenate([b[2].numpy() for b in ds])
    ds.set_epoch(1)
    other = np.concatenate([b[2].numpy() for b in ds])
    np.testing.assert_array_equal(first, again)  # same seed + epoch: same order
    assert sorted(first.tolist()) == sorted(other.tolist()) == sorted(reader.read_all()[2].tolist())
    m0_first = np.concatenate([b[0]["m0"].numpy() for b in ds])
    assert m0_first.shape[0] == len(reader)
    assert not np.array_equal(first, np.sort(first))  # actually shuffled


def test_chunk_ranges_cover_split_once(synthetic_root):
    reader = open_reader(synthetic_root, "synthetic", "val")
    reader.chunk_rows = 37  # pretend small chunks
    ranges = reader.chunk_ranges()
    covered = np.concatenate([np.arange(s, e) for s, e in ranges])
    np.testing.assert_array_equal(covered, np.arange(len(reader)))


@CACHE
@pytest.mark.timeout(120)
def test_dataloader_with_two_workers_after_a_dask_compute(synthetic_root, cache_bytes):
    import dask.array as da

    da.ones(10, chunks=2).sum().compute()  # the parent has run a dask compute (the known fork pitfall)
    ref = np.sort(open_reader(synthetic_root, "synthetic", "train").read_all()[2])
    loader = make_loader(
        synthetic_root, "synthetic", "train", batch_size=64, num_workers=2, seed=1, cache_bytes=cache_bytes
    )
    xs, avs, ys = _collect(loader)
    np.testing.assert_array_equal(np.sort(np.concatenate(ys)), ref)
    assert all(x["m0"].dtype == np.float32 and x["m0"].shape[1:] == (15, 3) for x in xs)
    assert all(a.dtype == bool and a.shape[1] == 8 for a in avs)
    assert all(len(y) <= 64 for y in ys) and sum(len(y) == 64 for y in ys) >= len(ys) - 2  # one tail per worker
    full = open_reader(synthetic_root, "synthetic", "train").read_all()[0]
    for m in ("m0", "m7"):  # worker batches (packed storages) carry the stored values
        got = np.concatenate([x[m] for x in xs])
        np.testing.assert_allclose(np.nansum(got.astype(np.float64)), np.nansum(full[m].astype(np.float64)), rtol=1e-9)


def test_map_style_dataset_matches(digits_root):
    reader = open_reader(digits_root, "digits", "val")
    ds = SampleDataset(reader)
    inputs, avail, label = ds[5]
    full = reader.read(5, 6)
    np.testing.assert_array_equal(inputs["left"].numpy(), full[0]["left"][0])
    assert int(label) == int(full[2][0]) and bool(avail.all())


def test_reader_refuses_missing_store(tmp_path):
    with pytest.raises(StoreError, match="modalbench prepare digits"):
        open_reader(tmp_path, "digits")


def test_reader_rejects_bad_split(digits_root):
    from modalbench.errors import ModalbenchError
    from modalbench.store import locate

    with pytest.raises(ModalbenchError, match="split must be one of"):
        StoreReader(str(locate(digits_root, "digits")[0]), split="validation")


def test_worker_batches_pack_each_dtype_into_one_storage():
    from modalbench.data import to_torch, to_torch_packed

    rng = np.random.default_rng(0)
    batch = (
        {
            "a": rng.normal(size=(4, 3, 2)).astype(np.float32),
            "b": rng.normal(size=(4, 5)).astype(np.float32),
            "c": rng.integers(0, 9, size=(4, 2)),
        },
        rng.random((4, 3)) < 0.5,
        np.arange(4),
    )
    packed, plain = to_torch_packed(batch), to_torch(batch)
    assert list(packed[0]) == ["a", "b", "c"]
    for k in plain[0]:
        assert packed[0][k].dtype == plain[0][k].dtype and torch.equal(packed[0][k], plain[0][k])
    assert packed[0]["a"].untyped_storage().data_ptr() == packed[0]["b"].untyped_storage().data_ptr()
    assert torch.equal(packed[1], plain[1]) and torch.equal(packed[2], plain[2])


def test_workers_send_several_batches_per_message(synthetic_root):
    from modalbench.data import GROUPED, BatchLoader, batch_loader

    reader = open_reader(synthetic_root, "synthetic", "train")
    ds = ChunkBatches(reader, batch_size=32, shuffle=False, cache_bytes=0)
    loader = batch_loader(ds, 1)
    assert isinstance(loader, BatchLoader) and ds.group_batches > 1
    raw = list(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=1, multiprocessing_context="fork"))
    assert all(isinstance(m, dict) and m[GROUPED] == 32 for m in raw)  # what one worker message holds
    batches = list(loader)
    assert len(batches) < 2 * len(raw) * ds.group_batches and len(raw) < len(batches)
    assert all(len(b[2]) == 32 for b in batches[:-1])
    ref = reader.read_all()
    np.testing.assert_array_equal(np.concatenate([b[2].numpy() for b in batches]), ref[2])  # one worker, in order
    np.testing.assert_array_equal(np.concatenate([b[0]["m5"].numpy() for b in batches]), ref[0]["m5"])


def test_windowed_reader_reads_stream_rows_not_windows(synthetic_root):
    reader = open_reader(synthetic_root, "synthetic", "train")
    assert reader.windowed and reader.window_length == 15
    n = len(reader)
    window_bytes = n * sum(int(np.prod(m.shape)) * 4 for m in reader.meta.modalities)
    assert reader.nbytes() < window_bytes / 3  # train windows advance 4 steps: ~4/15 of the window bytes
    inputs, _, _ = reader.read_lazy(10, 20)
    lazy = inputs["m2"]
    assert lazy.block.shape[0] == int(reader.starts[19] - reader.starts[10]) + 15  # only the rows they cover
    np.testing.assert_array_equal(lazy[np.arange(10)], reader.read(10, 20)[0]["m2"])


def test_windowed_chunk_ranges_follow_stream_chunks(synthetic_root):
    reader = open_reader(synthetic_root, "synthetic", "test")
    reader.chunk_rows = 100
    ranges = reader.chunk_ranges()
    assert len(ranges) > 3
    covered = np.concatenate([np.arange(s, e) for s, e in ranges])
    np.testing.assert_array_equal(covered, np.arange(len(reader)))
    from modalbench.data import RANGE_CHUNKS

    for s, e in ranges:  # each range: windows starting in the same RANGE_CHUNKS stream chunks
        assert len(set((reader.starts[s:e] // (100 * RANGE_CHUNKS)).tolist())) == 1


def test_store_of_another_format_is_refused_with_the_rebuild_command(synthetic_root, monkeypatch):
    import modalbench.store as store

    monkeypatch.setitem(store.STORE_FORMATS, "windowed", 3)
    with pytest.raises(
        StoreError,
        match=r"store format 2 of a windowed store; this modalbench reads format 3.*"
        r"modalbench prepare synthetic --force",
    ):
        open_reader(synthetic_root, "synthetic", "train")
    with pytest.raises(StoreError, match="store format 2"):
        open_store("synthetic", root=synthetic_root)


@pytest.mark.timeout(120)
def test_persistent_workers_follow_set_epoch(synthetic_root):
    from modalbench.data import batch_loader

    reader = open_reader(synthetic_root, "synthetic", "train")
    ds = ChunkBatches(reader, batch_size=64, shuffle=True, seed=2)
    loader = batch_loader(ds, 2)
    epochs = []
    for epoch in (0, 1, 0):
        ds.set_epoch(epoch)
        epochs.append(np.concatenate([b[2].numpy() for b in loader]))
    np.testing.assert_array_equal(epochs[0], epochs[2])  # the epoch reached the persistent workers
    assert not np.array_equal(epochs[0], epochs[1])
    assert sorted(epochs[0].tolist()) == sorted(epochs[1].tolist())
