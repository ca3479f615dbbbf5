"""Trainer-side regimes: modality-dropout and curriculum-dropout for any method, recorded in config.json."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

from modalbench.baselines import create_baseline
from modalbench.engine.trainer import ModalityDropout, fit, make_regime, seed_torch
from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta, ModalitySpec

torch.set_num_threads(1)

META = DatasetMeta(
    "digits",
    (ModalitySpec("left", "image", (1, 8, 4)), ModalitySpec("right", "image", (1, 8, 4))),
    tuple(str(i) for i in range(10)),
)
SMALL = {"feature_dim": 16, "head_hidden": 32, "encoder": {"filters": 8}}


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (192,), generator=g)
    left = torch.randn(192, 1, 8, 4, generator=g) + y.view(-1, 1, 1, 1) * 0.3
    right = torch.randn(192, 1, 8, 4, generator=g) - y.view(-1, 1, 1, 1) * 0.3
    return left, right, y


LEFT, RIGHT, Y = _data()


def _batches(rows: slice, bs: int = 32):
    idx = torch.arange(len(Y))[rows]
    for s in range(0, len(idx), bs):
        i = idx[s : s + bs]
        yield {"left": LEFT[i], "right": RIGHT[i]}, torch.ones(len(i), 2, dtype=torch.bool), Y[i]


def _fill_zero(inputs: dict[str, torch.Tensor], available: torch.Tensor) -> dict[str, torch.Tensor]:
    return {
        n: torch.where(available[:, j].view(-1, 1, 1, 1), x, torch.zeros_like(x))
        for j, (n, x) in enumerate(inputs.items())
    }


class Recorder:
    """Wraps a model's training_loss to record the availability it is trained on."""

    def __init__(self, model: Any) -> None:
        self.seen: list[torch.Tensor] = []
        self.inputs: list[dict[str, torch.Tensor]] = []
        inner = model.training_loss

        def loss(x: Any, a: torch.Tensor, t: torch.Tensor) -> Any:
            self.seen.append(a.clone())
            self.inputs.append({k: v.clone() for k, v in x.items()})
            return inner(x, a, t)

        model.training_loss = loss


def _train(regime: ModalityDropout | None, seed: int = 0, **kw: Any) -> tuple[Any, Recorder]:
    seed_torch(seed)
    model = create_baseline("intermediate", META, **SMALL)
    rec = Recorder(model)
    res = fit(
        model,
        lambda e: _batches(slice(0, 160)),
        lambda: _batches(slice(160, None)),
        epochs=kw.pop("epochs", 3),
        seed=seed,
        progress=False,
        fill=_fill_zero,
        regime=regime,
        **kw,
    )
    return res, rec


def test_modality_dropout_drops_at_p_and_keeps_one() -> None:
    _, rec = _train(make_regime("modality-dropout", {"p_drop": 0.4}, 3))
    seen = torch.cat(rec.seen)
    assert seen.any(dim=1).all(), "every sample keeps at least one modality"
    dropped = (~seen).float().mean().item()
    assert 0.4 - 0.4**2 / 2 - 0.06 < dropped < 0.4 - 0.4**2 / 2 + 0.06  # p - p^M / M with the restore rule
    for x, a in zip(rec.inputs, rec.seen):  # dropped modalities are filled (zeros here)
        assert (x["left"][~a[:, 0]] == 0).all() and (x["right"][~a[:, 1]] == 0).all()


def test_curriculum_ramps_from_zero_to_p() -> None:
    regime = make_regime("curriculum-dropout", {"p_drop": 0.6}, 3)
    assert regime is not None and [regime.rate(e) for e in range(3)] == [0.0, 0.3, 0.6]
    _, rec = _train(regime)
    per_epoch = [torch.cat(rec.seen[i * 5 : (i + 1) * 5]) for i in range(3)]
    assert per_epoch[0].all(), "epoch 1 drops nothing"
    rates = [(~p).float().mean().item() for p in per_epoch]
    assert rates[0] < rates[1] < rates[2]


def test_plain_training_sees_complete_batches_and_regime_is_seeded(tmp_path) -> None:
    _, rec = _train(None)
    assert torch.cat(rec.seen).all()
    a, rec_a = _train(make_regime("modality-dropout", {"p_drop": 0.5}, 2), epochs=2, out_dir=tmp_path / "a")
    b, rec_b = _train(make_regime("modality-dropout", {"p_drop": 0.5}, 2), epochs=2)
    assert all(torch.equal(x, y) for x, y in zip(rec_a.seen, rec_b.seen)) and a.train_losses == b.train_losses
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert cfg["training_regime"] == {"name": "modality-dropout", "p_drop": 0.5, "schedule": "constant"}


@pytest.mark.parametrize(
    ("regime", "params", "match"),
    [
        ("dropout", {}, "expected one of full-modality, modality-dropout, curriculum-dropout"),
        ("modality-dropout", {"p_drop": 1.0}, "p_drop must be a number in"),
        ("modality-dropout", {"p_keep": 0.5}, "unknown parameter"),
        ("full-modality", {"p_drop": 0.5}, "p_drop is a parameter of --regime"),
    ],
)
def test_bad_regimes(regime, params, match) -> None:
    with pytest.raises(ModalbenchError, match=match):
        make_regime(regime, params, 3)


def test_a_method_with_its_own_regime_is_refused() -> None:
    seed_torch(0)
    model = create_baseline("embracenet", META, adj_pre=True, embrace_dim=16)
    with pytest.raises(ModalbenchError, match="already trains with its own regime 'modality-dropout'"):
        fit(
            model,
            lambda e: _batches(slice(0, 64)),
            lambda: _batches(slice(160, None)),
            epochs=1,
            seed=0,
            progress=False,
            regime=make_regime("modality-dropout", {"p_drop": 0.3}, 1),
        )
