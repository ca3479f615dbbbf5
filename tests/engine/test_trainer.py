"""Trainer: determinism, early stopping with the best state kept, checkpoint files, calibration, pretraining, errors."""

from __future__ import annotations

import json

import pytest
import torch

from modalbench.baselines import create_baseline
from modalbench.engine.checkpoint import load_checkpoint
from modalbench.engine.evaluation import evaluate_batches, per_modality_scores
from modalbench.engine.trainer import fit, resolve_device, seed_torch
from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta, ModalitySpec

torch.set_num_threads(1)

META = DatasetMeta(
    "digits",
    (ModalitySpec("left", "image", (1, 8, 4)), ModalitySpec("right", "image", (1, 8, 4))),
    tuple(str(i) for i in range(10)),
)
SMALL = {"feature_dim": 16, "head_hidden": 32, "encoder": {"filters": 8}}


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32) / 8.0 - 1.0
    return x[:, None, :, :4].contiguous(), x[:, None, :, 4:].contiguous(), torch.tensor(d.target)


LEFT, RIGHT, Y = _digits()
PERM = torch.randperm(len(Y), generator=torch.Generator().manual_seed(0))
TRAIN, VAL = PERM[:320], PERM[320:480]


def batches(idx, bs=32, shuffle=None, labels=None):
    labels = Y if labels is None else labels
    if shuffle is not None:
        idx = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(shuffle))]
    for s in range(0, len(idx), bs):
        i = idx[s : s + bs]
        yield {"left": LEFT[i], "right": RIGHT[i]}, torch.ones(len(i), 2, dtype=torch.bool), labels[i]


def train_fn(e):
    return batches(TRAIN, shuffle=e)


def val_fn():
    return batches(VAL, 160)


def run(name="intermediate", seed=0, **kw):
    seed_torch(seed)
    model = create_baseline(name, META, **({**SMALL} if name != "mae" else {}), **kw.pop("hparams", {}))
    kw.setdefault("epochs", 2)
    kw.setdefault("progress", False)
    return fit(model, train_fn, val_fn, seed=seed, **kw)


def test_deterministic_on_cpu_for_a_seed() -> None:
    a = run(seed=3, lr=3e-3)
    b = run(seed=3, lr=3e-3)
    assert a.train_losses == b.train_losses and a.val_scores == b.val_scores
    for (k, va), (_, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(va, vb), k
    c = run(seed=4, lr=3e-3)
    assert c.train_losses != a.train_losses


def test_checkpoint_files_config_and_reload(tmp_path) -> None:
    res = run("embracenet", lr=3e-3, out_dir=tmp_path, hparams={"adj_pre": True}, extra_config={"command": "test"})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["config.json", "model.pt", "train_log.jsonl"]  # no *.incomplete left behind
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["model"]["name"] == "embracenet" and cfg["regime"] == "modality-dropout"
    assert cfg["seed"] == 0 and cfg["best_epoch"] == res.best_epoch and cfg["val_scores"] == res.val_scores
    assert cfg["training"]["optimizer"]["eps"] == 1e-2 and cfg["training"]["lr"] == 3e-3 and cfg["command"] == "test"
    assert cfg["parameter_count"] == sum(p.numel() for p in res.model.parameters())
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log if r["stage"] == "train"] == [1, 2]
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert set(state) == set(res.model.state_dict())
    loaded = load_checkpoint(tmp_path, create_baseline)
    assert evaluate_batches(loaded, val_fn()) == evaluate_batches(res.model, val_fn())


def test_train_batches_gets_the_epoch_index() -> None:
    seen: list[int] = []

    def tb(e):
        seen.append(e)
        return batches(TRAIN[:64], shuffle=e)

    seed_torch(0)
    fit(create_baseline("intermediate", META, **SMALL), tb, val_fn, epochs=3, seed=0, progress=False)
    assert seen == [0, 1, 2]


