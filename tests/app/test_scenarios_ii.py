"""Scenarios II on digits end to end: damaged/noisy evaluation, training regimes, train-missing, imputation fills."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from helpers.training import train_seeds
from modalbench.app.cli import main
from modalbench.app.workflows import EvalSpec, run_evaluation
from modalbench.errors import ModalbenchError
from modalbench.leaderboard.board import build_leaderboard, resolve_dir
from modalbench.leaderboard.official import load_official, register_manifests
from modalbench.leaderboard.schema import validate_schema
from modalbench.leaderboard.submit import check_submission, submit
from modalbench.scenarios import Skipped, generate_scenarios, load_scenario

torch.set_num_threads(1)


def _train(root, out, seeds=(0, 1, 2), baseline="intermediate", **kw):
    return train_seeds(root, out, baseline=baseline, seeds=tuple(seeds), **kw)


@pytest.fixture(scope="module")
def plain(digits_root, tmp_path_factory):
    return _train(digits_root, tmp_path_factory.mktemp("ck") / "plain")


@pytest.fixture
def board(tmp_path):
    """A copy of the project's leaderboard without submissions (official values included)."""
    dst = tmp_path / "board"
    shutil.copytree(resolve_dir(None), dst, ignore=shutil.ignore_patterns("*.py", "__pycache__", "submissions"))
    return dst


def test_committed_official_values_cover_the_new_families(digits_root) -> None:
    official = load_official()["scenarios"]["digits@v1"]
    fresh = [
        r for r in generate_scenarios(digits_root, "digits", seed=0, robustness=True) if not isinstance(r, Skipped)
    ]
    ids = {r.scenario_id for r in fresh}
    assert {"damaged-modality@v1", "noisy-modality@v1", "train-missing@v1"} <= ids
    for r in fresh:
        rec = official[r.scenario_id]
        assert (rec["seed"], rec["sha256"], rec["n_conditions"]) == (0, r.sha256, r.manifest["n_conditions"])
    train = next(r for r in fresh if r.scenario_id == "train-missing@v1")
    assert train.split == "train" and train.path.name == "seed-0-train"


def test_damaged_and_noisy_evaluation_is_valid_and_degrades(digits_root, plain, board) -> None:
    res = run_evaluation(
        EvalSpec(
            dataset="digits",
            root=str(digits_root),
            checkpoint=plain,
            scenarios=("damaged-modality", "noisy-modality"),
            command="test",
        )
    )
    assert validate_schema(res) == []
    verdict = check_submission(res, board)
    assert verdict.problems == [] and verdict.ranked
    dm = {c["id"]: np.mean(c["metrics"]["accuracy"]) for c in res["scenarios"][0]["conditions"]}
    assert dm["damage-right-d0.10"] > dm["damage-right-d0.90"]
    assert dm["damage-right-d0.10"] > dm["damage-right-d0.10-alone"]
    nm = {c["id"]: np.mean(c["metrics"]["accuracy"]) for c in res["scenarios"][1]["conditions"]}
    assert nm["noise-all-snr20"] > nm["noise-all-snr-5"]
    scored = {c["id"]: c["n_scored"] for c in res["scenarios"][0]["conditions"]}
    assert len(set(scored.values())) == 1, "element damage never removes samples"


def test_dmf_recipe_damage_rows_find_damaged_modality_conditions(digits_root, plain) -> None:
    from modalbench.app.reproduce import compare, load_recipe
    from modalbench.jsonio import read_json
    from modalbench.leaderboard.board import PACKAGE_DIR, reported_path

    res = run_evaluation(
        EvalSpec(
            dataset="digits",
            root=str(digits_root),
            checkpoint=plain,
            scenarios=("full", "missing-modalities", "damaged-modality"),
            command="test",
        )
    )
    rows = compare(load_recipe("dmf-mnist-damage"), {"intermediate": res}, read_json(reported_path(PACKAGE_DIR)))
    ours = {r.condition: r for r in rows if r.model == "intermediate"}
    assert len(ours) == 8  # DMF Table 1: 0/30/50/70 % damage, both halves and right only
    assert all(r.reproduced is not None for r in ours.values())
    dm = next(s for s in res["scenarios"] if s["id"].startswith("damaged-modality"))
    acc = next(c for c in dm["conditions"] if c["id"] == "damage-right-d0.50-alone")["metrics"]["accuracy"]
    assert ours["right-only-damage-50pct"].reproduced == pytest.approx(100 * (1 - float(np.mean(acc))))


