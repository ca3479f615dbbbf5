"""Mul and MulMix: multiplicative modality combination (Liu, Li, Xu & Natarajan 2018, arXiv:1805.11730).

**Mul.** Every modality ``i`` has its own classifier with class probabilities ``p_i``. For a sample whose true class
is ``y`` the loss is (eq. 9)

    L = − Σ_i q_i^y log p_i^y,     q_i^y = Π_{j≠i} (1 − p_j^y)^{β/(M−1)},

with gradients stopped through ``q`` (``q`` down-weights a modality's loss when the other modalities are already
confident, so weak modalities are not forced to fit every sample). The prediction is the class with the smallest
class loss ``L^c = − Σ_i q_i^c log p_i^c``; ``forward`` returns ``−L^c`` as logits (argmax = argmin loss).

**Boosted training** (eq. 10, option ``boosted=True``): a sample contributes only when its true class does not
win by the margin ``δ``, i.e. when ``min_{c≠y} L^c − L^y ≤ δ``; samples won by more than ``δ`` have zero loss.

**MulMix.** Mixture candidates ``S`` from the power set of modalities, each the additive combination of its
members' features ``h_S = Σ_{m∈S} f_m`` (eq. 11) with its own classifier ``p_S``; the candidates are combined
multiplicatively exactly like Mul's modalities (eq. 13, ``M`` replaced by the number of candidates). 2^M − 1
candidates are infeasible for large M (OPPORTUNITY: 19 modalities → 524,287), so modalbench caps them
(``max_mixture_size``, ``max_candidates``): when the capped power set has more than ``max_candidates`` members, all
singletons and (size cap permitting) the full set are kept and the rest are drawn uniformly without replacement
with ``numpy.random.Generator(PCG64(candidate_seed))``. The candidate table is a buffer saved with the checkpoint.
With the default cap of 64 the cut applies for M > 6 (2^7 − 1 = 127); it is visible as
``MulMix.effective_config()`` and as ``notes`` (also in ``config()["notes"]``) for the results to record.

**Missing modalities (modalbench's extension).** Terms of missing modalities (and every candidate containing one)
are dropped and the exponent is renormalised over the ``n`` available terms: ``β/(n − 1)`` (``q = 1`` when
``n = 1``; a sample with nothing available gets zero class losses, i.e. uniform logits).

Multi-label tasks (also modalbench's extension): every label is a binary problem with classes {0, 1}
(``p(1) = σ(z)``); logits are ``L^0 − L^1``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from modalbench.meta import DatasetMeta
from modalbench.params import Param

from .base import ENCODED_PARAMS
from .intermediate import EncodedFusion
from .registry import register_baseline

#: Liu et al. 2018 (§4, CIFAR-100 / ResNet set-up): SGD with momentum 0.9 and weight decay 1e-4, lr 0.1
MUL_RECIPE: dict[str, Any] = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}


def paper_preset(meta: DatasetMeta) -> dict[str, Any]:
    """Mul / MulMix as in Liu et al. 2018: SGD + momentum, weight decay, β = 0.5 (Table 2's MulMix)."""
    return {
        "hparams": {"beta": 0.5, "recipe": dict(MUL_RECIPE)},
        "notes": ["SGD momentum 0.9, weight decay 1e-4, lr 0.1; beta 0.5 (MulMix in Table 2)"],
    }


class BatchedHeads(nn.Module):
    """``S`` independent MLP heads evaluated with one einsum: ``x [B, S, D] -> [B, S, n_out]``."""

    def __init__(self, n_heads: int, d_in: int, n_out: int, hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        dims = [d_in, hidden, n_out] if hidden > 0 else [d_in, n_out]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in itertools.pairwise(dims):
            bound = 1.0 / math.sqrt(a)
            self.weights.append(nn.Parameter(torch.empty(n_heads, a, b).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n_heads, b).uniform_(-bound, bound)))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.weights)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.einsum("bsd,sde->bse", x, w) + b
            if i < n - 1:
                x = self.drop(torch.relu(x))
        return x


def mul_class_losses(log_p: torch.Tensor, available: torch.Tensor, beta: float) -> torch.Tensor:
    """Class losses ``L^c = −Σ_i q_i^c log p_i^c`` (eq. 9) over the available terms.

    ``log_p``: ``[B, S, C]`` log-probabilities of ``S`` terms; ``available``: ``[B, S]`` bool. Returns ``[B, C]``.
    ``q`` is detached; the exponent is ``β/(n−1)`` with ``n`` the number of available terms.
    """
    avail = available.to(log_p.dtype).unsqueeze(-1)
    p = log_p.exp().clamp(max=1.0 - 1e-6)
    log1m = torch.log1p(-p) * avail  # log(1 − p_j), 0 for unavailable terms
    n = available.sum(dim=1).to(log_p.dtype)
    expo = (beta / (n - 1).clamp_min(1.0)).view(-1, 1, 1)
    q = torch.exp((log1m.sum(dim=1, keepdim=True) - log1m) * expo).detach()
    return -(q * log_p * avail).sum(dim=1)


