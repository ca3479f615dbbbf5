"""``modalbench reproduce``: the papers' seed tables as shipped experiment files (recipes), run and compared.

A **recipe** is an experiment file (the schema of ``modalbench run``, :mod:`.experiments`) shipped in the package as
``leaderboard/recipes/<name>.toml``, plus a ``[recipe]`` table saying which paper table it reproduces and how our
models and scenario conditions map onto the paper's rows (``leaderboard/reference/reported.json``):

```toml
[recipe]
title = "..."                     # one line
paper = "embracenet-2019"         # a paper id of reported.json
table = 1
reference_dataset = "bimodal-mnist"
reference_task = "digit"          # optional filter
seconds_per_job = 25              # optional: measured wall time of one job on the reference machine
notes = ["..."]                   # the paper's values we follow (with section) and our documented choices
[recipe.models]                   # our model name (the group folder) -> the paper's method name
embracenet = "embracenet+adj-pre"
[recipe.conditions]               # the paper's condition -> FAMILY:CONDITION-ID | FAMILY:n_available=K
all = "full:full"                 #                          | FAMILY:missing_rate=R
```

``modalbench reproduce NAME`` checks the dataset is prepared (else stops with the prepare command), runs the
experiment (resumable, like ``modalbench run``), prints reproduced vs reported side by side with the difference in
units of the paper's std where it gives one, and submits each merged results file to the leaderboard.
"""

from __future__ import annotations

import argparse
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modalbench.errors import ModalbenchError
from modalbench.jsonio import read_json
from modalbench.leaderboard.board import PACKAGE_DIR, reported_path
from modalbench.results import summarize

from .console import err, out
from .experiments import Experiment, Training, dry_run_table, parse_experiment, run_experiment

RECIPES_DIR = PACKAGE_DIR / "recipes"
RECIPE_KEYS = (
    "title",
    "paper",
    "table",
    "reference_dataset",
    "reference_task",
    "seconds_per_job",
    "notes",
    "models",
    "conditions",
)
#: the paper's metric -> (our metric, value transform); a transform is affine, so std scales by |slope|
PAPER_METRICS: dict[str, tuple[str, float, float]] = {
    "error_pct": ("accuracy", 100.0, -100.0),  # 100 * (1 - accuracy)
    "accuracy_pct": ("accuracy", 0.0, 100.0),
    "auc_pct": ("roc_auc", 0.0, 100.0),
    "weighted_f1": ("f1_weighted", 0.0, 1.0),
    "macro_f1": ("f1_macro", 0.0, 1.0),
}


@dataclass(frozen=True)
class Recipe:
    """A shipped recipe: its experiment document and how its results map onto the paper's rows."""

    name: str
    path: Path
    doc: dict[str, Any]  # the experiment document (without [recipe])
    title: str
    paper: str
    table: int | None
    reference_dataset: str
    reference_task: str | None = None
    seconds_per_job: float | None = None
    notes: tuple[str, ...] = ()
    models: dict[str, str] = field(default_factory=dict)
    conditions: dict[str, str] = field(default_factory=dict)

    @property
    def dataset(self) -> str:
        return str(self.doc["datasets"][0]["name"])

    @property
    def prepare_params(self) -> dict[str, Any]:
        return dict(self.doc["datasets"][0].get("set", {}))

    def prepare_command(self, root: str | None) -> str:
        """The command that prepares this recipe's dataset with its parameters."""
        sets = "".join(f" --set {k}={_cli_value(v)}" for k, v in self.prepare_params.items())
        where = f" --root {root}" if root else ""
        return f"modalbench prepare {self.dataset}{sets}{where}"


