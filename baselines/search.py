"""MFAS architecture search: sequential model-based optimisation (Pérez-Rúa et al., CVPR 2019, Algorithm 1).

Search space: fusion architectures of depth 1..L, each layer a triplet ``(γ^1, …, γ^M, σ)`` with γ^m one of the
L_m layers of modality m's frozen backbone and σ ∈ {relu, sigmoid, leakyrelu}, so one layer has
Π_m L_m × 3 choices (:func:`layer_space_size`).

Algorithm 1 (``variant="algorithm1"``, the default). Per search iteration e = 1..E_search:

1. level 1: Γ₁ = every layer triplet when there are at most ``first_step_all`` of them — trained again in every
   iteration (weight sharing makes the retrained scores better informed) — else K triplets sampled as in step 3
   (uniformly before the surrogate exists). When a layer space exceeds ``max_layer_choices`` a seeded random
   subset of triplets stands for it.
2. level l = 2..L (progressive unfolding): the candidates B_l extend **every** architecture of the previous level's
   sampled set Γ_{l−1} (all of Γ₁ for l = 2) by every layer triplet; when |Γ_{l−1}| × |triplets| exceeds
   ``max_candidates``, each prefix is extended by a seeded random subset of the triplets (every prefix stays).
3. Γ_l = K candidates sampled without replacement with probabilities ``softmax(ŝ / T)`` of the surrogate's
   standardised predicted scores ŝ (architectures evaluated before may be drawn again and are retrained).
4. Train each sampled architecture for E_train epochs on the frozen backbones' features, with fusion-weight
   sharing: a fusion layer (and the classifier) starts from the weights last trained for a layer of the same
   (depth, shape) and writes its trained weights back; score = validation accuracy (micro-F1 for multi-label);
   a retrained architecture keeps its latest score.
5. Refit the surrogate — an LSTM over the triplet sequence (each step: one-hot γ^m per modality + one-hot σ),
   linear read-out of the last hidden state — on all (architecture, score) pairs (MSE on standardised scores),
   then step the temperature: ``T_s = T_max · (T_min/T_max)^{s/(S−1)}`` over the S = E_search · L level steps
   (inverse-exponential decay, the paper's Fig. 5).

Final stage: the top ``final_top`` (5) architectures are trained to completion (``e_final`` epochs), the best on
validation is fine-tuned with the backbones unfrozen and the multitask loss (fusion + ``multitask_weight`` × mean
unimodal cross-entropy, ``e_finetune`` epochs at ``finetune_lr``); see :func:`_final_stage`.

``variant="fast"`` (cheaper, the earlier modalbench search): depth l unfolds the K best evaluated architectures of
depth l − 1, only never-evaluated candidates are sampled (nothing is retrained), the temperature steps once per
iteration, and there is no final stage.

Logging and resuming: every evaluated architecture is appended (fsync'd) to a JSONL log with its score; after each
one the fusion-weight bank is saved atomically next to it (``<log>.bank.pt``). Re-running with the same log
replays the logged scores instead of training (the search is deterministic for a seed, so it takes the same
decisions) and continues where it stopped. The best architecture is saved as ``<log stem>.best.json``, which
``MFASNet(meta, **mfas.load_arch(path))`` rebuilds.

Backbones are pretrained with :func:`pretrain_backbones` (one encoder per modality with a linear head, trained on
the samples where its modality is available, then frozen). Backbone features are computed once when they fit in
``feature_cache_mb``: the batches of ``train_batches(0)`` are cached and visited in a seeded random order each epoch;
larger training sets are re-encoded from ``train_batches(epoch)`` every epoch.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from modalbench.atomic import write_bytes_atomic
from modalbench.data import Batch
from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta

from .mfas import ACTIVATION_NAMES, Arch, LayeredBackbone, MFASNet, build_backbones, save_arch, save_backbones

BUDGETS: dict[str, dict[str, Any]] = {
    # tiny: tests and CPU
    "small": {
        "e_search": 2,
        "e_train": 2,
        "max_layers": 2,
        "k": 4,
        "t_max": 10.0,
        "t_min": 0.2,
        "hidden": 32,
        "lr": 1e-2,
        "first_step_all": 32,
        "max_layer_choices": 256,
        "surrogate_hidden": 32,
        "surrogate_steps": 300,
        "surrogate_lr": 1e-2,
        "pretrain_epochs": 3,
        "pretrain_lr": 1e-3,
        "emb_dim": 32,
        "feature_cache_mb": 1024,
        "variant": "algorithm1",
        "max_candidates": 4096,
        "final_top": 5,
        "e_final": 3,
        "e_finetune": 1,
        "finetune_lr": 1e-3,
        "multitask_weight": 1.0,
    },
    # paper-scale: a few search iterations, K = 15 sampled per step, up to 4 fusion layers, 2 training epochs
    "paper": {
        "e_search": 3,
        "e_train": 2,
        "max_layers": 4,
        "k": 15,
        "t_max": 10.0,
        "t_min": 0.2,
        "hidden": 100,
        "lr": 1e-3,
        "first_step_all": 1000,
        "max_layer_choices": 4096,
        "surrogate_hidden": 100,
        "surrogate_steps": 500,
        "surrogate_lr": 1e-3,
        "pretrain_epochs": 20,
        "pretrain_lr": 1e-3,
        "emb_dim": 64,
        "feature_cache_mb": 4096,
        "variant": "algorithm1",
        "max_candidates": 20000,
        "final_top": 5,
        "e_final": 20,
        "e_finetune": 5,
        "finetune_lr": 1e-4,
        "multitask_weight": 1.0,
    },
}


VARIANTS = ("algorithm1", "fast")


def resolve_budget(budget: str | dict[str, Any]) -> dict[str, Any]:
    """A full budget dict: a preset name, or a dict overriding ``small`` (or the preset named by key ``preset``)."""
    if isinstance(budget, str):
        if budget not in BUDGETS:
            raise ModalbenchError(f"mfas search: unknown budget {budget!r}; choose from {sorted(BUDGETS)}")
        return dict(BUDGETS[budget])
    b = dict(budget)
    base = b.pop("preset", "small")
    if base not in BUDGETS:
        raise ModalbenchError(f"mfas search: unknown budget preset {base!r}; choose from {sorted(BUDGETS)}")
    unknown = set(b) - set(BUDGETS[base])
    if unknown:
        raise ModalbenchError(f"mfas search: unknown budget key(s) {sorted(unknown)}; expected {sorted(BUDGETS[base])}")
    out = {**BUDGETS[base], **b}
    if out["variant"] not in VARIANTS:
        raise ModalbenchError(f"mfas search: variant must be one of {', '.join(VARIANTS)}, got {out['variant']!r}")
    return out


# ---- search space --------------------------------------------------------------------------------------------
def layer_space_size(layer_counts: list[int], n_activations: int = len(ACTIVATION_NAMES)) -> int:
    """Number of triplets for one fusion layer: Π_m L_m × |activations|."""
    return math.prod(layer_counts) * n_activations


def layer_choices(
    layer_counts: list[int], cap: int | None = None, rng: np.random.Generator | None = None
) -> list[tuple[Any, ...]]:
    """All triplets ``(γ^1..γ^M, σ)`` in lexicographic order, or ``cap`` distinct random ones (sorted) if larger."""
    n = layer_space_size(layer_counts)
    if cap is None or n <= cap:
        return [(*g, a) for g in itertools.product(*[range(c) for c in layer_counts]) for a in ACTIVATION_NAMES]
    if rng is None:
        raise ValueError("layer_choices: a seeded rng is needed to subsample the layer space")
    if n > 2**62:  # beyond int64: draw each coordinate independently until ``cap`` distinct triplets
        seen: set[tuple[Any, ...]] = set()
        while len(seen) < cap:
            seen.add(
                (
                    *[int(rng.integers(c)) for c in layer_counts],
                    ACTIVATION_NAMES[int(rng.integers(len(ACTIVATION_NAMES)))],
                )
            )
        return sorted(seen, key=lambda t: (t[:-1], ACTIVATION_NAMES.index(t[-1])))
    flat = np.sort(rng.choice(n, size=cap, replace=False))
    out = []
    for idx in flat.tolist():
        a = idx % len(ACTIVATION_NAMES)
        rest = idx // len(ACTIVATION_NAMES)
        gs = []
        for c in reversed(layer_counts):
            gs.append(rest % c)
            rest //= c
        out.append((*reversed(gs), ACTIVATION_NAMES[a]))
    return out


def temperature(e: int, n_iter: int, t_max: float, t_min: float) -> float:
    """Inverse-exponential schedule from ``t_max`` (e = 0) to ``t_min`` (e = n_iter − 1)."""
    if n_iter <= 1:
        return float(t_max)
    return float(t_max * (t_min / t_max) ** (e / (n_iter - 1)))


def _key(arch: Arch) -> str:
    return json.dumps([list(t) for t in arch])


def _derive(seed: int, *path: int) -> int:
    return int(np.random.SeedSequence([int(seed), *[int(p) for p in path]]).generate_state(1)[0])


# ---- surrogate ------------------------------------------------------------------------------------------------
class Surrogate(nn.Module):
    """LSTM over the triplet sequence predicting the (standardised) validation score (the MFAS surrogate)."""

    #: registered buffers: mean and standard deviation of the scores the surrogate was fitted on
    mu: torch.Tensor
    sd: torch.Tensor

    def __init__(self, layer_counts: list[int], hidden: int = 100) -> None:
        super().__init__()
        self.layer_counts = list(layer_counts)
        self.in_dim = sum(layer_counts) + len(ACTIVATION_NAMES)
        self.lstm = nn.LSTM(self.in_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)
        self.register_buffer("mu", torch.zeros(()))
        self.register_buffer("sd", torch.ones(()))

    def featurize(self, archs: list[Arch]) -> tuple[torch.Tensor, torch.Tensor]:
        """One-hot sequences ``[N, L_max, in_dim]`` (zero-padded at the end) and lengths."""
        lmax = max(len(a) for a in archs)
        x = torch.zeros(len(archs), lmax, self.in_dim)
        offs = np.cumsum([0] + self.layer_counts)
        for i, a in enumerate(archs):
            for l, t in enumerate(a):
                for m, g in enumerate(t[:-1]):
                    x[i, l, offs[m] + int(g)] = 1.0
                x[i, l, offs[-1] + ACTIVATION_NAMES.index(t[-1])] = 1.0
        return x, torch.tensor([len(a) for a in archs])

    def forward_std(self, archs: list[Arch]) -> torch.Tensor:
        """Predictions in standardised score units."""
        return self._forward(*self.featurize(archs))

    def _forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        seq, _ = self.lstm(x)
        last = seq[torch.arange(x.shape[0]), lengths - 1]
        return self.out(last).squeeze(1)

    @torch.no_grad()
    def predict(self, archs: list[Arch]) -> np.ndarray:
        """Predicted validation scores."""
        return (self.forward_std(archs) * self.sd + self.mu).numpy()

    def fit(self, archs: list[Arch], scores: list[float], steps: int, lr: float, seed: int) -> float:
        """Full-batch Adam on the MSE of standardised scores; returns the final loss."""
        y = torch.tensor(scores, dtype=torch.float32)
        self.mu.fill_(float(y.mean()))
        self.sd.fill_(float(y.std(unbiased=False)) if len(scores) > 1 and float(y.std(unbiased=False)) > 1e-8 else 1.0)
        target = (y - self.mu) / self.sd
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for p in self.parameters():  # fresh deterministic init
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
                else:
                    nn.init.zeros_(p)
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        x, lengths = self.featurize(archs)
        loss = torch.zeros(())
        for _ in range(steps):
            opt.zero_grad()
            loss = nn.functional.mse_loss(self._forward(x, lengths), target)
            loss.backward()
            opt.step()
        return float(loss.detach())


# ---- backbones and features -------------------------------------------------------------------------------------
def pretrain_backbones(
    meta: DatasetMeta,
    train_batches: Callable[[int], Iterable[Batch]],
    *,
    epochs: int = 3,
    lr: float = 1e-3,
    seed: int = 0,
    emb_dim: int = 64,
    encoder: dict[str, Any] | None = None,
    device: str = "cpu",
    heads_out: dict[str, nn.Linear] | None = None,
) -> dict[str, LayeredBackbone]:
    """Train one encoder per modality (with a linear head) on the samples where it is available; freeze it.

    ``heads_out`` (a dict) receives the trained linear heads (the unimodal heads of the final fine-tuning).

    Multi-label tasks use BCE-with-logits, others cross-entropy. Returns frozen backbones in eval mode.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        bbs = build_backbones(meta, emb_dim, encoder)
        heads = {n: nn.Linear(emb_dim, meta.n_classes) for n in meta.modality_names}
    for i, n in enumerate(meta.modality_names):
        bb, head = bbs[n].to(device), heads[n].to(device)
        opt = torch.optim.Adam(list(bb.parameters()) + list(head.parameters()), lr=lr)
        bb.train()
        for ep in range(epochs):
            for inputs, avail, target in train_batches(ep):
                keep = avail[:, i].bool()
                if int(keep.sum()) < 2:
                    continue
                x = inputs[n][keep].to(device)
                t = target[keep].to(device)
                logits = head(bb(x))
                if meta.task_type == "multilabel":
                    loss = nn.functional.binary_cross_entropy_with_logits(logits, t.float())
                else:
                    loss = nn.functional.cross_entropy(logits, t)
                opt.zero_grad()
                loss.backward()
                opt.step()
        bb.eval()
        for p in bb.parameters():
            p.requires_grad_(False)
    if heads_out is not None:
        heads_out.update(heads)
    return bbs


