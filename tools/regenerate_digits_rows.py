"""Regenerate the repository's reproduced digits rows (``leaderboard/submissions/digits/``) with the CLI.

For each method: ``modalbench train METHOD --dataset digits --seeds 0,1,2 ...`` then ``modalbench evaluate`` on the
standard scenarios, then ``modalbench submit --replace --leaderboard leaderboard/``. Every result file records the
commands that made it. Two methods train at a time (one torch thread each); submissions are made one at a time. Usage::

    python tools/regenerate_digits_rows.py [--root DIR] [--only early,late]
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: (method, extra train arguments): the rows on the leaderboard; EmbraceNet with modality dropout (adj_pre)
ROWS: list[tuple[str, list[str]]] = [
    ("early", []),
    ("late", []),
    ("intermediate", []),
    ("cmp", []),
    ("mae", []),
    ("embracenet", ["--set", "adj_pre=true"]),
    ("mul", []),
    ("two-stream", []),
    ("gmu", []),
    ("centralnet", []),
    ("dmf", []),
]
TRAIN = [
    "--dataset",
    "digits",
    "--seeds",
    "0,1,2",
    "--threads",
    "1",
    "--preset",
    "paper",
    "--epochs",
    "30",
    "--lr",
    "1e-2",
    "--quiet",
]


def _run(argv: list[str], root: Path) -> None:
    cmd = [sys.executable, "-m", "modalbench", *argv]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} failed:\n{proc.stderr[-3000:]}")


def train_and_evaluate(method: str, extra: list[str], root: Path) -> Path:
    runs = root / "runs" / method
    results = root / f"{method}.results.json"
    _run(["train", method, *TRAIN, *extra, "--out", str(runs), "--root", str(root)], root)
    _run(
        [
            "evaluate",
            "--dataset",
            "digits",
            "--checkpoint",
            str(runs),
            "--threads",
            "1",
            "--quiet",
            "--out",
            str(results),
            "--root",
            str(root),
        ],
        root,
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="data root (default: a temporary directory)")
    parser.add_argument("--only", default=None, help="comma-separated methods")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="modalbench-digits-"))
    _run(["prepare", "digits", "--quiet", "--root", str(root)], root)
    _run(["scenarios", "digits", "--root", str(root)], root)
    rows = [r for r in ROWS if not args.only or r[0] in args.only.split(",")]
    with ThreadPoolExecutor(2) as pool:
        for results in pool.map(lambda r: train_and_evaluate(r[0], r[1], root), rows):
            _run(["submit", str(results), "--replace", "--leaderboard", str(REPO / "leaderboard")], root)
            print(f"submitted {results.name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