def _cli_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def recipe_names() -> list[str]:
    """Names of the shipped recipes, sorted."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def load_recipe(name: str, directory: Path | None = None) -> Recipe:
    """Read ``<directory or the package's recipes>/<name>.toml``; every error names the file and key."""
    directory = directory or RECIPES_DIR
    path = directory / f"{name}.toml"
    if not path.is_file():
        from modalbench.registry import did_you_mean

        names = sorted(p.stem for p in directory.glob("*.toml"))
        raise ModalbenchError(
            f"no recipe {name!r}{did_you_mean(name, names)} (modalbench reproduce --list shows {len(names)})"
        )
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ModalbenchError(f"{path}: invalid TOML: {exc}") from None
    meta = doc.pop("recipe", None)
    if not isinstance(meta, dict):
        raise ModalbenchError(f"{path}: missing the [recipe] table (title, paper, table, reference_dataset, ...)")
    for key in meta:
        if key not in RECIPE_KEYS:
            raise ModalbenchError(f"{path}: recipe: unknown key {key!r} (allowed: {', '.join(RECIPE_KEYS)})")
    for key in ("title", "paper", "reference_dataset"):
        if key not in meta:
            raise ModalbenchError(f"{path}: recipe: missing key {key!r}")
    datasets = doc.get("datasets")
    if not isinstance(datasets, list) or len(datasets) != 1 or not isinstance(datasets[0], dict):
        raise ModalbenchError(f"{path}: datasets: a recipe has exactly one [[datasets]] table")
    for paper_cond, spec in meta.get("conditions", {}).items():
        _parse_condition(spec, f"{path}: recipe.conditions.{paper_cond}")
    return Recipe(
        name=name,
        path=path,
        doc=doc,
        title=str(meta["title"]),
        paper=str(meta["paper"]),
        table=int(meta["table"]) if "table" in meta else None,  # None: the paper's figures only, nothing to compare
        reference_dataset=str(meta["reference_dataset"]),
        reference_task=meta.get("reference_task"),
        seconds_per_job=float(meta["seconds_per_job"]) if "seconds_per_job" in meta else None,
        notes=tuple(str(n) for n in meta.get("notes", [])),
        models={str(k): str(v) for k, v in meta.get("models", {}).items()},
        conditions={str(k): str(v) for k, v in meta.get("conditions", {}).items()},
    )


def _parse_condition(spec: Any, where: str) -> tuple[str, str, Any]:
    """``FAMILY:CONDITION-ID`` -> (family, "id", id); ``FAMILY:n_available=K`` / ``FAMILY:missing_rate=R`` ->
    (family, field, number)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ModalbenchError(f"{where}: expected 'FAMILY:CONDITION-ID' or 'FAMILY:n_available=K', got {spec!r}")
    family, _, cond = spec.partition(":")
    for fld in ("n_available", "missing_rate"):
        if cond.startswith(fld + "="):
            try:
                return family, fld, float(cond.split("=", 1)[1])
            except ValueError:
                raise ModalbenchError(f"{where}: {fld}= needs a number, got {spec!r}") from None
    return family, "id", cond


def recipe_experiment(
    recipe: Recipe,
    output: Path,
    *,
    seeds: tuple[int, ...] | None = None,
    epochs: int | None = None,
) -> Experiment:
    """The recipe's validated experiment, writing to ``output``; ``seeds``/``epochs`` shrink the budget."""
    exp = parse_experiment(dict(recipe.doc), recipe.path, output=output)
    if seeds is not None:
        exp = replace(exp, seeds=seeds)
    if epochs is not None:
        exp = replace(exp, training=Training(**{**exp.training.__dict__, "epochs": epochs}))
    return replace(exp, output=output.expanduser().resolve())


# ---------------------------------------------------------------- status and listing


def recipe_status(recipe: Recipe, root: str | None) -> tuple[str, bool]:
    """``(text, ready)``: whether the dataset is registered and prepared; else what to run."""
    from modalbench.datasets import dataset_names
    from modalbench.store import is_prepared

    if recipe.dataset not in dataset_names():
        return f"needs dataset {recipe.dataset!r} (not in this installation)", False
    if is_prepared(root, recipe.dataset):
        return "prepared", True
    return f"not prepared: {recipe.prepare_command(root)}", False


def list_lines(root: str | None) -> list[str]:
    """Two lines per shipped recipe: name, dataset, paper table, models x seeds; then its status (indented)."""
    lines = []
    for name in recipe_names():
        r = load_recipe(name)
        status, _ = recipe_status(r, root)
        table = f"Table {r.table}" if r.table is not None else "figures"
        size = f"{len(r.doc.get('methods', []))} models x {len(r.doc.get('seeds', []))} seeds"
        lines.append(f"{name:<34} {r.dataset:<18} {r.paper + ' ' + table:<25} {size}")
        lines.append(f"    {status}")
    return lines


# ---------------------------------------------------------------- reproduced vs reported


@dataclass
class Comparison:
    """One reference row beside our number for it (``None`` when we have no counterpart)."""

    model: str
    method: str
    condition: str
    metric: str
    reported: float
    reported_std: float | None
    reproduced: float | None
    reproduced_std: float | None
    n_seeds: int

    @property
    def difference(self) -> float | None:
        return None if self.reproduced is None else self.reproduced - self.reported

    @property
    def in_paper_std(self) -> float | None:
        """The difference in units of the paper's std (None when the paper gives none)."""
        d = self.difference
        if d is None or not self.reported_std:
            return None
        return d / self.reported_std


