"""Static leaderboard site: ``index.html`` (datasets and tasks) and one page per dataset with sortable tables
and robustness plots. Each scenario's table has a ``Group`` column (scenario version · fill · regime, see
:mod:`.board`) and a filter above it; ranks are only comparable within one group, so the filter starts on the
group with the most ranked entries. Self-contained: inline CSS and a few lines of vanilla JS, local SVG images,
no network resources, so it works from ``file://``.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

from modalbench.atomic import atomic_dir
from modalbench.errors import ModalbenchError
from modalbench.results import MAIN_METRIC

from .board import load_leaderboard, resolve_dir
from .plots import CURVES, render_curve
from .view import format_score, table_rows

SITE_MARKER = ".modalbench-site"
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em;width:100%}
th,td{border:1px solid #ccc;padding:0.25em 0.5em;text-align:left}
th{background:#f0f0f0;cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"} th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.reported td{color:#555;font-style:italic}
.plots img{max-width:49%;height:auto;border:1px solid #eee}
.note{color:#666;font-size:0.85em}
"""

SORT_JS = """
(function () {
  function key(cell) { return cell.getAttribute("data-sort") || ""; }
  function compare(a, b) {
    var x = parseFloat(a), y = parseFloat(b), nx = !isNaN(x) && a !== "", ny = !isNaN(y) && b !== "";
    if (nx && ny) { return x - y; }
    if (nx !== ny) { return nx ? -1 : 1; }
    return a.localeCompare(b);
  }
  var filters = document.querySelectorAll("select.group-filter");
  Array.prototype.forEach.call(filters, function (sel) {
    function apply() {
      var table = document.getElementById(sel.getAttribute("data-table"));
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.hidden = sel.value !== "" && row.getAttribute("data-group") !== sel.value;
      });
    }
    sel.addEventListener("change", apply);
    apply();
  });
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, idx) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        rows.sort(function (r1, r2) {
          var c = compare(key(r1.cells[idx]), key(r2.cells[idx]));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
"""


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def page_name(dataset: str) -> str:
    """File name of a dataset's page (safe for any dataset name)."""
    return re.sub(r"[^A-Za-z0-9._+-]", "_", dataset) + ".html"


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n"
        f"<script>{SORT_JS}</script>\n</body>\n</html>\n"
    )


def _cell(text: str, sort: Any, num: bool = False) -> str:
    cls = ' class="num"' if num else ""
    return f'<td{cls} data-sort="{_e(sort)}">{text}</td>'


def _link(url: Any) -> str:
    if isinstance(url, str) and re.match(r"^https?://", url):
        return f'<a href="{_e(url)}" rel="noopener">code</a>'
    return ""


def implementation(row: dict[str, Any]) -> str:
    """``authors' code`` (official), ``re-implementation`` (of a cited paper) or ``new method`` (no paper)."""
    if row.get("official"):
        return "authors' code"
    return "re-implementation" if row.get("citation") else "new method"