@torch.no_grad()
def _features(
    backbones: dict[str, LayeredBackbone], names: list[str], batches: Iterable[Batch], device: str
) -> Iterable[Batch]:
    """Backbone layer features (concatenated per modality) of each batch, lazily."""
    for inputs, avail, target in batches:
        feats = {n: torch.cat(backbones[n].layer_features(inputs[n].to(device)), dim=1).cpu() for n in names}
        yield feats, avail, target


class _TrainFeatures:
    """Training features: cached from ``train_batches(0)`` (visited in a seeded random order per epoch) while they fit
    in ``cache_mb``; otherwise recomputed from ``train_batches(epoch)`` every epoch."""

    def __init__(
        self,
        backbones: dict[str, LayeredBackbone],
        names: list[str],
        train_batches: Callable[[int], Iterable[Batch]],
        device: str,
        cache_mb: float,
    ) -> None:
        self.backbones, self.names, self.train_batches, self.device = backbones, names, train_batches, device
        self.cache: list[Batch] | None = []
        size = 0
        for item in _features(backbones, names, train_batches(0), device):
            size += sum(f.numel() * f.element_size() for f in item[0].values())
            if size > cache_mb * 2**20:
                self.cache = None
                break
            self.cache.append(item)
        if self.cache is not None and not self.cache:
            raise ModalbenchError("mfas search: train_batches(0) yielded no batch")

    def epoch(self, epoch: int, rng: np.random.Generator) -> Iterable[Batch]:
        if self.cache is None:
            return _features(self.backbones, self.names, self.train_batches(epoch), self.device)
        return [self.cache[i] for i in rng.permutation(len(self.cache)).tolist()]


