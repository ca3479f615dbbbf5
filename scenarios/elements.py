"""Element-level scenario families (``kind = "element"``): damaged features and additive noise.

Their per-element changes are large (one value per input element, per condition), so they are **not stored**: the
manifest records the rule (family, version, parameters, seed, modality shapes) and, per condition, the
``elements_sha256`` of the arrays the rule produces. The reader regenerates a condition's arrays from the seed and
refuses them (:class:`~.artifacts.ScenarioIntegrityError`) when they do not hash to the recorded value, so every
model is scored on the same damaged or noisy inputs, on any machine. What is stored (and covered by the scenario's
sha256 like in every family) is the ``(K, M)`` ``condition_table`` of modality availability and
``natural_available``.

Draws use only PCG64's raw stream (:mod:`.rng`); a condition ``c`` draws from ``PCG64([seed, tag, c])`` (noise:
``PCG64([seed, tag, c, j])`` per modality ``j``), so conditions are independent of each other and of the order in
which they are read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modalbench.atomic import canonical_json
from modalbench.errors import ModalbenchError

from .base import ScenarioFamily, SplitView, array_header, canonical_array
from .rng import uniform

#: PCG64 stream tags of the element families (random-missing uses 1, block-missing 2)
DAMAGE_TAG = 3
NOISE_TAG = 4

ElementArrays = list[np.ndarray | None]


def standard_normal(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` float32 standard normal draws (Box–Muller on :func:`.rng.uniform` pairs, both outputs used).

    Built from the raw bit stream (numpy's ``Generator.normal`` algorithm may change between releases); computed in
    float64 and rounded to float32, so a last-bit difference of ``log``/``cos`` between platforms almost never reaches
    the stored precision — and when it does, the condition's ``elements_sha256`` check refuses the inputs.
    """
    n = int(n)
    pairs = (n + 1) // 2
    u = uniform(rng, 2 * pairs)
    radius = np.sqrt(-2.0 * np.log1p(-u[:pairs]))  # 1 - u in (0, 1]: log never sees 0
    angle = (2.0 * np.pi) * u[pairs:]
    z = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:n]
    return z.astype(np.float32)


def elements_sha256(arrays: Sequence[np.ndarray | None]) -> str:
    """sha256 of a condition's element arrays: per modality, its canonical header (``null`` when untouched) and
    C-order bytes (bool masks bit-packed)."""
    h = hashlib.sha256()
    for j, a in enumerate(arrays):
        if a is None:
            h.update(canonical_json({"modality": j, "array": None}) + b"\n")
            continue
        a = canonical_array(a)
        h.update(canonical_json({"modality": j, "array": array_header("elements", a)}) + b"\n")
        h.update(np.packbits(a, axis=None).tobytes() if a.dtype == bool else a.tobytes(order="C"))
    return h.hexdigest()


class ElementFamily(ScenarioFamily):
    """A family whose conditions change input elements; subclasses implement :meth:`condition_specs`,
    :meth:`regenerate_condition` and :meth:`apply`."""

    kind = "element"

    def not_applicable(self, ds: Any) -> str | None:
        mods = ds.attrs.get("modalities", [])
        if any(not m.get("shape") for m in mods):
            return f"{self.family} needs the per-sample shape of every modality (store attribute modalities[*].shape)"
        return None

    def condition_specs(self, view: SplitView, params: dict[str, Any]) -> list[tuple[dict[str, Any], np.ndarray]]:
        """Per condition: its manifest entry (without ``elements_sha256``) and its ``(M,)`` availability row."""
        raise NotImplementedError

    def regenerate_condition(
        self,
        *,
        seed: int,
        index: int,
        condition: Mapping[str, Any],
        n_samples: int,
        shapes: Sequence[Sequence[int]],
        kinds: Sequence[str],
        params: Mapping[str, Any],
    ) -> ElementArrays:
        """The element arrays of condition ``index`` (one per modality, None = untouched), from the rule alone."""
        raise NotImplementedError

    def apply(
        self,
        inputs: Mapping[str, np.ndarray],
        names: Sequence[str],
        arrays: ElementArrays,
        *,
        condition: Mapping[str, Any],
        params: Mapping[str, Any],
    ) -> dict[str, np.ndarray]:
        """The split's inputs with the condition's change applied (new arrays; ``inputs`` is not modified)."""
        raise NotImplementedError

    def regenerate(self, manifest: Mapping[str, Any], index: int) -> ElementArrays:
        """The element arrays of condition ``index`` of a stored scenario (its manifest)."""
        return self.regenerate_condition(
            seed=int(manifest["seed"]),
            index=index,
            condition=manifest["conditions"][index],
            n_samples=int(manifest["n_samples"]),
            shapes=[tuple(s) for s in manifest["modality_shapes"]],
            kinds=list(manifest["modality_kinds"]),
            params=manifest["params"],
        )

    def _generate(self, view: SplitView, *, seed: int, params: dict[str, Any]) -> Any:
        specs = self.condition_specs(view, params)
        if len(view.modality_shapes) != len(view.modalities) or not all(view.modality_shapes):
            raise ModalbenchError(f"{self.id}: the store does not record every modality's per-sample shape")
        conds: list[dict[str, Any]] = []
        table = np.zeros((len(specs), len(view.modalities)), dtype=bool)
        for c, (cond, row) in enumerate(specs):
            table[c] = row
            arrays = self.regenerate_condition(
                seed=seed,
                index=c,
                condition=cond,
                n_samples=view.n_samples,
                shapes=view.modality_shapes,
                kinds=view.modality_kinds,
                params=params,
            )
            extra = self.achieved(arrays)
            conds.append({**cond, **extra, "elements_sha256": elements_sha256(arrays)})
        return self._scenario(
            view,
            seed=seed,
            params=params,
            conditions=conds,
            arrays={"condition_table": table, "natural_available": view.natural_available},
            extra={
                "modality_shapes": [list(s) for s in view.modality_shapes],
                "modality_kinds": list(view.modality_kinds),
                "elements_rule": self.rule,
            },
        )

    #: one-line statement of how the element arrays are drawn (recorded in the manifest, covered by the sha256)
    rule: str = ""

    def achieved(self, arrays: ElementArrays) -> dict[str, Any]:
        """Extra manifest fields measured on a condition's arrays (e.g. the damaged fraction actually drawn)."""
        return {}


def sample_axes(x: np.ndarray) -> tuple[int, ...]:
    """Every axis of a batch array but the first (the sample axis)."""
    return tuple(range(1, x.ndim))