def _our_value(doc: dict[str, Any], spec: str, metric: str) -> tuple[float, float | None] | None:
    """Mean and std over seeds of ``metric`` at the condition ``spec`` of a merged results document."""
    family, kind, key = _parse_condition(spec, "condition")
    sid = next((s["id"] for s in doc["scenarios"] if s["id"].split("@", 1)[0] == family), None)
    if sid is None:
        return None
    if kind == "id":
        sc = next(s for s in doc["scenarios"] if s["id"] == sid)
        cond = next((c for c in sc["conditions"] if c["id"] == key), None)
        if cond is None or metric not in cond["metrics"]:
            return None
        values = [float(v) for v in cond["metrics"][metric] if v is not None]
        if not values:
            return None
        s = summarize(values)
        return float(s["mean"]), s["std"]  # type: ignore[arg-type]
    curve = doc["aggregates"][sid][f"by_{kind}"]
    point = next((p for p in curve if math.isclose(float(p[kind]), float(key), abs_tol=1e-9)), None)
    if point is None or metric not in point["metrics"]:
        return None
    return float(point["metrics"][metric]["mean"]), point["metrics"][metric]["std"]


def compare(recipe: Recipe, results: dict[str, dict[str, Any]], reported: dict[str, Any]) -> list[Comparison]:
    """Every reference row of the recipe's paper table for a mapped method, beside our merged results.

    ``results`` maps our model name to its merged results document; ``reported`` is ``reported.json``.
    """
    by_method: dict[str, list[str]] = {}
    for ours, theirs in recipe.models.items():
        by_method.setdefault(theirs, []).append(ours)
    rows: list[Comparison] = []
    for r in reported["rows"]:
        if (r["paper"], r["table"], r["dataset"]) != (recipe.paper, recipe.table, recipe.reference_dataset):
            continue
        if recipe.reference_task and r.get("task") != recipe.reference_task:
            continue
        if r["method"] not in by_method or r["metric"] not in PAPER_METRICS:
            continue
        ours_metric, offset, slope = PAPER_METRICS[r["metric"]]
        spec = recipe.conditions.get(r["condition"])
        for model in by_method[r["method"]]:
            doc = results.get(model)
            value = _our_value(doc, spec, ours_metric) if doc is not None and spec else None
            mean = std = None
            if value is not None:
                mean = offset + slope * value[0]
                std = None if value[1] is None else abs(slope) * float(value[1])
            rows.append(
                Comparison(
                    model=model,
                    method=r["method"],
                    condition=r["condition"],
                    metric=r["metric"],
                    reported=float(r["value"]),
                    reported_std=None if r.get("std") is None else float(r["std"]),
                    reproduced=mean,
                    reproduced_std=std,
                    n_seeds=len(doc["seeds"]) if doc is not None else 0,
                )
            )
    return rows


def _pm(value: float | None, std: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" ± {std:.3f}" if std is not None else "")


COMPARISON_COLUMNS = ("model", "paper method", "condition", "reported", "reproduced", "diff", "diff / paper std")


def _cells(c: Comparison) -> list[str]:
    z = c.in_paper_std
    return [
        c.model,
        c.method,
        c.condition,
        _pm(c.reported, c.reported_std),
        _pm(c.reproduced, c.reproduced_std) + (f" (n={c.n_seeds})" if c.reproduced is not None else ""),
        "-" if c.difference is None else f"{c.difference:+.3f}",
        "-" if z is None else f"{z:+.1f}",
    ]


def _title(recipe: Recipe, rows: list[Comparison]) -> str:
    where = f"Table {recipe.table}" if recipe.table is not None else "no transcribed table"
    metrics = ", ".join(dict.fromkeys(r.metric for r in rows)) or "-"
    return f"{recipe.name}: reproduced vs reported ({recipe.paper} {where}, {recipe.reference_dataset}; {metrics})"


def comparison_markdown(recipe: Recipe, rows: list[Comparison]) -> str:
    """The side-by-side table as Markdown (written as ``comparison.md`` beside the results)."""
    lines = [f"# {_title(recipe, rows)}", "", "| " + " | ".join(COMPARISON_COLUMNS) + " |"]
    lines.append("|" + "---|" * len(COMPARISON_COLUMNS))
    lines += ["| " + " | ".join(_cells(c)) + " |" for c in rows]
    if not rows:
        lines.append("")
        lines.append("No transcribed reference rows for this recipe.")
    lines += ["", "Notes:", *(f"- {n}" for n in recipe.notes), ""]
    return "\n".join(lines)


def write_comparison(recipe: Recipe, rows: list[Comparison], output: Path) -> tuple[Path, Path]:
    """``comparison.json`` (one object per row) and ``comparison.md`` in ``output``."""
    from dataclasses import asdict

    from modalbench.atomic import write_bytes_atomic, write_json_atomic

    js = output / "comparison.json"
    write_json_atomic(
        js,
        {
            "recipe": recipe.name,
            "paper": recipe.paper,
            "table": recipe.table,
            "reference_dataset": recipe.reference_dataset,
            "rows": [{**asdict(c), "difference": c.difference, "in_paper_std": c.in_paper_std} for c in rows],
        },
    )
    md = output / "comparison.md"
    write_bytes_atomic(md, comparison_markdown(recipe, rows).encode())
    return js, md


