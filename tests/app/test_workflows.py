"""train → evaluate → submit on real stores, through the Python API and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers.training import train_seeds
from modalbench.app.workflows import EvalSpec, TrainSpec, run_evaluation, run_training
from modalbench.leaderboard.official import load_official
from modalbench.leaderboard.schema import validate_schema
from modalbench.leaderboard.submit import check_submission
from modalbench.scenarios import Skipped, generate_scenarios


@pytest.fixture
def empty_board(tmp_path):
    """A copy of the project's leaderboard without its submissions (so a new entry's key is free)."""
    import shutil

    from modalbench.leaderboard.board import resolve_dir

    board = tmp_path / "board"
    shutil.copytree(resolve_dir(None), board, ignore=shutil.ignore_patterns("*.py", "__pycache__", "submissions"))
    return board


@pytest.fixture(scope="module")
def digits_ckpts(digits_root, tmp_path_factory):
    """intermediate integration trained for two epochs with seeds 0, 1, 2."""
    out = tmp_path_factory.mktemp("ckpt") / "intermediate"
    return train_seeds(digits_root, out)


def test_committed_official_values_match_the_scenario_engine(digits_root):
    official = load_official()
    fresh = [r for r in generate_scenarios(digits_root, "digits", seed=0) if not isinstance(r, Skipped)]
    assert official["datasets"]["digits@v1"]["fingerprint"] == fresh[0].manifest["dataset"]["fingerprint"]
    for r in fresh:
        rec = official["scenarios"]["digits@v1"][r.scenario_id]
        assert (rec["seed"], rec["sha256"], rec["n_conditions"]) == (0, r.sha256, r.manifest["n_conditions"])


def test_evaluate_writes_a_valid_ranked_submission(digits_root, digits_ckpts, empty_board):
    res = run_evaluation(EvalSpec(dataset="digits", root=str(digits_root), checkpoint=digits_ckpts, command="test"))
    assert validate_schema(res) == []
    assert res["seeds"] == [0, 1, 2]
    assert [s["id"] for s in res["scenarios"]] == ["full@v1", "missing-modalities@v2", "random-missing@v1"]
    verdict = check_submission(res, empty_board)
    assert verdict.problems == [] and verdict.ranked
    mm = {s["id"]: s for s in res["scenarios"]}["missing-modalities@v2"]
    assert [c["n_available"] for c in mm["conditions"]] == [1, 1, 2]
    both = mm["conditions"][2]["metrics"]["accuracy"]
    assert min(both) > 0.5  # two epochs at lr 1e-2 already learn digits (chance is 0.1)


def test_fast_path_and_plain_forward_give_the_same_results(digits_root, digits_ckpts):
    spec = dict(
        dataset="digits", root=str(digits_root), checkpoint=digits_ckpts / "seed-0", scenarios=("missing-modalities",)
    )
    fast = run_evaluation(EvalSpec(**spec, use_fast_path=True))
    plain = run_evaluation(EvalSpec(**spec, use_fast_path=False))
    for cf, cp in zip(fast["scenarios"][0]["conditions"], plain["scenarios"][0]["conditions"]):
        for k in cf["metrics"]:
            np.testing.assert_allclose(cf["metrics"][k], cp["metrics"][k], atol=1e-9)


def test_block_missing_evaluation_on_a_windowed_store(synthetic_root, tmp_path):
    ckpt = tmp_path / "late"
    run_training(
        TrainSpec(
            baseline="late",
            dataset="synthetic",
            root=str(synthetic_root),
            epochs=1,
            seed=0,
            out=ckpt,
            progress=False,
            device="cpu",
        )
    )
    got = {}
    for fill in ("ffill", "mean", None):
        res = run_evaluation(
            EvalSpec(
                dataset="synthetic", root=str(synthetic_root), checkpoint=ckpt, scenarios=("block-missing",), fill=fill
            )
        )
        assert validate_schema(res) == []
        conds = res["scenarios"][0]["conditions"]
        assert [c["missing_rate"] for c in conds] == pytest.approx([0.1 * i for i in range(1, 10)])
        assert all(np.isfinite(c["metrics"]["f1_weighted"][0]) for c in conds)
        got[fill] = res["scenarios"][0]
    # no --fill: block-missing's protocol fill (forward fill on the stream), recorded in the results
    assert got[None]["fill"] == "ffill" and got[None]["conditions"] == got["ffill"]["conditions"]
    assert got["mean"]["fill"] == "mean" and got["mean"]["conditions"] != got["ffill"]["conditions"]


def _cli(*args, root):
    env = dict(os.environ, MODALBENCH_HOME=str(root))
    return subprocess.run([sys.executable, "-m", "modalbench", *args], capture_output=True, text=True, env=env)


def test_train_evaluate_submit_through_the_cli(digits_root, tmp_path, empty_board):
    ck = tmp_path / "two-stream"
    p = _cli(
        "train",
        "two-stream",
        "--dataset",
        "digits",
        "--epochs",
        "1",
        "--out",
        str(ck),
        "--quiet",
        "--threads",
        "1",
        root=digits_root,
    )
    assert p.returncode == 0, p.stderr
    out = tmp_path / "results.json"
    p = _cli("evaluate", "--dataset", "digits", "--checkpoint", str(ck), "--out", str(out), "--quiet", root=digits_root)
    assert p.returncode == 0, p.stderr
    board = empty_board
    p = _cli("submit", str(out), "--leaderboard", str(board), root=digits_root)
    assert p.returncode == 0, p.stderr
    assert "unranked" in p.stdout  # one seed: accepted, unranked
    p = _cli("leaderboard", "--dataset", "digits", "--leaderboard", str(board), "--json", root=digits_root)
    assert p.returncode == 0 and "two-stream" in p.stdout


@pytest.mark.parametrize("method", ["dmf", "gmu", "centralnet", "two-stream", "minape"])
def test_baselines_ii_results_pass_submit_validation(method, digits_root, tmp_path, empty_board):
    run_training(
        TrainSpec(
            baseline=method,
            dataset="digits",
            root=str(digits_root),
            epochs=1,
            seed=0,
            out=tmp_path / method,
            progress=False,
            device="cpu",
        )
    )
    res = run_evaluation(
        EvalSpec(
            dataset="digits",
            root=str(digits_root),
            checkpoint=tmp_path / method,
            scenarios=("full", "missing-modalities", "random-missing"),
        )
    )
    verdict = check_submission(res, empty_board)
    assert verdict.problems == [] and not verdict.ranked  # one seed: accepted, unranked


def test_mfas_search_then_train_through_the_cli(digits_root, tmp_path):
    log = tmp_path / "search.jsonl"
    p = _cli(
        "search",
        "mfas",
        "--dataset",
        "digits",
        "--budget",
        "small",
        "--log",
        str(log),
        "--threads",
        "1",
        root=digits_root,
    )
    assert p.returncode == 0, p.stderr
    best = tmp_path / "search.best.json"
    assert best.exists() and len(log.read_text().splitlines()) >= 27  # every depth-1 architecture was tried
    p = _cli(
        "train",
        "mfas",
        "--dataset",
        "digits",
        "--arch",
        str(best),
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "m"),
        "--quiet",
        root=digits_root,
    )
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["evaluate", "--dataset", "digits"], "--checkpoint"),
        (["evaluate", "--dataset", "digits", "--model", "nosuchpkg.mod:f"], "cannot import"),
        (["evaluate", "--dataset", "digits", "--model", "json:nosuch"], "no callable"),
        (["train", "embrasenet", "--dataset", "digits"], "did you mean 'embracenet'"),
        (["evaluate", "--dataset", "digits", "--checkpoint", ".", "--seeds", "0,x"], "--seeds"),
        (["evaluate", "--dataset", "digits", "--checkpoint", "/nonexistent"], "no checkpoint"),
        (["train", "intermediate", "--dataset", "digits", "--arch", "a.json"], "--arch is only for"),
        (["search", "darts", "--dataset", "digits"], "unknown search method"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message, digits_root, tmp_path, capsys, monkeypatch):
    from modalbench.app.cli import main

    monkeypatch.chdir(tmp_path)
    assert main([*args, "--root", str(digits_root)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_demo_end_to_end_small(tmp_path):
    from modalbench.app.demo import run_demo

    results = run_demo(
        str(tmp_path), epochs=2, models=[("intermediate", {}), ("embracenet", {"adj_pre": True})], progress=False
    )
    assert set(results) == {"intermediate", "embracenet"}
    assert results["embracenet"]["regime"] == "modality-dropout"
    assert (tmp_path / "demo" / "site" / "index.html").exists()
    board = json.loads((tmp_path / "demo" / "leaderboard" / "leaderboard.json").read_text())
    assert "reported" in board
    demo_rows = [e for e in board["entries"] if e["model"]["name"].endswith("-demo")]
    assert {e["model"]["name"] for e in demo_rows} == {"intermediate-demo", "embracenet-demo"}
    assert not any(e["ranked"] for e in demo_rows)
    assert len(board["entries"]) > len(demo_rows)  # the project's reproduced rows are kept beside them


def test_table2_summary_reads_the_aggregates():
    from modalbench.app.models import table2_summary

    f = lambda v: {"f1_weighted": {"mean": v, "std": None}}  # noqa: E731
    result = {
        "aggregates": {
            "full@v1": {"metrics": f(0.9)},
            "missing-modalities@v1": {
                "by_n_available": [{"n_available": k, "metrics": f(0.1 * k / 2)} for k in range(1, 20)]
            },
            "block-missing@v1": {
                "by_missing_rate": [{"missing_rate": r / 10, "metrics": f(1 - r / 10)} for r in range(1, 10)]
            },
        }
    }
    rows = table2_summary(result)
    assert rows[0][0].startswith("missing modalities: 4 of 19") and rows[0][2] == pytest.approx(0.2)
    assert rows[1][2] == pytest.approx(0.2)


# ---------------------------------------------------------------- protocol fidelity of evaluate


def test_each_scenario_gets_its_protocol_fill_unless_one_is_given(digits_root, digits_ckpts):
    from modalbench.app.workflows import protocol_fill

    assert protocol_fill("block-missing") == "ffill"
    assert {protocol_fill(f) for f in ("full", "missing-modalities", "random-missing")} == {"mean"}
    res = run_evaluation(EvalSpec(dataset="digits", root=str(digits_root), checkpoint=digits_ckpts / "seed-0"))
    assert [s["id"] for s in res["scenarios"]] == ["full@v1", "missing-modalities@v2", "random-missing@v1"]
    assert {s["fill"] for s in res["scenarios"]} == {"mean"} and "--fill" not in res["command"]
    zero = run_evaluation(
        EvalSpec(
            dataset="digits",
            root=str(digits_root),
            checkpoint=digits_ckpts / "seed-0",
            scenarios=("full",),
            fill="zero",
        )
    )
    assert zero["scenarios"][0]["fill"] == "zero" and "--fill zero" in zero["command"]


def test_fill_none_is_refused_for_models_that_ignore_available(digits_root, tmp_path):
    from modalbench.errors import ModalbenchError

    spec = dict(dataset="digits", root=str(digits_root), scenarios=("missing-modalities",), fill="none")
    with pytest.raises(ModalbenchError, match="does not handle missing data"):
        run_evaluation(EvalSpec(**spec, model="helpers.factories:plain_linear"))
    res = run_evaluation(EvalSpec(**spec, model="helpers.factories:masked_linear", seeds=(0, 1, 2)))
    assert res["model"]["handles_missing"] is True and res["scenarios"][0]["fill"] == "none"
    assert validate_schema(res) == []
    shas = [t["weights_sha256"] for t in res["trained_models"]]
    assert len(set(shas)) == 3 and [t["training_seed"] for t in res["trained_models"]] == [0, 1, 2]


def test_fill_none_exits_2_with_one_line_in_the_cli(digits_root, digits_ckpts):
    p = _cli(
        "evaluate",
        "--dataset",
        "digits",
        "--checkpoint",
        str(digits_ckpts / "seed-0"),
        "--fill",
        "none",
        "--out",
        os.devnull,
        "--quiet",
        root=digits_root,
    )
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "does not handle missing data" in p.stderr


def test_results_record_training_seeds_and_weight_hashes(digits_root, digits_ckpts):
    import hashlib

    res = run_evaluation(
        EvalSpec(dataset="digits", root=str(digits_root), checkpoint=digits_ckpts, scenarios=("full",))
    )
    want = [hashlib.sha256((digits_ckpts / f"seed-{s}" / "model.pt").read_bytes()).hexdigest() for s in (0, 1, 2)]
    assert [t["weights_sha256"] for t in res["trained_models"]] == want
    assert [t["training_seed"] for t in res["trained_models"]] == [0, 1, 2]
    assert res["model"]["handles_missing"] is False


def test_seeds_with_a_single_checkpoint_are_refused(digits_root, digits_ckpts):
    from modalbench.errors import ModalbenchError

    with pytest.raises(ModalbenchError, match="replays one model"):
        run_evaluation(
            EvalSpec(dataset="digits", root=str(digits_root), checkpoint=digits_ckpts / "seed-0", seeds=(0, 1, 2))
        )
    p = _cli(
        "evaluate",
        "--dataset",
        "digits",
        "--checkpoint",
        str(digits_ckpts / "seed-1"),
        "--seeds",
        "0,1,2",
        "--out",
        os.devnull,
        "--quiet",
        root=digits_root,
    )
    assert p.returncode == 2 and "replays one model" in p.stderr and p.stderr.count("\n") == 1


def test_training_defaults_come_from_the_dataset_and_are_recorded(digits_root, tmp_path, capsys):
    """Unset --lr/--batch-size take digits' defaults (lr 1e-2, the committed rows' setting), recorded in config."""
    from modalbench.app.cli import main
    from modalbench.datasets import get_dataset

    assert get_dataset("digits").training_defaults().as_dict() == {"epochs": 30, "lr": 1e-2, "batch_size": 64}
    out = tmp_path / "ck"
    code = main(
        [
            "train",
            "intermediate",
            "--dataset",
            "digits",
            "--root",
            str(digits_root),
            "--epochs",
            "2",
            "--threads",
            "1",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "2 epochs, lr 0.01, batch size 64, 1 thread (lr, batch size: the defaults of digits)" in err
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["training"]["lr"] == 1e-2 and cfg["training"]["epochs"] == 2 and cfg["batch_size"] == 64
    assert cfg["training_settings"]["from_dataset"] == ["lr", "batch_size"]
    assert cfg["hardware"]["threads"] == 1


def test_evaluation_records_the_thread_count(digits_root, digits_ckpts):
    import torch

    from modalbench.app.workflows import set_threads

    before = torch.get_num_threads()
    try:
        assert set_threads(2) == 2
        res = run_evaluation(
            EvalSpec(dataset="digits", root=str(digits_root), checkpoint=digits_ckpts / "seed-0", scenarios=("full",))
        )
    finally:
        torch.set_num_threads(before)
    assert res["hardware"]["threads"] == 2


PLAIN_MODULE = """
import torch
from torch import nn

