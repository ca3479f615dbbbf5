"""Terminal and JSON views of a leaderboard index: one row per (entry, scenario), reported rows apart.

Reproduced rows show the rank within their ranking group — (dataset, version, task, scenario version, fill,
training regime), see :mod:`.board` — the fill, the samples left out of scoring, the main metric (weighted F1)
mean ± unbiased std over seeds of the condition-mean, parameter count and code link. Reported rows (numbers
from the papers) carry their citation, no rank, and appear only when no ``scenario`` filter is given
(they were not measured on modalbench scenarios).
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from rich.console import Group
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
                "scenario": sid, "fill": sc.get("fill"), "group": sc.get("group") or f"{sid} · fill {sc.get('fill')}",
                "n_scored": sc.get("n_scored"), "n_excluded": sc.get("n_excluded"),
                "rank": sc.get("rank"), "ranked": e["ranked"], "model": e["model"]["name"],
                "regime": e["regime"], "metric": main, "mean": summary.get("mean"), "std": summary.get("std"),
                "n_seeds": e["n_seeds"], "parameter_count": e["model"].get("parameter_count"),
                "official": e["model"].get("official"), "source": "reproduced", "link": e["model"].get("code_url"),
                "citation": e["model"].get("paper"), "key": e["key"],
            })
    rows.sort(key=lambda r: (r["dataset"], r["task"], r["scenario"], r["group"], r["rank"] is None, r["rank"] or 0,
                             -(r["mean"] or 0.0), r["key"]))
    if scenario is None:
        for r in reported:
            if (dataset and r["dataset"] != dataset) or (task and r["task"] != task):
                continue
            rows.append({
                "dataset": r["dataset"], "dataset_version": None, "task": r["task"], "scenario": r["condition"],
                "fill": None, "group": None, "n_scored": None, "n_excluded": None,
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
                 scenario: str | None = None) -> Group:
    """Rich tables: one per ranking group (dataset, task, scenario version, fill, regime), reported rows apart.

    Results measured differently are never shown in one ranked table. Columns: rank, model, regime, fill, main
    metric mean ± std, samples excluded from scoring, parameters, source, link (when some row has one).
    """
    main = board.get("main_metric", MAIN_METRIC)
    rows = table_rows(board, dataset, task, scenario)
    caption = f"{main}: mean ± std over seeds of the condition-mean; reported = numbers from the papers, never ranked"
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    reported = []
    for r in rows:
        if r["source"] == "reproduced":
            groups.setdefault((r["dataset"], r["task"], r["group"]), []).append(r)
        else:
            reported.append(r)
    tables = [_group_table(members, main, caption, f"modalbench leaderboard · {ds} · {tk} · {grp}")
              for (ds, tk, grp), members in groups.items()]
    if reported or not tables:
        title = "modalbench leaderboard" + "".join(f" · {v}" for v in (dataset, task, scenario) if v)
        tables.append(_reported_rich_table(reported, main, caption, title + " · reported in the papers"))
    return Group(*tables)


def _group_table(rows: list[dict[str, Any]], main: str, caption: str, title: str) -> Table:
    table = Table(title=title, caption=caption)
    show_link = any(r["link"] for r in rows)
    for col, kw in [("Rank", {"justify": "right"}), ("Model", {"overflow": "fold"}), ("Regime", {}), ("Fill", {}),
                    (main, {"justify": "right", "no_wrap": True}), ("Excluded", {"justify": "right"}),
                    ("Params", {"justify": "right"}), ("Source", {})] + ([("Link", {"overflow": "fold"})]
                                                                        if show_link else []):
        table.add_column(col, **kw)
    for r in rows:
        rank = str(r["rank"]) if r["rank"] is not None else "unranked"
        source = f"reproduced, {r['n_seeds']} seed" + ("s" if r["n_seeds"] != 1 else "")
        params = f"{r['parameter_count']:,}" if isinstance(r["parameter_count"], int) else "—"
        cells = [rank, r["model"], r["regime"] or "—", r["fill"] or "—",
                 format_score(r["mean"], r["std"], r["metric"], r["metric"]), _excluded(r), params, source]
        if show_link:
            cells.append(r["link"] or "")
        table.add_row(*cells)
    return table


def _excluded(row: dict[str, Any]) -> str:
    """``excluded / (scored + excluded)`` sample-condition pairs, ``—`` for results without the counts (v1)."""
    if row.get("n_excluded") is None or row.get("n_scored") is None:
        return "—"
    return f"{row['n_excluded']:,} / {row['n_scored'] + row['n_excluded']:,}"


def _reported_rich_table(rows: list[dict[str, Any]], main: str, caption: str, title: str) -> Table:
    table = Table(title=title, caption=caption)
    for col in ("Dataset", "Task", "Condition", "Model", "Metric", "Score", "Source"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["dataset"], r["task"], r["scenario"], r["model"], r["metric"],
                      format_score(r["mean"], r["std"], r["metric"], r["metric"]), f"reported: {r['citation']}")
    return table


def render_json(board: dict[str, Any], dataset: str | None = None, task: str | None = None,
                scenario: str | None = None) -> str:
    """The JSON form of the view (a list of row objects, sorted keys)."""
    return json.dumps(table_rows(board, dataset, task, scenario), indent=2, sort_keys=True, ensure_ascii=False)
