"""CLI glue: ``modalbench submit`` and ``modalbench leaderboard [build]`` (wired by ``modalbench/cli.py``).

Each parser sets ``func=handler(args) -> int``; a rejected submission prints every problem and returns 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from modalbench.errors import ModalbenchError


def _leaderboard_arg(p: argparse.ArgumentParser, default: Any = None) -> None:
    p.add_argument("--leaderboard", metavar="DIR", default=default,
                   help="leaderboard directory (default: the leaderboard/ folder of the source checkout)")


def add_parsers(subparsers: Any) -> None:
    """Add ``submit`` and ``leaderboard`` (with its ``build`` subcommand) to an argparse subparsers object."""
    p = subparsers.add_parser("submit", help="validate a results.json and add it to the leaderboard",
                              description="Validate a result file (schema + official hashes + aggregates) and add "
                                          "it to the leaderboard; on failure list every problem and exit 2.")
    p.add_argument("results", type=Path, help="results.json written by `modalbench evaluate`")
    _leaderboard_arg(p)
    p.add_argument("--replace", action="store_true", help="replace an existing entry with the same key")
    p.set_defaults(func=cmd_submit)

    p = subparsers.add_parser("leaderboard", help="show the leaderboard or build the static site",
                              description="Show the leaderboard table (main metric: weighted F1) or build the site.")
    p.add_argument("--dataset", default=None)
    p.add_argument("--task", default=None)
    p.add_argument("--scenario", default=None, help="e.g. missing-modalities@v1 (hides reported rows)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    _leaderboard_arg(p)
    p.set_defaults(func=cmd_leaderboard)
    sub = p.add_subparsers(dest="leaderboard_command", metavar="{build}")
    b = sub.add_parser("build", help="build the static site (index + one page per dataset)")
    b.add_argument("--out", type=Path, required=True, metavar="DIR")
    _leaderboard_arg(b, default=argparse.SUPPRESS)  # keep a --leaderboard given before "build"
    b.set_defaults(func=cmd_build)


def _fail(exc: ModalbenchError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


def cmd_submit(args: argparse.Namespace) -> int:
    from .board import read_json, resolve_dir
    from .submit import check_submission, submit

    root = resolve_dir(args.leaderboard)
    try:
        dest = submit(args.results, root, replace=args.replace)
        ranked = check_submission(read_json(dest), root, own_path=dest).ranked
    except ModalbenchError as exc:
        return _fail(exc)
    status = "ranked" if ranked else "unranked (fewer than 3 seeds)"
    print(f"accepted ({status}): {dest}")
    print(f"rebuilt: {root / 'leaderboard.json'}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .board import load_leaderboard
    from .view import render_json, render_table

    try:
        board = load_leaderboard(args.leaderboard)
        if args.json:
            print(render_json(board, args.dataset, args.task, args.scenario))
        else:
            Console().print(render_table(board, args.dataset, args.task, args.scenario))
    except ModalbenchError as exc:
        return _fail(exc)
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from .site import build_site

    try:
        index = build_site(args.leaderboard, args.out)
    except ModalbenchError as exc:
        return _fail(exc)
    print(index)
    return 0