def test_element_conditions_match_manual_damage(digits_root, plain) -> None:
    """The evaluator applies exactly the regenerated damage: compare with damaging the inputs by hand."""
    from modalbench.app.workflows import evaluate_scenario, load_test
    from modalbench.baselines.registry import create_baseline
    from modalbench.engine.checkpoint import load_checkpoint
    from modalbench.engine.evaluation import evaluate_batches

    model = load_checkpoint(plain / "seed-0", create_baseline)
    test = load_test(str(digits_root), "digits", None)
    r = load_scenario(digits_root, "digits", "damaged-modality", 0)
    got = evaluate_scenario(model, test, r, "mean")
    c = [x["id"] for x in r.conditions].index("damage-left-d0.50")
    mask = r.elements(c)[0]
    left = np.where(mask, 0.0, test.inputs["left"]).astype(np.float32)
    batch = (
        {"left": torch.from_numpy(left), "right": torch.from_numpy(test.inputs["right"])},
        torch.from_numpy(test.natural),
        torch.from_numpy(test.labels),
    )
    want = evaluate_batches(model, [batch])
    assert got.metrics[c]["accuracy"] == pytest.approx(want["accuracy"])


def test_train_missing_training_is_recorded_and_grouped(digits_root, plain, board, tmp_path) -> None:
    ck = _train(digits_root, tmp_path / "tm", train_scenario="train-missing:mcar-p0.50")
    cfg = json.loads((ck / "seed-0" / "config.json").read_text())
    r = load_scenario(digits_root, "digits", "train-missing", 0, split="train")
    assert cfg["training_scenario"] == {
        "id": "train-missing@v1",
        "condition": "mcar-p0.50",
        "seed": 0,
        "sha256": r.sha256,
    }
    res = run_evaluation(
        EvalSpec(dataset="digits", root=str(digits_root), checkpoint=ck, scenarios=("missing-modalities",), command="t")
    )
    assert res["training_scenario"]["condition"] == "mcar-p0.50" and validate_schema(res) == []
    path = tmp_path / "tm.json"
    path.write_text(json.dumps(res))
    dest = submit(path, board)
    assert dest.name == "intermediate--full-modality--train-missing-mcar-p0.50.json"
    plain_res = run_evaluation(
        EvalSpec(
            dataset="digits", root=str(digits_root), checkpoint=plain, scenarios=("missing-modalities",), command="t"
        )
    )
    (tmp_path / "plain.json").write_text(json.dumps(plain_res))
    submit(tmp_path / "plain.json", board)
    entries = build_leaderboard(board)["entries"]
    groups = {e["key"]: e["scenarios"]["missing-modalities@v2"]["group"] for e in entries}
    assert groups["digits/digit/intermediate--full-modality--train-missing-mcar-p0.50"].endswith(
        "trained on train-missing-mcar-p0.50"
    )
    assert all(e["scenarios"]["missing-modalities@v2"]["rank"] == 1 for e in entries), "never ranked across"
    edited = dict(res, training_scenario=dict(res["training_scenario"], sha256="0" * 64))
    problems = check_submission(edited, board, replace=True).problems
    assert any("training_scenario.sha256" in p for p in problems)


