"""``modalbench submit``, ``leaderboard [build]`` and ``register-official``."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from modalbench.errors import ModalbenchError
from modalbench.leaderboard.board import (
    PACKAGE_DIR,
    load_leaderboard,
    official_path,
    read_json,
    reported_path,
    resolve_dir,
)
from modalbench.leaderboard.official import register_manifests
from modalbench.leaderboard.site import build_site
from modalbench.leaderboard.submit import check_submission, submit
from modalbench.leaderboard.view import render_json, render_table
from modalbench.paths import resolve_root
from modalbench.scenarios import Skipped, generate_scenarios

from .console import err, out

#: files copied from the package into a new user leaderboard (official values and the papers' reference rows)
SEED_FILES = ("official.json", "reference/reported.json")


def user_leaderboard(root: str | None) -> Path:
    """``<data root>/leaderboard``: the user's own leaderboard, created on first use from the package's official
    values and reference rows (no submissions), so ``submit`` never writes into the source checkout."""
    base = resolve_root(root)
    if "://" in str(base):
        raise ModalbenchError(f"--root {base}: the default leaderboard needs a local data root; pass --leaderboard DIR")
    board = Path(base) / "leaderboard"
    for rel in SEED_FILES:
        dest = board / rel
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = official_path(PACKAGE_DIR) if rel == "official.json" else reported_path(PACKAGE_DIR)
            tmp = dest.with_name(dest.name + ".tmp")
            shutil.copyfile(src, tmp)
            tmp.replace(dest)
    return board


def leaderboard_dir(args: argparse.Namespace) -> Path:
    """``--leaderboard DIR`` when given (e.g. ``leaderboard/`` of a clone, for a pull request), else
    :func:`user_leaderboard` under the data root."""
    given = getattr(args, "leaderboard", None)
    return resolve_dir(given) if given else user_leaderboard(getattr(args, "root", None))


def cmd_submit(args: argparse.Namespace) -> int:
    """Validate a results file and add it to the leaderboard (every problem listed on failure)."""
    root = leaderboard_dir(args)
    dest = submit(Path(args.results), root, replace=args.replace)
    verdict = check_submission(read_json(dest), root, own_path=dest)
    status = "ranked" if verdict.ranked else "unranked: " + "; ".join(verdict.unranked_reasons)
    out.print(f"accepted ({status}): {dest}", soft_wrap=True, markup=False, highlight=False)  # paths whole
    out.print(f"rebuilt: {root / 'leaderboard.json'}", soft_wrap=True, markup=False, highlight=False)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """The leaderboard as a terminal table, or JSON."""
    where = leaderboard_dir(args)
    board = load_leaderboard(where)
    err.print(
        f"leaderboard: {where}" + ("" if args.leaderboard else " (yours; the project's: --leaderboard DIR)"),
        soft_wrap=True,
        markup=False,
        highlight=False,
    )
    if args.json:
        print(render_json(board, args.dataset, args.task, args.scenario))
    else:
        out.print(render_table(board, args.dataset, args.task, args.scenario))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    """Build the static site."""
    print(build_site(leaderboard_dir(args), Path(args.out)))
    return 0


def cmd_register_official(args: argparse.Namespace) -> int:
    """Register a dataset's fingerprint and its standard scenarios' hashes (seed 0, test) as official values."""
    manifests = [
        r.manifest
        for r in generate_scenarios(args.root, args.name, seed=0, robustness=True)
        if not isinstance(r, Skipped)
    ]
    primary = store_primary_metrics(args.root, args.name)
    official = official_path(resolve_dir(args.leaderboard))  # the project's by default
    path = register_manifests(manifests, official, primary_metrics=primary)
    for m in manifests:
        out.print(f"{m['scenario']}: {m['n_conditions']} conditions, sha256 {m['sha256']}")
    for tasks in primary.values():
        for task, metric in tasks.items():
            out.print(f"task {task}: ranked by {metric}")
    out.print(f"registered in {path}")
    return 0


def store_primary_metrics(root: str | None, name: str) -> dict[str, dict[str, str]]:
    """``{"<name>@<version>": {task: metric}}``: the primary metrics a prepared store declares (attrs ``tasks``)."""
    from modalbench.leaderboard.official import dataset_key
    from modalbench.store import open_store

    attrs = open_store(name, root=root).attrs
    tasks = attrs.get("tasks") or {}
    declared = {t: str(info["primary_metric"]) for t, info in tasks.items() if info.get("primary_metric")}
    return {dataset_key(str(attrs["dataset"]), str(attrs["version"])): declared} if declared else {}
