"""``modalbench train``, ``search`` and ``evaluate``."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.table import Table

from modalbench.atomic import write_json_atomic
from modalbench.baselines.registry import canonical_name, describe_method_params
from modalbench.baselines.search import search
from modalbench.engine.trainer import REGIME_PARAMS, make_regime, resolve_device
from modalbench.errors import ModalbenchError
from modalbench.fills import fill_label, parse_fill_param_options
from modalbench.paths import resolve_root

from .console import err, out, plural
from .options import command_line, parse_seeds, parse_set
from .workflows import (
    EvalSpec,
    TrainSpec,
    batches_for,
    check_amp,
    load_training_scenario,
    plan_training,
    resolve_option_fill_params,
    run_evaluation,
    run_training,
    set_threads,
)


def _runs_dir(root: str | None) -> Path:
    """``<root>/runs``: checkpoints and search logs go under the data root, never the current directory."""
    base = resolve_root(root)
    if "://" in str(base):
        raise ModalbenchError(f"--root {root}: checkpoints need a local root; pass --out DIR (or --log FILE)")
    return Path(base) / "runs"


def split_regime_params(hparams: dict[str, Any], regime: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--set`` values split into the method's hyperparameters and the trainer regime's (``p_drop``)."""
    if regime in (None, "full-modality"):
        return hparams, {}
    taken = {k: hparams[k] for k in REGIME_PARAMS if k in hparams}
    return {k: v for k, v in hparams.items() if k not in taken}, taken


def cmd_train(args: argparse.Namespace) -> int:
    check_amp(args.amp, args.device)
    threads = set_threads(args.threads)
    regime = getattr(args, "regime", None)
    hparams, regime_params = split_regime_params(parse_set(args.set), regime)
    seeds = parse_seeds(args.seeds) or (args.seed,)
    base = Path(args.out) if args.out else _runs_dir(args.root) / args.dataset / args.baseline
    common = TrainSpec(
        baseline=args.baseline,
        dataset=args.dataset,
        root=args.root,
        task=args.task,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=seeds[0],
        device=args.device,
        out=base,
        hparams=hparams,
        fill=args.fill,
        fill_params=parse_fill_param_options(getattr(args, "fill_param", None)),
        num_workers=args.workers,
        patience=args.patience,
        progress=not args.quiet,
        command=command_line(),
        arch=Path(args.arch) if args.arch else None,
        preset=args.preset,
        regime=regime,
        regime_params=regime_params,
        train_scenario=getattr(args, "train_scenario", None),
        train_scenario_seed=getattr(args, "train_scenario_seed", 0),
        amp=args.amp,
    )
    settings = plan_training(common).settings
    # every option is checked before the first line of output: a bad value is the only line on stderr
    make_regime(regime, regime_params, settings["epochs"])
    resolve_option_fill_params(common.fill, common.fill_params)
    resolve_device(args.device)
    if getattr(args, "train_scenario", None):
        load_training_scenario(args.root, args.dataset, args.train_scenario, getattr(args, "train_scenario_seed", 0))
    taken = ", ".join(k.replace("_", " ") for k in settings["from_dataset"])
    stated = ", ".join(k.replace("_", " ") for k in settings["from_preset"])
    origin = "".join(
        f" ({what}: {src})"
        for what, src in ((stated, f"the {args.preset} preset"), (taken, f"the defaults of {args.dataset}"))
        if what
    )
    err.print(
        f"training {args.baseline} on {args.dataset}: {plural(settings['epochs'], 'epoch')}, "
        f"lr {settings['lr']:g}, batch size {settings['batch_size']}, {plural(threads, 'thread')}{origin}",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )
    for seed in seeds:
        out_dir = base / f"seed-{seed}" if len(seeds) > 1 else base
        spec = replace(common, seed=seed, out=out_dir)
        res = run_training(spec)
        err.print(
            f"[green]trained[/green] {args.baseline} seed {seed}: best epoch {res.best_epoch}, "
            f"val {res.metric} {res.best_score:.4f} -> {out_dir}",
            soft_wrap=True,
        )
    out.print(f"checkpoint: {base}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    if args.method != "mfas":
        raise ModalbenchError(f"unknown search method {args.method!r}; available: mfas")
    set_threads(args.threads)
    b = batches_for(args.root, args.dataset, args.task, batch_size=args.batch_size, seed=args.seed)
    log = Path(args.log) if args.log else _runs_dir(args.root) / args.dataset / "mfas-search" / "search.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    res = search(
        b.meta,
        None,
        b.train,
        b.val,
        budget=args.budget,
        seed=args.seed,
        log_path=log,
        device=str(resolve_device(args.device)),
    )
    t = Table(title=f"MFAS search on {args.dataset}: top {len(res.top_k)} of {len(res.history)} evaluated")
    t.add_column("rank")
    t.add_column("architecture (γ per modality, activation) per layer")
    t.add_column("val score", justify="right")
    for i, (arch, score) in enumerate(res.top_k, 1):
        t.add_row(str(i), json.dumps(arch), f"{score:.4f}")
    out.print(t)
    out.print(f"log: {log}")
    out.print(
        f"best architecture: {res.best_path}  (train it: modalbench train mfas --dataset {args.dataset} "
        f"--arch {res.best_path})"
    )
    return 0


