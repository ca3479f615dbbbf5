"""``modalbench scenarios NAME [--family F …] [--seed N] [--split test|val] [--root DIR] [--list] [--json]``.

The lead's ``modalbench/cli.py`` calls :func:`add_parser` on its sub-parsers; ``args.func(args)`` returns the
exit code. :class:`~modalbench.errors.ModalbenchError` propagates (the main CLI prints it and exits with 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .names import STANDARD_FAMILIES


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``scenarios`` sub-command to an argparse sub-parser collection."""
    p = subparsers.add_parser(
        "scenarios", help="generate the seeded, checksummed test scenarios of a prepared dataset",
        description="Generate (or, with --list, show) the missing-modality and block-missing scenarios of a "
                    f"prepared dataset. Families: {', '.join(STANDARD_FAMILIES)}; default: all that apply.",
    )
    p.add_argument("name", help="dataset name (prepared with `modalbench prepare NAME`)")
    p.add_argument("--family", action="append", metavar="F", default=None,
                   help=f"scenario family, repeatable (family or family@version; default: {', '.join(STANDARD_FAMILIES)})")
    p.add_argument("--seed", type=int, default=0, help="scenario seed (default 0)")
    p.add_argument("--split", choices=("test", "val"), default="test", help="evaluation split (default test)")
    p.add_argument("--root", default=None, help="data root (default $MODALBENCH_HOME or the cache dir)")
    p.add_argument("--list", action="store_true", help="list the stored scenarios of the dataset instead")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=handler)
    return p


def handler(args: argparse.Namespace) -> int:
    """Run the ``scenarios`` sub-command; returns the exit code."""
    if args.list:
        return _list(args)
    from modalbench.errors import ModalbenchError

    from .api import Skipped, generate_scenarios

    if args.seed < 0:
        raise ModalbenchError(f"--seed must be a non-negative integer (got {args.seed})")
    # this command is the repair path: an artifact that fails its sha256 is regenerated, and said so below
    results = generate_scenarios(args.root, args.name, args.family, seed=args.seed, split=args.split,
                                 on_corrupt="regenerate")
    rows: list[dict[str, Any]] = []
    for r in results:
        if isinstance(r, Skipped):
            rows.append({"scenario": r.scenario_id, "skipped": r.reason})
        else:
            rows.append({"scenario": r.scenario_id, "dataset": r.manifest["dataset"]["name"],
                         "version": r.manifest["dataset"]["version"], "seed": r.manifest["seed"],
                         "split": r.manifest["split"], "n_conditions": r.n_conditions, "sha256": r.sha256,
                         "status": r.status, "path": str(r.path), **({"reason": r.reason} if r.reason else {})})
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2, sort_keys=True) + "\n")
        return 0
    out = Console(width=None if sys.stdout.isatty() else 160)
    t = Table(title=f"scenarios of {args.name} (seed {args.seed}, {args.split} split)")
    for col in ("scenario", "conditions", "sha256", "status"):
        t.add_column(col, overflow="fold")
    for row in rows:
        if "skipped" in row:
            continue
        t.add_row(row["scenario"], str(row["n_conditions"]), row["sha256"], row["status"])
    out.print(t)
    for row in rows:
        if "skipped" in row:
            out.print(f"[yellow]skipped[/yellow] {escape(row['scenario'])}: {escape(row['skipped'])}")
        elif row["status"] == "repaired":
            out.print(f"[bold red]regenerated[/bold red] {escape(row['scenario'])}: the stored artifact failed its "
                      f"checksum ({escape(row.get('reason', ''))})")
    return 0


def _list(args: argparse.Namespace) -> int:
    from modalbench.errors import ModalbenchError
    from modalbench.store import open_store, store_version

    from .artifacts import list_artifacts

    version = store_version(args.name)
    try:
        fingerprint = open_store(args.root, args.name, version).attrs.get("fingerprint")
    except ModalbenchError:  # the store may be gone while artifacts remain: list them anyway
        fingerprint = None
    rows = list_artifacts(args.root, args.name, version)
    if args.family:
        from .base import get_scenario

        wanted = {get_scenario(f).id for f in args.family}
        rows = [r for r in rows if r.get("scenario") in wanted]
    for r in rows:
        r["current"] = fingerprint is not None and r.get("fingerprint") == fingerprint
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2, sort_keys=True) + "\n")
        return 0
    out = Console(width=None if sys.stdout.isatty() else 160)
    t = Table(title=f"stored scenarios of {args.name} {version}")
    for col in ("scenario", "seed", "split", "conditions", "sha256", "matches store"):
        t.add_column(col, overflow="fold")
    for r in rows:
        if "error" in r:
            t.add_row(escape(r["path"]), "", "", "", escape(r["error"]), "")
            continue
        t.add_row(str(r["scenario"]), str(r["seed"]), str(r["split"]), str(r["n_conditions"]), str(r["sha256"]),
                  "yes" if r["current"] else "no (regenerate)")
    out.print(t)
    if not rows:
        out.print(f"no scenarios stored for {args.name} {version}; run: modalbench scenarios {args.name}")
    return 0
