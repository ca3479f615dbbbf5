"""EmbraceNet adj_pre: the measured missing rate equals ``p_missing`` (paper §6.3.6: 50 % on average)."""

from __future__ import annotations

import pytest
import torch

from modalbench.baselines import create_baseline
from modalbench.baselines.embracenet import drop_probability, modality_dropout
from modalbench.meta import DatasetMeta, ModalitySpec

torch.set_num_threads(1)


def vec_meta(m: int) -> DatasetMeta:
    return DatasetMeta("toy", tuple(ModalitySpec(f"m{i}", "vector", (3,)) for i in range(m)), ("a", "b"))


@pytest.mark.parametrize("m", [2, 8, 19])
@pytest.mark.parametrize("rate", [0.5, 0.25])
def test_measured_missing_rate_matches_p_missing(m: int, rate: float) -> None:
    """Share of (row, modality) pairs dropped among 200,000 fully available rows; at least one modality kept.

    For M = 2 and rate 0.5 the constraint binds: every row keeps exactly one modality, the share is exactly 0.5.
    """
    torch.manual_seed(m)
    model = create_baseline("embracenet", vec_meta(m), adj_pre=True, p_missing=rate, embrace_dim=4)
    full = torch.ones(200_000, m, dtype=torch.bool)
    out = model.modality_dropout(full)
    measured = 1.0 - float(out.float().mean())
    assert abs(measured - rate) <= 0.01, (m, rate, measured)
    assert out.any(dim=1).all()
    # the old rule (drop in half the samples only) measured 0.249 for M = 8 and 0.250 for M = 19 at rate 0.5
    if m > 2:
        assert (out.sum(1) < m).float().mean() > 0.9  # most rows lose something, not only half of them


def test_rate_is_relative_to_the_available_modalities() -> None:
    torch.manual_seed(1)
    avail = torch.rand(100_000, 8) < 0.6
    out = modality_dropout(avail, 0.5)
    assert not (out & ~avail).any() and torch.equal(out.any(1), avail.any(1))
    multi = avail.sum(1) >= 3  # rows where the constraint does not bind at 0.5
    share = float((avail & ~out)[multi].sum() / avail[multi].sum())
    assert abs(share - 0.5) <= 0.01


def test_drop_probability_solves_the_truncated_share() -> None:
    for n, rate in [(3, 0.5), (8, 0.5), (19, 0.3)]:
        q = drop_probability(n, rate)
        assert abs((q - q**n) / (1 - q**n) - rate) < 1e-9
    assert drop_probability(2, 0.5) == 1.0 and drop_probability(1, 0.5) == 0.0 and drop_probability(5, 0.0) == 0.0


def test_p_missing_zero_keeps_everything() -> None:
    full = torch.ones(1000, 5, dtype=torch.bool)
    assert torch.equal(modality_dropout(full, 0.0), full)
