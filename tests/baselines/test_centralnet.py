"""CentralNet: fusion recursion with learned α and c_0 = 0; loss = central + Σ_m λ_m unimodal (hand computation)."""

from __future__ import annotations

import math

import torch

from helpers.models import digits_meta
from modalbench.baselines import centralnet

torch.set_num_threads(1)


def _model(lam: list[float]) -> centralnet.CentralNet:
    torch.manual_seed(0)
    m = centralnet.CentralNet(digits_meta(), width=8, depth=2, unimodal_weights=lam).eval()
    with torch.no_grad():
        m.alpha.copy_(torch.tensor([[0.3, 1.5, -0.7], [2.0, 0.5, 0.25], [-1.0, 0.1, 0.9]]))
    return m


def test_combined_loss_hand_computation() -> None:
    model = _model([0.5, 2.0])
    g = torch.Generator().manual_seed(4)
    x = {"left": torch.rand(5, 1, 8, 4, generator=g), "right": torch.rand(5, 1, 8, 4, generator=g)}
    y = torch.tensor([0, 3, 9, 3, 1])
    avail = torch.tensor([[1, 1], [1, 0], [0, 1], [1, 1], [1, 0]]).bool()
    loss, logits = model.training_loss(x, avail, y)
    with torch.no_grad():
        central, uni = model.all_logits(model.encode(x))

    def nll(logit_row: torch.Tensor, k: int) -> float:
        row = [float(v) for v in logit_row]
        return math.log(sum(math.exp(v) for v in row)) - row[k]

    l_central = sum(nll(central[i], int(y[i])) for i in range(5)) / 5
    l_left = sum(nll(uni["left"][i], int(y[i])) for i in range(5) if avail[i, 0]) / int(avail[:, 0].sum())
    l_right = sum(nll(uni["right"][i], int(y[i])) for i in range(5) if avail[i, 1]) / int(avail[:, 1].sum())
    assert math.isclose(float(loss.detach()), l_central + 0.5 * l_left + 2.0 * l_right, rel_tol=1e-5)
    assert torch.allclose(logits, central)
    # λ = 0 leaves the central loss alone
    loss0, _ = _model([0.0, 0.0]).training_loss(x, avail, y)
    assert math.isclose(float(loss0.detach()), l_central, rel_tol=1e-5)


def test_central_recursion_with_alpha() -> None:
    """c_0 = 0; c_{i+1} = CentralBlock_i(α_c^i c_i + Σ_m α_m^i h_m^i); the classifier reads c_{depth+1}."""
    model = _model([1.0, 1.0])
    x = {"left": torch.rand(3, 1, 8, 4), "right": torch.rand(3, 1, 8, 4)}
    with torch.no_grad():
        f = model.encode(x)
        assert f["left"].shape == (3, 3, 8)  # h^0 .. h^depth
        c = torch.zeros(3, 8)
        for i, blk in enumerate(model.central):
            a = model.alpha[i]
            c = blk(a[0] * c + a[1] * f["left"][:, i] + a[2] * f["right"][:, i])
        assert torch.allclose(model(x, torch.ones(3, 2, dtype=torch.bool)), model.central_classifier(c), atol=1e-6)
        # branch structure: h^{i+1} = Block^i(h^i), same depth as the central branch
        h = model.encoders["left"](x["left"])
        for i, blk in enumerate(model.branches["left"]):
            h = blk(h)
            assert torch.allclose(f["left"][:, i + 1], h, atol=1e-6)
        assert len(model.central) == len(model.branches["left"]) + 1


def test_alpha_is_learned() -> None:
    model = _model([1.0, 1.0]).train()
    x = {"left": torch.rand(6, 1, 8, 4), "right": torch.rand(6, 1, 8, 4)}
    loss, _ = model.training_loss(x, torch.ones(6, 2, dtype=torch.bool), torch.arange(6))
    loss.backward()
    assert model.alpha.grad is not None
    assert model.alpha.grad[:, 1:].abs().sum() > 0
    assert torch.equal(model.alpha.grad[0, 0], torch.tensor(0.0))  # α_c^0 multiplies c_0 = 0
