"""Interface tests of two-stream, GMU, CentralNet, DMF, Minape and MFAS.

Every method: forward shapes on all four modality kinds, backward, no NaN for every availability pattern
(including no modality and a single one), encode/fuse fast path == forward, and a state-dict round trip through
``torch.save``/``torch.load(weights_only=True)`` + rebuild from ``config()``.
"""

from __future__ import annotations

import io
import json

import pytest
import torch

from helpers.models import all_patterns, toy_batch, toy_meta
from modalbench.baselines import centralnet, dmf, gmu, mfas, minape, two_stream  # noqa: F401  registers
from modalbench.baselines.registry import create_baseline
from modalbench.meta import DatasetMeta

torch.set_num_threads(1)

METHODS: list[tuple[str, dict]] = [
    ("two-stream", {}),
    ("two-stream", {"fuse_on": "features"}),
    ("gmu", {}),
    ("gmu", {"head": "maxout"}),
    ("centralnet", {}),
    ("dmf", {"modality_sizes": [32, 16], "shared_sizes": [32, 16, 8]}),
    ("dmf", {"modality_sizes": [32], "shared_sizes": [32, 16], "generative": True}),
    ("minape", {}),
    ("mfas", {"arch": [[0, 1, 0, 2, "relu"], [1, 0, 1, 0, "sigmoid"]], "hidden": 16}),
]
IDS = [f"{n}-{'-'.join(f'{k}' for k in kw)}" if kw else n for n, kw in METHODS]


@pytest.mark.parametrize(("name", "kw"), METHODS, ids=IDS)
def test_forward_backward_every_pattern(name: str, kw: dict) -> None:
    meta = toy_meta()
    torch.manual_seed(0)
    model = create_baseline(name, meta, **kw)
    pats = all_patterns(meta.n_modalities)
    inputs, target = toy_batch(meta, len(pats))
    # training step with every pattern in one batch
    model.train()
    loss, logits = model.training_loss(inputs, pats, target)
    assert logits.shape == (len(pats), meta.n_classes)
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is None or torch.isfinite(g).all() for g in grads)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    model.eval()
    with torch.no_grad():
        out = model(inputs, pats)
        assert out.shape == (len(pats), meta.n_classes) and torch.isfinite(out).all()
        for p in pats:  # one pattern at a time, including a single available modality and none
            o = model(inputs, p.expand(len(pats), -1))
            assert torch.isfinite(o).all()
        if model.has_fast_path:
            assert torch.allclose(model.fuse(model.encode(inputs), pats), out, atol=1e-5)


@pytest.mark.parametrize(("name", "kw"), METHODS, ids=IDS)
def test_state_dict_round_trip(name: str, kw: dict) -> None:
    meta = toy_meta()
    torch.manual_seed(1)
    model = create_baseline(name, meta, **kw)
    inputs, target = toy_batch(meta, 6, seed=3)
    avail = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 1], [0, 0, 0, 0], [0, 0, 0, 1]]).bool()
    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss, _ = model.training_loss(inputs, avail, target)
    loss.backward()
    opt.step()  # move weights and BN statistics away from their initial values
    model.eval()
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    cfg = json.loads(json.dumps(model.config()))  # the config is plain JSON
    torch.manual_seed(99)
    rebuilt = create_baseline(cfg["name"], DatasetMeta.from_dict(cfg["meta"]), **cfg["hparams"])
    rebuilt.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    rebuilt.eval()
    with torch.no_grad():
        assert torch.equal(model(inputs, avail), rebuilt(inputs, avail))


@pytest.mark.parametrize(("name", "kw"), METHODS, ids=IDS)
def test_multilabel_head(name: str, kw: dict) -> None:
    meta = toy_meta("multilabel")
    torch.manual_seed(0)
    model = create_baseline(name, meta, **kw)
    inputs, _ = toy_batch(meta, 4)
    target = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]])
    loss, logits = model.training_loss(inputs, torch.ones(4, 4, dtype=torch.bool), target)
    assert logits.shape == (4, 3) and torch.isfinite(loss)
    assert torch.allclose(model.predict_proba(logits), torch.sigmoid(logits))


def test_two_stream_missing_stream_is_zero_filled() -> None:
    meta = toy_meta()
    torch.manual_seed(0)
    model = create_baseline("two-stream", meta).eval()
    inputs, _ = toy_batch(meta, 5)
    avail = torch.tensor([[1, 0, 1, 1]] * 5).bool()
    other = dict(inputs, cam=torch.randn(5, 1, 8, 4) * 100)  # garbage in the missing modality changes nothing
    with torch.no_grad():
        assert torch.allclose(model(inputs, avail), model(other, avail))
        assert not torch.allclose(
            model(inputs, torch.ones(5, 4, dtype=torch.bool)), model(other, torch.ones(5, 4, dtype=torch.bool))
        )
        # hand computation of the fusion layer: W [a_1 u_1; …; a_M u_M; a] + b
        feats = model.encode(inputs)
        uni = model.stream_logits(feats)
        a = avail.float()
        x = torch.cat([uni[n] * a[:, i : i + 1] for i, n in enumerate(meta.modality_names)] + [a], dim=1)
        assert torch.allclose(model(inputs, avail), x @ model.fusion.weight.T + model.fusion.bias, atol=1e-6)


def test_unknown_option_values_are_clear_errors() -> None:
    from modalbench.errors import ModalbenchError

    meta = toy_meta()
    with pytest.raises(ModalbenchError, match="fuse_on"):
        create_baseline("two-stream", meta, fuse_on="probs")
    with pytest.raises(ModalbenchError, match="head"):
        create_baseline("gmu", meta, head="mlp")
    with pytest.raises(ModalbenchError, match="unimodal_weights"):
        create_baseline("centralnet", meta, unimodal_weights=[1.0])
    with pytest.raises(ModalbenchError, match="shared_sizes"):
        create_baseline("dmf", meta, modality_sizes=[8, 8], shared_sizes=[8])
    with pytest.raises(ModalbenchError, match="preset"):
        create_baseline("minape", meta, preset="huge")
    with pytest.raises(ModalbenchError, match=r"arch\[0\]\[1\]"):
        create_baseline("mfas", meta, arch=[[0, 99, 0, 0, "relu"]])
    with pytest.raises(ModalbenchError, match="activation"):
        create_baseline("mfas", meta, arch=[[0, 0, 0, 0, "tanh"]])