def mixture_candidates(
    n_modalities: int, max_mixture_size: int | None = None, max_candidates: int = 64, seed: int = 0
) -> np.ndarray:
    """Candidate table ``[S, M]`` bool, ordered by size then lexicographically (see the module docstring)."""
    m = n_modalities
    k_max = m if max_mixture_size is None else max(1, min(int(max_mixture_size), m))
    total = sum(math.comb(m, k) for k in range(1, k_max + 1))
    if total <= max_candidates:
        chosen = [c for k in range(1, k_max + 1) for c in itertools.combinations(range(m), k)]
    else:
        base = [(i,) for i in range(m)] + ([tuple(range(m))] if k_max == m and m > 1 else [])
        n_extra = max(0, max_candidates - len(base))
        rng = np.random.Generator(np.random.PCG64(seed))
        extra: list[tuple[int, ...]] = []
        if n_extra:
            n_pool = total - len(base)
            if n_pool <= 200_000:
                pool = [
                    c
                    for k in range(2, min(k_max, m - 1 if k_max == m else k_max) + 1)
                    for c in itertools.combinations(range(m), k)
                ]
                extra = [pool[i] for i in rng.choice(len(pool), size=min(n_extra, len(pool)), replace=False)]
            else:  # rejection sampling on random bit masks (large M)
                seen: set[int] = set()
                full = (1 << m) - 1
                while len(extra) < n_extra:
                    for code in rng.integers(1, full, size=4 * n_extra, endpoint=False).tolist():
                        size = int(code).bit_count()
                        if 2 <= size <= k_max and code not in seen:
                            seen.add(code)
                            extra.append(tuple(i for i in range(m) if code >> i & 1))
                            if len(extra) == n_extra:
                                break
        chosen = base + extra
    chosen = sorted(set(chosen), key=lambda c: (len(c), c))
    table = np.zeros((len(chosen), m), dtype=bool)
    for row, c in enumerate(chosen):
        table[row, list(c)] = True
    return table


