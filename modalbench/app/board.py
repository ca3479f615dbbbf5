"""``modalbench submit``, ``leaderboard [build]`` and ``register-official``."""

from __future__ import annotations

import argparse
from pathlib import Path

from modalbench.leaderboard.board import load_leaderboard, official_path, read_json, resolve_dir
from modalbench.leaderboard.official import register_manifests
from modalbench.leaderboard.site import build_site
from modalbench.leaderboard.submit import check_submission, submit
from modalbench.leaderboard.view import render_json, render_table
from modalbench.scenarios import Skipped, generate_scenarios

from .console import out


def cmd_submit(args: argparse.Namespace) -> int:
    """Validate a results file and add it to the leaderboard (every problem listed on failure)."""
    root = resolve_dir(args.leaderboard)
    dest = submit(Path(args.results), root, replace=args.replace)
    verdict = check_submission(read_json(dest), root, own_path=dest)
    status = "ranked" if verdict.ranked else "unranked: " + "; ".join(verdict.unranked_reasons)
    out.print(f"accepted ({status}): {dest}")
    out.print(f"rebuilt: {root / 'leaderboard.json'}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """The leaderboard as a terminal table, or JSON."""
    board = load_leaderboard(args.leaderboard)
    if args.json:
        print(render_json(board, args.dataset, args.task, args.scenario))
    else:
        out.print(render_table(board, args.dataset, args.task, args.scenario))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    """Build the static site."""
    print(build_site(args.leaderboard, Path(args.out)))
    return 0


def cmd_register_official(args: argparse.Namespace) -> int:
    """Register a dataset's fingerprint and its standard scenarios' hashes (seed 0, test) as official values."""
    manifests = [r.manifest for r in generate_scenarios(args.root, args.name, seed=0) if not isinstance(r, Skipped)]
    path = register_manifests(manifests, official_path(resolve_dir(args.leaderboard)))
    for m in manifests:
        out.print(f"{m['scenario']}: {m['n_conditions']} conditions, sha256 {m['sha256']}")
    out.print(f"registered in {path}")
    return 0
