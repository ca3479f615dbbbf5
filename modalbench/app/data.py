"""``modalbench datasets``, ``info`` and ``verify``: what is registered, what is prepared, and whether it is intact."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich import box
from rich.table import Table

from modalbench.checksums import verify_store
from modalbench.datasets import dataset_names, get_dataset
from modalbench.meta import SPLITS
from modalbench.paths import resolve_root
from modalbench.store import is_prepared, prepared_versions, store_version, summary

from .console import err, out, print_json


def dataset_rows(root: str | None) -> list[dict[str, Any]]:
    """One row per registered dataset: modalities, task, licence, source, whether it is prepared under ``root``."""
    rows = []
    for name in dataset_names():
        b = get_dataset(name)
        params = b.default_params()
        mods = b.modalities(params)
        tasks = b.tasks(params)
        info = b.source_info()
        prepared = prepared_versions(name, root)
        version = prepared[0] if prepared else store_version(name, root)
        rows.append(
            {
                "name": name,
                "version": version,
                "prepared_versions": prepared,
                "modalities": [m.name for m in mods],
                "n_modalities": len(mods),
                "kinds": sorted({m.kind for m in mods}),
                "tasks": {t.name: {"task_type": t.task_type, "n_classes": len(t.classes)} for t in tasks},
                "n_classes": len(tasks[0].classes),
                "task_type": tasks[0].task_type,
                "license": b.license,
                "source": (info.get("urls") or ["(generated)" if b.synthetic else "(embedded)"])[0],
                "synthetic": b.synthetic,
                "prepared": bool(prepared) or is_prepared(resolve_root(root), name, version),
            }
        )
    return rows


def cmd_datasets(args: argparse.Namespace) -> int:
    rows = dataset_rows(args.root)
    if args.json:
        print_json(rows)
        return 0
    t = Table(
        title="modalbench datasets",
        box=box.SIMPLE_HEAD,
        caption="* generated data; licences, tasks and every modality: --json",
    )
    name_width = max([len(r["name"]) + 1 for r in rows] + [4])
    t.add_column("name", no_wrap=True, min_width=name_width)
    # the modality list takes what is left of the line after the other columns and cell padding
    t.add_column(
        "modalities",
        overflow="ellipsis",
        no_wrap=True,
        max_width=max(20, out.width - name_width - len("classes multiclass prepared") - 12),
    )
    for col in ("classes", "task", "prepared"):
        t.add_column(col, justify="right" if col == "classes" else "left", no_wrap=True, min_width=len(col))
    for r in rows:
        t.add_row(
            r["name"] + ("*" if r["synthetic"] else ""),
            f"{r['n_modalities']}: {', '.join(r['modalities'])}",
            str(r["n_classes"]),
            r["task_type"],
            "yes" if r["prepared"] else "no",
        )
    out.print(t)
    # sources in full, one per line (a URL cut or folded in a table cell cannot be copied)
    width = max(len(r["name"]) for r in rows) if rows else 0
    out.print("sources:", soft_wrap=True)
    for r in rows:
        line = f"  {r['name']:<{width}}  {r['source']}"
        if len(line) > out.width:  # the URL on its own line, whole (a cut or folded URL cannot be copied)
            line = f"  {r['name']}\n    {r['source']}"
        out.print(line, soft_wrap=True, overflow="ignore", crop=False, markup=False, highlight=False)
    return 0


def reader_range(stats: dict[str, Any]) -> tuple[float, float, float]:
    """Train ``(min, max, mean)`` of one modality in the units the reader yields: a uint8 store's values
    (``method`` ``reader_scale``) times its scale, as the reader returns them; other stores' as recorded."""
    if stats.get("method") == "tokens":  # token ids: pad id .. vocabulary size - 1, filled with the pad id
        return float(stats["pad_id"]), float(stats["vocab_size"] - 1), float(stats["pad_id"])
    lo, hi = min(stats["min"]), max(stats["max"])
    if stats.get("method") == "reader_scale":
        scale = float(stats["reader_scale"])
        return lo * scale, hi * scale, sum(stats["scaled_mean"]) / len(stats["scaled_mean"])
    return lo, hi, sum(stats["mean"]) / len(stats["mean"])


def print_info(name: str, root: str | None, version: str | None = None) -> None:
    """The human-readable summary of a prepared store (path, fingerprint, splits, task, modalities, parameters)."""
    s = summary(root, name, version)
    out.print(f"[bold]{s['dataset']}[/bold] {s['version']}  {s['description']}")
    out.print(f"path:        {s['path']}")
    out.print(f"fingerprint: {s['fingerprint']}")
    out.print(
        "samples:     "
        + ", ".join(f"{k} {s['n_samples'][k]}" for k in SPLITS)
        + f"  (total {s['n_samples_total']})"
        + (f", {s['n_recordings']} recordings" if s["n_recordings"] else "")
    )
    out.print(
        f"task:        {s['task']} ({s['task_type']}, {len(s['classes'])} classes: "
        + ", ".join(s["classes"][:10])
        + (" ..." if len(s["classes"]) > 10 else "")
        + ")"
    )
    t = Table("modality", "kind", "shape", "dtype", "channels", "train min..max", "train mean")
    for m in s["modalities"]:
        lo, hi, mean = reader_range(s["normalisation"][m["name"]])
        t.add_row(
            m["name"],
            m["kind"],
            "x".join(map(str, m["shape"])),
            m["dtype"],
            str(len(m["channels"]) or m["shape"][0]),
            f"{lo:.3g}..{hi:.3g}",
            f"{mean:.3g}",
        )
    out.print(t)
    unavailable = (s["source"].get("provenance") or {}).get("unavailable")
    if isinstance(unavailable, dict) and all(isinstance(v, dict) for v in unavailable.values()):
        names = [m["name"] for m in s["modalities"] if m["name"] in unavailable]
        counts = "; ".join(f"{m} " + ", ".join(f"{k} {unavailable[m].get(k, 0)}" for k in SPLITS) for m in names)
        out.print(f"unavailable: {counts}  (real missing data, per modality and split)")
    out.print("params:      " + json.dumps(s["params"], sort_keys=True))


def cmd_info(args: argparse.Namespace) -> int:
    name, _, version = args.name.partition("@")  # NAME@VERSION: a store other than the default version
    if args.json:
        print_json(summary(args.root, name, version or None))
    else:
        print_info(name, args.root, version or None)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a store's bytes against the checksums recorded at prepare time; exit 2 on any problem."""
    report = verify_store(args.root, args.name, split=args.split)
    if args.json:
        print_json(report.to_dict())
    else:
        for line in report.problems:
            err.print(f"[red]corrupt:[/red] {line}", soft_wrap=True)
        state = "intact" if report.ok else f"{len(report.problems)} problem(s)"
        out.print(
            f"{args.name}: {state} ({report.scope}, {report.checked_files} files, "
            f"{report.checked_bytes / 1e6:.1f} MB in {report.seconds:.2f} s)"
        )
    report.raise_for_problems()
    return 0
