"""Terminal and JSON views of a leaderboard index: one row per (entry, scenario), reported rows apart.

Reproduced rows show the rank within their ranking group — (dataset, version, task, scenario version, fill with
its parameters, training regime), see :mod:`.board` — the fill, the samples left out of scoring, the main metric (weighted F1)
mean ± unbiased std over seeds of the condition-mean (in %, one decimal, in the terminal), parameter count and code
link. Reported rows (numbers
from the papers) carry their citation, no rank, and appear only when no ``scenario`` filter is given
(they were not measured on modalbench scenarios).
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from modalbench.errors import ModalbenchError
from modalbench.fills import fill_label
from modalbench.results import MAIN_METRIC, higher_is_better


def _registered_datasets() -> set[str]:
    try:
        from modalbench.datasets import dataset_names

        return set(dataset_names())
    except Exception:  # the view must work even when a loader fails to import
        return set()


def _check_filter(value: str | None, known: set[str], what: str) -> None:
    """Unknown filter values are errors with suggestions; a registered dataset without entries is just empty."""
    if value is None or value in known:
        return
    if what == "dataset":
        registered = _registered_datasets()
        if value in registered:
            return
        known = known | registered
    close = difflib.get_close_matches(value, sorted(known), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ModalbenchError(
        f"unknown {what} {value!r} in the leaderboard{hint} (known: {', '.join(sorted(known)) or 'none'})"
    )


def table_rows(
    board: dict[str, Any], dataset: str | None = None, task: str | None = None, scenario: str | None = None
) -> list[dict[str, Any]]:
    """The rows of the view as plain dicts (what ``--json`` prints), in display order."""
    entries = board.get("entries", [])
    reported = board.get("reported", {}).get("rows", [])
    mapped = [pair for r in reported for pair in REPORTED_DATASETS.get((r["dataset"], r["task"]), ())]
    _check_filter(
        dataset, {e["dataset"] for e in entries} | {r["dataset"] for r in reported} | {d for d, _ in mapped}, "dataset"
    )
    _check_filter(task, {e["task"] for e in entries} | {r["task"] for r in reported} | {t for _, t in mapped}, "task")
    known_scenarios = {s for e in entries for s in e["scenarios"]}
    if scenario is not None and "@" not in scenario:  # a family name means its newest version on the board
        versions = sorted(
            (s for s in known_scenarios if s.split("@", 1)[0] == scenario),
            key=lambda s: int(s.rsplit("@v", 1)[-1]) if s.rsplit("@v", 1)[-1].isdigit() else 0,
        )
        scenario = versions[-1] if versions else scenario
    _check_filter(scenario, known_scenarios, "scenario")
    main = board.get("main_metric", MAIN_METRIC)
    rows: list[dict[str, Any]] = []
    for e in entries:
        if (dataset and e["dataset"] != dataset) or (task and e["task"] != task):
            continue
        metric = e.get("primary_metric") or main
        for sid, sc in sorted(e["scenarios"].items()):
            if scenario and sid != scenario:
                continue
            summary = sc["metrics"].get(metric, {})
            rows.append(
                {
                    "dataset": e["dataset"],
                    "dataset_version": e["dataset_version"],
                    "task": e["task"],
                    "scenario": sid,
                    "fill": fill_label(sc["fill"], sc.get("fill_params")) if sc.get("fill") else None,
                    "group": sc.get("group") or f"{sid} · fill {sc.get('fill')}",
                    "n_scored": sc.get("n_scored"),
                    "n_excluded": sc.get("n_excluded"),
                    "rank": sc.get("rank"),
                    "ranked": e["ranked"],
                    "model": e["model"]["name"],
                    "regime": e["regime"],
                    "metric": metric,
                    "mean": summary.get("mean"),
                    "std": summary.get("std"),
                    "n_seeds": e["n_seeds"],
                    "parameter_count": e["model"].get("parameter_count"),
                    "official": e["model"].get("official"),
                    "source": "reproduced",
                    "link": e["model"].get("code_url"),
                    "citation": e["model"].get("paper"),
                    "hardware": e.get("hardware"),
                    "wall_seconds_per_seed": e.get("wall_seconds_per_seed"),
                    "key": e["key"],
                }
            )
    rows.sort(
        key=lambda r: (
            r["dataset"],
            r["task"],
            r["scenario"],
            r["group"],
            r["rank"] is None,
            r["rank"] or 0,
            (-1.0 if higher_is_better(r["metric"]) else 1.0) * (r["mean"] or 0.0),
            r["key"],
        )
    )
    if scenario is None:
        for r in reported:
            match = reported_match(r, dataset, task)
            if match is None:
                continue
            r = {**r, **match}
            rows.append(
                {
                    "dataset": r["dataset"],
                    "dataset_version": None,
                    "task": r["task"],
                    "scenario": r["condition"],
                    "fill": None,
                    "group": None,
                    "n_scored": None,
                    "n_excluded": None,
                    "rank": None,
                    "ranked": False,
                    "model": r["method"],
                    "regime": None,
                    "metric": r["metric"],
                    "mean": r["value"],
                    "std": r["std"],
                    "n_seeds": None,
                    "parameter_count": None,
                    "official": None,
                    "source": "reported",
                    "link": None,
                    "citation": f"{r['paper']} Table {r['table']}",
                    "hardware": None,
                    "wall_seconds_per_seed": None,
                    "key": f"reported:{r['paper']}:{r['table']}:{r['dataset']}:{r['method']}:{r['condition']}:{r['metric']}",
                    **({"reported_as": r["reported_as"]} if "reported_as" in r else {}),
                }
            )
    return rows


#: Papers' dataset and task names that are a modalbench dataset task: ``(paper dataset, paper task)`` ->
#: ``[(dataset, task), ...]``. Their reported rows show beside that dataset's reproduced rows.
REPORTED_DATASETS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("higgs-full", "signal"): (("higgs", "signal"),),
    ("higgs-small", "signal"): (("higgs", "signal"),),  # HIGGS-small: `prepare higgs --set subset=small`
    ("mudestreda", "tool-wear"): (("mudestreda-random", "wear"), ("mudestreda", "wear")),  # Minape: random split
    ("ntu-rgbd", "action-cross-subject"): (("ntu60", "action"),),  # MFAS §4.2: NTU 60 cross-subject, video + pose
    ("mm-imdb", "genre"): (("mmimdb", "genre"),),  # Arevalo et al. 2017, MFAS §4.3: the published split
}
#: Papers' metric names in % -> the canonical metric (a fraction) they equal after dividing by 100.
REPORTED_PERCENT_METRICS = {"error_pct": "error_rate", "auc_pct": "roc_auc", "accuracy_pct": "accuracy"}
#: Papers' metric names that are a canonical metric under another name (same units).
REPORTED_METRIC_NAMES = {"weighted_f1": "f1_weighted", "macro_f1": "f1_macro"}


def reported_match(row: dict[str, Any], dataset: str | None, task: str | None) -> dict[str, Any] | None:
    """How a reported row shows under the ``dataset`` / ``task`` filter: ``{}`` as it is, or the modalbench dataset,
    task and canonical metric (value as a fraction, the paper's own in ``reported_as``) it matches; None: not shown.

    Unfiltered, every row shows as reported. Filtered by a modalbench dataset, the rows of the papers' matching
    dataset (:data:`REPORTED_DATASETS`) show under that dataset's name and metric names, beside reproduced rows.
    """
    if not dataset or (row["dataset"] == dataset and (task is None or row["task"] == task)):
        return {} if task is None or row["task"] == task else None
    for ours, our_task in REPORTED_DATASETS.get((row["dataset"], row["task"]), ()):
        if ours == dataset and (task is None or task == our_task):
            metric, value, std = row["metric"], row["value"], row["std"]
            if metric in REPORTED_PERCENT_METRICS:
                metric = REPORTED_PERCENT_METRICS[metric]
                value = value / 100.0
                std = std / 100.0 if std is not None else None
            metric = REPORTED_METRIC_NAMES.get(metric, metric)
            note = f"{row['dataset']}: {row['metric']} {row['value']:g}"
            return {
                "dataset": ours,
                "task": our_task,
                "metric": metric,
                "value": value,
                "std": std,
                "reported_as": note,
            }
    return None


def format_score(mean: float | None, std: float | None, metric: str, main: str = MAIN_METRIC) -> str:
    """``0.8123 ± 0.0040``; non-main metrics (reported rows) are labelled with their name."""
    if mean is None:
        return "—"
    digits = 2 if metric.endswith("_pct") else 4
    text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")
    return text if metric == main else f"{text} ({metric})"


#: short names of the metrics in terminal tables (the JSON keeps the full ones)
METRIC_LABELS = {
    "f1_weighted": "weighted F1",
    "weighted_f1": "weighted F1",
    "macro_f1": "macro F1",
    "error_pct": "error",
    "accuracy_pct": "accuracy",
    "auc_pct": "AUC",
    "accuracy": "accuracy",
    "roc_auc": "ROC AUC",
    "error_rate": "error",
}


def format_percent(mean: float | None, std: float | None = None, metric: str = MAIN_METRIC) -> str:
    """A score in % with one decimal (``98.1 ± 0.3``); ``*_pct`` metrics are in % already (shown as given)."""
    if mean is None:
        return "—"
    if metric.endswith("_pct"):
        return f"{mean:g}" + (f" ± {std:g}" if std is not None else "")
    return f"{100 * mean:.1f}" + (f" ± {100 * std:.1f}" if std is not None else "")


def compact_count(n: Any) -> str:
    """``367k``, ``1.2M``, ``950``; ``—`` when unknown (parameter counts in narrow tables)."""
    if not isinstance(n, int):
        return "—"
    if n >= 999_500:
        return f"{n / 1e6:.1f}M"
    if n >= 1_000:
        return f"{round(n / 1e3)}k"
    return str(n)


def render_table(
    board: dict[str, Any], dataset: str | None = None, task: str | None = None, scenario: str | None = None
) -> Group:
    """Terminal tables that fit 80 columns: one per ranking group (dataset, task, scenario version, fill, regime) of
    reproduced entries — results measured differently are never ranked in one table — then one per paper table of
    the reported rows. Scores in % with one decimal; ``--json`` carries every field.
    """
    main = board.get("main_metric", MAIN_METRIC)
    rows = table_rows(board, dataset, task, scenario)
    label = METRIC_LABELS.get(main, main)
    parts: list[Any] = []
    reproduced: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    reported: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if r["source"] == "reproduced":
            reproduced.setdefault((r["dataset"], r["task"], r["group"]), []).append(r)
        else:
            reported.setdefault((r["dataset"], r["task"], r["citation"]), []).append(r)
    for (ds, tk, grp), group in reproduced.items():
        show_link = any(r["link"] for r in group)
        t = Table(title=f"{ds} · {tk} · {grp}", box=box.SIMPLE_HEAD, title_justify="left")
        t.add_column("Rank", justify="right", no_wrap=True)
        t.add_column("Model", no_wrap=True)
        metric = group[0]["metric"]  # the task's primary metric (one per dataset task)
        arrow = "" if higher_is_better(metric) else " ↓"  # lower is better (the error rate)
        t.add_column(f"{METRIC_LABELS.get(metric, metric)} %{arrow}", justify="right", no_wrap=True)
        t.add_column("Excl.", justify="right")
        t.add_column("Seeds", justify="right")
        t.add_column("Params", justify="right")
        if show_link:
            t.add_column("Code", overflow="fold")
        for r in group:
            cells = [
                str(r["rank"]) if r["rank"] is not None else "–",
                r["model"],
                format_percent(r["mean"], r["std"], r["metric"]),
                _excluded(r),
                str(r["n_seeds"]),
                compact_count(r["parameter_count"]),
            ]
            t.add_row(*cells, *([r["link"] or ""] if show_link else []))
        parts.append(t)
    for (ds, tk, citation), group in reported.items():  # one table per paper table: the source is its title
        t = Table(title=f"{ds} · {tk} · reported in {citation} (not ranked)", box=box.SIMPLE_HEAD, title_justify="left")
        metrics = {r["metric"] for r in group}
        one_metric = METRIC_LABELS.get(next(iter(metrics)), "") if len(metrics) == 1 else ""
        t.add_column("Method", overflow="fold")
        t.add_column("Condition", overflow="fold")
        if not one_metric:
            t.add_column("Metric")
        t.add_column(f"{one_metric} %".strip(), justify="right", no_wrap=True)
        for r in group:
            metric = [] if one_metric else [METRIC_LABELS.get(r["metric"], r["metric"])]
            t.add_row(r["model"], r["scenario"], *metric, format_percent(r["mean"], r["std"], r["metric"]))
        parts.append(t)
    if not parts:
        parts.append(Text("no entries" + "".join(f" · {v}" for v in (dataset, task, scenario) if v)))
    parts.append(
        Text(
            f"{label} % (or the task's primary metric): mean ± std over seeds of the condition-mean; ↓ = lower is "
            "better; tables are ranking groups "
            "(scenario version · fill · regime); – = unranked (see `--json` for why); Excl. = "
            "sample-conditions left out of scoring; reported rows are numbers from the papers, never "
            "ranked; every field: --json",
            style="dim",
        )
    )
    return Group(*parts)


def _excluded(row: dict[str, Any]) -> str:
    """Sample-condition pairs left out of scoring (compact), ``—`` for results without the counts (v1)."""
    if row.get("n_excluded") is None:
        return "—"
    return compact_count(int(row["n_excluded"]))


def render_json(
    board: dict[str, Any], dataset: str | None = None, task: str | None = None, scenario: str | None = None
) -> str:
    """The JSON form of the view (a list of row objects, sorted keys)."""
    return json.dumps(table_rows(board, dataset, task, scenario), indent=2, sort_keys=True, ensure_ascii=False)
