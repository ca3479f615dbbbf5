"""GMU properties: the gate is a distribution over the available modalities; M = 2 is the paper's sigmoid unit."""

from __future__ import annotations

import torch

from helpers.models import all_patterns, digits_meta, toy_batch, toy_meta
from modalbench.baselines import gmu
from modalbench.meta import DatasetMeta, ModalitySpec

torch.set_num_threads(1)


def test_gate_sums_to_one_over_available_modalities() -> None:
    meta = toy_meta()
    torch.manual_seed(0)
    model = gmu.GMU(meta, hidden=8).eval()
    pats = all_patterns(meta.n_modalities)
    inputs, _ = toy_batch(meta, len(pats))
    with torch.no_grad():
        z = model.gate_weights(model.encode(inputs), pats)  # [B, M, H]
    assert z.shape == (len(pats), meta.n_modalities, 8)
    assert (z >= 0).all()
    # missing modalities get exactly zero weight, available ones sum to 1 per hidden unit
    assert torch.equal(z * (~pats)[:, :, None], torch.zeros_like(z))
    sums = z.sum(dim=1)
    some = pats.any(dim=1)
    assert torch.allclose(sums[some], torch.ones_like(sums[some]), atol=1e-6)
    assert torch.equal(sums[~some], torch.zeros_like(sums[~some]))  # nothing available: h = 0, no NaN
    single = pats.sum(dim=1) == 1
    assert torch.allclose(z[single].sum(dim=1), torch.ones(int(single.sum()), 8))
    both = pats.all(dim=1)
    assert ((z[both] > 0) & (z[both] < 1)).all()


def test_missing_modality_values_do_not_matter() -> None:
    meta = toy_meta()
    torch.manual_seed(0)
    model = gmu.GMU(meta).eval()
    inputs, _ = toy_batch(meta, 3)
    avail = torch.tensor([[1, 1, 0, 1]] * 3).bool()
    other = dict(inputs, feat=inputs["feat"] * 50 + 3)
    with torch.no_grad():
        assert torch.allclose(model(inputs, avail), model(other, avail), atol=1e-6)


def test_two_modalities_is_the_sigmoid_unit() -> None:
    """M = 2: h = σ(W_z[x_1; x_2]) ⊙ tanh(W_1 x_1) + (1 − σ(·)) ⊙ tanh(W_2 x_2) (Arevalo et al. eq. 4)."""
    meta = digits_meta()
    torch.manual_seed(0)
    model = gmu.GMU(meta, emb_dim=16, hidden=8).eval()
    x = {"left": torch.rand(4, 1, 8, 4), "right": torch.rand(4, 1, 8, 4)}
    avail = torch.ones(4, 2, dtype=torch.bool)
    with torch.no_grad():
        f = model.encode(x)
        z = torch.sigmoid(model.gate(torch.cat([f["left"], f["right"]], dim=1)))
        h = z * torch.tanh(model.proj["left"](f["left"])) + (1 - z) * torch.tanh(model.proj["right"](f["right"]))
        assert torch.allclose(model.fused(f, avail), h, atol=1e-6)
        # one modality missing: h is that modality's tanh projection alone
        only_left = torch.tensor([[True, False]] * 4)
        assert torch.allclose(model.fused(f, only_left), torch.tanh(model.proj["left"](f["left"])), atol=1e-6)


def test_three_modalities_softmax_gate() -> None:
    meta = DatasetMeta("v3", tuple(ModalitySpec(f"m{i}", "vector", (4,)) for i in range(3)), ("0", "1"))
    torch.manual_seed(0)
    model = gmu.GMU(meta, emb_dim=6, hidden=5).eval()
    x = {f"m{i}": torch.randn(2, 4) for i in range(3)}
    with torch.no_grad():
        f = model.encode(x)
        logits = model.gate(torch.cat([f[f"m{i}"] for i in range(3)], dim=1)).view(2, 3, 5)
        assert torch.allclose(
            model.gate_weights(f, torch.ones(2, 3, dtype=torch.bool)), torch.softmax(logits, dim=1), atol=1e-6
        )
        part = torch.tensor([[True, False, True]] * 2)
        # the missing modality's features are zeroed in the gate input and its logit leaves the softmax
        x_gate = torch.cat([f["m0"], torch.zeros_like(f["m1"]), f["m2"]], dim=1)
        ref = torch.softmax(model.gate(x_gate).view(2, 3, 5)[:, [0, 2]], dim=1)
        z = model.gate_weights(f, part)
        assert torch.allclose(z[:, [0, 2]], ref, atol=1e-6) and torch.equal(z[:, 1], torch.zeros(2, 5))


def test_maxout_head_structure() -> None:
    meta = toy_meta("multilabel")
    model = gmu.GMU(meta)
    kinds = [type(m).__name__ for m in model.head if not isinstance(m, torch.nn.Dropout)]
    assert kinds == ["BatchNorm1d", "Maxout", "BatchNorm1d", "Maxout", "BatchNorm1d", "Linear"]
    assert model.hparams["head"] == "maxout"
