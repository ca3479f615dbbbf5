"""DMF: dense shared pathway equations; L = 1 is intermediate fusion; generative variant imputes missing modalities.

L = 1 comparison: with ``front="encoder"`` and no modality-specific hidden layers, DMF computes
``classifier(ReLU(Σ_m W_m h_m + b))``. We build an intermediate-fusion module (per-modality encoders ->
concatenate embeddings -> Linear -> ReLU -> Linear head) with the same weights (``W = [W_1 … W_M]``) and check the
logits are equal, and that DMF has exactly the same parameter count.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers.models import digits_batches, digits_meta, toy_batch, toy_meta
from modalbench.baselines import dmf

torch.set_num_threads(1)


class Intermediate(nn.Module):
    """Reference intermediate fusion: concat of per-modality embeddings, shared head."""

    def __init__(self, encoders: nn.ModuleDict, d: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.encoders = encoders
        self.fc = nn.Linear(d, hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        z = torch.cat([self.encoders[n](x[n]) for n in self.encoders], dim=1)
        return self.out(torch.relu(self.fc(z)))


def test_l1_equals_intermediate_fusion() -> None:
    meta = toy_meta()
    torch.manual_seed(0)
    model = dmf.DenseMultimodalFusion(meta, modality_sizes=[], shared_sizes=[24], front="encoder", front_dim=16).eval()
    names = meta.modality_names
    ref = Intermediate(model.fronts, 16 * len(names), 24, meta.n_classes).eval()
    with torch.no_grad():
        ref.fc.weight.copy_(torch.cat([model.to_shared[n][0].weight for n in names], dim=1))
        ref.fc.bias.copy_(model.shared_bias[0])
        ref.out.load_state_dict(model.classifier.state_dict())
    inputs, _ = toy_batch(meta, 6)
    with torch.no_grad():
        assert torch.allclose(model(inputs, torch.ones(6, 4, dtype=torch.bool)), ref(inputs), atol=1e-5)
    n_dmf = sum(p.numel() for p in model.parameters())
    n_ref = sum(p.numel() for p in ref.parameters())
    assert n_dmf == n_ref


def test_dense_shared_pathway_equations() -> None:
    meta = digits_meta()
    torch.manual_seed(0)
    model = dmf.DenseMultimodalFusion(meta, modality_sizes=[20, 10], shared_sizes=[12, 8, 6]).eval()
    x = {"left": torch.rand(3, 1, 8, 4), "right": torch.rand(3, 1, 8, 4)}
    relu = torch.relu
    with torch.no_grad():
        h = {}
        for n in meta.modality_names:
            h1 = x[n].flatten(1)  # modality pathway [32, 20, 10]: the first layer is the input
            h2 = model.pathways[n][0](h1)
            h3 = model.pathways[n][1](h2)
            h[n] = [h1, h2, h3]
        s = relu(sum(model.to_shared[n][0](h[n][0]) for n in h) + model.shared_bias[0])
        for l in (1, 2):
            s = relu(sum(model.to_shared[n][l](h[n][l]) for n in h) + model.shared_rec[l - 1](s) + model.shared_bias[l])
        assert torch.allclose(model(x, torch.ones(3, 2, dtype=torch.bool)), model.classifier(s), atol=1e-6)
    assert model.input_dims == {"left": 32, "right": 32}
    assert [m[0].out_features for m in model.pathways["left"]] == [20, 10]


def test_paper_sizes_by_default() -> None:
    model = dmf.DenseMultimodalFusion(digits_meta())
    assert model.hparams["modality_sizes"] == [512, 128] and model.hparams["shared_sizes"] == [512, 256, 64]
    assert [b.numel() for b in model.shared_bias] == [512, 256, 64]


def test_generative_variant_imputes_missing_modality() -> None:
    meta = digits_meta()
    torch.manual_seed(0)
    model = dmf.DenseMultimodalFusion(meta, modality_sizes=[64], shared_sizes=[64, 32], generative=True, seed=0)
    assert not model.has_fast_path
    batches = digits_batches(slice(0, 600))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def recon_error() -> float:
        model.eval()
        x = next(iter(batches()))[0]
        only_left = torch.tensor([[True, False]]).expand(len(x["left"]), 2)
        with torch.no_grad():
            _, _, rec = model._impute({n: v.flatten(1) for n, v in x.items()}, only_left)
        model.train()
        return float((rec["right"] - x["right"].flatten(1)).pow(2).mean())

    before = recon_error()
    model.train()
    for _ in range(4):
        for x, avail, y in batches():
            loss, _ = model.training_loss(x, avail, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    after = recon_error()
    assert after < 0.5 * before  # the decoder learned to reconstruct the hidden half from the other one
    model.eval()
    x, _, _ = next(iter(batches()))
    miss = torch.tensor([[True, False]]).expand(len(x["left"]), 2)
    garbage = dict(x, right=torch.full_like(x["right"], 7.0))
    with torch.no_grad():  # the filled values of a missing modality are ignored (imputed instead)
        assert torch.allclose(model(x, miss), model(garbage, miss))
        assert not torch.allclose(model(x, torch.ones_like(miss)), model(garbage, torch.ones_like(miss)))


def test_l1_equals_the_registered_intermediate_baseline() -> None:
    """Same comparison against baselines I's ``intermediate`` (encoders -> concat -> Linear -> ReLU -> Linear)."""
    inter_mod = pytest.importorskip("modalbench.baselines.intermediate", reason="baselines I not installed")
    meta = toy_meta()
    names = meta.modality_names
    torch.manual_seed(0)
    model = dmf.DenseMultimodalFusion(meta, modality_sizes=[], shared_sizes=[24], front="encoder", front_dim=16).eval()
    inter = inter_mod.IntermediateFusion(meta, feature_dim=16, head_hidden=24, dropout=0.0).eval()
    with torch.no_grad():
        for i, n in enumerate(names):
            inter.encoders[i].load_state_dict(model.fronts[n].state_dict())
        inter.head[0].weight.copy_(torch.cat([model.to_shared[n][0].weight for n in names], dim=1))
        inter.head[0].bias.copy_(model.shared_bias[0])
        inter.head[3].load_state_dict(model.classifier.state_dict())
    inputs, _ = toy_batch(meta, 6)
    avail = torch.ones(6, 4, dtype=torch.bool)
    with torch.no_grad():
        assert torch.allclose(model(inputs, avail), inter(inputs, avail), atol=1e-5)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in inter.parameters())
