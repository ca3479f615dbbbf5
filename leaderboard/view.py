"""Terminal and JSON views of a leaderboard index: one row per (entry, scenario), reported rows apart.

Reproduced rows show the rank within their (dataset, version, task, scenario), the main metric (weighted F1)
mean ± unbiased std over seeds of the condition-mean, parameter count and code link. Reported rows (numbers
from the papers) carry their citation, no rank, and appear only when no ``scenario`` filter is given
(they were not measured on modalbench scenarios).
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from rich.table import Table

from modalbench.errors import ModalbenchError

from modalbench.results import MAIN_METRIC


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
    raise ModalbenchError(f"unknown {what} {value!r} in the leaderboard{hint} (known: {', '.join(sorted(known)) or 'none'})")


def table_rows(board: dict[str, Any], dataset: str | None = None, task: str | None = None,
               scenario: str | None = None) -> list[dict[str, Any]]:
    """The rows of the view as plain dicts (what ``--json`` prints), in display order."""
    entries = board.get("entries", [])
    reported = board.get("reported", {}).get("rows", [])
    _check_filter(dataset, {e["dataset"] for e in entries} | {r["dataset"] for r in reported}, "dataset")
    _check_filter(task, {e["task"] for e in entries} | {r["task"] for r in reported}, "task")
    known_scenarios = {s for e in entries for s in e["scenarios"]}
    if scenario is not None and "@" not in scenario:  # a family name means its newest version on the board
        versions = sorted((s for s in known_scenarios if s.split("@", 1)[0] == scenario),
                          key=lambda s: int(s.rsplit("@v", 1)[-1]) if s.rsplit("@v", 1)[-1].isdigit() else 0)
        scenario = versions[-1] if versions else scenario
    _check_filter(scenario, known_scenarios, "scenario")
    main = board.get("main_metric", MAIN_METRIC)
    rows: list[dict[str, Any]] = []
    for e in entries:
        if (dataset and e["dataset"] != dataset) or (task and e["task"] != task):
            continue
        for sid, sc in sorted(e["scenarios"].items()):
            if scenario and sid != scenario:
                continue
            summary = sc["metrics"].get(main, {})
            rows.append({
                "dataset": e["dataset"], "dataset_version": e["dataset_version"], "task": e["task"],
                "scenario": sid, "rank": sc.get("rank"), "ranked": e["ranked"], "model": e["model"]["name"],
                "regime": e["regime"], "metric": main, "mean": summary.get("mean"), "std": summary.get("std"),
                "n_seeds": e["n_seeds"], "parameter_count": e["model"].get("parameter_count"),
                "official": e["model"].get("official"), "source": "reproduced", "link": e["model"].get("code_url"),
                "citation": e["model"].get("paper"), "key": e["key"],
            })
    rows.sort(key=lambda r: (r["dataset"], r["task"], r["scenario"], r["rank"] is None, r["rank"] or 0,
                             -(r["mean"] or 0.0), r["key"]))
    if scenario is None:
        for r in reported:
            if (dataset and r["dataset"] != dataset) or (task and r["task"] != task):
                continue
            rows.append({
                "dataset": r["dataset"], "dataset_version": None, "task": r["task"], "scenario": r["condition"],
                "rank": None, "ranked": False, "model": r["method"], "regime": None, "metric": r["metric"],
                "mean": r["value"], "std": r["std"], "n_seeds": None, "parameter_count": None, "official": None,
                "source": "reported", "link": None, "citation": f"{r['paper']} Table {r['table']}",
                "key": f"reported:{r['paper']}:{r['table']}:{r['dataset']}:{r['method']}:{r['condition']}:{r['metric']}",
            })
    return rows


def format_score(mean: float | None, std: float | None, metric: str, main: str = MAIN_METRIC) -> str:
    """``0.8123 ± 0.0040``; non-main metrics (reported rows) are labelled with their name."""
    if mean is None:
        return "—"
    digits = 2 if metric.endswith("_pct") else 4
    text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")
    return text if metric == main else f"{text} ({metric})"


def render_table(board: dict[str, Any], dataset: str | None = None, task: str | None = None,
                 scenario: str | None = None) -> Table:
    """A rich Table: rank, model, regime, main metric mean ± std per scenario, parameters, source, link.

    Columns fixed by a filter (dataset, task, scenario) move to the title; Metric and Link appear only when
    some row needs them.
    """
    main = board.get("main_metric", MAIN_METRIC)
    rows = table_rows(board, dataset, task, scenario)
    title = "modalbench leaderboard" + "".join(f" · {v}" for v in (dataset, task, scenario) if v)
    table = Table(title=title, caption=f"{main}: mean ± std over seeds of the condition-mean; "
                                       "reported = numbers from the papers, never ranked")
    show_metric = any(r["metric"] != main for r in rows)
    show_link = any(r["link"] for r in rows)
    columns: list[tuple[str, dict[str, Any]]] = []
    if dataset is None:
        columns.append(("Dataset", {}))
    if task is None:
        columns.append(("Task", {}))
    if scenario is None:
        columns.append(("Scenario / condition", {}))
    columns += [("Rank", {"justify": "right"}), ("Model", {"overflow": "fold"}), ("Regime", {})]
    if show_metric:
        columns.append(("Metric", {}))
    columns += [(main if not show_metric else "Score", {"justify": "right", "no_wrap": True}),
                ("Params", {"justify": "right"}), ("Source", {})]
    if show_link:
        columns.append(("Link", {"overflow": "fold"}))
    for col, kw in columns:
        table.add_column(col, **kw)
    for r in rows:
        rank = str(r["rank"]) if r["rank"] is not None else ("unranked" if r["source"] == "reproduced" else "—")
        if r["source"] == "reproduced":
            source = f"reproduced, {r['n_seeds']} seed" + ("s" if r["n_seeds"] != 1 else "")
        else:
            source = f"reported: {r['citation']}"
        params = f"{r['parameter_count']:,}" if isinstance(r["parameter_count"], int) else "—"
        cells: list[str] = []
        if dataset is None:
            cells.append(r["dataset"])
        if task is None:
            cells.append(r["task"])
        if scenario is None:
            cells.append(r["scenario"])
        cells += [rank, r["model"], r["regime"] or "—"]
        if show_metric:
            cells.append(r["metric"])
        cells += [format_score(r["mean"], r["std"], r["metric"], r["metric"]), params, source]
        if show_link:
            cells.append(r["link"] or "")
        table.add_row(*cells)
    return table


def render_json(board: dict[str, Any], dataset: str | None = None, task: str | None = None,
                scenario: str | None = None) -> str:
    """The JSON form of the view (a list of row objects, sorted keys)."""
    return json.dumps(table_rows(board, dataset, task, scenario), indent=2, sort_keys=True, ensure_ascii=False)
