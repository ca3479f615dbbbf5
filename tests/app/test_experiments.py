"""Experiment grids: the file schema, expansion into jobs, local / process-pool / dask runs, resuming, merging."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from modalbench.app.cli import main
from modalbench.app.experiments import (
    Experiment,
    expand,
    expand_hparams,
    load_experiment,
    model_name,
    parse_experiment,
    run_experiment,
)
from modalbench.errors import ModalbenchError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "experiments"

GRID = """
name = "tiny"
output = "{out}"
seeds = [0, 1]
scenarios = ["full", "missing-modalities"]

[training]
epochs = 1
lr = 0.01

[[datasets]]
name = "digits"

[[methods]]
name = "intermediate"

[[methods]]
name = "late"
"""
WALL_CLOCK = ("date", "hardware", "command")


def _write(tmp: Path, text: str, name: str = "exp.toml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def _quiet() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=200), buf


def _docs(out: Path) -> dict[str, dict]:
    """Every results.json under ``out`` (per job and merged), without wall-clock and path fields."""
    docs = {}
    for p in sorted(out.rglob("results.json")):
        doc = json.loads(p.read_text())
        docs[str(p.relative_to(out))] = {k: v for k, v in doc.items() if k not in WALL_CLOCK}
    return docs


def _base(**over: object) -> dict:
    doc = {
        "output": "out",
        "seeds": [0],
        "scenarios": ["full"],
        "datasets": [{"name": "digits"}],
        "methods": [{"name": "late"}],
    }
    doc.update(over)
    return doc


# ---------------------------------------------------------------- schema


@pytest.mark.parametrize(
    "doc, message",
    [
        (_base(seed=[0]), "unknown key 'seed'; did you mean 'seeds'?"),
        (_base(training={"epoch": 2}), "training: unknown key 'epoch'; did you mean 'epochs'?"),
        (_base(training={"epochs": 0}), "training.epochs: expected an integer >= 1, got 0"),
        (_base(training={"lr": "fast"}), "training.lr: expected a positive number"),
        (_base(seeds=[0, 0]), "seeds: expected distinct integers"),
        (_base(seeds=3), "seeds: expected a non-empty array of integers"),
        (
            _base(fill="median"),
            "fill: expected one of mean, zero, ffill, none, knn, regress, interpolate, got 'median'",
        ),
        (_base(methods=[{"name": "embrace"}]), "methods[0].name: unknown method 'embrace'; did you mean 'embracenet'"),
        (_base(methods=[{"name": "late", "hparam": {}}]), "methods[0]: unknown key 'hparam'; did you mean 'hparams'?"),
        (_base(methods=[{"name": "late", "hparams": {"w": []}}]), "methods[0].hparams.w: a grid axis needs"),
        (_base(datasets=[{"name": "digit"}]), "datasets[0].name: unknown dataset 'digit'; did you mean 'digits'"),
        (_base(datasets=[{"name": "digits"}, {"name": "digits"}]), "datasets[1].name: 'digits' is listed twice"),
        (_base(scenarios=["ful"]), "scenarios[0]: unknown scenario"),
        ({k: v for k, v in _base().items() if k != "methods"}, "missing key 'methods'"),
    ],
)
def test_schema_errors_are_one_line_naming_the_key(doc: dict, message: str) -> None:
    with pytest.raises(ModalbenchError) as info:
        parse_experiment(doc, Path("exp.toml"))
    text = str(info.value)
    assert message in text and "\n" not in text and text.startswith("exp.toml: ")


def test_invalid_toml_and_missing_file_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModalbenchError, match=r"bad\.toml: invalid TOML: .*line 2"):
        load_experiment(_write(tmp_path, 'seeds = [0,\nfill = "mean"\n', "bad.toml"))
    with pytest.raises(ModalbenchError, match="no such experiment file"):
        load_experiment(tmp_path / "absent.toml")


def test_list_values_are_grid_axes_and_names_are_slugs() -> None:
    grid = expand_hparams({"adj_pre": [True, False], "embrace_dim": [64, 256], "dims": [[8, 4]], "p": 0.5})
    assert len(grid) == 4
    assert grid[0] == {"adj_pre": True, "embrace_dim": 64, "dims": [8, 4], "p": 0.5}
    assert grid[3] == {"adj_pre": False, "embrace_dim": 256, "dims": [8, 4], "p": 0.5}
    assert model_name("embracenet", {"adj_pre": True, "embrace_dim": 64}) == "embracenet+adj_pre-true+embrace_dim-64"
    assert model_name("late", {}) == "late"
    assert model_name("late", {"dims": [8, 4]}) == "late+dims-_8_4_"


def test_example_files_validate_and_expand(tmp_path: Path) -> None:
    files = sorted(EXAMPLES.glob("*.toml"))
    assert files
    for f in files:
        load_experiment(f, output=tmp_path)
    exp = load_experiment(EXAMPLES / "digits-grid.toml", output=tmp_path)
    groups = expand(exp, root=None)
    assert [g.name for g in groups] == ["intermediate", "embracenet+adj_pre-true"]
    assert [len(g.jobs) for g in groups] == [2, 2] and exp.scenarios == ("full", "missing-modalities")
    hp = expand(load_experiment(EXAMPLES / "digits-embracenet-hparams.toml", output=tmp_path), root=None)
    assert len(hp) == 4 and all(len(g.jobs) == 3 for g in hp)


def test_a_grid_names_a_dataset_version_and_gets_that_version(tmp_path: Path) -> None:
    """``name = "digits@v1"`` is accepted (the base name is checked) and jobs use that reference; a `set` that
    prepares another version than the one named is one line naming both."""
    from modalbench.app.experiments import prepare_inputs

    exp = parse_experiment(_base(datasets=[{"name": "digits@v1"}]), tmp_path / "exp.toml")
    assert {j.dataset for g in expand(exp, root=str(tmp_path)) for j in g.jobs} == {"digits@v1"}
    with pytest.raises(ModalbenchError, match="unknown dataset 'digit'"):
        parse_experiment(_base(datasets=[{"name": "digit@v1"}]), tmp_path / "exp.toml")
    wrong = parse_experiment(_base(datasets=[{"name": "digits@v2"}]), tmp_path / "exp.toml")
    with pytest.raises(ModalbenchError, match=r"dataset digits@v2: its parameters prepare version v1, not v2") as ei:
        prepare_inputs(wrong, str(tmp_path / "root"), progress=False)
    assert "\n" not in str(ei.value)


def test_a_label_cannot_name_a_grid() -> None:
    doc = _base(methods=[{"name": "late", "label": "mine", "hparams": {"dropout": [0.1, 0.2]}}])
    with pytest.raises(ModalbenchError, match=r"methods\[0\]\.label: a label names one model"):
        parse_experiment(doc, Path("exp.toml"))


# ---------------------------------------------------------------- running


@pytest.fixture(scope="module")
def local_run(digits_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Experiment, object, str]:
    """The tiny grid (2 methods x 2 seeds x 2 scenarios, 1 epoch) run in this process."""
    tmp = tmp_path_factory.mktemp("grid-local")
    exp = load_experiment(_write(tmp, GRID.format(out=tmp / "out")))
    console, buf = _quiet()
    summary = run_experiment(exp, root=str(digits_root), console=console, progress=False)
    return exp, summary, buf.getvalue()


def test_local_run_writes_job_and_merged_results(local_run, digits_root: Path, tmp_path: Path) -> None:
    from modalbench.app.workflows import EvalSpec, run_evaluation
    from modalbench.leaderboard.board import resolve_dir
    from modalbench.leaderboard.submit import check_submission

    exp, summary, log = local_run
    assert sorted(summary.ran) == sorted(f"digits/{m}/seed-{s}" for m in ("intermediate", "late") for s in (0, 1))
    assert log.count("done digits/") == 4 and "full weighted F1 0." in log
    assert len(summary.merged) == 2
    for method in ("intermediate", "late"):
        merged_path = exp.output / "digits" / method / "results.json"
        merged = json.loads(merged_path.read_text())
        assert merged["seeds"] == [0, 1] and merged["model"]["name"] == method
        assert [s["id"] for s in merged["scenarios"]] == ["full@v1", "missing-modalities@v2"]
        for seed in (0, 1):
            job = json.loads((exp.output / "digits" / method / f"seed-{seed}" / "results.json").read_text())
            assert job["seeds"] == [seed]
            # the merged document holds each job's per-seed values
            assert (
                merged["scenarios"][1]["conditions"][2]["metrics"]["f1_weighted"][seed]
                == job["scenarios"][1]["conditions"][2]["metrics"]["f1_weighted"][0]
            )
        # same document as `modalbench evaluate --checkpoint <group> --seeds 0,1`
        direct = run_evaluation(
            EvalSpec(
                dataset="digits",
                root=str(digits_root),
                checkpoint=merged_path.parent,
                scenarios=("full", "missing-modalities"),
                seeds=(0, 1),
                model_name=method,
            )
        )
        assert {k: v for k, v in direct.items() if k not in WALL_CLOCK} == {
            k: v for k, v in merged.items() if k not in WALL_CLOCK
        }
        board = tmp_path / f"board-{method}"
        shutil.copytree(resolve_dir(None), board, ignore=shutil.ignore_patterns("*.py", "__pycache__", "submissions"))
        verdict = check_submission(merged, board)
        assert verdict.problems == [] and not verdict.ranked  # valid; 2 seeds is listed as unranked


def test_a_dask_local_cluster_gives_the_same_results(local_run, digits_root: Path, tmp_path: Path) -> None:
    exp, _, _ = local_run
    other = load_experiment(exp.path, output=tmp_path / "cluster")
    console, buf = _quiet()
    summary = run_experiment(other, root=str(digits_root), workers=2, console=console, progress=False)
    assert len(summary.ran) == 4 and buf.getvalue().count("done digits/") == 4
    local, cluster = _docs(exp.output), _docs(other.output)
    assert len(local) == 6 and local.keys() == cluster.keys()
    for key in local:
        assert json.dumps(local[key], sort_keys=True) == json.dumps(cluster[key], sort_keys=True), key


def test_process_pool_gives_the_same_results(local_run, digits_root: Path, tmp_path: Path, capsys) -> None:
    exp, _, _ = local_run
    code = main(
        ["run", str(exp.path), "--root", str(digits_root), "--jobs", "2", "--out", str(tmp_path / "pool"), "--quiet"]
    )
    assert code == 0
    text = capsys.readouterr()
    assert "4 job(s) ran, 0 skipped" in text.out
    assert "intermediate" in text.out and "missing-modal" in text.out  # the summary table (folded at 80 columns)
    local, pool = _docs(exp.output), _docs(tmp_path / "pool")
    assert local.keys() == pool.keys()
    for key in local:
        assert json.dumps(local[key], sort_keys=True) == json.dumps(pool[key], sort_keys=True), key


def test_rerun_only_runs_jobs_without_results(local_run, digits_root: Path, tmp_path: Path) -> None:
    exp, _, _ = local_run
    out = tmp_path / "resume"
    shutil.copytree(exp.output, out)
    copy = load_experiment(exp.path, output=out)
    before = _docs(out)
    mtime_other = (out / "digits" / "intermediate" / "results.json").stat().st_mtime_ns
    # one job lost its results (as after a crash between training and evaluation)
    (out / "digits" / "late" / "seed-1" / "results.json").unlink()
    console, buf = _quiet()
    summary = run_experiment(copy, root=str(digits_root), console=console, progress=False)
    assert summary.ran == ["digits/late/seed-1"] and len(summary.skipped) == 3
    assert buf.getvalue().count("done digits/") == 1
    assert summary.merged == [str(out / "digits" / "late" / "results.json")]
    assert (out / "digits" / "intermediate" / "results.json").stat().st_mtime_ns == mtime_other
    assert _docs(out) == before  # retrained deterministically: the same numbers
    # nothing to do: no training, no merge
    summary = run_experiment(copy, root=str(digits_root), console=_quiet()[0], progress=False)
    assert summary.ran == [] and summary.merged == [] and len(summary.results) == 2


def test_a_checkpoint_without_results_is_not_trusted(local_run, digits_root: Path, tmp_path: Path) -> None:
    exp, _, _ = local_run
    out = tmp_path / "half"
    shutil.copytree(exp.output, out)
    seed_dir = out / "digits" / "intermediate" / "seed-0"
    (seed_dir / "results.json").unlink()
    (seed_dir / "model.pt").write_bytes(b"half-written")
    summary = run_experiment(
        load_experiment(exp.path, output=out), root=str(digits_root), console=_quiet()[0], progress=False
    )
    assert summary.ran == ["digits/intermediate/seed-0"]
    assert (seed_dir / "model.pt").read_bytes() != b"half-written"
    assert _docs(out) == _docs(exp.output)


def test_results_of_another_experiment_are_never_reused(local_run, digits_root: Path, tmp_path: Path) -> None:
    exp, _, _ = local_run
    out = tmp_path / "changed"
    shutil.copytree(exp.output, out)
    changed = _write(tmp_path, GRID.format(out=out).replace("epochs = 1", "epochs = 2"))
    with pytest.raises(ModalbenchError, match=r"seed-0: holds results of another experiment \(training: .*epochs"):
        run_experiment(load_experiment(changed), root=str(digits_root), console=_quiet()[0], progress=False)


def test_dry_run_lists_jobs_and_writes_nothing(local_run, digits_root: Path, tmp_path: Path, capsys) -> None:
    exp, _, _ = local_run
    out = tmp_path / "dry"
    assert main(["run", str(exp.path), "--root", str(digits_root), "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "4 jobs in 2 groups" in text and text.count("to run") >= 4
    assert "4 trainings x 1 epochs" in text and "train samples" in text
    assert not out.exists()
    assert main(["run", str(exp.path), "--root", str(digits_root), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "to run: 0 trainings" in text and text.count("done") >= 4


def test_cli_errors_are_one_line(tmp_path: Path, capsys) -> None:
    bad = _write(tmp_path, GRID.format(out=tmp_path / "o").replace('name = "late"', 'name = "lat"'))
    assert main(["run", str(bad), "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and "methods[1].name: unknown method 'lat'" in error
    with pytest.raises(SystemExit):
        main(["run", str(bad), "--workers", "2", "--scheduler", "tcp://x:1"])


def test_each_seed_is_evaluated_once(digits_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The merge reads the jobs' per-seed results: a 1-method x 2-seed grid evaluates twice, not four times."""
    import modalbench.app.workflows as workflows

    calls: list[tuple[int, ...] | None] = []
    real = workflows.run_evaluation

    def counting(spec, **kw):  # type: ignore[no-untyped-def]
        calls.append(spec.seeds)
        return real(spec, **kw)

    monkeypatch.setattr(workflows, "run_evaluation", counting)
    text = GRID.format(out=tmp_path / "out").replace('[[methods]]\nname = "intermediate"\n\n', "")
    exp = load_experiment(_write(tmp_path, text))
    summary = run_experiment(exp, root=str(digits_root), console=_quiet()[0], progress=False)
    assert len(summary.ran) == 2 and len(summary.merged) == 1
    assert calls == [None, None]  # one evaluation per job, none for the merge
    merged = json.loads((exp.output / "digits" / "late" / "results.json").read_text())
    assert merged["seeds"] == [0, 1] and len(merged["trained_models"]) == 2