def test_early_stopping_keeps_the_best_epoch() -> None:
    # lr so small that predictions never change: no epoch improves on epoch 1, patience 2 stops after epoch 3
    res = run(epochs=10, lr=1e-12, patience=2)
    assert res.epochs_run == 3 and res.best_epoch == 1 and res.stopped_early
    # a normal run: the returned model carries the best epoch's weights
    res = run(epochs=4, lr=1e-2, patience=1)
    assert evaluate_batches(res.model, val_fn())["f1_weighted"] == pytest.approx(res.best_score)
    assert res.best_score == max(res.val_scores)


def test_late_fusion_is_calibrated_with_per_modality_val_f1() -> None:
    res = run("late", lr=3e-3)
    weights = res.model.modality_weights.tolist()
    assert res.calibration == pytest.approx(weights)
    assert weights == pytest.approx(per_modality_scores(res.model, val_fn()))
    assert all(0 < w <= 1 for w in weights)


def test_mae_pretraining_stage_runs_first() -> None:
    res = run("mae", epochs=1, lr=3e-3, eps=1e-8, hparams={"pretrain_epochs": 3, "hidden": [64, 16]})
    stages = [r["stage"] for r in res.log]
    assert stages[:4] == ["pretrain", "pretrain", "pretrain", "train"]
    assert len(res.pretrain_losses) == 3 and res.pretrain_losses[-1] < res.pretrain_losses[0]


def test_progress_bar_runs(capsys) -> None:
    res = run(epochs=1, progress=True)
    assert res.epochs_run == 1
    assert "intermediate 1/1 loss" in capsys.readouterr().err


def test_clear_errors(tmp_path) -> None:
    model = create_baseline("intermediate", META, **SMALL)
    with pytest.raises(ModalbenchError, match="epochs"):
        fit(model, train_fn, val_fn, epochs=0, seed=0, progress=False)
    with pytest.raises(ModalbenchError, match="patience"):
        fit(model, train_fn, val_fn, epochs=1, patience=0, seed=0, progress=False)
    with pytest.raises(ModalbenchError, match="right"):

        def bad(e):
            return iter([({"left": LEFT[:4]}, torch.ones(4, 2, dtype=torch.bool), Y[:4])])

        fit(model, bad, val_fn, epochs=1, seed=0, progress=False)
    with pytest.raises(ModalbenchError, match="no batches"):
        fit(model, lambda e: iter([]), val_fn, epochs=1, seed=0, progress=False)

    def nan(e):
        return iter(
            [({"left": LEFT[:8] * float("nan"), "right": RIGHT[:8]}, torch.ones(8, 2, dtype=torch.bool), Y[:8])]
        )

    with pytest.raises(ModalbenchError, match="non-finite"):
        fit(model, nan, val_fn, epochs=1, seed=0, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ModalbenchError, match="CUDA"):
            resolve_device("cuda")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ModalbenchError, match="config"):
        load_checkpoint(tmp_path / "nowhere", create_baseline)
    run(epochs=1, out_dir=tmp_path)
    (tmp_path / "model.pt").write_bytes(b"garbage")
    with pytest.raises(ModalbenchError, match="model.pt"):
        load_checkpoint(tmp_path, create_baseline)
    (tmp_path / "config.json").write_text('{\n  "model": oops\n}')
    with pytest.raises(ModalbenchError, match="line 2"):
        load_checkpoint(tmp_path, create_baseline)


@pytest.mark.parametrize(
    ("recipe", "kind"),
    [
        ({"optimizer": "adam", "eps": 1e-8}, torch.optim.Adam),
        ({"optimizer": "adamw", "weight_decay": 0.05}, torch.optim.AdamW),
        ({"optimizer": "sgd", "momentum": 0.9}, torch.optim.SGD),
    ],
)
def test_make_optimizer_follows_the_recipe(recipe: dict, kind: type) -> None:
    from modalbench.engine.trainer import make_optimizer

    opt = make_optimizer([torch.nn.Parameter(torch.zeros(2))], 0.1, recipe)
    assert type(opt) is kind and opt.param_groups[0]["lr"] == 0.1
    for key in ("eps", "weight_decay", "momentum"):
        if key in recipe:
            assert opt.param_groups[0][key] == recipe[key]