@register_baseline("mul")
class Mul(EncodedFusion):
    """Per-modality classifiers combined multiplicatively (Liu et al. 2018, eq. 9; boosted eq. 10)."""

    params = ENCODED_PARAMS + (
        Param("beta", "float", 0.5, "exponent β of the down-weighting q (0: plain sum of cross-entropies)", min=0.0),
        Param("delta", "float", 0.0, "boosting margin δ (eq. 10)"),
        Param("boosted", "bool", False, "boosted training (eq. 10)"),
    )
    handles_missing = True
    presets = {"paper": paper_preset}
    #: registered buffer: bool ``[S, M]``, the modalities of every term (candidate)
    candidates: torch.Tensor

    def __init__(
        self,
        meta: DatasetMeta,
        feature_dim: int = 64,
        head_hidden: int = 128,
        dropout: float = 0.5,
        beta: float = 0.5,
        delta: float = 0.0,
        boosted: bool = False,
        encoder: dict[str, Any] | None = None,
        encoder_overrides: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(
            meta,
            feature_dim=feature_dim,
            encoder=encoder,
            encoder_overrides=encoder_overrides,
            head_hidden=head_hidden,
            dropout=dropout,
            beta=beta,
            delta=delta,
            boosted=boosted,
        )
        self.beta, self.delta, self.boosted = float(beta), float(delta), bool(boosted)
        self.register_buffer("candidates", torch.as_tensor(self.candidate_table()))
        n_out = meta.n_classes
        self.heads = BatchedHeads(int(self.candidates.shape[0]), feature_dim, n_out, head_hidden, dropout)
        # evaluator hint: rows per fuse call so that the [rows, S, width] head activations stay ~2^24 floats
        self.max_fuse_rows = max(64, 2**24 // (int(self.candidates.shape[0]) * max(head_hidden, feature_dim, n_out)))

    def candidate_table(self) -> np.ndarray:
        """Mul: one term per modality."""
        return np.eye(self.meta.n_modalities, dtype=bool)

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Mul: every modality's classifier logits (fast path: ``fuse`` only combines)."""
        z = self.heads(self.stack(self.embeddings(inputs)))
        return {n: z[:, m] for m, n in enumerate(self.modality_names)}

    def term_logits(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``[B, S, C]`` of every term from ``encode``'s output."""
        return self.stack(features)

    def term_log_probs(
        self, features: dict[str, torch.Tensor], available: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities ``[B, S, C']`` and availability ``[B, S]`` of every term (candidate)."""
        cand = self.candidates
        z = self.term_logits(features)
        cand_avail = (available[:, None, :] | ~cand[None]).all(dim=-1)
        if self.meta.task_type == "multilabel":  # labels as binary problems: [B, S, L, 2]
            log_p = torch.stack([F.logsigmoid(-z), F.logsigmoid(z)], dim=-1).flatten(2)
        else:
            log_p = torch.log_softmax(z, dim=-1)
        return log_p, cand_avail

    def class_losses(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        """``L^c`` per sample: ``[B, C]`` (multi-label: ``[B, L, 2]``)."""
        log_p, cand_avail = self.term_log_probs(features, available)
        losses = mul_class_losses(log_p.float(), cand_avail, self.beta)
        if self.meta.task_type == "multilabel":
            losses = losses.view(losses.shape[0], -1, 2)
        return losses

    @staticmethod
    def logits_from_losses(losses: torch.Tensor) -> torch.Tensor:
        if losses.dim() == 3:
            return losses[..., 0] - losses[..., 1]
        return -losses

    def fuse(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        return self.logits_from_losses(self.class_losses(features, available))

    def mul_loss(self, losses: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean of ``L^y`` (eq. 9), or the boosted loss (eq. 10) when ``boosted``."""
        if losses.dim() == 3:  # multi-label: [B, L, 2]
            t = target.long().unsqueeze(-1)
            own = losses.gather(-1, t).squeeze(-1)
            other = losses.gather(-1, 1 - t).squeeze(-1)
        else:
            own = losses.gather(1, target.view(-1, 1)).squeeze(1)
            masked = losses.scatter(1, target.view(-1, 1), float("inf"))
            other = masked.min(dim=1).values
        if self.boosted:
            own = own * ((other - own) <= self.delta).to(own.dtype)
        return own.mean()

    def training_loss(
        self, inputs: dict[str, torch.Tensor], available: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        losses = self.class_losses(self.encode(inputs), available)
        return self.mul_loss(losses, target), self.logits_from_losses(losses)


@register_baseline("mulmix")
class MulMix(Mul):
    """Mixture candidates (eq. 11) combined multiplicatively (eq. 13); candidate count capped for large M."""

    params = Mul.params + (
        Param("max_mixture_size", "int", None, "largest candidate size (none: M)", min=1, nullable=True),
        Param("max_candidates", "int", 64, "cap on the number of mixture candidates (seeded draw beyond it)", min=1),
        Param("candidate_seed", "int", 0, "seed of the candidate draw", min=0),
    )

    def __init__(
        self,
        meta: DatasetMeta,
        feature_dim: int = 64,
        head_hidden: int = 128,
        dropout: float = 0.5,
        beta: float = 0.5,
        delta: float = 0.0,
        boosted: bool = False,
        max_mixture_size: int | None = None,
        max_candidates: int = 64,
        candidate_seed: int = 0,
        encoder: dict[str, Any] | None = None,
        encoder_overrides: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self._cand_args = (max_mixture_size, int(max_candidates), int(candidate_seed))
        super().__init__(
            meta,
            feature_dim=feature_dim,
            head_hidden=head_hidden,
            dropout=dropout,
            beta=beta,
            delta=delta,
            boosted=boosted,
            encoder=encoder,
            encoder_overrides=encoder_overrides,
        )
        self.hparams.update(
            max_mixture_size=max_mixture_size, max_candidates=max_candidates, candidate_seed=candidate_seed
        )

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """MulMix: the modality embeddings (mixtures are formed in ``fuse``)."""
        return self.embeddings(inputs)

    def term_logits(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        f = self.stack(features)
        h = torch.einsum("sm,bmd->bsd", self.candidates.to(f.dtype), f)  # eq. 11: additive mixture features
        return self.heads(h)

    def candidate_table(self) -> np.ndarray:
        size, cap, seed = self._cand_args
        return mixture_candidates(self.meta.n_modalities, size, cap, seed)

    def effective_config(self) -> dict[str, Any]:
        """The candidate set actually built: its size, the size of the (size-capped) power set it stands for, and
        whether ``max_candidates`` cut it (always for M > 6 at the default cap of 64, since 2^7 − 1 = 127)."""
        size, cap, seed = self._cand_args
        m = self.meta.n_modalities
        k_max = m if size is None else max(1, min(int(size), m))
        total = sum(math.comb(m, k) for k in range(1, k_max + 1))
        n = int(self.candidates.shape[0])
        return {
            "n_candidates": n,
            "power_set_size": total,
            "capped": n < total,
            "max_mixture_size": size,
            "max_candidates": cap,
            "candidate_seed": seed,
        }

    @property
    def notes(self) -> list[str]:
        """A note for the results when the candidate cap binds (the paper uses the full power set)."""
        c = self.effective_config()
        if not c["capped"]:
            return []
        return [
            f"mulmix: {c['n_candidates']} of {c['power_set_size']} mixture candidates (all singletons"
            f"{', the full set' if c['max_mixture_size'] is None else ''} and a seeded draw, candidate_seed "
            f"{c['candidate_seed']}; max_candidates {c['max_candidates']})"
        ]
