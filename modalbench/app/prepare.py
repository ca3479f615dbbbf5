"""``modalbench prepare``: download, parse, scale, window and write a dataset's store."""

from __future__ import annotations

import argparse
from pathlib import Path

from modalbench.loaders.download import check_mirrors
from modalbench.preprocess.pipeline import prepare

from .console import err
from .data import print_info
from .options import parse_set


def cmd_prepare(args: argparse.Namespace) -> int:
    check_mirrors(args.mirror)
    res = prepare(
        args.name,
        root=args.root,
        overrides=parse_set(args.set),
        force=args.force,
        raw=Path(args.raw) if args.raw else None,
        verification=args.verification,
        workers=args.workers,
        address=args.scheduler,
        progress=not args.quiet,
        mirrors=args.mirror,
    )
    for sid in res.removed_scenarios:
        err.print(f"removed scenario {sid} (generated for the previous data)")
    if res.skipped:
        err.print(f"[green]already prepared[/green] with the same parameters ({res.seconds:.2f} s)")
    else:
        err.print(f"[green]prepared[/green] {args.name} in {res.seconds:.1f} s")
    print_info(args.name, args.root)
    return 0