def test_training_masks_reach_the_batches(digits_root) -> None:
    from modalbench.app.workflows import batches_for, load_training_scenario

    ts = load_training_scenario(str(digits_root), "digits", "train-missing:drop-right-p0.70")
    b = batches_for(str(digits_root), "digits", None, batch_size=64, seed=0, train_mask=ts.mask)
    avail = torch.cat([a for _, a, _ in b.train(0)])
    assert avail.shape[0] == ts.mask.shape[0] and avail[:, 0].all()
    assert abs((~avail[:, 1]).float().mean().item() - 0.7) < 0.08
    assert int((~avail).sum()) == int((~ts.mask).sum()), "every masked modality, once per epoch"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("missing-modalities:k01-0000", "is a test scenario"),
        ("train-missing:mcar-p0.90", "the condition one of mcar-p0.10"),
        ("train-missing", "expected train-missing:<condition>"),
    ],
)
def test_bad_training_scenarios(digits_root, tmp_path, text, match) -> None:
    with pytest.raises(ModalbenchError, match=match):
        _train(digits_root, tmp_path / "x", seeds=(0,), train_scenario=text)


def test_a_method_that_cannot_train_with_missing_is_refused(digits_root, tmp_path, monkeypatch) -> None:
    from modalbench.baselines.intermediate import IntermediateFusion

    monkeypatch.setattr(IntermediateFusion, "trains_with_missing", False, raising=False)
    with pytest.raises(ModalbenchError, match="cannot train on samples with missing modalities"):
        _train(digits_root, tmp_path / "x", seeds=(0,), train_scenario="train-missing:mcar-p0.10")


def test_training_scenario_is_not_evaluated(digits_root, plain) -> None:
    with pytest.raises(ModalbenchError, match="a training scenario is not evaluated"):
        run_evaluation(
            EvalSpec(dataset="digits", root=str(digits_root), checkpoint=plain, scenarios=("train-missing",))
        )


def test_regime_through_the_cli_is_recorded_in_results(digits_root, tmp_path, capsys) -> None:
    ck = tmp_path / "md"
    args = ["train", "intermediate", "--dataset", "digits", "--epochs", "2", "--out", str(ck), "--quiet"]
    assert main([*args, "--regime", "curriculum-dropout", "--set", "p_drop=0.4", "--root", str(digits_root)]) == 0
    cfg = json.loads((ck / "config.json").read_text())
    assert cfg["training_regime"]["name"] == "curriculum-dropout" and cfg["training_regime"]["p_drop"] == 0.4
    res = run_evaluation(EvalSpec(dataset="digits", root=str(digits_root), checkpoint=ck, scenarios=("full",)))
    assert res["regime"] == "curriculum-dropout"
    assert main([*args, "--regime", "modality-dropout", "--set", "p_drop=2", "--root", str(digits_root)]) == 2
    assert "p_drop must be a number in (0, 1)" in capsys.readouterr().err


@pytest.mark.parametrize("strategy", ["knn", "regress"])
def test_fitted_fills_are_recorded_and_beat_the_mean_when_a_half_is_missing(digits_root, plain, strategy) -> None:
    spec = dict(dataset="digits", root=str(digits_root), checkpoint=plain / "seed-0", scenarios=("missing-modalities",))
    mean = run_evaluation(EvalSpec(**spec, fill="mean"))
    fitted = run_evaluation(EvalSpec(**spec, fill=strategy))
    sc = fitted["scenarios"][0]
    assert sc["fill"] == f"{strategy}@v1" and sc["fill_params"]["n_fit"] > 500 and validate_schema(fitted) == []
    both_mean, both_fit = mean["scenarios"][0]["conditions"][2], sc["conditions"][2]
    assert both_mean["metrics"] == both_fit["metrics"], "nothing is imputed when every modality is present"
    one_mean = np.mean([c["metrics"]["f1_weighted"][0] for c in mean["scenarios"][0]["conditions"][:2]])
    one_fit = np.mean([c["metrics"]["f1_weighted"][0] for c in sc["conditions"][:2]])
    assert one_fit > one_mean


def test_interpolate_fill_is_recorded_with_its_version(digits_root, plain) -> None:
    res = run_evaluation(
        EvalSpec(
            dataset="digits",
            root=str(digits_root),
            checkpoint=plain / "seed-0",
            scenarios=("full",),
            fill="interpolate",
        )
    )
    assert res["scenarios"][0]["fill"] == "interpolate@v1" and "fill_params" not in res["scenarios"][0]