def _score(meta: DatasetMeta, logits: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """(numerator, denominator) of accuracy, or of micro-F1 for multi-label."""
    if meta.task_type == "multilabel":
        pred = logits > 0
        t = target.bool()
        tp = float((pred & t).sum())
        return 2 * tp, float(pred.sum() + t.sum())
    return float((logits.argmax(1) == target).sum()), float(target.shape[0])


# ---- the search ---------------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """Outcome of :func:`search`: the top-K architectures (best first), all evaluations and the fitted surrogate."""

    top_k: list[tuple[Arch, float]]
    history: list[dict[str, Any]]
    surrogate: Surrogate | None
    best_path: Path | None
    complete: bool = True
    budget: dict[str, Any] = field(default_factory=dict)
    #: per (iteration, level) step: temperature, prefixes Γ_{l−1} extended, candidate count, sampled set Γ_l
    trace: list[dict[str, Any]] = field(default_factory=list)
    #: Algorithm 1's final stage: finalists and their completion scores, the chosen architecture, its score before
    #: and after fine-tuning, the fine-tuned model and the name of its config file (``None`` for ``fast``)
    final: dict[str, Any] | None = None

    @property
    def best_arch(self) -> Arch:
        """The final stage's choice (algorithm1), else the best architecture of the search."""
        return self.final["chosen"] if self.final else self.top_k[0][0]

    @property
    def best_score(self) -> float:
        return self.final["score"] if self.final else self.top_k[0][1]


class _Log:
    """Append-only JSONL log + fusion-weight bank snapshot, with resume."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.bank_path = path.with_name(path.name + ".bank.pt")
        self.entries: list[dict[str, Any]] = []
        self.bank: dict[str, dict[str, torch.Tensor]] = {}
        lines: list[str] = []
        if path.exists():
            lines = path.read_text().splitlines()
        if lines:
            records = []
            for i, line in enumerate(lines, 1):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    if i == len(lines):  # a line cut by an interruption
                        break
                    raise ModalbenchError(f"{path}:{i}: not valid JSON ({e.msg})") from None
            if not records or records[0].get("event") != "start":
                raise ModalbenchError(f"{path}:1: expected the search header (event 'start')")
            if records[0]["header"] != header:
                raise ModalbenchError(
                    f"{path}:1: this log belongs to a different search (seed, budget, dataset or "
                    f"backbone layers differ); use another --log path"
                )
            self.entries = [r for r in records[1:] if r.get("event") == "arch"]
            n_bank = 0
            if self.bank_path.exists():
                snap = torch.load(self.bank_path, weights_only=True)
                n_bank, self.bank = int(snap["n"]), snap["bank"]
            if n_bank > len(self.entries):
                raise ModalbenchError(
                    f"{self.bank_path}: weight bank is ahead of the log ({n_bank} > "
                    f"{len(self.entries)} entries); delete both files to restart the search"
                )
            if n_bank < len(self.entries) or len(records) != len(lines):
                self.entries = self.entries[:n_bank]  # the unsaved trainings are redone (deterministically)
                self._rewrite(header)
        else:
            self._rewrite(header)

    def _rewrite(self, header: dict[str, Any]) -> None:
        text = "".join(json.dumps(r) + "\n" for r in [{"event": "start", "header": header}] + self.entries)
        write_bytes_atomic(self.path, text.encode())

    def append(self, entry: dict[str, Any], bank: dict[str, dict[str, torch.Tensor]]) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.entries.append(entry)
        buf = io.BytesIO()
        torch.save({"n": len(self.entries), "bank": bank}, buf)
        write_bytes_atomic(self.bank_path, buf.getvalue())


def _bank_key(kind: str, depth: int, shape: tuple[int, int]) -> str:
    return f"{kind}:{depth}:{shape[0]}x{shape[1]}"


def _train_eval(
    meta: DatasetMeta,
    backbones: dict[str, LayeredBackbone],
    arch: Arch,
    bank: dict[str, Any],
    train_feats: _TrainFeatures,
    val_feats: list[Batch],
    b: dict[str, Any],
    seed: int,
    device: str,
    return_model: bool = False,
) -> Any:
    """Train ``arch``'s fusion layers for ``e_train`` epochs on cached backbone features (weights shared through
    ``bank``); returns the validation score (and the model with ``return_model``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MFASNet(meta, arch=arch, hidden=int(b["hidden"]), backbones=backbones).to(device)
    keys = [_bank_key("fusion", l, s) for l, s in enumerate(model.fusion_shapes())]
    head_key = _bank_key("head", 0, (int(b["hidden"]), meta.n_classes))
    for key, layer in list(zip(keys, model.fusion)) + [(head_key, model.classifier)]:
        if key in bank:
            layer.load_state_dict(bank[key])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=float(b["lr"]))
    rng = np.random.Generator(np.random.PCG64(seed))
    model.train()
    for ep in range(int(b["e_train"])):
        for feats, avail, target in train_feats.epoch(ep, rng):
            logits = model.fuse({n: f.to(device) for n, f in feats.items()}, avail.to(device))
            if meta.task_type == "multilabel":
                loss = nn.functional.binary_cross_entropy_with_logits(logits, target.to(device).float())
            else:
                loss = nn.functional.cross_entropy(logits, target.to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    num = den = 0.0
    with torch.no_grad():
        for feats, avail, target in val_feats:
            logits = model.fuse({n: f.to(device) for n, f in feats.items()}, avail.to(device))
            a, c = _score(meta, logits.cpu(), target)
            num, den = num + a, den + c
    for key, layer in list(zip(keys, model.fusion)) + [(head_key, model.classifier)]:
        bank[key] = {k: v.detach().cpu().clone() for k, v in layer.state_dict().items()}
    score = num / den if den else 0.0
    return (score, model) if return_model else score


def search(
    meta: DatasetMeta,
    backbones: dict[str, LayeredBackbone] | None,
    train_batches: Callable[[int], Iterable[Batch]],
    val_batches: Callable[[], Iterable[Batch]],
    *,
    budget: str | dict[str, Any],
    seed: int,
    log_path: str | Path,
    device: str = "cpu",
    max_new_evaluations: int | None = None,
    variant: str | None = None,
) -> SearchResult:
    """Run (or resume) an MFAS search; see the module docstring.

    ``backbones`` are frozen layered backbones (``None``: pretrain them with :func:`pretrain_backbones`).
    ``variant`` (``algorithm1`` or ``fast``) overrides the budget's. ``max_new_evaluations`` stops after that many
    newly trained architectures (``complete=False``); a later call with the same ``log_path`` resumes.
    """
    b = resolve_budget(budget if variant is None else {**_as_dict(budget), "variant": variant})
    names = meta.modality_names
    heads: dict[str, nn.Linear] = {}
    if backbones is None:
        backbones = pretrain_backbones(
            meta,
            train_batches,
            epochs=int(b["pretrain_epochs"]),
            lr=float(b["pretrain_lr"]),
            seed=_derive(seed, 9),
            emb_dim=int(b["emb_dim"]),
            device=device,
            heads_out=heads,
        )
    missing = set(names) - set(backbones)
    if missing:
        raise ModalbenchError(f"mfas search: no backbone for modalities {sorted(missing)}")
    for bb in backbones.values():
        bb.to(device).eval()
    counts = [len(backbones[n].layer_dims) for n in names]
    header = {
        "seed": int(seed),
        "budget": b,
        "dataset": meta.name,
        "modalities": names,
        "layer_dims": [list(backbones[n].layer_dims) for n in names],
        "classes": meta.n_classes,
    }
    log_path = Path(log_path)
    log = _Log(log_path, header)
    replay = list(log.entries)
    bank = log.bank
    train_feats = _TrainFeatures(backbones, names, train_batches, device, float(b["feature_cache_mb"]))
    val_feats = list(_features(backbones, names, val_batches(), device))
    if not val_feats:
        raise ModalbenchError("mfas search: val_batches() yielded no batch")

    k = int(b["k"])
    scores: dict[str, float] = {}
    archs: dict[str, Arch] = {}
    state: dict[str, Any] = {"surrogate": None, "n_done": 0, "new": 0}
    trace: list[dict[str, Any]] = []

    def evaluate(arch: Arch, e: int, l: int, idx: int, t: float, pred: float | None) -> float | None:
        key = _key(arch)
        n_done = state["n_done"]
        if n_done < len(replay):
            r = replay[n_done]
            if (r["iteration"], r["level"], _key(r["arch"])) != (e, l, key):
                raise ModalbenchError(
                    f"{log_path}:{n_done + 2}: logged architecture differs from the one this "
                    f"search samples; the log is from another run"
                )
            s = float(r["score"])
        else:
            if max_new_evaluations is not None and state["new"] >= max_new_evaluations:
                return None
            s = _train_eval(meta, backbones, arch, bank, train_feats, val_feats, b, _derive(seed, 1, e, l, idx), device)
            log.append(
                {
                    "event": "arch",
                    "iteration": e,
                    "level": l,
                    "index": idx,
                    "arch": arch,
                    "score": s,
                    "temperature": t,
                    "predicted": pred,
                },
                bank,
            )
            state["new"] += 1
        state["n_done"] += 1
        scores[key], archs[key] = s, arch  # a retrained architecture keeps its latest score
        return s

    def refit(e: int, l: int) -> None:
        keys = list(scores)
        sur = Surrogate(counts, int(b["surrogate_hidden"]))
        sur.fit(
            [archs[q] for q in keys],
            [scores[q] for q in keys],
            int(b["surrogate_steps"]),
            float(b["surrogate_lr"]),
            _derive(seed, 3, e, l),
        )
        state["surrogate"] = sur

    def sample(pool: list[Arch], rng: np.random.Generator, t: float) -> tuple[list[Arch], list[float | None]]:
        """K of ``pool`` with probabilities softmax(ŝ / T) of the surrogate's standardised predictions."""
        sur: Surrogate | None = state["surrogate"]
        if not pool:
            return [], []
        if sur is None:
            idx = np.sort(rng.choice(len(pool), size=min(k, len(pool)), replace=False))
            return [pool[i] for i in idx], [None] * len(idx)
        pred = sur.predict(pool)
        z = (pred - float(sur.mu)) / float(sur.sd) / t
        p = np.exp(z - z.max())
        p /= p.sum()
        n_pick = min(k, len(pool), int((p > 0).sum()))
        idx = rng.choice(len(pool), size=n_pick, replace=False, p=p)
        return [pool[i] for i in idx], [float(pred[i]) for i in idx]

    loop = _algorithm1 if b["variant"] == "algorithm1" else _fast
    complete = loop(b, counts, scores, archs, state, evaluate, refit, sample, trace, seed)

    ranked = sorted(scores, key=lambda q: (-scores[q], len(archs[q]), q))
    top = [(archs[q], scores[q]) for q in ranked[:k]]
    best_path = None
    final: dict[str, Any] | None = None
    if top and complete:
        best_path = log_path.with_name(log_path.stem + ".best.json")
        bb_path = log_path.with_name(log_path.stem + ".backbones.pt")
        save_backbones(bb_path, backbones)
        first = backbones[names[0]]
        hp = {"hidden": int(b["hidden"]), "emb_dim": first.emb_dim, "encoder": first.encoder_cfg}
        chosen, chosen_score = top[0]
        if b["variant"] == "algorithm1":
            final = _final_stage(
                meta,
                backbones,
                heads,
                [archs[q] for q in ranked[: int(b["final_top"])]],
                bank,
                train_feats,
                val_feats,
                train_batches,
                val_batches,
                b,
                seed,
                device,
                log_path,
                hp,
            )
            chosen, chosen_score = final["chosen"], final["score"]
        save_arch(
            best_path,
            chosen,
            {**hp, "freeze_backbones": True, "backbones_file": bb_path.name},
            {
                "score": chosen_score,
                "top_k": [{"arch": a, "score": s} for a, s in top],
                "seed": int(seed),
                "log": log_path.name,
                "variant": b["variant"],
                **({"final": {key: final[key] for key in ("finalists", "finetuned_score", "path")}} if final else {}),
            },
        )
    return SearchResult(
        top_k=top,
        history=list(log.entries),
        surrogate=state["surrogate"],
        best_path=best_path,
        complete=complete,
        budget=b,
        trace=trace,
        final=final,
    )


def _as_dict(budget: str | dict[str, Any]) -> dict[str, Any]:
    return {"preset": budget} if isinstance(budget, str) else dict(budget)


def _algorithm1(
    b: dict[str, Any],
    counts: list[int],
    scores: dict[str, float],
    archs: dict[str, Arch],
    state: dict[str, Any],
    evaluate: Callable[..., float | None],
    refit: Callable[[int, int], None],
    sample: Callable[..., tuple[list[Arch], list[float | None]]],
    trace: list[dict[str, Any]],
    seed: int,
) -> bool:
    """Algorithm 1 of the paper: per iteration, level 1 trains Γ₁ (the whole layer space when it has at most
    ``first_step_all`` triplets, retrained every iteration; else K sampled), level l extends every architecture of
    the previous level's sampled set Γ_{l−1} by every layer triplet (per prefix a seeded subset when the product
    exceeds ``max_candidates``) and samples K of them with the surrogate; the temperature steps after every level."""
    n_levels = int(b["max_layers"])
    n_steps = int(b["e_search"]) * n_levels
    for e in range(int(b["e_search"])):
        prev: list[Arch] = [[]]
        for l in range(1, n_levels + 1):
            step = e * n_levels + (l - 1)
            t = temperature(step, n_steps, float(b["t_max"]), float(b["t_min"]))
            rng = np.random.Generator(np.random.PCG64(_derive(seed, 2, e, l)))
            triplets = layer_choices(counts, int(b["max_layer_choices"]), rng)
            per_prefix = len(triplets)
            if len(prev) * len(triplets) > int(b["max_candidates"]):
                per_prefix = max(1, int(b["max_candidates"]) // len(prev))
            cands: list[Arch] = []
            for pre in prev:
                chosen = (
                    range(len(triplets))
                    if per_prefix == len(triplets)
                    else np.sort(rng.choice(len(triplets), size=per_prefix, replace=False)).tolist()
                )
                cands += [pre + [list(triplets[i])] for i in chosen]
            if l == 1 and len(cands) <= int(b["first_step_all"]):
                picked = cands
                sur = state["surrogate"]
                preds: list[float | None] = (
                    [float(v) for v in sur.predict(cands)] if sur is not None else [None] * len(cands)
                )
            else:
                picked, preds = sample(cands, rng, t)
            if not _evaluate_step(trace, evaluate, refit, e, l, step, t, prev, len(cands), picked, preds):
                return False
            prev = picked
    return True


def _evaluate_step(
    trace: list[dict[str, Any]],
    evaluate: Callable[..., float | None],
    refit: Callable[[int, int], None],
    e: int,
    level: int,
    step: int,
    t: float,
    prefixes: list[Arch],
    n_candidates: int,
    picked: list[Arch],
    preds: list[float | None],
) -> bool:
    """One sampling step of either variant: record it, evaluate the sampled architectures, refit the surrogate.
    False when the evaluation budget ran out."""
    trace.append(
        {
            "iteration": e,
            "level": level,
            "step": step,
            "temperature": t,
            "prefixes": [_key(p) for p in prefixes],
            "n_candidates": n_candidates,
            "sampled": [_key(a) for a in picked],
        }
    )
    for i, (arch, pr) in enumerate(zip(picked, preds)):
        if evaluate(arch, e, level, i, t, pr) is None:
            return False
    refit(e, level)
    return True


def _fast(
    b: dict[str, Any],
    counts: list[int],
    scores: dict[str, float],
    archs: dict[str, Arch],
    state: dict[str, Any],
    evaluate: Callable[..., float | None],
    refit: Callable[[int, int], None],
    sample: Callable[..., tuple[list[Arch], list[float | None]]],
    trace: list[dict[str, Any]],
    seed: int,
) -> bool:
    """The cheaper variant: depth l unfolds the K best evaluated architectures of depth l − 1, only architectures
    never evaluated are sampled (nothing is retrained), the temperature steps once per iteration."""
    k = int(b["k"])
    for e in range(int(b["e_search"])):
        t = temperature(e, int(b["e_search"]), float(b["t_max"]), float(b["t_min"]))
        prefixes: list[Arch] = [[]]
        for l in range(1, int(b["max_layers"]) + 1):
            rng = np.random.Generator(np.random.PCG64(_derive(seed, 2, e, l)))
            triplets = layer_choices(counts, int(b["max_layer_choices"]), rng)
            cands = [p + [list(tr)] for p in prefixes for tr in triplets]
            fresh = [c for c in cands if _key(c) not in scores]
            preds: list[float | None]
            if state["surrogate"] is None and len(fresh) <= int(b["first_step_all"]):
                picked, preds = fresh, [None] * len(fresh)
            else:
                picked, preds = sample(fresh, rng, t)
            if not _evaluate_step(trace, evaluate, refit, e, l, e, t, prefixes, len(cands), picked, preds):
                return False
            depth_l = sorted((q for q in scores if len(archs[q]) == l), key=lambda q: (-scores[q], q))
            prefixes = [archs[q] for q in depth_l[:k]]
    return True


def _final_stage(
    meta: DatasetMeta,
    backbones: dict[str, LayeredBackbone],
    heads: dict[str, nn.Linear],
    finalists: list[Arch],
    bank: dict[str, Any],
    train_feats: _TrainFeatures,
    val_feats: list[Batch],
    train_batches: Callable[[int], Iterable[Batch]],
    val_batches: Callable[[], Iterable[Batch]],
    b: dict[str, Any],
    seed: int,
    device: str,
    log_path: Path,
    hp: dict[str, Any],
) -> dict[str, Any]:
    """Algorithm 1's end: train the top ``final_top`` architectures to completion (``e_final`` epochs, frozen
    backbones), pick the best on validation, fine-tune it with the backbones unfrozen and the multitask loss
    (``e_finetune`` epochs, lr ``finetune_lr``, unimodal weight ``multitask_weight``). Writes the fine-tuned model
    as ``<log stem>.final.json`` (hyperparameters) + ``<log stem>.final.pt`` (its full state dict)."""
    done: list[tuple[Arch, float, MFASNet]] = []
    for i, arch in enumerate(finalists):
        s, model = _train_eval(
            meta,
            backbones,
            arch,
            dict(bank),
            train_feats,
            val_feats,
            {**b, "e_train": int(b["e_final"])},
            _derive(seed, 4, i),
            device,
            return_model=True,
        )
        done.append((arch, s, model))
    best = max(range(len(done)), key=lambda i: (done[i][1], -i))
    arch, score, trained = done[best]
    w = float(b["multitask_weight"])
    fresh = {n: LayeredBackbone(bb.spec, bb.emb_dim, bb.encoder_cfg) for n, bb in backbones.items()}
    for n, bb in fresh.items():
        bb.load_state_dict(backbones[n].state_dict())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_derive(seed, 5))
        net = MFASNet(
            meta, arch=arch, hidden=int(b["hidden"]), backbones=fresh, freeze_backbones=False, multitask_weight=w
        ).to(device)
    net.fusion.load_state_dict(trained.fusion.state_dict())
    net.classifier.load_state_dict(trained.classifier.state_dict())
    if w > 0:
        for n, head in heads.items():
            net.unimodal_heads[n].load_state_dict(head.state_dict())
    for p in net.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(net.parameters(), lr=float(b["finetune_lr"]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_derive(seed, 6))
        for ep in range(int(b["e_finetune"])):
            net.train()
            for inputs, avail, target in train_batches(ep):
                loss, _ = net.training_loss(
                    {n: x.to(device) for n, x in inputs.items()}, avail.to(device), target.to(device)
                )
                opt.zero_grad()
                loss.backward()
                opt.step()
    net.eval()
    num = den = 0.0
    with torch.no_grad():
        for inputs, avail, target in val_batches():
            logits = net({n: x.to(device) for n, x in inputs.items()}, avail.to(device))
            a, c = _score(meta, logits.cpu(), target)
            num, den = num + a, den + c
    ft_score = num / den if den else 0.0
    final_json = log_path.with_name(log_path.stem + ".final.json")
    final_pt = log_path.with_name(log_path.stem + ".final.pt")
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, buf)
    write_bytes_atomic(final_pt, buf.getvalue())
    finalists_rec = [{"arch": a, "score": s} for a, s, _ in done]
    save_arch(
        final_json,
        arch,
        {**hp, "freeze_backbones": False, "multitask_weight": w},
        {
            "score": ft_score,
            "score_before_finetune": score,
            "finalists": finalists_rec,
            "state": final_pt.name,
            "seed": int(seed),
        },
    )
    return {
        "finalists": finalists_rec,
        "chosen": arch,
        "score": score,
        "finetuned_score": ft_score,
        "path": final_json.name,
        "model": net,
    }
