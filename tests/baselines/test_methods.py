"""Method properties: EmbraceNet selection, Mul's q and boosted loss, count sketch, late fusion, MAE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from modalbench.baselines import create_baseline
from modalbench.baselines.cmp import circular_convolution_fft, count_sketch
from modalbench.baselines.early import joint_spec
from modalbench.baselines.embracenet import counter_uniforms
from modalbench.baselines.mae import corrupt_mask
from modalbench.baselines.mul import mixture_candidates, mul_class_losses
from modalbench.engine.evaluation import eval_mode
from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta, ModalitySpec

torch.set_num_threads(1)


def vec_meta(m: int, c: int = 4, task_type: str = "multiclass") -> DatasetMeta:
    return DatasetMeta(
        "toy",
        tuple(ModalitySpec(f"m{i}", "vector", (6 + i,)) for i in range(m)),
        tuple(f"c{i}" for i in range(c)),
        task_type=task_type,
    )


def inputs(meta: DatasetMeta, b: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {s.name: torch.randn(b, *s.shape, generator=g) for s in meta.modalities}


# ---------------------------------------------------------------- EmbraceNet
@pytest.mark.parametrize("k", [0, 1, 2])
def test_embracenet_one_hot_p_outputs_docking_k(k: int) -> None:
    meta = vec_meta(3)
    p = [0.0, 0.0, 0.0]
    p[k] = 1.0
    torch.manual_seed(0)
    model = create_baseline("embracenet", meta, selection_probabilities=p, embrace_dim=32).eval()
    x = inputs(meta, 7)
    with torch.no_grad():
        docked = model.encode(x)
        e = model.embrace(model.stack(docked), torch.ones(7, 3, dtype=torch.bool))
        # docking(k) computed independently: encoder k then Linear + ReLU
        d_k = torch.relu(model.docking[k](model.encoders[k](x[f"m{k}"])))
    torch.testing.assert_close(e, d_k, rtol=0, atol=0)


def test_embracenet_never_selects_a_missing_modality() -> None:
    model = create_baseline("embracenet", vec_meta(4), embrace_dim=64).eval()
    g = torch.Generator().manual_seed(1)
    avail = torch.rand(500, 4, generator=g) < 0.5
    docked = torch.rand(500, 4, 64, generator=g) + 1.0
    e, sel = model.embrace(docked, avail, u=torch.rand(500, 64, generator=g), return_selection=True)
    has = avail.any(1)
    chosen_ok = avail.gather(1, sel.clamp_min(0))
    assert chosen_ok[has].all()
    assert (sel[~has] == -1).all() and (e[~has] == 0).all()
    torch.testing.assert_close(e[has], docked[has].gather(1, sel[has].unsqueeze(1)).squeeze(1))
    # p renormalised by availability (eq. 3): with p = (0.7, 0.1, 0.1, 0.1) and modality 0 missing the others share
    p = torch.tensor([0.7, 0.1, 0.1, 0.1])
    av = torch.tensor([[False, True, True, True]]).expand(20000, 4)
    _, s = model.embrace(
        torch.rand(20000, 4, 64, generator=g), av, p=p, u=torch.rand(20000, 64, generator=g), return_selection=True
    )
    freq = torch.bincount(s.flatten(), minlength=4).float() / s.numel()
    assert freq[0] == 0 and torch.allclose(freq[1:], torch.full((3,), 1 / 3), atol=0.01)


def test_embracenet_mean_over_draws_approaches_weighted_sum() -> None:
    model = create_baseline("embracenet", vec_meta(3), embrace_dim=16).eval()
    p = torch.tensor([0.5, 0.3, 0.2])
    g = torch.Generator().manual_seed(2)
    docked = torch.rand(4, 3, 16, generator=g)
    avail = torch.ones(4, 3, dtype=torch.bool)
    keys = torch.arange(4)
    n = 4000
    mean = sum(model.embrace(docked, avail, p=p, u=counter_uniforms(keys, 16, seed=0, repeat=r)) for r in range(n)) / n
    expected = (p.view(1, 3, 1) * docked).sum(1)
    assert torch.allclose(mean, expected, atol=0.03), (mean - expected).abs().max()


def test_counter_uniforms_are_uniform_and_keyed() -> None:
    u = counter_uniforms(torch.arange(2000), 64, seed=3)
    assert u.min() >= 0 and u.max() < 1
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.005
    torch.testing.assert_close(counter_uniforms(torch.tensor([5, 9]), 64, 3), u[[5, 9]], rtol=0, atol=0)
    assert not torch.equal(counter_uniforms(torch.arange(3), 8, 3), counter_uniforms(torch.arange(3), 8, 4))


def test_embracenet_adj_pre_modality_dropout() -> None:
    torch.manual_seed(0)
    m2 = create_baseline("embracenet", vec_meta(2), adj_pre=True)
    assert m2.regime == "modality-dropout" and m2.config()["regime"] == "modality-dropout"
    full = torch.ones(4000, 2, dtype=torch.bool)
    # p_missing 0.5 at M = 2 binds the at-least-one constraint: exactly one modality kept, each half the time
    out = m2.modality_dropout(full)
    assert (out.sum(1) == 1).all() and abs(float(out[:, 0].float().mean()) - 0.5) < 0.04
    # the Table 1 protocol (one modality kept at random in half the samples) is p_missing 0.25
    table1 = create_baseline("embracenet", vec_meta(2), adj_pre=True, p_missing=0.25)
    n_kept = table1.modality_dropout(full).sum(1)
    assert set(n_kept.tolist()) <= {1, 2} and abs(float((n_kept == 1).float().mean()) - 0.5) < 0.04
    one = torch.tensor([[True, False]]).expand(100, 2)
    assert torch.equal(m2.modality_dropout(one), one)  # never adds a modality, never removes the last
    m5 = create_baseline("embracenet", vec_meta(5), adj_pre=True)
    avail = torch.rand(4000, 5) < 0.8
    out = m5.modality_dropout(avail)
    assert not (out & ~avail).any()
    assert (out.any(1) == avail.any(1)).all()
    assert create_baseline("embracenet", vec_meta(2)).regime == "full-modality"


def test_embracenet_adj_post_calibrate() -> None:
    model = create_baseline("embracenet", vec_meta(3), adj_post=True)
    assert model.wants_calibration
    model.calibrate([0.8, 0.4, 0.0])
    torch.testing.assert_close(model.selection_p, torch.tensor([2 / 3, 1 / 3, 0.0]))
    assert "selection_p" in model.state_dict()
    plain = create_baseline("embracenet", vec_meta(3))
    plain.calibrate([0.8, 0.4, 0.0])
    torch.testing.assert_close(plain.selection_p, torch.full((3,), 1 / 3))
    with pytest.raises(ModalbenchError, match="3 finite"):
        model.calibrate([0.5, float("nan"), 0.1])


def test_embracenet_test_time_selection_is_seeded_and_repeats_average() -> None:
    meta = vec_meta(3)
    torch.manual_seed(0)
    model = create_baseline("embracenet", meta, n_repeats=5, eval_seed=7, embrace_dim=16).eval()
    x = inputs(meta, 6)
    avail = torch.ones(6, 3, dtype=torch.bool)
    with torch.no_grad():
        model.reset_eval_rng()
        a = model(x, avail)
        model.reset_eval_rng()
        b = model(x, avail)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        keys = torch.arange(6)
        model.set_sample_keys(keys)
        out = model(x, avail)
        docked = model.stack(model.encode(x))
        probs = torch.stack(
            [
                torch.softmax(model.head(model.embrace(docked, avail, u=counter_uniforms(keys, 16, 7, r))), -1)
                for r in range(5)
            ]
        ).mean(0)
        model.set_sample_keys(None)
    torch.testing.assert_close(torch.softmax(out, -1), probs, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- Mul / MulMix
def test_mul_q_matches_hand_computation_m3() -> None:
    g = torch.Generator().manual_seed(0)
    b, m, c, beta = 5, 3, 4, 0.5
    log_p = torch.log_softmax(torch.randn(b, m, c, generator=g), -1)
    avail = torch.ones(b, m, dtype=torch.bool)
    avail[1, 2] = False  # one sample with a missing modality: exponent renormalised to β/(2−1)
    avail[2] = torch.tensor([False, True, False])  # single modality: q = 1
    got = mul_class_losses(log_p, avail, beta)
    p = log_p.exp().double()
    for i in range(b):
        av = [k for k in range(m) if avail[i, k]]
        n = len(av)
        for cl in range(c):
            total = 0.0
            for k in av:
                q = 1.0
                for j in av:
                    if j != k:
                        q *= (1 - float(p[i, j, cl])) ** (beta / (n - 1))
                total += -q * float(log_p[i, k, cl])
            assert float(got[i, cl]) == pytest.approx(total, rel=1e-5, abs=1e-6)


def test_mul_q_is_detached() -> None:
    log_p = torch.log_softmax(torch.randn(2, 3, 4), -1).requires_grad_(True)
    avail = torch.ones(2, 3, dtype=torch.bool)
    losses = mul_class_losses(log_p, avail, 0.5)
    losses[:, 1].sum().backward()
    p = log_p.detach().exp()
    q0 = ((1 - p[:, 1, 1]) * (1 - p[:, 2, 1])) ** 0.25  # gradient of −q·log p_0 wrt log p_0 is −q only
    torch.testing.assert_close(log_p.grad[:, 0, 1], -q0, rtol=1e-5, atol=1e-6)


def test_boosted_loss_zero_for_samples_won_by_more_than_delta() -> None:
    model = create_baseline("mul", vec_meta(2, c=3), boosted=True, delta=1.0)
    losses = torch.tensor(
        [
            [0.5, 3.0, 4.0],  # true 0, wins by 2.5 > δ → 0
            [1.0, 1.5, 9.0],  # true 0, wins by 0.5 ≤ δ → 1.0
            [2.0, 0.2, 5.0],
        ]
    )  # true 0, loses → 2.0
    target = torch.tensor([0, 0, 0])
    assert float(model.mul_loss(losses, target)) == pytest.approx((0 + 1.0 + 2.0) / 3)
    plain = create_baseline("mul", vec_meta(2, c=3))
    assert float(plain.mul_loss(losses, target)) == pytest.approx((0.5 + 1.0 + 2.0) / 3)


def test_mul_predicts_the_class_with_smallest_loss_and_drops_missing_terms() -> None:
    meta = vec_meta(3)
    torch.manual_seed(0)
    model = create_baseline("mul", meta).eval()
    x = inputs(meta, 8)
    avail = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0], [0, 1, 1]] * 2, dtype=torch.bool)
    with torch.no_grad():
        feats = model.encode(x)
        losses = model.class_losses(feats, avail)
        logits = model(x, avail)
        assert torch.equal(logits.argmax(1), losses.argmin(1))
        assert torch.all(logits[2] == 0)  # nothing available: uniform
        # a missing modality's input has no influence
        x2 = dict(x)
        x2["m0"] = x["m0"] + 5.0
        torch.testing.assert_close(model(x2, avail)[avail[:, 0] == 0], logits[avail[:, 0] == 0])


def test_mixture_candidates() -> None:
    t = mixture_candidates(3)
    assert t.shape == (7, 3) and t.sum(1).tolist() == [1, 1, 1, 2, 2, 2, 3]
    big = mixture_candidates(19, max_candidates=64, seed=5)
    assert big.shape == (64, 19)
    assert len({tuple(r) for r in big.tolist()}) == 64
    assert big[:19].sum(1).tolist() == [1] * 19 and big[-1].all()  # singletons and the full set kept
    assert np.array_equal(big, mixture_candidates(19, max_candidates=64, seed=5))
    assert not np.array_equal(big, mixture_candidates(19, max_candidates=64, seed=6))
    pairs = mixture_candidates(19, max_mixture_size=2, max_candidates=500)
    assert pairs.shape == (19 + math.comb(19, 2), 19)
    capped = mixture_candidates(19, max_mixture_size=3, max_candidates=100, seed=0)
    assert capped.shape == (100, 19) and capped.sum(1).max() <= 3


def test_mulmix_additive_mixtures_and_candidate_availability() -> None:
    meta = vec_meta(3)
    torch.manual_seed(0)
    model = create_baseline("mulmix", meta).eval()
    assert model.candidates.shape == (7, 3) and "candidates" in model.state_dict()
    x = inputs(meta, 4)
    avail = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 0], [0, 0, 0]], dtype=torch.bool)
    with torch.no_grad():
        feats = model.encode(x)  # MulMix: embeddings
        log_p, cand_avail = model.term_log_probs(feats, avail)
        # candidate {0, 2} (row 4): eq. 11 — the head sees f_0 + f_2
        h = (feats["m0"] + feats["m2"]).unsqueeze(1)
        w = [(wt[4:5], bs[4:5]) for wt, bs in zip(model.heads.weights, model.heads.biases)]
        z = torch.relu(torch.einsum("bsd,sde->bse", h, w[0][0]) + w[0][1])
        z = torch.einsum("bsd,sde->bse", z, w[1][0]) + w[1][1]
        torch.testing.assert_close(log_p[:, 4], torch.log_softmax(z[:, 0], -1))
    expected = torch.tensor([[1] * 7, [1, 0, 1, 0, 1, 0, 0], [0, 1, 0, 0, 0, 0, 0], [0] * 7], dtype=torch.bool)
    assert torch.equal(cand_avail, expected)


# ---------------------------------------------------------------- compact multilinear pooling
def test_count_sketch_is_linear() -> None:
    g = torch.Generator().manual_seed(0)
    h = torch.randint(0, 16, (10,), generator=g)
    s = torch.randint(0, 2, (10,), generator=g).float() * 2 - 1
    x, y = torch.randn(3, 10, generator=g), torch.randn(3, 10, generator=g)
    lhs = count_sketch(2.5 * x - 0.7 * y, h, s, 16)
    torch.testing.assert_close(lhs, 2.5 * count_sketch(x, h, s, 16) - 0.7 * count_sketch(y, h, s, 16))
    # definition: ψ(x)_j = Σ_{i: h(i)=j} s(i) x_i
    ref = torch.zeros(3, 16)
    for i in range(10):
        ref[:, h[i]] += s[i] * x[:, i]
    torch.testing.assert_close(count_sketch(x, h, s, 16), ref)


def test_fft_product_equals_circular_convolution() -> None:
    g = torch.Generator().manual_seed(1)
    d = 12
    u, v, w = (torch.randn(2, d, generator=g, dtype=torch.float64) for _ in range(3))
    conv = torch.zeros(2, d, dtype=torch.float64)
    for a in range(d):
        for b in range(d):
            conv[:, (a + b) % d] += u[:, a] * v[:, b]
    torch.testing.assert_close(circular_convolution_fft(u, v), conv)
    conv3 = torch.zeros(2, d, dtype=torch.float64)
    for a in range(d):
        for b in range(d):
            conv3[:, (a + b) % d] += conv[:, a] * w[:, b]
    torch.testing.assert_close(circular_convolution_fft(u, v, w), conv3)


def test_cmp_hashes_are_seeded_buffers_and_skip_mode() -> None:
    meta = vec_meta(3)
    a = create_baseline("cmp", meta, seed=3, sketch_dim=32)
    b = create_baseline("cmp", meta, seed=3, sketch_dim=32)
    c = create_baseline("cmp", meta, seed=4, sketch_dim=32)
    assert "sketch_hash_0" in a.state_dict() and "sketch_sign_2" in a.state_dict()
    assert torch.equal(a.sketch_hash_1, b.sketch_hash_1) and not torch.equal(a.sketch_hash_1, c.sketch_hash_1)
    skip = create_baseline("cmp", meta, sketch_dim=32, missing="skip", post_norm=False).eval()
    x = inputs(meta, 5)
    only1 = torch.tensor([[False, True, False]]).expand(5, 3)
    with torch.no_grad():
        feats = skip.embeddings(x)
        spectra = skip.encode(x)
        phi = skip.pool(spectra, only1)
        f1 = torch.nn.functional.normalize(feats["m1"], dim=1)
        torch.testing.assert_close(phi, skip.sketch(1, f1), rtol=1e-5, atol=1e-6)
        full = skip.pool(spectra, torch.ones(5, 3, dtype=torch.bool))
        sk = [skip.sketch(i, torch.nn.functional.normalize(feats[f"m{i}"], dim=1)) for i in range(3)]
        torch.testing.assert_close(full, circular_convolution_fft(*sk), rtol=1e-5, atol=1e-6)
    with pytest.raises(ModalbenchError, match="missing"):
        create_baseline("cmp", meta, missing="zero")


# ---------------------------------------------------------------- late fusion
def test_late_fusion_with_one_modality_left_equals_its_classifier() -> None:
    meta = vec_meta(3)
    torch.manual_seed(0)
    model = create_baseline("late", meta).eval()
    model.calibrate([0.9, 0.5, 0.2])
    x = inputs(meta, 6)
    with torch.no_grad():
        feats = model.encode(x)
        per = torch.softmax(model.modality_logits(feats), -1)  # [B, M, C]
        for k in range(3):
            only = torch.zeros(6, 3, dtype=torch.bool)
            only[:, k] = True
            torch.testing.assert_close(torch.softmax(model(x, only), -1), per[:, k], rtol=1e-5, atol=1e-6)
        both = torch.tensor([[True, False, True]]).expand(6, 3)
        expected = (0.9 * per[:, 0] + 0.2 * per[:, 2]) / 1.1
        torch.testing.assert_close(torch.softmax(model(x, both), -1), expected, rtol=1e-5, atol=1e-6)
        none = model(x, torch.zeros(6, 3, dtype=torch.bool))
        torch.testing.assert_close(torch.softmax(none, -1), torch.full((6, 4), 0.25))
    assert torch.equal(model.state_dict()["modality_weights"], torch.tensor([0.9, 0.5, 0.2]))


def test_late_fusion_trains_each_modality_on_its_own_loss() -> None:
    meta = vec_meta(2)
    model = create_baseline("late", meta, dropout=0.0)
    x = inputs(meta, 4)
    y = torch.tensor([0, 1, 2, 3])
    avail = torch.tensor([[1, 1], [1, 0], [0, 1], [1, 1]], dtype=torch.bool)
    loss, _ = model.training_loss(x, avail, y)
    logits = model.modality_logits(model.encode(x))
    ce = torch.nn.functional.cross_entropy
    expected = sum(ce(logits[i, k : k + 1], y[i : i + 1]) for i in range(4) for k in range(2) if avail[i, k]) / 4
    torch.testing.assert_close(loss, expected)


# ---------------------------------------------------------------- multimodal autoencoder
def test_mae_corruption_mask() -> None:
    torch.manual_seed(0)
    avail = torch.rand(5000, 4) < 0.9
    keep = corrupt_mask(avail, 0.5)
    assert not (keep & ~avail).any()
    assert (keep.any(1) == avail.any(1)).all()  # at least one kept
    rate = float((avail & ~keep).sum() / avail.sum())
    assert 0.4 < rate < 0.5  # ~50 %, slightly less because one modality is always kept


def test_mae_replaces_missing_modalities_by_minus_one_at_test_time() -> None:
    meta = vec_meta(2)
    model = create_baseline("mae", meta).eval()
    x = inputs(meta, 5)
    avail = torch.tensor([[True, False]]).expand(5, 2)
    x2 = dict(x)
    x2["m1"] = torch.randn(5, 7)
    with torch.no_grad():
        torch.testing.assert_close(model(x, avail), model(x2, avail), rtol=0, atol=0)
        manual = model.head(model.encoder(torch.cat([((x["m0"] + 1) / 2).clamp(0, 1), torch.full((5, 7), -1.0)], 1)))
        torch.testing.assert_close(model(x, avail), manual)


def test_mae_pretraining_reduces_reconstruction_loss() -> None:
    meta = vec_meta(2)
    torch.manual_seed(0)
    model = create_baseline("mae", meta, hidden=[32, 8])
    g = torch.Generator().manual_seed(0)
    z = torch.rand(256, 3, generator=g)  # low-dimensional structure to learn
    x = {"m0": torch.tanh(z @ torch.randn(3, 6, generator=g)), "m1": torch.tanh(z @ torch.randn(3, 7, generator=g))}
    avail = torch.ones(256, 2, dtype=torch.bool)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = float(model.pretrain_loss(x, avail).detach())
    for _ in range(150):
        opt.zero_grad()
        loss = model.pretrain_loss(x, avail)
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first - 0.05
    with pytest.raises(ModalbenchError, match="input_scaling"):
        create_baseline("mae", meta, input_scaling="zscore")


# ---------------------------------------------------------------- early fusion layouts, multi-label
def test_early_fusion_joint_input_layouts() -> None:
    series = DatasetMeta("s", (ModalitySpec("a", "series", (20, 3)), ModalitySpec("b", "series", (20, 2))), ("x", "y"))
    spec, layout = joint_spec(series)
    assert (spec.kind, spec.shape, layout) == ("series", (20, 5), "channels-last")
    imgs = DatasetMeta("i", (ModalitySpec("a", "image", (1, 8, 4)), ModalitySpec("b", "image", (3, 8, 4))), ("x", "y"))
    spec, layout = joint_spec(imgs)
    assert (spec.kind, spec.shape, layout) == ("image", (4, 8, 4), "channels-first")
    mixed = DatasetMeta("m", (ModalitySpec("a", "series", (20, 3)), ModalitySpec("b", "vector", (7,))), ("x", "y"))
    spec, layout = joint_spec(mixed)
    assert (spec.kind, spec.shape, layout) == ("vector", (67,), "flat")
    model = create_baseline("early", imgs).eval()
    x = inputs(imgs, 3)
    with torch.no_grad():
        assert model(x, torch.ones(3, 2, dtype=torch.bool)).shape == (3, 2)
        torch.testing.assert_close(model.joint_input(x)[:, 1:], x["b"])


@pytest.mark.parametrize("name", ["early", "late", "intermediate", "cmp", "mae", "embracenet", "mul", "mulmix"])
def test_multilabel_tasks(name: str) -> None:
    meta = vec_meta(3, c=5, task_type="multilabel")
    torch.manual_seed(0)
    model = create_baseline(name, meta)
    x = inputs(meta, 6)
    y = (torch.rand(6, 5) < 0.4).float()
    avail = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]], dtype=torch.bool)
    loss, logits = model.training_loss(x, avail, y)
    loss.backward()
    assert logits.shape == (6, 5) and torch.isfinite(loss) and torch.isfinite(logits).all()
    with eval_mode(model):
        assert torch.isfinite(model(x, avail)).all()


# ---------------------------------------------------------------- fuse_conditions hooks (sweep fast path)
@pytest.mark.parametrize(
    ("name", "hp"),
    [
        ("embracenet", {}),
        ("embracenet", {"n_repeats": 3}),
        ("embracenet", {"selection_probabilities": [1.0, 2.0, 3.0, 0.5, 4.0]}),
        ("late", {}),
    ],
)
def test_fuse_conditions_equals_fuse_per_condition(name: str, hp: dict) -> None:
    torch.manual_seed(0)
    meta = vec_meta(5, c=4)
    model = create_baseline(name, meta, **hp)
    b, k = 7, 6
    avail = torch.rand(k, b, 5) < 0.6
    with eval_mode(model):
        real = model.encode(inputs(meta, b))
        masked = model.encode({n: torch.zeros_like(v) for n, v in inputs(meta, b).items()})
        keys = torch.arange(100, 100 + b)
        if hasattr(model, "set_sample_keys"):
            model.set_sample_keys(keys.repeat(k))
        together = model.fuse_conditions(real, masked, avail)
        for i in range(k):
            if hasattr(model, "set_sample_keys"):
                model.set_sample_keys(keys)
            feats = {n: torch.where(avail[i, :, j, None], real[n], masked[n]) for j, n in enumerate(real)}
            torch.testing.assert_close(together[i], model.fuse(feats, avail[i]), atol=1e-5, rtol=1e-5)


def test_embracenet_equal_p_selection_takes_the_floor_u_n_th_available_modality() -> None:
    model = create_baseline("embracenet", vec_meta(4))
    avail = torch.tensor([[True, False, True, True], [False, False, False, True], [False, False, False, False]])
    u = torch.tensor([[0.0, 0.34, 0.67, 0.999]]).expand(3, 4)
    idx, has_any = model.selection(avail, u)
    assert idx[0].tolist() == [0, 2, 3, 3] and idx[1].tolist() == [3, 3, 3, 3]
    assert has_any.squeeze(-1).tolist() == [True, True, False]
    # the same draw through the cdf search that unequal p uses
    p = torch.full((4,), 0.25)
    w = p * avail[:2].float()
    ref = torch.searchsorted(torch.cumsum(w, -1), u[:2] * w.sum(-1, keepdim=True), right=True)
    assert torch.equal(idx[:2], ref)


def test_mulmix_candidate_cap_is_visible() -> None:
    small = create_baseline("mulmix", vec_meta(3))
    assert small.effective_config() == {
        "n_candidates": 7,
        "power_set_size": 7,
        "capped": False,
        "max_mixture_size": None,
        "max_candidates": 64,
        "candidate_seed": 0,
    }
    assert small.notes == [] and "notes" not in small.config()
    assert not create_baseline("mulmix", vec_meta(6)).effective_config()["capped"]  # 63 <= 64
    big = create_baseline("mulmix", vec_meta(8))
    c = big.effective_config()
    assert c["capped"] and c["n_candidates"] == 64 and c["power_set_size"] == 255
    assert big.notes and "64 of 255" in big.notes[0] and big.config()["notes"] == big.notes


def test_early_fusion_puts_skeleton_parts_side_by_side_on_the_joint_axis() -> None:
    parts = DatasetMeta(
        "p",
        (ModalitySpec("torso", "skeleton", (8, 2, 5, 3)), ModalitySpec("arm", "skeleton", (8, 2, 6, 3))),
        ("x", "y"),
    )
    spec, layout = joint_spec(parts)
    assert (spec.kind, spec.shape, layout) == ("skeleton", (8, 2, 11, 3), "joints")
    model = create_baseline("early", parts)
    a, b = torch.randn(4, 8, 2, 5, 3), torch.randn(4, 8, 2, 6, 3)
    joint = model.joint_input({"torso": a, "arm": b})
    assert torch.equal(joint[:, :, :, :5], a) and torch.equal(joint[:, :, :, 5:], b)
