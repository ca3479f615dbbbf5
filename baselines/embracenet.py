"""EmbraceNet (Choi & Lee, "EmbraceNet: A robust deep learning architecture for multimodal classification",
Information Fusion 51, 2019).

Pre-processing: a kind-specific encoder per modality. **Docking** (eq. 1): ``d_k = ReLU(W_k f_k + b_k)`` of size
``c`` for every modality ``k``. **Selection** (eqs. 2–4): selection probabilities ``p`` (eq. 2), adjusted to the
availability ``a``, ``p'_k = p_k a_k / Σ_j p_j a_j`` (eq. 3), and for every component ``i`` a one-hot
``r_i ~ Multinomial(1, p')`` (eq. 4) picks the modality whose docked value is used. **Embracement** (eq. 5):
``e_i = Σ_k r_{i,k} d_{k,i}``. A missing modality is never selected; a sample with no modality available gets
``e = 0`` (no NaN). The embraced vector goes through the post-embracement MLP head.

Options:

* ``adj_pre`` (§5.1, §6.3.6): training-time modality dropout at the mean missing rate ``p_missing`` (default 0.5,
  the paper's "average modality missing probability of 50 %"). Per training sample each available modality is
  dropped independently with probability ``q_n``, conditioned on at least one modality being kept, where ``q_n``
  (for ``n`` available modalities) is chosen so that the expected share of dropped modalities is ``p_missing``:
  ``(q − q^n)/(1 − q^n) = p_missing``. The constraint caps the share at ``(n − 1)/n``; when ``p_missing``
  reaches it (M = 2 with 0.5) every sample keeps exactly one modality, chosen uniformly, so the rate is exactly
  ``(n − 1)/n`` (0.5 for M = 2). The MNIST-halves protocol of Table 1 ("one modality kept at random with
  probability 0.5") is ``p_missing = 0.25`` at M = 2 (the ``paper`` preset). Recorded as regime
  ``modality-dropout``. (The draw is per sample rather than per iteration, which has the same expectation.)
* ``adj_post`` (§5.2): the trainer's :meth:`EmbraceNet.calibrate` sets ``p`` proportional to each modality's
  validation F1 (buffer ``selection_p``, saved with the checkpoint).

Selection stays random at test time. It is seeded (``eval_seed``) and can be averaged over ``n_repeats`` draws
(class probabilities averaged). Two sources of test-time randomness: by default a ``torch.Generator`` seeded with
``eval_seed`` (re-seed with :meth:`reset_eval_rng`); when the evaluator supplies per-row sample keys
(:meth:`set_sample_keys`), the uniforms are a counter-based hash of (eval_seed, repeat, sample key, component), so
a test sample's draws do not depend on batch size, on batching of conditions, or on the fast vs. plain path.
Training-time draws use torch's global RNG, seeded by the trainer.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta
from modalbench.params import Param

from .base import (
    DROPOUT,
    EMBRACENET_RECIPE,
    ENCODER,
    ENCODER_OVERRIDES,
    FEATURE_DIM,
    HEAD_HIDDEN,
    SERIES_DEEPCONVLSTM,
    dataset_family,
)
from .encoders import mlp_head
from .intermediate import EncodedFusion
from .registry import register_baseline

_M32 = 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xor-shift-multiply) on int64 tensors holding values < 2^32."""
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _M32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _M32
    return (x >> 16) ^ x


def counter_uniforms(keys: torch.Tensor, n: int, seed: int, repeat: int = 0) -> torch.Tensor:
    """Uniforms in [0, 1) of shape ``[B, n]``, a deterministic function of (seed, repeat, key, component)."""
    k = keys.to(torch.int64).view(-1, 1) & _M32
    comp = torch.arange(n, device=keys.device, dtype=torch.int64).view(1, -1)
    s = _mix32(torch.tensor((seed * 1_000_003 + repeat) & _M32, device=keys.device, dtype=torch.int64))
    x = _mix32(((k * 0x27D4EB2D) & _M32) ^ _mix32(comp + 0x165667B1) ^ s)
    x = _mix32((x + k) & _M32)
    return (x >> 8).to(torch.float32) / float(1 << 24)


