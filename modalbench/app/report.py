"""``modalbench report RESULTS...``: a method × scenario summary table (mean ± std over seeds) and robustness plots.

Reads result files (``results.json``, leaderboard schema v1) or folders holding them (``modalbench run`` outputs:
the merged file of each group; the per-seed files under ``seed-<k>/`` are left out). Plots are PNGs written by
matplotlib's Agg backend: the metric against the number of available modalities (``missing-modalities``) and, when
present, against the block-missing rate, one line per model and one figure per dataset/task. No torch import.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from modalbench.atomic import write_bytes_atomic
from modalbench.errors import ModalbenchError
from modalbench.fills import fill_label
from modalbench.results import check_metric_name

from .console import out

MAIN_METRIC = "f1_weighted"
RESULTS = "results.json"


@dataclass(frozen=True)
class ResultFile:
    path: Path
    doc: dict[str, Any]

    @property
    def dataset(self) -> str:
        return f"{self.doc['dataset']['name']}" + (f" ({self.doc['task']})" if self.doc.get("task") else "")

    @property
    def model(self) -> str:
        """The model's name; with ``· fill knn@v1(k=10)`` when a scenario used fill parameters that are not the
        defaults (two results differing only there get two rows and two curves)."""
        labels = sorted(
            {
                fill_label(sc["fill"], sc.get("fill_params"), only_if_not_default=True)
                for sc in self.doc.get("scenarios") or []
                if isinstance(sc, dict) and isinstance(sc.get("fill"), str) and sc.get("fill_params")
            }
            - {sc.get("fill") for sc in self.doc.get("scenarios") or [] if isinstance(sc, dict)}
        )
        return str(self.doc["model"]["name"]) + "".join(f" · fill {label}" for label in labels)


def _find(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.rglob(RESULTS) if not p.parent.name.startswith("seed-"))
        if not found:
            raise ModalbenchError(f"{path}: no {RESULTS} here (merged results of `modalbench run` or `evaluate`)")
        return found
    raise ModalbenchError(f"{path}: no such file or folder")


def load_results(paths: list[Path]) -> list[ResultFile]:
    """Result documents of the given files and folders, in order (one line errors for unreadable ones)."""
    files: list[ResultFile] = []
    for given in paths:
        for p in _find(Path(given)):
            try:
                doc = json.loads(p.read_text())
            except json.JSONDecodeError as exc:
                raise ModalbenchError(f"{p}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
            if not isinstance(doc, dict) or not all(k in doc for k in ("dataset", "model", "seeds", "aggregates")):
                raise ModalbenchError(f"{p}: not a results file (expected dataset, model, seeds and aggregates)")
            files.append(ResultFile(p, doc))
    return files


def _fmt(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "-"
    std = summary.get("std")
    return f"{summary['mean']:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def scenario_ids(results: list[ResultFile]) -> list[str]:
    """Scenario ids of all documents, in first-seen order."""
    ids: list[str] = []
    for r in results:
        for sid in r.doc["aggregates"]:
            if sid not in ids:
                ids.append(sid)
    return ids


def summary_rows(results: list[ResultFile], metric: str = MAIN_METRIC) -> list[list[str]]:
    """One row per result file: dataset, model, seeds, then ``mean ± std`` of ``metric`` per scenario."""
    ids = scenario_ids(results)
    rows = []
    for r in results:
        agg = r.doc["aggregates"]
        cells = [_fmt(agg[sid]["metrics"].get(metric)) if sid in agg else "-" for sid in ids]
        rows.append([r.dataset, r.model, ",".join(map(str, r.doc["seeds"])), *cells])
    return rows


def summary_table(results: list[ResultFile], metric: str = MAIN_METRIC) -> Table:
    """The rich table of :func:`summary_rows`."""
    t = Table(title=f"{metric}: mean ± std over seeds of the condition-mean, per scenario")
    for col in ("dataset", "model", "seeds", *scenario_ids(results)):
        t.add_column(col, justify="left" if col in ("dataset", "model", "seeds") else "right")
    for row in summary_rows(results, metric):
        t.add_row(*row)
    return t


def summary_markdown(results: list[ResultFile], metric: str = MAIN_METRIC) -> str:
    """The summary table as Markdown."""
    head = ["dataset", "model", "seeds", *scenario_ids(results)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in summary_rows(results, metric)]
    return f"{metric}: mean ± std over seeds\n\n" + "\n".join(lines) + "\n"


def _curves(
    results: list[ResultFile], family: str, field: str, metric: str
) -> dict[str, list[tuple[str, list[float], list[float], list[float]]]]:
    """Per dataset: (model, x, mean, std) of the ``by_<field>`` curve of scenario ``family``."""
    out_: dict[str, list[tuple[str, list[float], list[float], list[float]]]] = {}
    for r in results:
        for sid, agg in r.doc["aggregates"].items():
            if sid.split("@", 1)[0] != family:
                continue
            pts = [p for p in agg.get(f"by_{field}", []) if metric in p["metrics"]]
            if not pts:
                continue
            xs = [float(p[field]) for p in pts]
            means = [float(p["metrics"][metric]["mean"]) for p in pts]
            stds = [float(p["metrics"][metric]["std"] or 0.0) for p in pts]
            out_.setdefault(r.dataset, []).append((r.model, xs, means, stds))
    return out_


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def _plot(
    series: list[tuple[str, list[float], list[float], list[float]]],
    title: str,
    xlabel: str,
    metric: str,
    path: Path,
    percent_x: bool = False,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, xs, means, stds in series:
        xv = [x * 100 for x in xs] if percent_x else xs
        ax.errorbar(xv, means, yerr=stds, marker="o", capsize=3, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{metric} (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    if not percent_x:
        locator = ax.xaxis.get_major_locator()
        if isinstance(locator, MaxNLocator):  # the default AutoLocator is one
            locator.set_params(integer=True)
    ax.legend(fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
    return path


def robustness_plots(results: list[ResultFile], out_dir: Path, metric: str = MAIN_METRIC) -> list[Path]:
    """PNG plots: metric vs number of available modalities, and vs block-missing rate when present."""
    written = []
    for ds, series in _curves(results, "missing-modalities", "n_available", metric).items():
        written.append(
            _plot(
                series,
                f"{ds}: missing modalities",
                "available modalities",
                metric,
                out_dir / f"{_slug(ds)}-{metric}-vs-available-modalities.png",
            )
        )
    for ds, series in _curves(results, "block-missing", "missing_rate", metric).items():
        written.append(
            _plot(
                series,
                f"{ds}: block-missing",
                "missing rate (%)",
                metric,
                out_dir / f"{_slug(ds)}-{metric}-vs-block-missing-rate.png",
                percent_x=True,
            )
        )
    return written


@dataclass
class Report:
    results: list[ResultFile]
    table: Path
    plots: list[Path]


def write_report(paths: list[Path], out_dir: Path | None = None, metric: str = MAIN_METRIC) -> Report:
    """Summary table (``summary.md``) and robustness plots in ``out_dir`` (default: beside the first results:
    the folder given, or the first file's folder)."""
    if not paths:
        raise ModalbenchError("report: give at least one results file or folder")
    results = load_results(paths)
    if out_dir is None:
        first = Path(paths[0])
        out_dir = first if first.is_dir() else first.parent
    out_dir = Path(out_dir)
    table = out_dir / "summary.md"
    write_bytes_atomic(table, summary_markdown(results, metric).encode())
    return Report(results, table, robustness_plots(results, out_dir, metric))


def cmd_report(args: argparse.Namespace) -> int:
    """``modalbench report RESULTS... [--out DIR] [--metric NAME]``."""
    check_metric_name(args.metric, "--metric")  # one spelling per metric: weighted_f1 -> did you mean f1_weighted?
    rep = write_report([Path(p) for p in args.results], Path(args.out) if args.out else None, args.metric)
    out.print(summary_table(rep.results, args.metric))
    out.print(f"table: {rep.table}")
    for p in rep.plots:
        out.print(f"plot: {p}")
    return 0