# ---------------------------------------------------------------- fill parameters


@pytest.mark.parametrize(
    "doc, message",
    [
        (_base(fill="knn", fill_params={"k": 0}), "fill_params: parameter 'k': expected an integer >= 1, got 0"),
        (_base(fill="knn", fill_params={"k": [5, "x"]}), "fill_params: parameter 'k': expected an integer >= 1"),
        (_base(fill="knn", fill_params={"alpha": 1.0}), "fill_params: unknown parameter 'alpha'"),
        (_base(fill_params={"k": 5}), "fill_params: fill 'mean' takes no parameters"),
        (_base(fill="knn", fill_params={"k": []}), "fill_params.k: a grid axis needs at least one value"),
        (_base(fill="knn", fill_params=3), "fill_params: expected a table"),
        (_base(fill="knn", fill_param={"k": 3}), "unknown key 'fill_param'; did you mean 'fill_params'?"),
    ],
)
def test_fill_param_errors_are_one_line_naming_the_key(doc: dict, message: str) -> None:
    with pytest.raises(ModalbenchError) as info:
        parse_experiment(doc, Path("exp.toml"))
    text = str(info.value)
    assert message in text and "\n" not in text and text.startswith("exp.toml: "), text


def test_a_fill_param_list_is_a_grid_axis_with_its_own_jobs() -> None:
    exp = parse_experiment(_base(fill="knn", fill_params={"k": [5, 10]}, seeds=[0, 1]), Path("exp.toml"))
    groups = expand(exp, root=None)
    assert [g.name for g in groups] == ["late+fill_k-5", "late+fill_k-10"]
    assert [g.fill_params for g in groups] == [{"k": 5}, {"k": 10}]
    identities = [j.identity() for g in groups for j in g.jobs]
    assert len({json.dumps(i, sort_keys=True) for i in identities}) == 4  # no two cells share a resume key
    assert "fill_params" not in groups[0].jobs[0].identity()  # the defaults: older job.json files stay valid
    assert groups[1].jobs[0].identity()["fill_params"] == {"k": 10}
    regress = expand(parse_experiment(_base(fill="regress", fill_params={"alpha": 1}), Path("e.toml")), root=None)
    assert [g.name for g in regress] == ["late"] and regress[0].fill_params == {"alpha": 1.0}


