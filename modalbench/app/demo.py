"""``modalbench demo``: the main job end to end on the embedded ``digits`` dataset, offline.

prepare → scenarios → train the baselines → evaluate on ``full``, ``missing-modalities``, ``damaged-modality`` and
``noisy-modality`` → robustness tables (both halves / left only / right only; the right half damaged at 0-70 %, DMF
Table 1 style; Gaussian noise by SNR) → submit to a demo copy of the leaderboard →
leaderboard table and static site.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch
from rich.table import Table

from modalbench.atomic import write_json_atomic
from modalbench.leaderboard.board import load_leaderboard, resolve_dir
from modalbench.leaderboard.site import build_site
from modalbench.leaderboard.submit import submit
from modalbench.leaderboard.view import render_table
from modalbench.paths import resolve_root
from modalbench.preprocess.pipeline import prepare
from modalbench.scenarios import Skipped, generate_scenarios

from .console import out, plural
from .data import print_info
from .workflows import EvalSpec, TrainSpec, run_evaluation, run_training

#: (baseline, hyperparameters) trained by the demo; EmbraceNet with training-time modality dropout (adj_pre)
DEMO_MODELS: list[tuple[str, dict]] = [
    ("early", {}),
    ("late", {}),
    ("intermediate", {}),
    ("embracenet", {"adj_pre": True}),
    ("mul", {}),
    ("gmu", {}),
    ("dmf", {}),
]
DEMO_EPOCHS = 15
DEMO_LR = 1e-2  # digits is tiny: a larger step than EmbraceNet's 1e-3 reaches its plateau in 15 epochs


def demo_leaderboard(root: Path) -> Path:
    """A writable copy of the project's leaderboard (official values, reference rows, submissions)."""
    src = resolve_dir(None)
    dst = root / "demo" / "leaderboard"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__", "schema", "*.md"))
    return dst


def robustness_table(results: dict[str, dict]) -> Table:
    t = Table(title="digits: weighted F1 (%) on the test split, by available halves")
    for col in ("method", "regime", "both", "left only", "right only", "params"):
        t.add_column(col, justify="left" if col in ("method", "regime") else "right")
    for name, res in results.items():
        sc = next(s for s in res["scenarios"] if s["id"].split("@")[0] == "missing-modalities")
        by_desc = {}
        for c in sc["conditions"]:
            by_desc[c["n_available"], c["description"]] = c["metrics"]["f1_weighted"][0] * 100
        both = next(v for (n, _), v in by_desc.items() if n == 2)
        left = next(v for (n, d), v in by_desc.items() if n == 1 and "left" in d)
        right = next(v for (n, d), v in by_desc.items() if n == 1 and "right" in d)
        t.add_row(
            name, res["regime"], f"{both:.1f}", f"{left:.1f}", f"{right:.1f}", f"{res['model']['parameter_count']:,}"
        )
    return t


def _f1(res: dict, family: str) -> dict[str, float]:
    """Weighted F1 (%) of the first seed per condition id of a result's scenario ``family``."""
    sc = next(s for s in res["scenarios"] if s["id"].split("@")[0] == family)
    return {c["id"]: c["metrics"]["f1_weighted"][0] * 100 for c in sc["conditions"]}


#: damage rates of the demo's DMF Table 1 style rows (0 %: the undamaged half, from missing-modalities)
DEMO_DAMAGE = (0.0, 0.1, 0.3, 0.5, 0.7)
DEMO_SNRS = (20, 10, 5, 0, -5)


def damaged_table(results: dict[str, dict]) -> Table:
    """DMF Table 1 style: weighted F1 with the right half damaged at 0-70 %, with the left half (both) or alone."""
    t = Table(title="digits: weighted F1 (%) with the right half damaged (zeroed), DMF Table 1 style")
    t.add_column("method")
    t.add_column("halves")
    for d in DEMO_DAMAGE:
        t.add_column(f"{round(d * 100)}%", justify="right")
    for name, res in results.items():
        dm, mm = _f1(res, "damaged-modality"), _f1(res, "missing-modalities")
        sc = next(s for s in res["scenarios"] if s["id"].split("@")[0] == "missing-modalities")
        undamaged = {c["description"]: mm[c["id"]] for c in sc["conditions"]}
        both0 = undamaged["all modalities present"]
        right0 = undamaged["present: right"]
        for label, zero, suffix in (("both", both0, ""), ("right only", right0, "-alone")):
            cells = [f"{zero:.1f}"] + [f"{dm[f'damage-right-d{d:.2f}{suffix}']:.1f}" for d in DEMO_DAMAGE[1:]]
            t.add_row(name if label == "both" else "", label, *cells)
    return t