def _duration(seconds: Any) -> str:
    """``42 s`` / ``3.5 min`` / ``2.1 h``; ``—`` when not recorded."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _reproduced_table(rows: list[dict[str, Any]], main: str, table_id: str) -> str:
    with_links = any(_link(r["link"]) for r in rows)  # the column only when some row has a code link
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Rank",
            "Model",
            "Regime",
            _e(main),
            "Fill",
            "Group",
            "Excluded",
            "Seeds",
            "Params",
            "Implementation",
            "Hardware",
            "Wall time / seed",
            *(["Code"] if with_links else []),
        )
    )
    body = []
    for r in rows:
        rank = str(r["rank"]) if r["rank"] is not None else "unranked"
        excluded = r.get("n_excluded")
        body.append(
            f'<tr data-group="{_e(r["group"])}">'
            + "".join(
                [
                    _cell(_e(rank), r["rank"] if r["rank"] is not None else "", num=True),
                    _cell(_e(r["model"]), r["model"]),
                    _cell(_e(r["regime"]), r["regime"]),
                    _cell(_e(format_score(r["mean"], r["std"], r["metric"], main)), r["mean"], num=True),
                    _cell(_e(r["fill"]), r["fill"]),
                    _cell(_e(r["group"]), r["group"]),
                    _cell(
                        _e("—" if excluded is None else f"{excluded:,}"), "" if excluded is None else excluded, num=True
                    ),
                    _cell(_e(r["n_seeds"]), r["n_seeds"], num=True),
                    _cell(
                        _e(f"{r['parameter_count']:,}" if isinstance(r["parameter_count"], int) else "—"),
                        r["parameter_count"] if r["parameter_count"] is not None else "",
                        num=True,
                    ),
                    _cell(_e(implementation(r)), implementation(r)),
                    _cell(_e(r.get("hardware") or "—"), r.get("hardware") or ""),
                    _cell(
                        _e(_duration(r.get("wall_seconds_per_seed"))), r.get("wall_seconds_per_seed") or "", num=True
                    ),
                    *([_cell(_link(r["link"]) or "—", r["link"] or "")] if with_links else []),
                ]
            )
            + "</tr>"
        )
    groups: dict[str, int] = {}
    for r in rows:
        groups[r["group"]] = groups.get(r["group"], 0) + (r["rank"] is not None)
    start = max(sorted(groups), key=lambda g: groups[g]) if groups else ""
    options = "".join(
        f'<option value="{_e(g)}"{" selected" if g == start else ""}>{_e(g)}</option>' for g in sorted(groups)
    )
    select = (
        f'<p><label>Ranking group (scenario version · fill · regime): <select class="group-filter" '
        f'data-table="{_e(table_id)}"><option value="">all groups (ranks are per group)</option>{options}'
        "</select></label></p>"
    )
    return (
        f'{select}<table class="sortable" id="{_e(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _reported_table(rows: list[dict[str, Any]], table_id: str, papers: dict[str, str]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("Method", "Condition", "Metric", "Value", "Std", "Source"))
    body = []
    for r in rows:
        paper = r["citation"].split(" Table ")[0]
        cite = f'<abbr title="{_e(papers.get(paper, ""))}">{_e(r["citation"])}</abbr>'
        body.append(
            '<tr class="reported">'
            + "".join(
                [
                    _cell(_e(r["model"]), r["model"]),
                    _cell(_e(r["scenario"]), r["scenario"]),
                    _cell(_e(r["metric"]), r["metric"]),
                    _cell(_e(format_score(r["mean"], None, r["metric"], r["metric"])), r["mean"], num=True),
                    _cell(_e("" if r["std"] is None else r["std"]), "" if r["std"] is None else r["std"], num=True),
                    _cell(cite, r["citation"]),
                ]
            )
            + "</tr>"
        )
    return (
        f'<table class="sortable reported" id="{_e(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _dataset_page(board: dict[str, Any], dataset: str, tasks: list[str], plot_dir: Path) -> str:
    main = board.get("main_metric", MAIN_METRIC)
    papers = board.get("reported", {}).get("papers", {})
    parts = [f'<p><a href="index.html">&larr; all datasets</a></p><h1>{_e(dataset)}</h1>']
    for task in tasks:
        slug = re.sub(r"[^A-Za-z0-9._+-]", "_", f"{dataset}--{task}")
        parts.append(f'<section id="task-{_e(slug)}"><h2>Task: {_e(task)}</h2>')
        imgs = []
        for field in CURVES:
            out = render_curve(board, dataset, task, field, plot_dir / f"{slug}--{field}.svg")
            if out is not None:
                imgs.append(
                    f'<img src="plots/{_e(out.name)}" alt="{_e(main)} against {_e(CURVES[field][1])} '
                    f'for {_e(dataset)} / {_e(task)}">'
                )
        if imgs:
            parts.append(f'<div class="plots">{"".join(imgs)}</div>')
        rows = table_rows(board, dataset=dataset, task=task)
        reproduced = [r for r in rows if r["source"] == "reproduced"]
        for sid in sorted({r["scenario"] for r in reproduced}):
            tid = re.sub(r"[^A-Za-z0-9_-]", "_", f"t-{slug}-{sid}")
            parts.append(f"<h3>Scenario {_e(sid)}</h3>")
            group_rows = [r for r in reproduced if r["scenario"] == sid]
            parts.append(_reproduced_table(group_rows, group_rows[0]["metric"], tid))  # the task's primary metric
        reported = [r for r in rows if r["source"] == "reported"]
        if reported:
            parts.append("<h3>Reported in the papers (not ranked)</h3>")
            parts.append(_reported_table(reported, re.sub(r"[^A-Za-z0-9_-]", "_", f"r-{slug}"), papers))
        parts.append("</section>")
    parts.append(
        f'<p class="note">Ranked entries have at least {board.get("min_ranked_seeds", 3)} seeds; '
        f"{_e(main)} is the mean over seeds of the condition-mean (± unbiased std). "
        "Reported numbers are transcribed from the papers and were not measured on modalbench scenarios.</p>"
    )
    return _page(f"modalbench leaderboard: {dataset}", "\n".join(parts))


def _index_page(board: dict[str, Any], tasks_by_dataset: dict[str, list[str]]) -> str:
    entries = board.get("entries", [])
    reported = board.get("reported", {}).get("rows", [])
    head = "".join(f"<th>{h}</th>" for h in ("Dataset", "Task", "Reproduced entries", "Reported rows"))
    body = []
    for ds, tasks in tasks_by_dataset.items():
        for task in tasks:
            n_rep = sum(1 for e in entries if e["dataset"] == ds and e["task"] == task)
            n_pap = sum(1 for r in reported if r["dataset"] == ds and r["task"] == task)
            body.append(
                "<tr>"
                + "".join(
                    [
                        _cell(f'<a href="{_e(page_name(ds))}">{_e(ds)}</a>', ds),
                        _cell(_e(task), task),
                        _cell(str(n_rep), n_rep, num=True),
                        _cell(str(n_pap), n_pap, num=True),
                    ]
                )
                + "</tr>"
            )
    body_html = (
        "<h1>modalbench leaderboard</h1>\n<p>Multimodal fusion under missing modalities and missing blocks "
        "of data. One page per dataset.</p>\n"
        f'<table class="sortable" id="datasets"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    return _page("modalbench leaderboard", body_html)


def build_site(leaderboard_dir: str | os.PathLike[str] | None, out_dir: str | os.PathLike[str]) -> Path:
    """Write the site for the leaderboard in ``leaderboard_dir`` to ``out_dir``; returns ``out_dir/index.html``.

    The directory is replaced atomically (built in ``out_dir.incomplete`` first). An existing non-empty
    ``out_dir`` is only replaced when it holds an earlier site (its ``SITE_MARKER`` file).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / SITE_MARKER).exists())):
        raise ModalbenchError(
            f"{out_dir}: exists and is not an earlier leaderboard site; choose an empty or new directory"
        )
    board = load_leaderboard(resolve_dir(leaderboard_dir))
    pairs = {(e["dataset"], e["task"]) for e in board.get("entries", [])}
    pairs |= {(r["dataset"], r["task"]) for r in board.get("reported", {}).get("rows", [])}
    tasks_by_dataset: dict[str, list[str]] = {}
    for ds, task in sorted(pairs):
        tasks_by_dataset.setdefault(ds, []).append(task)
    with atomic_dir(out_dir) as tmp:
        (tmp / "plots").mkdir()
        for ds, tasks in tasks_by_dataset.items():
            (tmp / page_name(ds)).write_text(_dataset_page(board, ds, tasks, tmp / "plots"), encoding="utf-8")
        (tmp / SITE_MARKER).write_text("built by modalbench leaderboard build\n", encoding="utf-8")
        (tmp / "index.html").write_text(_index_page(board, tasks_by_dataset), encoding="utf-8")
    return out_dir / "index.html"