def drop_probability(n: int, rate: float) -> float:
    """Per-modality drop probability ``q`` giving a mean missing share ``rate`` among ``n`` available modalities
    when at least one is kept: the root of ``(q − q^n)/(1 − q^n) = rate`` (1.0 when ``rate >= (n − 1)/n``)."""
    if n <= 1 or rate <= 0.0:
        return 0.0
    if rate >= (n - 1) / n:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(60):  # bisection; the share increases with q
        q = (lo + hi) / 2
        if (q - q**n) / (1 - q**n) < rate:
            lo = q
        else:
            hi = q
    return (lo + hi) / 2


def dropped_count_cdf(m: int, rate: float) -> torch.Tensor:
    """``cdf[n, k]``: P(at most k of n available modalities dropped), k < n, for n = 0..m (truncated binomial)."""
    cdf = torch.ones(m + 1, max(m, 1), dtype=torch.float64)
    for n in range(2, m + 1):
        q = drop_probability(n, rate)
        if q >= 1.0:
            probs = [0.0] * (n - 1) + [1.0]  # exactly n - 1 dropped: one kept
        else:
            probs = [math.comb(n, k) * q**k * (1 - q) ** (n - k) for k in range(n)]
        total = sum(probs)
        acc = 0.0
        for k in range(n):
            acc += probs[k] / total
            cdf[n, k] = acc
        cdf[n, n - 1] = 1.0
    return cdf


def modality_dropout(available: torch.Tensor, rate: float, cdf: torch.Tensor | None = None) -> torch.Tensor:
    """Availability after adj_pre dropout at mean missing share ``rate`` (see the module docstring).

    Draws the number ``k`` of dropped modalities per row from the truncated binomial, then drops ``k`` of the row's
    available modalities uniformly at random (torch's global RNG). Rows keep at least one available modality.
    """
    b, m = available.shape
    dev = available.device
    if cdf is None:
        cdf = dropped_count_cdf(m, rate)
    n = available.sum(dim=1)  # [B]
    u = torch.rand(b, 1, device=dev, dtype=torch.float64)
    k = (u > cdf.to(dev)[n]).sum(dim=1)  # dropped count per row, < n
    score = torch.rand(b, m, device=dev).masked_fill(~available, 2.0)  # unavailable ones rank last
    rank = score.argsort(dim=1).argsort(dim=1)  # rank among the row's modalities, available ones first
    return available & (rank >= k.unsqueeze(1))


def paper_preset(meta: DatasetMeta) -> dict[str, Any]:
    """EmbraceNet's own set-up: c = 1024 on gas sensor and OPPORTUNITY (DeepConvLSTM pre-processing), c = 512 on
    MNIST-style image halves with the Table 1 adj_pre protocol (p_missing 0.25) and zero fill; Adam, lr 1e-3."""
    fam = dataset_family(meta)
    hp: dict[str, Any] = {"recipe": dict(EMBRACENET_RECIPE)}
    notes = ["Adam lr 1e-3, batch 64 (§6.2)"]
    fill = None
    if fam in ("opportunity", "gas-sensor"):
        hp["embrace_dim"] = 1024
        hp["p_missing"] = 0.5
        notes.append("c = 1024; adj_pre missing share 0.5 (§6.3.6)")
        if fam == "opportunity":
            hp["encoder_overrides"] = dict(SERIES_DEEPCONVLSTM)
            notes.append("DeepConvLSTM pre-processing per modality")
    elif fam == "image-halves":
        hp["embrace_dim"] = 512
        hp["p_missing"] = 0.25
        fill = "zero"
        notes.append(
            "c = 512; Table 1 adj_pre: one half kept at random in half the samples (p_missing 0.25); "
            "missing half zero-filled"
        )
    else:
        notes.append("dataset not in the paper: embrace_dim and p_missing keep modalbench's defaults")
    return {"hparams": hp, "fill": fill, "notes": notes}


