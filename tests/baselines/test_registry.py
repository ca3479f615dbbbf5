"""Properties every registered baseline must have (parametrised over the registry, so new methods are covered).

Forward shapes on every modality kind, no NaN for any availability pattern (a single modality, none), one
training epoch on digits lowers the loss, save/load round trips with ``weights_only=True``.
"""

from __future__ import annotations

import io
import itertools
import json

import pytest
import torch
from modalbench.baselines import baseline_names, create_baseline
from modalbench.baselines.registry import create_baseline
from modalbench.engine.checkpoint import load_checkpoint
from modalbench.engine.evaluation import eval_mode, sample_keys
from modalbench.engine.trainer import fit, seed_torch

from modalbench.errors import UnknownNameError
from modalbench.meta import DatasetMeta, ModalitySpec

torch.set_num_threads(1)
NAMES = baseline_names()

KINDS_META = DatasetMeta(
    "kinds",
    (ModalitySpec("acc", "series", (24, 3)), ModalitySpec("cam", "image", (1, 8, 8)),
     ModalitySpec("feat", "vector", (10,)), ModalitySpec("spec", "spectrogram", (1, 16, 12))),
    tuple("abcd"),
)
DIGITS_META = DatasetMeta("digits", (ModalitySpec("left", "image", (1, 8, 4)), ModalitySpec("right", "image", (1, 8, 4))),
                          tuple(str(i) for i in range(10)))


def random_inputs(meta: DatasetMeta, b: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {m.name: torch.rand(b, *m.shape, generator=g) * 2 - 1 for m in meta.modalities}


def digits(n_train: int = 480, n_val: int = 96):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32) / 8.0 - 1.0  # scaled to [-1, 1]
    left, right = x[:, None, :, :4].contiguous(), x[:, None, :, 4:].contiguous()
    y = torch.tensor(d.target)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    tr, va = perm[:n_train], perm[n_train:n_train + n_val]

    def batches(idx, bs, shuffle=None):
        if shuffle is not None:
            idx = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(shuffle))]
        for s in range(0, len(idx), bs):
            i = idx[s:s + bs]
            yield {"left": left[i], "right": right[i]}, torch.ones(len(i), 2, dtype=torch.bool), y[i]

    return (lambda e: batches(tr, 16, e)), (lambda: batches(va, 256)), next(batches(tr, n_train))


def test_registry_has_every_method_of_issue_4() -> None:
    assert {"early", "late", "intermediate", "cmp", "mae", "embracenet", "mul", "mulmix"} <= set(NAMES)


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(UnknownNameError, match="embracenet"):
        create_baseline("embracenett", KINDS_META)


@pytest.mark.parametrize("name", NAMES)
def test_forward_shapes_on_every_modality_kind(name: str) -> None:
    seed_torch(0)
    model = create_baseline(name, KINDS_META)
    x = random_inputs(KINDS_META, 5)
    with eval_mode(model):
        out = model(x, torch.ones(5, 4, dtype=torch.bool))
    assert out.shape == (5, KINDS_META.n_classes)
    json.dumps(model.config())  # JSON-able config
    if getattr(model, "has_fast_path", False):
        with eval_mode(model):
            feats = model.encode(x)
        assert set(feats) == set(KINDS_META.modality_names)
        assert all(f.shape[0] == 5 for f in feats.values())


@pytest.mark.parametrize("name", NAMES)
def test_no_nan_for_any_availability_pattern(name: str) -> None:
    seed_torch(1)
    model = create_baseline(name, KINDS_META)
    m = KINDS_META.n_modalities
    patterns = torch.tensor(list(itertools.product([False, True], repeat=m)))  # incl. none and singles
    b = 2
    x = random_inputs(KINDS_META, b * len(patterns), seed=1)
    avail = patterns.repeat_interleave(b, dim=0)
    y = torch.arange(len(avail)) % KINDS_META.n_classes
    model.train()
    loss, logits = model.training_loss(x, avail, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits).all()
    for pname, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), pname
    with eval_mode(model):
        out = model(x, avail)
    assert out.shape == (len(avail), KINDS_META.n_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_roundtrip_weights_only(name: str) -> None:
    seed_torch(2)
    model = create_baseline(name, KINDS_META)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    cfg = json.loads(json.dumps(model.config()))
    seed_torch(99)  # different init: the weights must come from the state dict
    clone = create_baseline(cfg["name"], DatasetMeta.from_dict(cfg["meta"]), **cfg["hparams"])
    clone.load_state_dict(state)
    x = random_inputs(KINDS_META, 4, seed=3)
    avail = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 0, 1], [0, 1, 1, 1]], dtype=torch.bool)
    keys = torch.arange(4)
    with eval_mode(model), sample_keys(model, keys):
        a = model(x, avail)
    with eval_mode(clone), sample_keys(clone, keys):
        b = clone(x, avail)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert clone.regime == model.regime


@pytest.mark.parametrize("name", NAMES)
def test_one_epoch_on_digits_lowers_the_loss_and_checkpoint_roundtrips(name: str, tmp_path) -> None:
    train, val, (x_fixed, a_fixed, y_fixed) = digits()
    seed_torch(0)
    model = create_baseline(name, DIGITS_META)

    def fixed_loss(m: torch.nn.Module) -> float:
        keys = torch.arange(len(y_fixed))
        with eval_mode(m), sample_keys(m, keys):
            return float(m.training_loss(x_fixed, a_fixed, y_fixed)[0])

    before = fixed_loss(model)
    result = fit(model, train, val, epochs=1, lr=1e-3, eps=1e-8, seed=0, progress=False, out_dir=tmp_path)
    after = fixed_loss(model)
    assert after < before, f"{name}: training loss {before:.4f} -> {after:.4f}"
    assert result.epochs_run == 1

    loaded = load_checkpoint(tmp_path, create_baseline)
    keys = torch.arange(len(y_fixed))
    with eval_mode(model), sample_keys(model, keys):
        a = model(x_fixed, a_fixed)
    with eval_mode(loaded), sample_keys(loaded, keys):
        b = loaded(x_fixed, a_fixed)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
