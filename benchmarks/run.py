"""``make bench``: run every benchmark, save ``benchmarks/results/<date>.json`` and print ratio tables.

Each benchmark records ``extra_info.items`` (windows, samples or MB processed per round) and a ``role``
(``modalbench`` or ``reference``); ratios are throughputs relative to each group's references, in the same run.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent


def ratio_tables(data: dict) -> list[Table]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for b in data["benchmarks"]:
        groups[b["group"] or b["name"]].append(b)
    tables = []
    for group, benches in sorted(groups.items()):
        t = Table(title=group)
        for col in ("benchmark", "role", "mean s", "items/s", "vs references"):
            t.add_column(col)
        rates = {}
        for b in benches:
            items = b["extra_info"].get("items")
            rates[b["name"]] = items / b["stats"]["mean"] if items else None
        refs = [b for b in benches if b["extra_info"].get("role") == "reference"]
        for b in benches:
            rate = rates[b["name"]]
            vs = []
            for r in refs:
                if r is not b and rate and rates[r["name"]]:
                    vs.append(f"{rate / rates[r['name']]:.2f}× {r['extra_info'].get('reference', r['name'])}")
            extra = {k: v for k, v in b["extra_info"].items() if k not in ("role", "items", "reference")}
            name = b["name"].replace("test_", "") + (f" {extra}" if extra else "")
            t.add_row(
                name,
                b["extra_info"].get("role", ""),
                f"{b['stats']['mean']:.3f}",
                f"{rate:,.0f}" if rate else "-",
                ", ".join(vs),
            )
        tables.append(t)
    return tables


def main(argv: list[str] | None = None) -> int:
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    extra = list(sys.argv[1:] if argv is None else argv)
    targets = [a for a in extra if not a.startswith("-")] or [str(HERE)]
    options = [a for a in extra if a.startswith("-")]
    # a partial run (some files, or -k) gets its own file and never overwrites the full run's results
    part = (
        ""
        if targets == [str(HERE)] and not options
        else "-" + "-".join(Path(t).stem.removeprefix("test_bench_") for t in targets)
    )
    out = out_dir / f"{time.strftime('%Y-%m-%d')}{part}.json"
    args = [
        sys.executable,
        "-m",
        "pytest",
        *targets,
        "-p",
        "no:cacheprovider",
        "--benchmark-enable",
        "--benchmark-only",
        f"--benchmark-json={out}",
        "-q",
        "-o",
        "addopts=",
        "-o",
        "timeout=0",
        *options,
    ]
    rc = subprocess.call(args)
    if not out.exists():
        return rc or 1
    data = json.loads(out.read_text())
    console = Console(width=160)
    console.print(
        f"machine: {platform.machine()} {data['machine_info'].get('cpu', {}).get('brand_raw', '')}, "
        f"python {platform.python_version()}; results: {out}"
    )
    for t in ratio_tables(data):
        console.print(t)
    return rc


if __name__ == "__main__":
    sys.exit(main())
