"""``modalbench train`` and ``modalbench evaluate``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .atomic import write_json_atomic
from .errors import ModalbenchError

out = Console()
err = Console(stderr=True)


def _seeds(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ModalbenchError(f"--seeds {text!r}: expected comma-separated integers like 0,1,2") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ModalbenchError(f"--seeds {text!r}: expected distinct non-negative integers")
    return seeds


def _command() -> str:
    return "modalbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        if args.threads < 1:
            raise ModalbenchError(f"--threads must be >= 1 (got {args.threads})")
        import torch

        torch.set_num_threads(args.threads)


def cmd_train(args: argparse.Namespace) -> int:
    from .cli import parse_set

    _threads(args)
    from .experiment import TrainSpec, train

    seeds = _seeds(args.seeds) or (args.seed,)
    base = Path(args.out) if args.out else Path("runs") / args.dataset / args.baseline
    for seed in seeds:
        out_dir = base / f"seed-{seed}" if len(seeds) > 1 else base
        spec = TrainSpec(baseline=args.baseline, dataset=args.dataset, root=args.root, task=args.task,
                         epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed, device=args.device,
                         out=out_dir, hparams=parse_set(args.set), fill=args.fill, num_workers=args.workers,
                         patience=args.patience, progress=not args.quiet, command=_command(),
                         arch=Path(args.arch) if args.arch else None)
        res = train(spec)
        err.print(f"[green]trained[/green] {args.baseline} seed {seed}: best epoch {res.best_epoch}, "
                  f"val {res.metric} {res.best_score:.4f} -> {out_dir}")
    out.print(f"checkpoint: {base}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from .baselines.search import search
    from .experiment import batches_for

    if args.method != "mfas":
        raise ModalbenchError(f"unknown search method {args.method!r}; available: mfas")
    _threads(args)
    b = batches_for(args.root, args.dataset, args.task, batch_size=args.batch_size, seed=args.seed)
    log = Path(args.log) if args.log else Path("runs") / args.dataset / "mfas-search" / "search.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    res = search(b.meta, None, b.train, b.val, budget=args.budget, seed=args.seed, log_path=log, device=args.device)
    t = Table(title=f"MFAS search on {args.dataset}: top {len(res.top_k)} of {len(res.history)} evaluated")
    t.add_column("rank")
    t.add_column("architecture (γ per modality, activation) per layer")
    t.add_column("val score", justify="right")
    for i, (arch, score) in enumerate(res.top_k, 1):
        t.add_row(str(i), json.dumps(arch), f"{score:.4f}")
    out.print(t)
    out.print(f"log: {log}")
    out.print(f"best architecture: {res.best_path}  (train it: modalbench train mfas --dataset {args.dataset} "
              f"--arch {res.best_path})")
    return 0


def print_results(result: dict) -> None:
    t = Table(title=f"{result['model']['name']} on {result['dataset']['name']} ({len(result['seeds'])} seed(s))")
    t.add_column("scenario")
    t.add_column("conditions", justify="right")
    for name in ("f1_weighted", "accuracy"):
        t.add_column(name, justify="right")
    for sc in result["scenarios"]:
        agg = result["aggregates"][sc["id"]]["metrics"]
        cells = []
        for name in ("f1_weighted", "accuracy"):
            m = agg.get(name)
            cells.append("-" if m is None else f"{m['mean']:.4f}" + (f" ± {m['std']:.4f}" if m["std"] else ""))
        t.add_row(sc["id"], str(len(sc["conditions"])), *cells)
    out.print(t)
    rows = table2_summary(result)
    if rows:
        t2 = Table(title="EmbraceNet Table 2 summary (weighted F1, mean over seeds)")
        for col in ("scenario", "original", "degraded", "relative drop"):
            t2.add_column(col)
        for label, orig, degraded in rows:
            t2.add_row(label, f"{orig:.4f}", f"{degraded:.4f}", f"{(orig - degraded) / orig:.1%}" if orig else "-")
        out.print(t2)


def table2_summary(result: dict) -> list[tuple[str, float, float]]:
    """EmbraceNet Table 2: original vs 20 % of the modalities available, and vs 80 % block-missing."""
    agg = result["aggregates"]
    full = agg.get("full@v1", {}).get("metrics", {}).get("f1_weighted")
    if not full:
        return []
    orig = full["mean"]
    rows = []
    mm = agg.get("missing-modalities@v1")
    if mm and mm["by_n_available"]:
        n_mod = max(p["n_available"] for p in mm["by_n_available"])
        k = max(1, round(0.2 * n_mod))
        point = next((p for p in mm["by_n_available"] if p["n_available"] == k), None)
        if point and n_mod > 2:
            rows.append((f"missing modalities: {k} of {n_mod} available (20 %)", orig, point["metrics"]["f1_weighted"]["mean"]))
    bm = agg.get("block-missing@v1")
    if bm:
        point = next((p for p in bm["by_missing_rate"] if abs(p["missing_rate"] - 0.8) < 1e-9), None)
        if point:
            rows.append(("block-missing: 80 % missing rate", orig, point["metrics"]["f1_weighted"]["mean"]))
    return rows


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .experiment import EvalSpec, evaluate

    _threads(args)
    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip()) if args.scenarios else None
    spec = EvalSpec(dataset=args.dataset, root=args.root, task=args.task,
                    checkpoint=Path(args.checkpoint) if args.checkpoint else None, model=args.model,
                    scenarios=scenarios, fill=args.fill, seeds=_seeds(args.seeds), scenario_seed=args.scenario_seed,
                    split=args.split, batch_size=args.batch_size, device=args.device, regime=args.regime,
                    model_name=args.name, command=_command(), use_fast_path=not args.no_fast_path)
    result = evaluate(spec, progress=None if args.quiet else (lambda msg: err.print(f"evaluating {msg}")))
    write_json_atomic(Path(args.out), result)
    print_results(result)
    out.print(f"results: {args.out}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a baseline on a prepared dataset")
    p.add_argument("baseline")
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", default=None)
    p.add_argument("--task", default=None)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", default=None, help="train one model per seed into OUT/seed-<k> (e.g. 0,1,2)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--out", default=None, help="checkpoint directory (default runs/<dataset>/<baseline>)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="method hyperparameter")
    p.add_argument("--fill", default="mean", choices=("mean", "zero", "ffill", "none"),
                   help="how natural gaps in the store are filled")
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience in epochs")
    p.add_argument("--arch", default=None, help="mfas only: architecture file found by `modalbench search mfas`")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest for tiny models)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("search", help="architecture search (MFAS) on a prepared dataset")
    p.add_argument("method", help="search method (mfas)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", default=None)
    p.add_argument("--task", default=None)
    p.add_argument("--budget", default="small", choices=("small", "paper"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--log", default=None, help="search log (JSONL); re-running with the same log resumes")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("evaluate", help="evaluate a model on the standard scenarios; writes results.json")
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", default=None)
    p.add_argument("--task", default=None)
    p.add_argument("--checkpoint", default=None, help="checkpoint dir (or a dir of seed-<k>/ checkpoints)")
    p.add_argument("--model", default=None, help="package.module:factory returning a trained model for a meta")
    p.add_argument("--scenarios", default=None, help="comma-separated families (default: all that apply)")
    p.add_argument("--fill", default="mean", choices=("mean", "zero", "ffill", "none"))
    p.add_argument("--seeds", default=None, help="model seeds to evaluate (e.g. 0,1,2)")
    p.add_argument("--scenario-seed", type=int, default=0, help="scenario seed (0 is the official one)")
    p.add_argument("--split", default="test", choices=("test", "val"))
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--device", default="cpu")
    p.add_argument("--regime", default=None, help="training regime label (default: the model's)")
    p.add_argument("--name", default=None, help="model name on the leaderboard (default: the registry name)")
    p.add_argument("--no-fast-path", action="store_true", help="run the full forward for every condition")
    p.add_argument("--out", default="results.json")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)


def cmd_official(args: argparse.Namespace) -> int:
    """Register a dataset's fingerprint and its standard scenarios' hashes (seed 0, test) as official values."""
    from .leaderboard.board import official_path, resolve_dir
    from .leaderboard.official import register_manifests
    from .scenarios import generate_scenarios
    from .scenarios.api import Skipped

    manifests = [r.manifest for r in generate_scenarios(args.root, args.name, seed=0) if not isinstance(r, Skipped)]
    path = register_manifests(manifests, official_path(resolve_dir(args.leaderboard)))
    for m in manifests:
        out.print(f"{m['scenario']}: {m['n_conditions']} conditions, sha256 {m['sha256']}")
    out.print(f"registered in {path}")
    return 0


def add_official_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("register-official", help="(maintainers) register a dataset's official scenario hashes")
    p.add_argument("name")
    p.add_argument("--root", default=None)
    p.add_argument("--leaderboard", default=None, metavar="DIR")
    p.set_defaults(func=cmd_official)
