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
from modalbench.engine.checkpoint import load_checkpoint
from modalbench.engine.evaluation import eval_mode, sample_keys
from modalbench.engine.trainer import fit, seed_torch
from modalbench.errors import UnknownNameError
from modalbench.meta import DatasetMeta, ModalitySpec

torch.set_num_threads(1)
NAMES = baseline_names()

KINDS_META = DatasetMeta(
    "kinds",
    (
        ModalitySpec("acc", "series", (24, 3)),
        ModalitySpec("cam", "image", (1, 8, 8)),
        ModalitySpec("feat", "vector", (10,)),
        ModalitySpec("spec", "spectrogram", (1, 16, 12)),
    ),
    tuple("abcd"),
)
DIGITS_META = DatasetMeta(
    "digits",
    (ModalitySpec("left", "image", (1, 8, 4)), ModalitySpec("right", "image", (1, 8, 4))),
    tuple(str(i) for i in range(10)),
)


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
    tr, va = perm[:n_train], perm[n_train : n_train + n_val]

    def batches(idx, bs, shuffle=None):
        if shuffle is not None:
            idx = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(shuffle))]
        for s in range(0, len(idx), bs):
            i = idx[s : s + bs]
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


# ---- declarations: typed parameters, aliases, native missing-data handling ---------------------------------------
def _constructor_kwargs(cls) -> dict:
    import inspect

    sig = inspect.signature(cls.__init__)
    return {
        n: p.default for n, p in list(sig.parameters.items())[2:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def _plain(v):
    return [_plain(x) for x in v] if isinstance(v, (list, tuple)) else v


@pytest.mark.parametrize("name", NAMES)
def test_params_declare_every_constructor_argument_with_its_default(name: str) -> None:
    from modalbench.baselines.registry import BASELINES, method_params

    cls = BASELINES.get(name)
    assert cls.params is not None, f"{name} declares no params"
    declared = {p.name: p for p in cls.params}
    kwargs = _constructor_kwargs(cls)
    assert set(kwargs) == set(declared), (name, set(kwargs) ^ set(declared))
    for p in cls.params:
        assert _plain(kwargs[p.name]) == _plain(p.default), (name, p.name)
        assert p.parse(p.default, name) == p.default and p.help
    assert [p.name for p in method_params(name)][-1] == "recipe"


@pytest.mark.parametrize("name", NAMES)
def test_string_settings_are_parsed_before_construction(name: str) -> None:
    from modalbench.baselines.registry import BASELINES
    from modalbench.errors import ModalbenchError

    cls = BASELINES.get(name)
    scalar = [p for p in cls.params if p.type in ("int", "float", "bool") and p.default is not None]
    hp = {p.name: str(p.default).lower() for p in scalar}
    model = create_baseline(name, KINDS_META if name != "mfas" else DIGITS_META, **hp)
    for p in scalar:
        assert model.hparams[p.name] == p.default and type(model.hparams[p.name]) is type(p.default), p.name
    with pytest.raises(ModalbenchError, match=rf"^{name}: unknown parameter 'no_such'"):
        create_baseline(name, DIGITS_META, no_such="1")


def test_reference_row_names_are_aliases() -> None:
    from modalbench.baselines.registry import canonical_name

    assert canonical_name("compact-multilinear-pooling") == "cmp"
    assert canonical_name("multimodal-autoencoder") == "mae"
    model = create_baseline("multimodal-autoencoder", DIGITS_META)
    assert model.config()["name"] == "mae"
    with pytest.raises(UnknownNameError, match="did you mean 'multimodal-autoencoder'"):
        create_baseline("multimodal-autoencodr", DIGITS_META)


def test_recipe_is_validated_and_reaches_training_recipe() -> None:
    from modalbench.errors import ModalbenchError

    model = create_baseline("minape", DIGITS_META, recipe={"optimizer": "adamw", "weight_decay": "0.05"})
    r = model.training_recipe()
    assert r["optimizer"] == "adamw" and r["weight_decay"] == 0.05 and r["lr"] == 1e-3
    assert model.config()["hparams"]["recipe"] == {"optimizer": "adamw", "weight_decay": 0.05}
    assert create_baseline("early", DIGITS_META).training_recipe()["optimizer"] == "adam"
    with pytest.raises(ModalbenchError, match=r"^minape recipe: parameter 'optimizer': expected one of"):
        create_baseline("minape", DIGITS_META, recipe={"optimizer": "adagrad"})


def _native_cases():
    cases = []
    for name in NAMES:
        hp_list = [{}]
        if name == "cmp":
            hp_list.append({"missing": "skip"})
        if name == "dmf":
            hp_list.append({"generative": True})
        cases += [(name, hp) for hp in hp_list]
    return cases


@pytest.mark.parametrize("name,hp", _native_cases())
def test_handles_missing_declaration_matches_behaviour(name: str, hp: dict) -> None:
    """Declared True: the values of a masked-out modality do not change the output (eval mode).
    Declared False: they do for some sample (the method reads the evaluator's fill)."""
    meta = KINDS_META if name not in ("mfas", "dmf") else DIGITS_META
    torch.manual_seed(0)
    model = create_baseline(name, meta, **hp).eval()
    x = random_inputs(meta, 16, seed=1)
    avail = torch.ones(16, meta.n_modalities, dtype=torch.bool)
    avail[:, 0] = False  # the first modality is masked out
    y = dict(x)
    first = meta.modality_names[0]
    y[first] = x[first] * 3.0 + 5.0
    with torch.no_grad():
        if hasattr(model, "reset_eval_rng"):
            model.reset_eval_rng()
        out_x = model(x, avail)
        if hasattr(model, "reset_eval_rng"):
            model.reset_eval_rng()
        out_y = model(y, avail)
    same = torch.allclose(out_x, out_y, atol=1e-5)
    assert isinstance(model.handles_missing, bool)
    assert same == model.handles_missing, (name, hp, model.handles_missing)


# ---- presets ------------------------------------------------------------------------------------------------------
OPP_META = DatasetMeta(
    "opportunity", tuple(ModalitySpec(f"s{i}", "series", (24, 6)) for i in range(19)), tuple("abcde")
)
GAS_META = DatasetMeta("gas-sensor", tuple(ModalitySpec(f"g{i}", "series", (20, 9)) for i in range(8)), tuple("ab"))


def test_embracenet_paper_preset_per_dataset() -> None:
    from modalbench.baselines.registry import preset_params, resolve_preset

    opp = resolve_preset("embracenet", "paper", OPP_META)
    assert opp.hparams["embrace_dim"] == 1024 and opp.hparams["p_missing"] == 0.5
    assert opp.hparams["encoder_overrides"] == {"series": {"kind": "deepconvlstm"}}
    assert preset_params("embracenet", "paper", GAS_META)["embrace_dim"] == 1024
    digits = resolve_preset("embracenet", "paper", DIGITS_META)
    assert digits.hparams["embrace_dim"] == 512 and digits.hparams["p_missing"] == 0.25 and digits.fill == "zero"
    model = create_baseline("embracenet", OPP_META, **opp.hparams)
    assert model.embrace_dim == 1024 and model.training_recipe()["batch_size"] == 64
    lstm = model.encoders[0].lstm
    assert lstm.hidden_size == 128 and lstm.num_layers == 2
    assert preset_params("embracenet", "default", OPP_META) == {}


def test_dmf_minape_mul_paper_presets() -> None:
    from modalbench.baselines.registry import resolve_preset

    dmf = resolve_preset("dmf", "paper", DIGITS_META)
    assert dmf.hparams["activation"] == "sigmoid" and dmf.fill == "zero"
    model = create_baseline("dmf", DIGITS_META, **dmf.hparams)
    assert isinstance(model.pathways["left"][0][1], torch.nn.Sigmoid)
    x = random_inputs(DIGITS_META, 4)
    s = model._shared(model._pathway(model._front(x)))
    assert (s > 0).all() and (s < 1).all()  # the shared pathway's sigmoid
    minape = create_baseline("minape", DIGITS_META, **resolve_preset("minape", "paper", DIGITS_META).hparams)
    assert minape.hparams["depth"] == 16 and minape.training_recipe()["optimizer"] == "adamw"
    for name in ("mul", "mulmix"):
        hp = resolve_preset(name, "paper", DIGITS_META).hparams
        r = create_baseline(name, DIGITS_META, **hp).training_recipe()
        assert r["optimizer"] == "sgd" and r["momentum"] == 0.9 and r["weight_decay"] > 0 and hp["beta"] == 0.5


@pytest.mark.parametrize("name", NAMES)
def test_every_paper_preset_builds(name: str) -> None:
    from modalbench.baselines.registry import resolve_preset

    for meta in (DIGITS_META, GAS_META):
        p = resolve_preset(name, "paper", meta)
        assert p.notes and p.to_dict()["preset"] == "paper"
        create_baseline(name, meta, **p.hparams)


def test_unknown_preset_is_one_line_error() -> None:
    from modalbench.baselines.registry import resolve_preset
    from modalbench.errors import ModalbenchError

    with pytest.raises(ModalbenchError, match=r"^--preset 'papr': expected one of default, paper; did you mean"):
        resolve_preset("embracenet", "papr", DIGITS_META)


def test_describe_method_params_for_train_help() -> None:
    from modalbench.baselines.registry import describe_method_params

    rows = {r["name"]: r for r in describe_method_params("compact-multilinear-pooling")}
    assert rows["missing"]["range"] == "one of 'fill', 'skip'" and rows["sketch_dim"]["default"] == 512
    assert rows["recipe"]["type"] == "dict" and all(r["help"] for r in rows.values())
    emb = {r["name"]: r for r in describe_method_params("embracenet")}
    assert emb["p_missing"]["range"] == "in [0, 1)" and emb["embrace_dim"]["range"] == ">= 1"


def test_embracenet_command_line_values_are_typed() -> None:
    from modalbench.errors import ModalbenchError

    model = create_baseline("embracenet", DIGITS_META, adj_pre="False", embrace_dim="32")
    assert model.adj_pre is False and model.regime == "full-modality" and model.embrace_dim == 32
    for bad, msg in (
        ({"adjpre": "true"}, "did you mean 'adj_pre'"),
        ({"embrace_dim": "abc"}, "expected an integer"),
        ({"embrace_dim": "0"}, "expected an integer >= 1"),
    ):
        with pytest.raises(ModalbenchError, match=msg):
            create_baseline("embracenet", DIGITS_META, **bad)