def load_merged(exp: Experiment) -> dict[str, dict[str, Any]]:
    """Our model name -> its merged results document, for every group of ``exp`` that has one."""
    found: dict[str, dict[str, Any]] = {}
    for ds in exp.datasets:
        for p in sorted((exp.output / ds.name).glob("*/results.json")):
            found[p.parent.name] = read_json(p)
    return found


# ---------------------------------------------------------------- the command


def default_output(name: str) -> Path:
    """``runs/reproduce/<name>`` under the current directory."""
    return Path("runs") / "reproduce" / name


def _estimate(recipe: Recipe, exp: Experiment) -> str:
    from .experiments import expand, job_done

    todo = sum(not job_done(j) for g in expand(exp, root=None) for j in g.jobs)
    if recipe.seconds_per_job is None:
        return f"estimate: {todo} job(s) to run; no wall time measured for this recipe yet"
    minutes = todo * recipe.seconds_per_job * exp.training.epochs / _recipe_epochs(recipe) / 60
    return (
        f"estimate: {todo} job(s) x ~{recipe.seconds_per_job:.0f} s at the recipe's budget (measured on a 2-core "
        f"CPU VM, one torch thread) = ~{minutes:.0f} min in one process"
    )


def _recipe_epochs(recipe: Recipe) -> int:
    return int(recipe.doc.get("training", {}).get("epochs", Training.epochs))


def _seeds(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise ModalbenchError(f"--seeds {text!r}: expected comma-separated integers like 0,1,2") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ModalbenchError(f"--seeds {text!r}: expected distinct integers >= 0")
    return seeds


def cmd_reproduce(args: argparse.Namespace) -> int:
    """``modalbench reproduce --list`` | ``modalbench reproduce NAME [--dry-run] [--seeds S] [--epochs N]``."""
    if args.list or not args.name:
        print("recipe                             dataset            paper table               size")
        for line in list_lines(args.root):
            print(line)
        print("run one: modalbench reproduce NAME [--dry-run]")
        return 0
    recipe = load_recipe(args.name)
    status, ready = recipe_status(recipe, args.root)
    if not ready:
        where = status if status.startswith("needs") else f"dataset {recipe.dataset} is {status}"
        raise ModalbenchError(f"recipe {recipe.name}: {where}")
    output = Path(args.out) if args.out else default_output(recipe.name)
    exp = recipe_experiment(recipe, output, seeds=_seeds(args.seeds), epochs=args.epochs)
    from .workflows import check_amp

    check_amp(args.amp, args.device)
    err.print(f"[bold]{recipe.name}[/bold]: {recipe.title}")
    if args.dry_run:
        table, lines = dry_run_table(exp, args.root)
        out.print(table)
        for line in lines + [_estimate(recipe, exp)]:
            out.print(line)
        for note in recipe.notes:
            out.print(f"note: {note}", soft_wrap=True)
        return 0
    from modalbench.engine.trainer import resolve_device

    summary = run_experiment(
        exp,
        root=args.root,
        jobs=args.jobs,
        threads=args.threads,
        device=str(resolve_device(args.device)),
        plugins=tuple(args.plugin),
        progress=not args.quiet,
        command=f"modalbench reproduce {recipe.name}",
        amp=args.amp,
    )
    rows = compare(recipe, load_merged(exp), read_json(reported_path(PACKAGE_DIR)))
    _, md = write_comparison(recipe, rows, exp.output)
    print(comparison_markdown(recipe, rows), flush=True)  # plain lines: readable at any terminal width
    out.print(f"{len(summary.ran)} job(s) ran, {len(summary.skipped)} skipped; results: {exp.output}", soft_wrap=True)
    out.print(f"side by side: {md}", soft_wrap=True, markup=False, highlight=False)
    if args.no_submit:
        return 0
    return _submit_all([Path(p) for p in summary.results], args)


def _submit_all(paths: list[Path], args: argparse.Namespace) -> int:
    from modalbench.leaderboard.submit import submit

    from .board import leaderboard_dir

    board = leaderboard_dir(args)
    refused = []
    for p in paths:
        try:
            dest = submit(p, board, replace=True)
            out.print(f"submitted: {dest}", soft_wrap=True, markup=False, highlight=False)
        except ModalbenchError as exc:
            refused.append(p)
            err.print(f"[red]not submitted[/red] {p}: {str(exc).splitlines()[0]}", soft_wrap=True)
    if refused:
        raise ModalbenchError(f"{len(refused)} of {len(paths)} results were not submitted to {board} (listed above)")
    return 0