def percent_cell(summary: dict[str, Any] | None, n_seeds: int) -> str:
    """``98.1 ± 0.3`` in %; ``-`` without a value. One rule for the ``±``: shown with two or more seeds (even when
    it rounds to 0.0), never with one."""
    if summary is None:
        return "-"
    text = f"{100 * summary['mean']:.1f}"
    if n_seeds > 1 and summary.get("std") is not None:
        text += f" ± {100 * summary['std']:.1f}"
    return text


#: the terminal columns of a multi-label result (GMU reports all four F1 variants)
MULTILABEL_COLUMNS = {
    "f1_micro": "micro F1",
    "f1_macro": "macro F1",
    "f1_weighted": "weighted F1",
    "f1_samples": "samples F1",
}


def result_columns(result: dict) -> dict[str, str]:
    """``{metric: label}`` shown by :func:`print_results`: the four F1 variants for multi-label results, else
    weighted F1 and accuracy, plus the ROC AUC and the error rate when the result reports them (two-class tasks)."""
    names = {k for agg in result["aggregates"].values() for k in agg.get("metrics", {})}
    if "f1_samples" in names:
        return dict(MULTILABEL_COLUMNS)
    columns = {"f1_weighted": "weighted F1", "accuracy": "accuracy"}
    if "roc_auc" in names:
        columns |= {"roc_auc": "AUC", "error_rate": "error"}
    return columns


def print_results(result: dict) -> None:
    t = Table(
        title=f"{result['model']['name']} on {result['dataset']['name']} ({plural(len(result['seeds']), 'seed')})",
        caption="%, mean ± std over seeds of the condition-mean",
    )
    t.add_column("scenario")
    t.add_column("fill", overflow="fold")
    t.add_column("conditions", justify="right")
    columns = result_columns(result)
    for label in columns.values():
        t.add_column(f"{label} %", justify="right", no_wrap=True)
    for sc in result["scenarios"]:
        agg = result["aggregates"][sc["id"]]["metrics"]
        cells = [percent_cell(agg.get(name), len(result["seeds"])) for name in columns]
        fill = fill_label(sc["fill"], sc.get("fill_params"), only_if_not_default=True) if sc.get("fill") else "-"
        t.add_row(sc["id"], fill, str(len(sc["conditions"])), *cells)
    out.print(t)
    rows = table2_summary(result)
    if rows:
        t2 = Table(title="EmbraceNet Table 2 summary (weighted F1 %, mean over seeds)")
        for col in ("scenario", "original", "degraded", "relative drop"):
            t2.add_column(col)
        for label, orig, degraded in rows:
            t2.add_row(
                label, f"{100 * orig:.1f}", f"{100 * degraded:.1f}", f"{(orig - degraded) / orig:.1%}" if orig else "-"
            )
        out.print(t2)


def table2_summary(result: dict) -> list[tuple[str, float, float]]:
    """EmbraceNet Table 2: original vs 20 % of the modalities available, and vs 80 % block-missing."""
    agg = result["aggregates"]
    full = agg.get("full@v1", {}).get("metrics", {}).get("f1_weighted")
    if not full:
        return []
    orig = full["mean"]
    rows = []
    mm = agg.get("missing-modalities@v2") or agg.get("missing-modalities@v1")
    if mm and mm["by_n_available"]:
        n_mod = max(p["n_available"] for p in mm["by_n_available"])
        k = max(1, round(0.2 * n_mod))
        point = next((p for p in mm["by_n_available"] if p["n_available"] == k), None)
        if point and n_mod > 2:
            rows.append(
                (f"missing modalities: {k} of {n_mod} available (20 %)", orig, point["metrics"]["f1_weighted"]["mean"])
            )
    bm = agg.get("block-missing@v1")
    if bm:
        point = next((p for p in bm["by_missing_rate"] if abs(p["missing_rate"] - 0.8) < 1e-9), None)
        if point:
            rows.append(("block-missing: 80 % missing rate", orig, point["metrics"]["f1_weighted"]["mean"]))
    return rows


def cmd_evaluate(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip()) if args.scenarios else None
    spec = EvalSpec(
        dataset=args.dataset,
        root=args.root,
        task=args.task,
        checkpoint=Path(args.checkpoint) if args.checkpoint else None,
        model=args.model,
        scenarios=scenarios,
        fill=args.fill,
        fill_params=parse_fill_param_options(getattr(args, "fill_param", None)),
        seeds=parse_seeds(args.seeds),
        scenario_seed=args.scenario_seed,
        split=args.split,
        batch_size=args.batch_size,
        device=str(resolve_device(args.device)),
        regime=args.regime,
        model_name=args.name,
        command=command_line(),
        use_fast_path=not args.no_fast_path,
        threshold=args.threshold,
    )
    result = run_evaluation(spec, progress=None if args.quiet else (lambda msg: err.print(f"evaluating {msg}")))
    write_json_atomic(Path(args.out), result)
    print_results(result)
    out.print(f"results: {args.out}")
    return 0


def print_method_params(method: str) -> int:
    """``modalbench train METHOD --help``: the method's parameters (``--set key=value``) after the usage."""
    rows = [r for r in describe_method_params(method) if r.get("settable", True)]
    t = Table(title=f"{canonical_name(method)}: --set KEY=VALUE", title_justify="left")
    for col in ("key", "type", "default", "range", "help"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(r["name"], r["type"], json.dumps(r["default"]), str(r.get("range") or ""), r.get("help", ""))
    out.print(t)
    out.print("presets: --preset default (small and fast) | paper (the paper's model and recipe; docs/protocols.md)")
    return 0