def test_unknown_optimizer_is_a_clear_error() -> None:
    from modalbench.engine.trainer import make_optimizer
    from modalbench.errors import ModalbenchError

    with pytest.raises(ModalbenchError, match="unknown optimizer 'lamb'"):
        make_optimizer([torch.nn.Parameter(torch.zeros(2))], 0.1, {"optimizer": "lamb"})


def test_warns_when_still_improving_or_near_chance(tmp_path, capsys) -> None:
    from modalbench.engine.trainer import training_warnings

    improving = training_warnings([0.5, 0.6, 0.9], 3, 10, "multiclass")
    assert len(improving) == 1 and "still improving" in improving[0]
    assert training_warnings([0.5, 0.6, 0.9], 3, 10, "multiclass", stopped_early=True) == []
    assert training_warnings([0.5, 0.9, 0.8], 2, 10, "multiclass") == []
    assert len(training_warnings([0.05, 0.14, 0.1], 2, 10, "multiclass")) == 1  # 0.14 < 1.5 x 1/10
    assert training_warnings([0.05, 0.16, 0.1], 2, 10, "multiclass") == []
    assert training_warnings([0.05, 0.1, 0.07], 2, 10, "multilabel") == []  # no chance rule for micro F1
    # a run that cannot learn (lr 1e-9) ends near chance and on its last epoch: both lines on stderr and in the log
    res = run(lr=1e-9, epochs=2, out_dir=tmp_path / "ck")
    err = capsys.readouterr().err
    assert len(res.warnings) >= 1 and all(f"warning: intermediate: {w}" in err for w in res.warnings)
    assert any("near chance" in w for w in res.warnings)
    logged = [json.loads(line) for line in (tmp_path / "ck" / "train_log.jsonl").read_text().splitlines()]
    assert [e["message"] for e in logged if e["stage"] == "warning"] == res.warnings
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["warnings"] == res.warnings


def test_positive_class_weights_balance_each_class() -> None:
    import numpy as np

    from modalbench.engine.trainer import positive_class_weights

    y = np.array([[1, 0, 0, 1], [0, 0, 1, 1], [1, 0, 0, 1], [0, 0, 0, 1]])
    w = positive_class_weights(y)
    assert w.dtype == np.float32
    np.testing.assert_allclose(w, [1.0, 1.0, 3.0, 1.0])  # 2/2; no positives; 3 negatives / 1; no negatives
    with pytest.raises(ModalbenchError, match=r"must be \[N, C\]"):
        positive_class_weights(np.zeros(4))


def test_multilabel_loss_weighs_positive_terms() -> None:
    from modalbench.baselines.base import multilabel_loss

    logits = torch.tensor([[0.3, -1.2], [2.0, 0.1]])
    target = torch.tensor([[1, 0], [0, 1]])
    w = torch.tensor([2.0, 5.0])
    by_hand = -(
        w * target * torch.nn.functional.logsigmoid(logits) + (1 - target) * torch.nn.functional.logsigmoid(-logits)
    ).mean()
    torch.testing.assert_close(multilabel_loss(logits, target, w), by_hand)
    assert not torch.allclose(multilabel_loss(logits, target, None), by_hand)
    meta = DatasetMeta("ml", (ModalitySpec("a", "vector", (3,)),), ("x", "y"), task_type="multilabel")
    model = create_baseline("early", meta).eval()  # no dropout: both losses see the same logits
    x, avail = {"a": torch.randn(2, 3)}, torch.ones(2, 1, dtype=torch.bool)
    plain, logits_out = model.training_loss(x, avail, target)
    model.set_label_pos_weight(w)
    weighted, _ = model.training_loss(x, avail, target)
    torch.testing.assert_close(weighted, multilabel_loss(logits_out, target, w))
    assert weighted != plain
