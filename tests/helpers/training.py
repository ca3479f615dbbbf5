"""Small trained checkpoints for the end-to-end tests: a few epochs on a prepared store, one folder per seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modalbench.app.workflows import TrainSpec, run_training


def train_seeds(
    root: Path | str,
    out: Path,
    *,
    baseline: str = "intermediate",
    seeds: tuple[int, ...] = (0, 1, 2),
    dataset: str = "digits",
    **spec: Any,
) -> Path:
    """Train ``baseline`` on ``dataset`` for 2 epochs (lr 1e-2, CPU) into ``out/seed-<k>``; returns ``out``."""
    for seed in seeds:
        run_training(
            TrainSpec(
                baseline=baseline,
                dataset=dataset,
                root=str(root),
                epochs=2,
                lr=1e-2,
                seed=seed,
                out=out / f"seed-{seed}",
                progress=False,
                device="cpu",
                **spec,
            )
        )
    return out