@register_baseline("embracenet")
class EmbraceNet(EncodedFusion):
    """Docking layers + probabilistic embracement + post-embracement head."""

    #: registered buffer ``[M]``: the selection probabilities ``p`` (eq. 3; validation F1 under adj_post)
    selection_p: torch.Tensor

    params = (
        FEATURE_DIM,
        Param("embrace_dim", "int", 256, "docking / embracement size c", min=1),
        HEAD_HIDDEN,
        DROPOUT,
        Param("adj_pre", "bool", False, "training-time modality dropout (regime modality-dropout)"),
        Param("adj_post", "bool", False, "selection probabilities from each modality's validation F1"),
        Param(
            "p_missing",
            "float",
            0.5,
            "adj_pre mean missing share of the available modalities",
            min=0.0,
            max=1.0,
            max_open=True,
        ),
        Param("n_repeats", "int", 1, "test-time draws averaged", min=1),
        Param("eval_seed", "int", 0, "seed of the test-time draws", min=0),
        Param(
            "selection_probabilities",
            "list",
            None,
            "selection probabilities p, one per modality",
            item="float",
            min=0.0,
            nullable=True,
        ),
        ENCODER,
        ENCODER_OVERRIDES,
    )
    handles_missing = True
    presets = {"paper": paper_preset}

    def __init__(
        self,
        meta: DatasetMeta,
        feature_dim: int = 64,
        embrace_dim: int = 256,
        head_hidden: int = 128,
        dropout: float = 0.5,
        adj_pre: bool = False,
        adj_post: bool = False,
        p_missing: float = 0.5,
        n_repeats: int = 1,
        eval_seed: int = 0,
        selection_probabilities: list[float] | None = None,
        encoder: dict[str, Any] | None = None,
        encoder_overrides: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        m = meta.n_modalities
        if selection_probabilities is not None:
            p = torch.as_tensor(selection_probabilities, dtype=torch.float32)
            if p.shape != (m,) or (p < 0).any() or p.sum() <= 0:
                raise ModalbenchError(
                    f"embracenet: selection_probabilities must be {m} values >= 0 with a "
                    f"positive sum, got {selection_probabilities!r}"
                )
        else:
            p = torch.ones(m)
        if int(n_repeats) < 1:
            raise ModalbenchError(f"embracenet: n_repeats must be >= 1, got {n_repeats!r}")
        if int(embrace_dim) < 1:
            raise ModalbenchError(f"embracenet: embrace_dim must be >= 1, got {embrace_dim!r}")
        if not 0.0 <= float(p_missing) < 1.0:
            raise ModalbenchError(f"embracenet: p_missing must be in [0, 1), got {p_missing!r}")
        super().__init__(
            meta,
            feature_dim=feature_dim,
            encoder=encoder,
            encoder_overrides=encoder_overrides,
            embrace_dim=embrace_dim,
            head_hidden=head_hidden,
            dropout=dropout,
            adj_pre=adj_pre,
            adj_post=adj_post,
            p_missing=p_missing,
            n_repeats=n_repeats,
            eval_seed=eval_seed,
            selection_probabilities=selection_probabilities,
        )
        self.embrace_dim = int(embrace_dim)
        self.adj_pre, self.adj_post = bool(adj_pre), bool(adj_post)
        self.n_repeats, self.eval_seed = int(n_repeats), int(eval_seed)
        self.p_missing = float(p_missing)
        self._dropped_cdf = dropped_count_cdf(m, self.p_missing)
        self.regime = "modality-dropout" if self.adj_pre else "full-modality"
        self.docking = nn.ModuleList(nn.Linear(feature_dim, self.embrace_dim) for _ in range(m))
        self.head = mlp_head(self.embrace_dim, meta.n_classes, head_hidden, dropout)
        self.register_buffer("selection_p", p / p.sum())
        self._sample_keys: torch.Tensor | None = None
        self._eval_gen = torch.Generator().manual_seed(self.eval_seed)

    # -- calibration (adj_post) and test-time randomness ------------------------------------------------------
    @property
    def wants_calibration(self) -> bool:
        return self.adj_post

    def calibrate(self, per_modality_val_f1: list[float]) -> None:
        """adj_post (§5.2): ``p_k ∝`` modality ``k``'s validation F1 (no-op unless ``adj_post``)."""
        if not self.adj_post:
            return
        f1 = torch.as_tensor(per_modality_val_f1, dtype=torch.float32)
        if f1.shape != self.selection_p.shape or not torch.isfinite(f1).all() or (f1 < 0).any():
            raise ModalbenchError(
                f"embracenet calibrate: expected {self.selection_p.numel()} finite F1 values "
                f">= 0, got {per_modality_val_f1!r}"
            )
        self.selection_p.copy_(f1 / f1.sum() if f1.sum() > 0 else torch.full_like(f1, 1.0 / f1.numel()))

    def set_sample_keys(self, keys: torch.Tensor | None) -> None:
        """Per-row integer keys for counter-based test-time selection (``None``: use the seeded generator)."""
        self._sample_keys = keys

    def reset_eval_rng(self, seed: int | None = None) -> None:
        self._eval_gen = torch.Generator().manual_seed(self.eval_seed if seed is None else int(seed))

    def uniforms(self, rows: int, repeat: int, device: torch.device) -> torch.Tensor:
        if self.training:
            return torch.rand(rows, self.embrace_dim, device=device)
        if self._sample_keys is not None:
            if self._sample_keys.shape[0] != rows:
                raise ModalbenchError(f"embracenet: {self._sample_keys.shape[0]} sample keys for {rows} rows")
            return counter_uniforms(self._sample_keys.to(device), self.embrace_dim, self.eval_seed, repeat)
        return torch.rand(rows, self.embrace_dim, generator=self._eval_gen).to(device)

    # -- the method ------------------------------------------------------------------------------------------
    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Docked features ``d_k`` (eq. 1) per modality."""
        feats = self.embeddings(inputs)
        return {n: torch.relu(dock(feats[n])) for n, dock in zip(self.modality_names, self.docking)}

    def modality_dropout(self, available: torch.Tensor) -> torch.Tensor:
        """adj_pre: drop available modalities at the mean missing share ``p_missing`` (at least one kept)."""
        return modality_dropout(available, self.p_missing, self._dropped_cdf)

    def selection(
        self, available: torch.Tensor, u: torch.Tensor, p: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The modality each component takes (eqs. 3–4): index ``[..., c]`` and ``has_any [..., 1]``.

        ``r_i ~ Multinomial(1, p')`` is drawn by inverse CDF with the uniform ``u_i``. With equal ``p`` (the
        default) ``p'`` is uniform over the ``n`` available modalities, so component ``i`` takes the
        ``floor(u_i n)``-th available one — the same draw without a search (the robustness sweep runs it for
        140 M rows).
        """
        m = available.shape[-1]
        p = (self.selection_p if p is None else p).to(available.device, torch.float32)
        if bool((p == p[0]).all()):
            n = available.sum(dim=-1, keepdim=True, dtype=torch.float32)
            # floor(u n), kept below n against rounding at u -> 1; the min in float32, one conversion at the end
            rank = torch.minimum(u.float() * n, (n - 1).clamp_min(0)).long()
            order = torch.argsort((~available).to(torch.uint8), dim=-1, stable=True)  # available ones first
            return order.gather(-1, rank), n > 0
        w = p * available.float()  # eq. 3 numerator, [..., M]
        total = w.sum(dim=-1, keepdim=True)
        cdf = torch.cumsum(w, dim=-1)
        idx = torch.searchsorted(cdf, u.float() * total, right=True).clamp_max(m - 1)  # eq. 4
        # guard against rounding at the top of the cdf: fall back to the last modality with p' > 0
        last = (w > 0).float().cumsum(-1).argmax(dim=-1, keepdim=True).expand(idx.shape)
        idx = torch.where((w > 0).gather(-1, idx), idx, last)
        return idx, total > 0

    def embrace(
        self,
        docked: torch.Tensor,
        available: torch.Tensor,
        p: torch.Tensor | None = None,
        u: torch.Tensor | None = None,
        return_selection: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Embracement (eqs. 3–5) of docked features ``[B, M, c]``; ``u [B, c]`` uniforms drive the draw.

        Returns ``e [B, c]`` (and the selected modality index ``[B, c]``, −1 where nothing is available).
        """
        if u is None:
            u = self.uniforms(docked.shape[0], 0, docked.device)
        idx, has_any = self.selection(available, u, p)
        e = docked.gather(-2, idx.unsqueeze(-2)).squeeze(-2)  # eq. 5
        e = torch.where(has_any, e, torch.zeros_like(e))
        if return_selection:
            return e, torch.where(has_any, idx, torch.full_like(idx, -1))
        return e

    def fuse_conditions(
        self, real: dict[str, torch.Tensor], masked: dict[str, torch.Tensor], available: torch.Tensor
    ) -> torch.Tensor:
        """Logits ``[K, B, C]`` for availability ``[K, B, M]`` (evaluator hook; the same values as ``fuse``).

        A missing modality is never selected (``p'_k = 0``), so only the real docked features matter: the draw
        gathers from one ``[B, c, M]`` tensor for all ``K`` conditions instead of stacking ``K`` copies.
        """
        k, b, m = available.shape
        c = self.embrace_dim
        docked = self._batch_constant(real, "docked_t", lambda: self.stack(real).transpose(1, 2).contiguous())
        docked = docked.unsqueeze(0).expand(k, b, c, m)

        def draw(r: int) -> torch.Tensor:
            idx, has_any = self.selection(available, self._condition_uniforms(k, b, r, docked.device, real))
            e = docked.gather(-1, idx.unsqueeze(-1)).squeeze(-1)  # [K, B, c]
            if not bool(has_any.all()):
                e = torch.where(has_any, e, torch.zeros_like(e))
            return self.head(e.reshape(k * b, c)).view(k, b, -1)

        return self._over_draws(draw)

    def _over_draws(self, logits_of: Any) -> torch.Tensor:
        """``logits_of(0)``, or for ``n_repeats > 1`` the class probabilities averaged over the draws (as logits)."""
        if self.n_repeats == 1:
            return logits_of(0)
        total = self.predict_proba(logits_of(0).float())
        for r in range(1, self.n_repeats):
            total = total + self.predict_proba(logits_of(r).float())
        probs = total / self.n_repeats
        if self.meta.task_type == "multilabel":
            return torch.logit(probs.clamp(1e-7, 1 - 1e-7))
        return torch.log(probs.clamp_min(1e-12))

    def train(self, mode: bool = True) -> EmbraceNet:
        self.__dict__.pop("_fc_cache", None)  # drop the evaluator's per-batch cache (see _batch_constant)
        return super().train(mode)

    def _batch_constant(self, real: dict[str, torch.Tensor], name: str, make: Any) -> torch.Tensor:
        """A value computed once per encoded batch: the evaluator calls ``fuse_conditions`` many times with the
        same ``real`` tensors. The cache holds references to them, so their identity cannot be reused."""
        tensors = tuple(real[n] for n in self.modality_names)
        cache: tuple[tuple[torch.Tensor, ...], dict[str, torch.Tensor]] | None = self.__dict__.get("_fc_cache")
        if cache is None or len(cache[0]) != len(tensors) or any(x is not y for x, y in zip(cache[0], tensors)):
            cache = (tensors, {})
            self.__dict__["_fc_cache"] = cache
        if name not in cache[1]:
            cache[1][name] = make()
        return cache[1][name]

    def _condition_uniforms(
        self, k: int, b: int, repeat: int, device: torch.device, real: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Uniforms ``[K, B, c]`` for ``K`` conditions; keyed draws are computed once per batch and shared by the
        conditions (the evaluator repeats the batch's sample keys once per condition)."""
        keys = self._sample_keys
        if keys is not None and keys.shape[0] == k * b:
            first = keys[:b]
            if torch.equal(keys.view(k, b), first.unsqueeze(0).expand(k, b)):
                first_dev = first.to(device)
                cached_keys = self._batch_constant(real, "keys", lambda: first_dev)
                if torch.equal(cached_keys, first_dev):
                    u = self._batch_constant(
                        real,
                        f"u{repeat}",
                        lambda: counter_uniforms(first_dev, self.embrace_dim, self.eval_seed, repeat),
                    )
                else:
                    u = counter_uniforms(first_dev, self.embrace_dim, self.eval_seed, repeat)
                return u.unsqueeze(0).expand(k, b, self.embrace_dim)
        return self.uniforms(k * b, repeat, device).view(k, b, self.embrace_dim)

    def fuse(self, features: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        docked = self.stack(features)
        if self.training:
            if self.adj_pre:
                available = self.modality_dropout(available)
            return self.head(self.embrace(docked, available))
        b = docked.shape[0]
        return self._over_draws(
            lambda r: self.head(self.embrace(docked, available, u=self.uniforms(b, r, docked.device)))
        )
