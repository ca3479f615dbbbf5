"""Robustness plots (matplotlib, Agg backend, SVG): weighted F1 against the number of available modalities
and against the missing rate (block-missing, random-missing) — the two views of EmbraceNet (Choi & Lee 2019,
§6.4.1 and §6.4.2).

One line per reproduced entry (mean over seeds, error bars = unbiased std), labelled with its training regime and
evaluation fill, reported paper numbers marked as separate points. On the modality axis an entry's line is its
scenario with the most points (``missing-modalities``; ``full`` is one point of it). Line styles combine ten colours
with four dash patterns and seven markers, so 40 entries stay distinguishable; the legend sits outside the axes. SVGs are written with a fixed hash salt and no date, so the same index gives the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from modalbench.atomic import write_bytes_atomic  # noqa: E402
from modalbench.fills import fill_label  # noqa: E402
from modalbench.results import MAIN_METRIC  # noqa: E402

#: Reported metric names that measure the same thing as the main metric.
REPORTED_ALIASES = {MAIN_METRIC: ("weighted_f1", "f1_weighted")}
CURVES = {
    "n_available": ("by_n_available", "number of available modalities"),
    "missing_rate": ("by_missing_rate", "missing rate"),
}
_MARKERS = ("X", "D", "^", "v", "P", "*", "s", "<", ">", "h")
_LINE_MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # 7 is coprime with the 10 colours: combinations repeat late
_DASHES = ("-", "--", ":", "-.")


def line_style(i: int) -> dict[str, Any]:
    """Colour, dash pattern and marker of the ``i``-th line: distinct (colour, dash) pairs for the first 40."""
    return {
        "color": f"C{i % 10}",
        "linestyle": _DASHES[(i // 10) % len(_DASHES)],
        "marker": _LINE_MARKERS[i % len(_LINE_MARKERS)],
    }


def task_metric(board: dict[str, Any], dataset: str, task: str) -> str:
    """The metric a dataset task is ranked and plotted by: its entries' primary metric, else the main metric."""
    for e in board.get("entries", []):
        if e["dataset"] == dataset and e["task"] == task and e.get("primary_metric"):
            return str(e["primary_metric"])
    return str(board.get("main_metric", MAIN_METRIC))


def curve_series(
    board: dict[str, Any], dataset: str, task: str, field: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(lines, points)`` for one plot: reproduced curves and reported points along ``field``."""
    key, _ = CURVES[field]
    main = task_metric(board, dataset, task)
    lines = []
    for e in board.get("entries", []):
        if e["dataset"] != dataset or e["task"] != task:
            continue
        # the rate plot leaves out modality-subset scenarios (their missing_rate is just 1 - n_available / M)
        with_curve = [
            (sid, sc)
            for sid, sc in sorted(e["scenarios"].items())
            if [p for p in sc.get(key) or [] if main in p["metrics"]]
            and (field == "n_available" or not sc.get("by_n_available"))
        ]
        if field == "n_available" and with_curve:  # one line per entry: the scenario with the most points
            with_curve = [max(with_curve, key=lambda item: (len(item[1][key]), item[0]))]
        for sid, sc in with_curve:
            pts = [p for p in sc[key] if main in p["metrics"]]
            label = (
                f"{e['model']['name']} ({e['regime']}, fill {fill_label(sc['fill'], sc.get('fill_params')) if sc.get('fill') else '?'})"
                + (f" [{sid.split('@')[0]}]" if len(with_curve) > 1 else "")
            )
            lines.append(
                {
                    "label": label,
                    "x": [p[field] for p in pts],
                    "y": [p["metrics"][main]["mean"] for p in pts],
                    "std": [p["metrics"][main]["std"] for p in pts],
                }
            )
    points = []
    aliases = REPORTED_ALIASES.get(main, (main,))
    for r in board.get("reported", {}).get("rows", []):
        if r["dataset"] == dataset and r["task"] == task and r["metric"] in aliases and r.get(field) is not None:
            points.append(
                {"label": f"reported: {r['method']} ({r['paper']} T{r['table']})", "x": r[field], "y": r["value"]}
            )
    return lines, points


def render_curve(board: dict[str, Any], dataset: str, task: str, field: str, out: Path) -> Path | None:
    """Write the SVG plot of ``field`` for (dataset, task) to ``out``; None when there is nothing to plot."""
    lines, points = curve_series(board, dataset, task, field)
    if not lines and not points:
        return None
    _, xlabel = CURVES[field]
    main = task_metric(board, dataset, task)
    with plt.rc_context({"svg.hashsalt": "modalbench", "svg.fonttype": "path"}):
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
        try:
            for i, line in enumerate(lines):
                yerr = [s if s is not None else 0.0 for s in line["std"]]
                bars = ax.errorbar(
                    line["x"], line["y"], yerr=yerr, capsize=3, label=line["label"], markersize=5, **line_style(i)
                )
                bars.lines[0].set_gid(f"curve-{i}")  # the SVG names each entry's line (the site test counts them)
            by_label: dict[str, list[dict[str, Any]]] = {}
            for p in points:
                by_label.setdefault(p["label"], []).append(p)
            for i, (label, pts) in enumerate(sorted(by_label.items())):
                ax.scatter(
                    [p["x"] for p in pts],
                    [p["y"] for p in pts],
                    marker=_MARKERS[i % len(_MARKERS)],
                    s=50,
                    edgecolors="black",
                    linewidths=0.5,
                    zorder=3,
                    label=label,
                )
            ax.set_xlabel(xlabel)
            ax.set_ylabel(main)
            ax.set_ylim(0.0, 1.02)
            if field == "missing_rate":
                ax.set_xlim(-0.02, 1.0)
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(f"{dataset} / {task}\n{main} vs {xlabel}", fontsize="medium")
            ax.grid(True, alpha=0.3)
            n_items = len(lines) + len({p["label"] for p in points})
            # outside the axes, right of them; the saved figure grows to hold it (bbox_inches="tight")
            legend = ax.legend(
                fontsize="x-small",
                loc="upper left",
                bbox_to_anchor=(1.02, 1.0),
                borderaxespad=0.0,
                ncol=1 if n_items <= 20 else 2,
            )
            legend.set_gid("legend")
            ax.patch.set_gid("axes-area")
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
        finally:
            plt.close(fig)
    write_bytes_atomic(out, buf.getvalue())
    return out
