"""``modalbench demo``: the main job end to end on the embedded ``digits`` dataset, offline."""

from __future__ import annotations

import argparse

from rich.console import Console

out = Console()


def run_demo(root: str | None, *, epochs: int = 0, progress: bool = True) -> int:
    from .cli import print_info
    from .preprocess.pipeline import prepare

    out.rule("[bold]1. prepare digits")
    res = prepare("digits", root=root, progress=progress)
    print_info("digits", root)
    out.print(f"store: {res.path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(args.root, progress=not args.quiet)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job end to end on the embedded digits dataset")
    p.add_argument("--root", default=None, help="data root (default: $MODALBENCH_HOME or ~/.cache/modalbench)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)
