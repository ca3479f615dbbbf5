"""The ``modalbench`` command line: datasets, prepare, info, scenarios, train, evaluate, submit, leaderboard, demo."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__
from .errors import ModalbenchError
from .meta import SPLITS

out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True)


def parse_set(items: Sequence[str] | None) -> dict[str, Any]:
    """``--set key=value`` pairs; values are JSON when they parse as JSON, else strings."""
    result: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ModalbenchError(f"--set {item!r}: expected key=value")
        try:
            result[key] = json.loads(value)
        except json.JSONDecodeError:
            result[key] = value
    return result


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------- datasets


def dataset_rows(root: str | None) -> list[dict[str, Any]]:
    from .datasets import dataset_names, get_dataset
    from .paths import resolve_root
    from .store import is_prepared

    rows = []
    for name in dataset_names():
        b = get_dataset(name)
        params = b.default_params()
        mods = b.modalities(params)
        tasks = b.tasks(params)
        info = b.source_info()
        rows.append({
            "name": name,
            "version": b.version,
            "modalities": [m.name for m in mods],
            "n_modalities": len(mods),
            "kinds": sorted({m.kind for m in mods}),
            "tasks": {t.name: {"task_type": t.task_type, "n_classes": len(t.classes)} for t in tasks},
            "n_classes": len(tasks[0].classes),
            "task_type": tasks[0].task_type,
            "license": b.license,
            "source": (info.get("urls") or ["(generated)" if b.synthetic else "(embedded)"])[0],
            "synthetic": b.synthetic,
            "prepared": is_prepared(resolve_root(root), name, b.version),
        })
    return rows


def cmd_datasets(args: argparse.Namespace) -> int:
    rows = dataset_rows(args.root)
    if args.json:
        print_json(rows)
        return 0
    t = Table(title="modalbench datasets")
    for col in ("name", "modalities", "classes", "task", "license", "source", "prepared"):
        t.add_column(col)
    for r in rows:
        mods = ", ".join(r["modalities"])
        if len(mods) > 40:
            mods = mods[:37] + "..."
        t.add_row(r["name"] + (" (synthetic)" if r["synthetic"] else ""), f"{r['n_modalities']}: {mods}",
                  str(r["n_classes"]), r["task_type"], r["license"], r["source"], "yes" if r["prepared"] else "no")
    out.print(t)
    return 0


# ---------------------------------------------------------------- prepare / info


def cmd_prepare(args: argparse.Namespace) -> int:
    from .preprocess.pipeline import prepare

    if args.workers is not None and args.workers < 1:
        raise ModalbenchError(f"--workers must be >= 1 (got {args.workers})")
    res = prepare(args.name, root=args.root, overrides=parse_set(args.set), force=args.force,
                  raw=Path(args.raw) if args.raw else None, verification=args.verification,
                  workers=args.workers, address=args.scheduler, progress=not args.quiet)
    if res.skipped:
        err.print(f"[green]already prepared[/green] with the same parameters ({res.seconds:.2f} s): {res.path}")
    else:
        err.print(f"[green]prepared[/green] {args.name} in {res.seconds:.1f} s")
    print_info(args.name, args.root)
    out.print(f"store: {res.path}")
    return 0


def print_info(name: str, root: str | None) -> None:
    from .store import summary

    s = summary(root, name)
    out.print(f"[bold]{s['dataset']}[/bold] {s['version']}  {s['description']}")
    out.print(f"path:        {s['path']}")
    out.print(f"fingerprint: {s['fingerprint']}")
    out.print("samples:     " + ", ".join(f"{k} {s['n_samples'][k]}" for k in SPLITS)
              + f"  (total {s['n_samples_total']})" + (f", {s['n_recordings']} recordings" if s["n_recordings"] else ""))
    out.print(f"task:        {s['task']} ({s['task_type']}, {len(s['classes'])} classes: "
              + ", ".join(s["classes"][:10]) + (" ..." if len(s["classes"]) > 10 else "") + ")")
    t = Table("modality", "kind", "shape", "dtype", "channels", "train min..max", "train mean")
    for m in s["modalities"]:
        st = s["normalisation"][m["name"]]
        t.add_row(m["name"], m["kind"], "x".join(map(str, m["shape"])), m["dtype"], str(len(m["channels"]) or m["shape"][0]),
                  f"{min(st['min']):.3g}..{max(st['max']):.3g}", f"{sum(st['mean']) / len(st['mean']):.3g}")
    out.print(t)
    out.print("params:      " + json.dumps(s["params"], sort_keys=True))


def cmd_info(args: argparse.Namespace) -> int:
    from .store import summary

    if args.json:
        print_json(summary(args.root, args.name))
    else:
        print_info(args.name, args.root)
    return 0


# ---------------------------------------------------------------- parser


def add_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=None, help="data root (default: $MODALBENCH_HOME or ~/.cache/modalbench)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modalbench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"modalbench {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("datasets", help="list registered datasets")
    add_root(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("prepare", help="download, parse, scale, window and write a dataset's zarr store")
    p.add_argument("name")
    add_root(p)
    p.add_argument("--force", action="store_true", help="rebuild even if a store exists")
    p.add_argument("--workers", type=int, default=None, help="run on a local dask.distributed cluster of N workers")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="run on an existing dask cluster (tcp://host:port)")
    p.add_argument("--raw", default=None, metavar="DIR", help="use raw archives already in DIR")
    p.add_argument("--verification", default="strict", choices=("strict", "warn", "off"), help="checksum verification")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a preprocessing parameter")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("info", help="summary of a prepared store")
    p.add_argument("name")
    add_root(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    from .plugins import add_plugin_parsers

    add_plugin_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ModalbenchError as e:
        if args.verbose:
            raise
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