KNN_GRID = """
name = "knn"
output = "{out}"
seeds = [0]
scenarios = ["missing-modalities"]
fill = "knn"
fill_params = {{ k = {k} }}

[training]
epochs = 1
lr = 0.01

[[datasets]]
name = "digits"

[[methods]]
name = "intermediate"
"""


def test_a_grid_with_other_fill_params_never_reuses_a_result(digits_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = load_experiment(_write(tmp_path, KNN_GRID.format(out=out, k="[1, 20]"), "a.toml"))
    summary = run_experiment(first, root=str(digits_root), console=_quiet()[0], progress=False)
    assert sorted(summary.ran) == ["digits/intermediate+fill_k-1/seed-0", "digits/intermediate+fill_k-20/seed-0"]
    docs = {p.parent.name: json.loads(p.read_text()) for p in out.glob("digits/*/results.json")}
    assert [
        docs[n]["scenarios"][0]["fill_params"]["k"] for n in ("intermediate+fill_k-1", "intermediate+fill_k-20")
    ] == [1, 20]
    assert all(d["scenarios"][0]["fill"] == "knn@v1" for d in docs.values())
    one_half = [
        next(iter(docs[n]["aggregates"].values()))["metrics"]
        for n in ("intermediate+fill_k-1", "intermediate+fill_k-20")
    ]
    assert one_half[0] != one_half[1]  # each k was evaluated with its own imputer
    cfg = json.loads((out / "digits" / "intermediate+fill_k-20" / "seed-0" / "config.json").read_text())
    assert cfg["fill"] == "knn" and cfg["fill_params"] == {"k": 20}  # training used the grid's fill too
    # the same folder under k = 3: the k=1 / k=20 results are never taken for it
    same_out = tmp_path / "single"
    run_experiment(
        load_experiment(_write(tmp_path, KNN_GRID.format(out=same_out, k=1), "b.toml")),
        root=str(digits_root),
        console=_quiet()[0],
        progress=False,
    )
    changed = load_experiment(_write(tmp_path, KNN_GRID.format(out=same_out, k=3), "c.toml"))
    with pytest.raises(ModalbenchError, match=r"seed-0: holds results of another experiment \(fill_params: "):
        run_experiment(changed, root=str(digits_root), console=_quiet()[0], progress=False)
