"""Checkpoints: a directory with ``model.pt`` (state dict), ``config.json`` and ``train_log.jsonl``.

``config.json`` holds ``model`` (``FusionModel.config()``: registry name, hyperparameters, regime, dataset meta), the
training arguments, seed, best epoch and validation scores, so ``load_checkpoint`` can rebuild the model with
the method registry's builder and load the weights with ``torch.load(..., weights_only=True)``. Every file is written
atomically (``*.incomplete`` then ``os.replace``).
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modalbench.atomic import INCOMPLETE, write_bytes_atomic, write_json_atomic
from modalbench.errors import ModalbenchError
from modalbench.fusion import RebuildableModel
from modalbench.meta import DatasetMeta

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
LOG_FILE = "train_log.jsonl"
CHECKPOINT_FORMAT = 1


def parameter_count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def save_state_dict_atomic(state: dict[str, torch.Tensor], path: Path) -> None:
    """``torch.save`` to ``path.incomplete`` then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + INCOMPLETE)
    with open(tmp, "wb") as fh:
        torch.save({k: v.detach().cpu() for k, v in state.items()}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_jsonl_atomic(path: Path, records: Iterable[dict[str, Any]]) -> None:
    text = "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in records)
    write_bytes_atomic(Path(path), text.encode())


def save_checkpoint(
    model: nn.Module,
    out_dir: str | Path,
    *,
    state_dict: dict[str, torch.Tensor] | None = None,
    extra: dict[str, Any] | None = None,
    log: Iterable[dict[str, Any]] | None = None,
) -> Path:
    """Write ``model.pt``, ``config.json`` (and ``train_log.jsonl`` when ``log`` is given) into ``out_dir``."""
    if not isinstance(model, RebuildableModel):
        raise ModalbenchError(f"{type(model).__name__}: a checkpoint needs the model's regime and config()")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_state_dict_atomic(state_dict if state_dict is not None else model.state_dict(), out / MODEL_FILE)
    if log is not None:
        write_jsonl_atomic(out / LOG_FILE, log)
    config = {
        "checkpoint_format": CHECKPOINT_FORMAT,
        "model": model.config(),
        "regime": model.regime,
        "parameter_count": parameter_count(model),
        **(extra or {}),
    }
    write_json_atomic(out / CONFIG_FILE, config)
    return out


def load_config(ckpt_dir: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint directory (clear errors when absent or malformed)."""
    path = Path(ckpt_dir) / CONFIG_FILE
    if not path.is_file():
        raise ModalbenchError(f"{path}: no checkpoint config (expected {CONFIG_FILE} written by `modalbench train`)")
    try:
        cfg = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModalbenchError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    model = cfg.get("model") if isinstance(cfg, dict) else None
    if not isinstance(model, dict) or not all(k in model for k in ("name", "hparams", "meta")):
        raise ModalbenchError(f"{path}: field 'model' must hold name, hparams and meta")
    return cfg


#: ``build(name, meta, **hparams)`` -> model: the method registry's constructor (``create_baseline``)
ModelBuilder = Callable[..., nn.Module]


def load_checkpoint(ckpt_dir: str | Path, build: ModelBuilder, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model of a checkpoint directory with ``build`` and load its weights (``weights_only=True``)."""
    cfg = load_config(ckpt_dir)
    weights = Path(ckpt_dir) / MODEL_FILE
    if not weights.is_file():
        raise ModalbenchError(f"{weights}: missing model weights")
    try:
        meta = DatasetMeta.from_dict(cfg["model"]["meta"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModalbenchError(f"{Path(ckpt_dir) / CONFIG_FILE}: field 'model.meta' is invalid ({exc})") from None
    model = build(cfg["model"]["name"], meta, **cfg["model"]["hparams"])
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError) as exc:  # corrupt / truncated
        raise ModalbenchError(f"{weights}: cannot read the state dict ({exc})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModalbenchError(f"{weights}: does not match model {cfg['model']['name']!r}: {exc}") from None
    if "regime" in cfg and cfg["regime"] != model.regime:
        raise ModalbenchError(
            f"{Path(ckpt_dir) / CONFIG_FILE}: regime {cfg['regime']!r} disagrees with the "
            f"rebuilt model's {model.regime!r}"
        )
    return model.to(device).eval()