def noisy_table(results: dict[str, dict]) -> Table:
    """Weighted F1 with Gaussian noise at decreasing SNR on both halves (noisy-modality ``noise-all``)."""
    t = Table(title="digits: weighted F1 (%) with Gaussian noise on both halves, by SNR (dB)")
    t.add_column("method")
    for snr in DEMO_SNRS:
        t.add_column(f"{snr} dB", justify="right")
    for name, res in results.items():
        nm = _f1(res, "noisy-modality")
        t.add_row(name, *[f"{nm[f'noise-all-snr{snr}']:.1f}" for snr in DEMO_SNRS])
    return t


def run_demo(
    root: str | None,
    *,
    epochs: int = DEMO_EPOCHS,
    models: list[tuple[str, dict]] | None = None,
    progress: bool = True,
    site: Path | None = None,
) -> dict[str, dict]:
    t0 = time.perf_counter()
    root_p = resolve_root(root)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # these models are tiny: one thread is fastest and leaves the other core free
    try:
        out.rule("[bold]1. prepare digits (UCI handwritten digits as left/right 8x4 halves)")
        prepare("digits", root=root_p, progress=progress)
        print_info("digits", str(root_p))

        out.rule("[bold]2. scenarios")
        for r in generate_scenarios(root_p, "digits", seed=0, robustness=True):
            if isinstance(r, Skipped):
                out.print(f"  {r.scenario_id}: skipped ({r.reason})")
            else:
                out.print(
                    f"  {r.scenario_id}: {plural(r.manifest['n_conditions'], 'condition')}, sha256 {r.sha256[:16]}…"
                )

        out.rule(f"[bold]3. train {len(models or DEMO_MODELS)} baselines ({epochs} epochs each) and evaluate")
        runs = root_p / "demo" / "runs"
        results: dict[str, dict] = {}
        for name, hp in models or DEMO_MODELS:
            ckpt = runs / name
            tr = run_training(
                TrainSpec(
                    baseline=name,
                    dataset="digits",
                    root=str(root_p),
                    epochs=epochs,
                    lr=DEMO_LR,
                    seed=0,
                    out=ckpt,
                    hparams=dict(hp),
                    progress=False,
                    device="cpu",
                    command=f"modalbench demo ({name})",
                )
            )
            result = run_evaluation(
                EvalSpec(
                    dataset="digits",
                    root=str(root_p),
                    checkpoint=ckpt,
                    scenarios=("full", "missing-modalities", "damaged-modality", "noisy-modality"),
                    fill="mean",
                    model_name=f"{name}-demo",
                    command=f"modalbench evaluate --dataset digits --checkpoint {ckpt} --name {name}-demo",
                )
            )
            write_json_atomic(runs / f"{name}.results.json", result)
            results[name] = result
            out.print(f"  {name:<13} best epoch {tr.best_epoch:>2}  val weighted F1 {tr.best_score:.3f}")
        out.print(robustness_table(results))
        out.print(
            "EmbraceNet (adj_pre) is trained with modality dropout, so it keeps more of its accuracy when a "
            "half is missing than intermediate integration (EmbraceNet Table 1)."
        )
        out.print(damaged_table(results))
        out.print(noisy_table(results))

        out.rule("[bold]4. leaderboard (a demo copy: your `-demo` rows, one seed → unranked, beside the ranked rows)")
        board_dir = demo_leaderboard(root_p)
        for name in results:
            submit(runs / f"{name}.results.json", board_dir, replace=True)
        out.print(render_table(load_leaderboard(board_dir), dataset="digits", scenario="missing-modalities"))
        out.print("all scenarios: modalbench leaderboard --dataset digits --leaderboard " + str(board_dir))
        index = build_site(board_dir, site or root_p / "demo" / "site")
        out.print(f"leaderboard site: {index}")
        out.print(f"demo finished in {time.perf_counter() - t0:.0f} s")
        return results
    finally:
        torch.set_num_threads(threads)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo (``--epochs`` defaults to the demo's budget)."""
    run_demo(args.root, epochs=args.epochs or DEMO_EPOCHS, progress=not args.quiet)
    return 0