def test_register_official_accepts_training_manifests_only_with_their_use(digits_root, tmp_path) -> None:
    fresh = [r.manifest for r in generate_scenarios(digits_root, "digits", ["train-missing"], seed=0)]
    path = register_manifests(fresh, tmp_path / "official.json")
    assert "train-missing@v1" in load_official(path)["scenarios"]["digits@v1"]
    bad = dict(fresh[0])
    bad.pop("use")
    with pytest.raises(ModalbenchError, match="official scenarios use the test split"):
        register_manifests([bad], tmp_path / "official2.json")


def test_fill_params_from_the_cli_are_used_recorded_and_labelled(digits_root, plain, tmp_path, capsys) -> None:
    argv = ["evaluate", "--dataset", "digits", "--root", str(digits_root), "--checkpoint", str(plain / "seed-0")]
    argv += ["--scenarios", "missing-modalities", "--quiet"]
    docs = {}
    for k in ("1", "20", None):
        out = tmp_path / f"k{k}.json"
        extra = ["--fill", "knn"] + (["--fill-param", f"k={k}"] if k else [])
        assert main([*argv, *extra, "--out", str(out)]) == 0
        docs[k] = json.loads(out.read_text())
        table = capsys.readouterr().out
        assert (f"knn@v1(k={k})" if k else "knn@v1") in table and "knn@v1(k=5)" not in table
    params = {k: d["scenarios"][0]["fill_params"] for k, d in docs.items()}
    assert (params["1"]["k"], params["20"]["k"], params[None]["k"]) == (1, 20, 5)  # as used, defaults filled in
    assert params["1"]["n_fit"] == params["20"]["n_fit"] > 500
    one_half = {k: [c["metrics"] for c in d["scenarios"][0]["conditions"][:2]] for k, d in docs.items()}
    assert one_half["1"] != one_half["20"] != one_half[None]  # each k imputes differently
    assert (
        docs["1"]["scenarios"][0]["conditions"][2]["metrics"] == docs["20"]["scenarios"][0]["conditions"][2]["metrics"]
    )  # both halves present: nothing imputed
    lines: list[str] = []
    alpha = run_evaluation(
        EvalSpec(
            dataset="digits",
            root=str(digits_root),
            checkpoint=plain / "seed-0",
            scenarios=("missing-modalities",),
            fill="regress",
            fill_params={"alpha": "10"},
        ),
        progress=lines.append,
    )
    assert lines and all(line.endswith("fill regress@v1(alpha=10.0)") for line in lines), lines
    assert alpha["scenarios"][0]["fill_params"]["alpha"] == 10.0 and validate_schema(alpha) == []
    assert "--fill regress --fill-param alpha=10" in alpha["command"]  # the equivalent command line


def test_fitted_imputers_are_cached_per_parameters(digits_root) -> None:
    from modalbench.app.workflows import load_test

    test = load_test(str(digits_root), "digits", None)
    k3 = test.imputer("knn", {"k": 3})
    assert test.imputer("knn", {"k": "3"}) is k3 and k3.params == {"k": 3}
    assert test.imputer("knn", {"k": 4}) is not k3 and test.imputer("knn", {"k": 4}).params == {"k": 4}
    assert test.imputer("knn") is test.imputer("knn", {"k": 5})  # the defaults are one configuration
    assert test.imputer("mean", None) is None


def test_fill_params_for_training_are_recorded_in_the_checkpoint(digits_root, tmp_path) -> None:
    ck = tmp_path / "ck"
    argv = ["train", "late", "--dataset", "digits", "--root", str(digits_root), "--epochs", "1", "--quiet"]
    assert main([*argv, "--fill", "regress", "--fill-param", "alpha=0.5", "--out", str(ck)]) == 0
    cfg = json.loads((ck / "config.json").read_text())
    assert cfg["fill"] == "regress" and cfg["fill_params"] == {"alpha": 0.5}
    assert main([*argv, "--out", str(tmp_path / "mean")]) == 0
    assert "fill_params" not in json.loads((tmp_path / "mean" / "config.json").read_text())
