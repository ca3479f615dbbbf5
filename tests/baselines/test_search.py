"""MFAS Algorithm 1: progressive unfolding of the previous level's sampled set, Γ₁ retrained every iteration, the
temperature stepping after every level, and the final stage (top 5 to completion, fine-tuning unfrozen)."""

from __future__ import annotations

import json

import pytest
import torch

from helpers.models import digits_batches, digits_meta
from modalbench.baselines import mfas, search
from modalbench.errors import ModalbenchError

torch.set_num_threads(1)

BUDGET = {
    "e_search": 2,
    "max_layers": 3,
    "k": 3,
    "e_train": 1,
    "surrogate_steps": 100,
    "emb_dim": 16,
    "e_final": 2,
    "e_finetune": 1,
    "max_candidates": 200,
}
TRAIN = digits_batches(slice(0, 600))
VAL = digits_batches(slice(600, 900))


@pytest.fixture(scope="module")
def backbones() -> dict[str, mfas.LayeredBackbone]:
    heads: dict = {}
    bbs = search.pretrain_backbones(
        digits_meta(), TRAIN, epochs=2, lr=3e-3, seed=0, emb_dim=16, encoder={"filters": 8}, heads_out=heads
    )
    assert set(heads) == {"left", "right"}
    return bbs


@pytest.fixture(scope="module")
def run(backbones, tmp_path_factory) -> search.SearchResult:
    d = tmp_path_factory.mktemp("alg1")
    return search.search(digits_meta(), backbones, TRAIN, VAL, budget=BUDGET, seed=0, log_path=d / "log.jsonl")


def _steps(r: search.SearchResult) -> dict[tuple[int, int], dict]:
    return {(s["iteration"], s["level"]): s for s in r.trace}


def test_default_variant_is_algorithm1() -> None:
    assert search.resolve_budget("small")["variant"] == "algorithm1"
    assert search.resolve_budget("paper")["final_top"] == 5
    with pytest.raises(ModalbenchError, match="variant must be one of algorithm1, fast"):
        search.resolve_budget({"variant": "slow"})


def test_level_candidates_extend_the_previous_sampled_set(run, backbones) -> None:
    steps = _steps(run)
    space = search.layer_space_size([len(backbones[n].layer_dims) for n in ("left", "right")])
    for e in range(BUDGET["e_search"]):
        gamma1 = steps[(e, 1)]["sampled"]
        assert len(gamma1) == space  # Γ₁ is the whole layer space ...
        assert steps[(e, 2)]["prefixes"] == gamma1  # ... and level 2 extends all of it
        for l in range(2, BUDGET["max_layers"] + 1):
            prev = steps[(e, l - 1)]["sampled"]
            assert steps[(e, l)]["prefixes"] == prev
            for key in steps[(e, l)]["sampled"]:
                arch = json.loads(key)
                assert len(arch) == l and json.dumps(arch[:-1]) in prev
        # candidates capped per prefix, every prefix kept
        assert steps[(e, 2)]["n_candidates"] <= BUDGET["max_candidates"]
        assert steps[(e, 2)]["n_candidates"] >= len(gamma1)


def test_gamma1_is_retrained_in_every_iteration(run) -> None:
    level1 = [(h["iteration"], json.dumps(h["arch"])) for h in run.history if h["level"] == 1]
    per_iter = [{a for i, a in level1 if i == e} for e in range(BUDGET["e_search"])]
    assert per_iter[0] == per_iter[1] and len(per_iter[0]) == 27
    later = [h for h in run.history if h["iteration"] == 1 and h["level"] == 1]
    assert all(h["predicted"] is not None for h in later)  # the surrogate exists by then


def test_temperature_steps_after_every_level(run) -> None:
    n = BUDGET["e_search"] * BUDGET["max_layers"]
    temps = [s["temperature"] for s in run.trace]
    assert len(temps) == n and [s["step"] for s in run.trace] == list(range(n))
    t_max, t_min = search.BUDGETS["small"]["t_max"], search.BUDGETS["small"]["t_min"]
    assert temps == [pytest.approx(search.temperature(s, n, t_max, t_min)) for s in range(n)]
    assert all(a > b for a, b in zip(temps, temps[1:]))
    logged = {(h["iteration"], h["level"]): h["temperature"] for h in run.history}
    assert logged[(0, 2)] < logged[(0, 1)]  # within one iteration, not only between iterations


def test_final_stage_trains_top5_and_finetunes_unfrozen(run, backbones) -> None:
    final = run.final
    assert final is not None and len(final["finalists"]) == 5
    assert final["chosen"] in [f["arch"] for f in final["finalists"]]
    assert final["score"] == max(f["score"] for f in final["finalists"])
    assert run.best_arch == final["chosen"]
    net = final["model"]
    assert net.hparams["freeze_backbones"] is False and net.hparams["multitask_weight"] == 1.0
    assert any(
        not torch.equal(net.backbones["left"].state_dict()[k], v) for k, v in backbones["left"].state_dict().items()
    )  # the backbones moved during fine-tuning
    cfg = json.loads((run.best_path.parent / final["path"]).read_text())
    rebuilt = mfas.MFASNet(digits_meta(), **mfas.load_arch(run.best_path.parent / final["path"]))
    state = torch.load(run.best_path.parent / cfg["state"], weights_only=True)
    rebuilt.load_state_dict(state)
    rebuilt.eval()
    net.eval()
    x, a, _ = next(iter(VAL()))
    with torch.no_grad():
        assert torch.equal(rebuilt(x, a), net(x, a))
    best = json.loads(run.best_path.read_text())
    assert best["hparams"]["arch"] == final["chosen"] and best["variant"] == "algorithm1"


def test_algorithm1_resumes_deterministically(run, backbones, tmp_path) -> None:
    log = tmp_path / "r.jsonl"
    part = search.search(
        digits_meta(), backbones, TRAIN, VAL, budget=BUDGET, seed=0, log_path=log, max_new_evaluations=40
    )
    assert not part.complete and part.final is None
    resumed = search.search(digits_meta(), backbones, TRAIN, VAL, budget=BUDGET, seed=0, log_path=log)
    key = [(h["iteration"], h["level"], json.dumps(h["arch"]), h["score"]) for h in resumed.history]
    assert key == [(h["iteration"], h["level"], json.dumps(h["arch"]), h["score"]) for h in run.history]
    assert resumed.final["finalists"] == run.final["finalists"]


def test_multitask_loss_adds_unimodal_terms() -> None:
    meta = digits_meta()
    torch.manual_seed(0)
    plain = mfas.MFASNet(meta, hidden=8, emb_dim=8, encoder={"filters": 4})
    torch.manual_seed(0)
    multi = mfas.MFASNet(meta, hidden=8, emb_dim=8, encoder={"filters": 4}, multitask_weight=1.0)
    x, a, y = next(iter(TRAIN()))
    lp, logits_p = plain.training_loss(x, a, y)
    lm, logits_m = multi.training_loss(x, a, y)
    assert torch.equal(logits_p, logits_m) and lm.item() > lp.item()
    assert not hasattr(plain, "unimodal_heads") and set(multi.unimodal_heads) == {"left", "right"}


def test_small_budget_runs_in_a_few_seconds(tmp_path) -> None:
    import time

    t0 = time.perf_counter()
    r = search.search(digits_meta(), None, TRAIN, VAL, budget="small", seed=0, log_path=tmp_path / "s.jsonl")
    assert r.complete and r.final is not None and len(r.final["finalists"]) == 5
    assert time.perf_counter() - t0 < 60