class Plain(nn.Module):
    def __init__(self, meta, n_out=None):
        super().__init__()
        self.names = meta.modality_names
        self.lin = nn.Linear(64, n_out or meta.n_classes)

    def forward(self, inputs, available):
        return self.lin(torch.cat([inputs[n].flatten(1) for n in self.names], 1))

def make(meta):
    return Plain(meta)

def wrong_width(meta):
    return Plain(meta, n_out=3)

def not_a_module(meta):
    return object()
"""


def test_model_factory_from_the_current_directory_without_meta(digits_root, tmp_path, monkeypatch):
    """A plain nn.Module (no .meta) from ./plainmodel.py is accepted; what is wrong otherwise is said clearly."""
    from modalbench.errors import ModalbenchError

    (tmp_path / "plainmodel.py").write_text(PLAIN_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    res = run_evaluation(
        EvalSpec(
            dataset="digits", root=str(digits_root), model="plainmodel:make", scenarios=("full",), model_name="plain"
        )
    )
    assert res["model"]["name"] == "plain" and res["seeds"] == [0]
    with pytest.raises(ModalbenchError, match=r"logits of shape \[B, 10\].*got \(2, 3\)"):
        run_evaluation(
            EvalSpec(dataset="digits", root=str(digits_root), model="plainmodel:wrong_width", scenarios=("full",))
        )
    with pytest.raises(ModalbenchError, match="returned object, expected a torch.nn.Module"):
        run_evaluation(
            EvalSpec(dataset="digits", root=str(digits_root), model="plainmodel:not_a_module", scenarios=("full",))
        )
