"""MFAS: fusion network from an architecture config, search space size, deterministic search, surrogate fit, resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from helpers.models import digits_batches, digits_meta, toy_batch, toy_meta
from modalbench.baselines import mfas, search
from modalbench.engine.trainer import fit
from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta, ModalitySpec

torch.set_num_threads(1)

BUDGET = {
    "e_search": 2,
    "max_layers": 2,
    "k": 3,
    "e_train": 1,
    "surrogate_steps": 200,
    "emb_dim": 16,
    "variant": "fast",
}
TRAIN = digits_batches(slice(0, 600))
VAL = digits_batches(slice(600, 900))


@pytest.fixture(scope="module")
def backbones() -> dict[str, mfas.LayeredBackbone]:
    return search.pretrain_backbones(
        digits_meta(), TRAIN, epochs=2, lr=3e-3, seed=0, emb_dim=16, encoder={"filters": 8}
    )


@pytest.fixture(scope="module")
def run_a(backbones, tmp_path_factory) -> search.SearchResult:
    d = tmp_path_factory.mktemp("a")
    return search.search(digits_meta(), backbones, TRAIN, VAL, budget=BUDGET, seed=0, log_path=d / "log.jsonl")


def _hist(r: search.SearchResult) -> list[tuple]:
    return [(h["iteration"], h["level"], json.dumps(h["arch"]), h["score"]) for h in r.history]


def test_layered_backbone_exposes_pooled_layers(backbones) -> None:
    bb = backbones["left"]
    x = torch.rand(5, 1, 8, 4)
    feats = bb.layer_features(x)
    assert [f.shape for f in feats] == [(5, d) for d in bb.layer_dims]
    assert len(bb.layer_dims) == 3  # two conv ReLUs + the embedding
    assert torch.allclose(feats[-1], bb(x))
    assert torch.allclose(feats[0], torch.relu(bb.encoder.conv[0](x)).mean(dim=(2, 3)), atol=1e-6)
    assert not any(p.requires_grad for p in bb.parameters())


def test_mfasnet_follows_the_architecture() -> None:
    meta = toy_meta()
    arch = [[0, 1, 0, 2, "relu"], [2, 0, 1, 3, "sigmoid"], [1, 1, 1, 1, "leakyrelu"]]
    torch.manual_seed(0)
    net = mfas.MFASNet(meta, arch=arch, hidden=8).eval()
    inputs, _ = toy_batch(meta, 4)
    feats = {n: net.backbones[n].layer_features(inputs[n]) for n in meta.modality_names}
    acts = {"relu": torch.relu, "sigmoid": torch.sigmoid, "leakyrelu": torch.nn.functional.leaky_relu}
    h = None
    with torch.no_grad():
        for l, t in enumerate(arch):
            parts = [feats[n][g] for n, g in zip(meta.modality_names, t[:-1])] + ([h] if h is not None else [])
            h = acts[t[-1]](net.fusion[l](torch.cat(parts, dim=1)))
        assert torch.allclose(net(inputs, torch.ones(4, 4, dtype=torch.bool)), net.classifier(h), atol=1e-6)
    dims = net.layer_dims
    assert net.fusion_shapes()[1] == (dims["acc"][2] + dims["cam"][0] + dims["feat"][1] + dims["spec"][3] + 8, 8)


def test_search_space_size() -> None:
    counts = [3, 2, 4]
    n = search.layer_space_size(counts)
    assert n == 3 * 2 * 4 * 3 == math.prod(counts) * len(mfas.ACTIVATION_NAMES)
    triplets = search.layer_choices(counts)
    assert len(triplets) == n == len(set(triplets))
    assert all(0 <= t[m] < counts[m] for t in triplets for m in range(3))
    sub = search.layer_choices(counts, cap=10, rng=np.random.Generator(np.random.PCG64(0)))
    assert len(sub) == 10 == len(set(sub)) and set(sub) <= set(triplets)


def test_first_step_evaluates_the_whole_layer_space(run_a, backbones) -> None:
    counts = [len(backbones[n].layer_dims) for n in ("left", "right")]
    first = {json.dumps(h["arch"]) for h in run_a.history if h["iteration"] == 0 and h["level"] == 1}
    assert len(first) == search.layer_space_size(counts) == 3 * 3 * 3
    # later steps sample K architectures, each unfolding one of the K best shallower ones
    deeper = [h for h in run_a.history if h["level"] == 2]
    assert deeper and all(len(h["arch"]) == 2 for h in deeper)
    assert len([h for h in deeper if h["iteration"] == 0]) == BUDGET["k"]
    best1 = sorted(
        (h for h in run_a.history if h["iteration"] == 0 and h["level"] == 1),
        key=lambda h: (-h["score"], json.dumps([h["arch"]])),
    )[: BUDGET["k"]]
    prefixes = {json.dumps(h["arch"][0]) for h in best1}
    assert all(json.dumps(h["arch"][0]) in prefixes for h in deeper if h["iteration"] == 0)
    assert all(h["predicted"] is not None for h in deeper)
    keys = [json.dumps(h["arch"]) for h in run_a.history]
    assert len(keys) == len(set(keys))  # nothing is trained twice


def test_search_is_deterministic_for_a_seed(run_a, backbones, tmp_path) -> None:
    again = search.search(digits_meta(), backbones, TRAIN, VAL, budget=BUDGET, seed=0, log_path=tmp_path / "b.jsonl")
    assert _hist(again) == _hist(run_a)
    assert again.top_k == run_a.top_k
    other = search.search(digits_meta(), backbones, TRAIN, VAL, budget=BUDGET, seed=1, log_path=tmp_path / "c.jsonl")
    assert _hist(other) != _hist(run_a)


def test_surrogate_correlates_with_its_training_scores(run_a) -> None:
    archs = [h["arch"] for h in run_a.history]
    scores = [h["score"] for h in run_a.history]
    assert len(set(scores)) > 3
    rho = spearmanr(run_a.surrogate.predict(archs), scores).statistic
    assert rho > 0.5


def test_top_k_and_best_config(run_a, backbones) -> None:
    scores = sorted((h["score"] for h in run_a.history), reverse=True)
    assert [s for _, s in run_a.top_k] == scores[: BUDGET["k"]]
    hp = mfas.load_arch(run_a.best_path)
    assert hp["arch"] == run_a.best_arch and hp["freeze_backbones"] is True
    net = mfas.MFASNet(digits_meta(), **hp)
    assert not any(p.requires_grad for p in net.backbones.parameters())
    for n in ("left", "right"):
        for k, v in backbones[n].state_dict().items():
            assert torch.equal(net.backbones[n].state_dict()[k], v)
    cfg = json.loads(run_a.best_path.read_text())
    assert cfg["name"] == "mfas" and cfg["score"] == run_a.best_score


def test_resume_after_interruption(run_a, backbones, tmp_path) -> None:
    log = tmp_path / "r.jsonl"
    part = search.search(
        digits_meta(), backbones, TRAIN, VAL, budget=BUDGET, seed=0, log_path=log, max_new_evaluations=29
    )
    assert not part.complete and len(part.history) == 29 and part.best_path is None
    # simulate a crash while a line was being written
    with open(log, "a") as fh:
        fh.write('{"event": "arch", "iteration": 0, "lev')
    resumed = search.search(digits_meta(), backbones, TRAIN, VAL, budget=BUDGET, seed=0, log_path=log)
    assert resumed.complete and _hist(resumed) == _hist(run_a)
    lines = log.read_text().splitlines()
    assert len(lines) == len(run_a.history) + 1 and all(json.loads(x) for x in lines)
    with pytest.raises(ModalbenchError, match="different search"):
        search.search(digits_meta(), backbones, TRAIN, VAL, budget=BUDGET, seed=5, log_path=log)


def test_temperature_schedule() -> None:
    ts = [search.temperature(e, 5, 10.0, 0.2) for e in range(5)]
    assert ts[0] == pytest.approx(10.0) and ts[-1] == pytest.approx(0.2)
    assert all(a > b for a, b in zip(ts, ts[1:]))
    ratios = [b / a for a, b in zip(ts, ts[1:])]
    assert max(ratios) == pytest.approx(min(ratios))  # exponential decay


def test_budgets_and_errors(tmp_path: Path) -> None:
    assert search.resolve_budget("paper")["max_layers"] == 4
    assert search.resolve_budget({"k": 2})["k"] == 2
    with pytest.raises(ModalbenchError, match="unknown budget"):
        search.resolve_budget("huge")
    with pytest.raises(ModalbenchError, match="kk"):
        search.resolve_budget({"kk": 2})
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "mfas"}')
    with pytest.raises(ModalbenchError, match="bad.json"):
        mfas.load_arch(bad)


def test_three_modality_search_runs(tmp_path: Path) -> None:
    """M = 3 generalisation (MultiBench style) with a tiny vector dataset and pretraining inside the search."""
    meta = DatasetMeta("v3", tuple(ModalitySpec(f"m{i}", "vector", (4,)) for i in range(3)), ("0", "1"))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, 4, generator=g)
    y = (x[:, 0, 0] + x[:, 2, 1] > 0).long()

    def batches(rows):
        def gen(*_):
            for i in range(rows.start, rows.stop, 50):
                yield {f"m{j}": x[i : i + 50, j] for j in range(3)}, torch.ones(50, 3, dtype=torch.bool), y[i : i + 50]

        return gen

    budget = {
        "e_search": 1,
        "max_layers": 2,
        "k": 2,
        "e_train": 1,
        "first_step_all": 4,
        "surrogate_steps": 50,
        "pretrain_epochs": 1,
        "emb_dim": 8,
        "hidden": 8,
    }
    r = search.search(
        meta,
        None,
        batches(range(0, 150)),
        batches(range(150, 200)),
        budget=budget,
        seed=0,
        log_path=tmp_path / "m3.jsonl",
    )
    assert r.complete and len(r.best_arch[0]) == 4
    # layer space 2·2·2·3 = 24 > first_step_all: the first step samples K of them
    assert len([h for h in r.history if h["level"] == 1]) == 2
    # features too large for the cache: re-encoded from train_batches(epoch) each epoch, still deterministic
    streamed = [
        search.search(
            meta,
            None,
            batches(range(0, 150)),
            batches(range(150, 200)),
            budget={**budget, "feature_cache_mb": 0},
            seed=0,
            log_path=tmp_path / f"s{i}.jsonl",
        )
        for i in range(2)
    ]
    assert _hist(streamed[0]) == _hist(streamed[1]) and streamed[0].complete


def test_checkpoint_config_is_self_contained(run_a) -> None:
    """A model built from the search's config saves a config that rebuilds it without the backbones file."""
    import io

    net = mfas.MFASNet(digits_meta(), **mfas.load_arch(run_a.best_path)).eval()
    cfg = json.loads(json.dumps(net.config()))
    assert "backbones_file" not in cfg["hparams"] and cfg["hparams"]["freeze_backbones"] is True
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    clone = mfas.MFASNet(digits_meta(), **cfg["hparams"])
    clone.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    clone.eval()
    x, a, _ = next(iter(VAL()))
    with torch.no_grad():
        assert torch.equal(net(x, a), clone(x, a))
    assert not any(p.requires_grad for p in clone.backbones.parameters())


def test_train_best_to_completion(run_a, tmp_path) -> None:
    torch.manual_seed(0)
    model = mfas.MFASNet(digits_meta(), **mfas.load_arch(run_a.best_path))
    res = fit(model, TRAIN, VAL, epochs=4, seed=0, out_dir=tmp_path / "ck", lr=1e-2, eps=1e-8, progress=False)
    assert res.epochs_run == 4 and res.best_score > 0.4 and res.val_scores[-1] > res.val_scores[0]
    assert (tmp_path / "ck").exists()
