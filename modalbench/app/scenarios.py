"""``modalbench scenarios NAME [--family F …] [--seed N] [--split test|val] [--list] [--json]``."""

from __future__ import annotations

import argparse
from typing import Any

from rich.markup import escape
from rich.table import Table

from modalbench.errors import ModalbenchError
from modalbench.scenarios import Skipped, generate_scenarios, get_scenario, list_artifacts
from modalbench.store import open_store, split_dataset_ref, store_version

from .console import out, print_json


def cmd_scenarios(args: argparse.Namespace) -> int:
    """Generate a dataset's scenarios (or list the stored ones); returns the exit code."""
    if args.list:
        return _list(args)
    # this command is the repair path: an artifact that fails its sha256 is regenerated, and said so below
    results = generate_scenarios(
        args.root, args.name, args.family, seed=args.seed, split=args.split, on_corrupt="regenerate", robustness=True
    )
    rows: list[dict[str, Any]] = []
    for r in results:
        applies = get_scenario(r.scenario_id).applies_to
        if isinstance(r, Skipped):
            rows.append({"scenario": r.scenario_id, "skipped": r.reason, "applies_to": applies})
        else:
            rows.append(
                {
                    "scenario": r.scenario_id,
                    "dataset": r.manifest["dataset"]["name"],
                    "version": r.manifest["dataset"]["version"],
                    "seed": r.manifest["seed"],
                    "split": r.manifest["split"],
                    "n_conditions": r.n_conditions,
                    "sha256": r.sha256,
                    "status": r.status,
                    "path": str(r.path),
                    "applies_to": applies,
                    **({"reason": r.reason} if r.reason else {}),
                }
            )
    if args.json:
        print_json(rows)
        return 0
    t = Table(
        title=f"scenarios of {args.name} (seed {args.seed}, {args.split} split)",
        caption="full sha256 and paths: --json",
    )
    for col in ("scenario", "conditions", "sha256", "status"):
        t.add_column(col, overflow="fold", justify="right" if col == "conditions" else "left")
    for row in rows:
        if "skipped" in row:
            continue
        t.add_row(row["scenario"], str(row["n_conditions"]), short_hash(row["sha256"]), row["status"])
    out.print(t)
    for row in rows:
        out.print(f"[dim]{escape(row['scenario'])} applies to: {escape(row['applies_to'])}[/dim]")
    for row in rows:
        if "skipped" in row:
            out.print(f"[yellow]skipped[/yellow] {escape(row['scenario'])}: {escape(row['skipped'])}", soft_wrap=True)
        elif row["status"] == "repaired":
            out.print(
                f"[bold red]regenerated[/bold red] {escape(row['scenario'])}: the stored artifact failed its "
                f"checksum ({escape(row.get('reason', ''))})"
            )
    return 0


def short_hash(digest: Any) -> str:
    """The first 16 hex digits of a sha256 (terminal tables; ``--json`` has all 64)."""
    text = str(digest)
    return text[:16] + "…" if len(text) > 16 else text


def _list(args: argparse.Namespace) -> int:
    version = store_version(args.name, args.root)  # NAME@VERSION, or the one prepared version
    name = split_dataset_ref(args.name)[0]
    try:
        fingerprint = open_store(name, root=args.root, version=version).attrs.get("fingerprint")
    except ModalbenchError:  # the store may be gone while artifacts remain: list them anyway
        fingerprint = None
    rows = list_artifacts(args.root, name, version)
    if args.family:
        wanted = {get_scenario(f).id for f in args.family}
        rows = [r for r in rows if r.get("scenario") in wanted]
    for r in rows:
        r["current"] = fingerprint is not None and r.get("fingerprint") == fingerprint
    if args.json:
        print_json(rows)
        return 0
    t = Table(title=f"stored scenarios of {args.name} {version}", caption="full sha256 and paths: --json")
    for col in ("scenario", "seed", "split", "conditions", "sha256", "matches store"):
        t.add_column(col, overflow="fold")
    for r in rows:
        if "error" in r:
            t.add_row(escape(r["path"]), "", "", "", escape(r["error"]), "")
            continue
        t.add_row(
            str(r["scenario"]),
            str(r["seed"]),
            str(r["split"]),
            str(r["n_conditions"]),
            short_hash(r["sha256"]),
            "yes" if r["current"] else "no (regenerate)",
        )
    out.print(t)
    if not rows:
        out.print(f"no scenarios stored for {args.name} {version}; run: modalbench scenarios {args.name}")
    return 0
