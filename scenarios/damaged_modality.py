"""``damaged-modality@v1``: a fraction d of one modality's features damaged per sample (DMF Table 1).

Hu et al., "Dense Multimodal Fusion for Hierarchically Joint Representation" (DMF, 2019), Table 1: the right half of
the MNIST images is damaged at increasing rates while the left half is intact (or absent). Conditions, modality by
modality (store order), then by rate d in ``rates`` (default 0.1, 0.3, 0.5, 0.7, 0.9):

* ``damage-<m>-d<d>``: modality m damaged at rate d, every other modality present;
* ``damage-<m>-d<d>-alone`` (when ``alone``): modality m damaged at rate d and the only modality available
  (DMF's "right half only" column).

Damage rule (``region``): ``random`` — exactly ``round(d * F)`` of the F features (every element of the per-sample
array) of each sample, the ones with the smallest of F uniform draws; ``contiguous`` (image and spectrogram
modalities only) — a rectangle of ``h = round(sqrt(d) * H)`` rows and ``w = round(d * H * W / h)`` columns (both
at least 1, at most the image) over every channel, its top-left corner uniform over the positions that keep it
inside the image. Condition ``c`` draws from ``PCG64([seed, 3, c])``. Damaged features are set to ``value``:
``zero`` (0 in the store's scaled values, DMF's choice) or ``fill`` (treated as missing, so the evaluator's fill
replaces them — the training mean under the protocol fill). The masks are regenerated from the seed and checked
against each condition's ``elements_sha256`` (:mod:`.elements`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modalbench.errors import ModalbenchError

from .base import SplitView, register_scenario
from .elements import DAMAGE_TAG, ElementArrays, ElementFamily
from .params import validate_rates
from .rng import integers, make_rng, uniform

DEFAULT_DAMAGE_RATES = [0.1, 0.3, 0.5, 0.7, 0.9]
REGIONS = ("random", "contiguous")
VALUES = ("zero", "fill")
_SPATIAL_KINDS = ("image", "spectrogram")


def damage_label(d: float) -> str:
    return f"d{float(d):.2f}"


def random_damage(rng: np.random.Generator, n: int, shape: Sequence[int], rate: float) -> np.ndarray:
    """``(n, *shape)`` bool: per sample exactly ``round(rate * F)`` of its F elements True, uniformly chosen."""
    features = int(np.prod(shape))
    k = min(features, max(1, int(round(rate * features))))
    keys = uniform(rng, n * features).reshape(n, features)
    chosen = np.argsort(keys, axis=1, kind="stable")[:, :k]
    mask = np.zeros((n, features), dtype=bool)
    np.put_along_axis(mask, chosen, True, axis=1)
    return mask.reshape(n, *shape)


def contiguous_damage(rng: np.random.Generator, n: int, shape: Sequence[int], rate: float) -> np.ndarray:
    """``(n, C, H, W)`` bool: per sample one rectangle of about ``rate`` of the image area, every channel."""
    if len(shape) != 3:
        raise ModalbenchError(f"contiguous damage needs (C, H, W) samples, got shape {tuple(shape)}")
    _, height, width = (int(s) for s in shape)
    h = min(height, max(1, int(round(np.sqrt(rate) * height))))
    w = min(width, max(1, int(round(rate * height * width / h))))
    top = integers(rng, n, height - h + 1)
    left = integers(rng, n, width - w + 1)
    rows = np.arange(height)[None, :]
    cols = np.arange(width)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + h)  # (n, H)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + w)  # (n, W)
    region = in_rows[:, :, None] & in_cols[:, None, :]  # (n, H, W)
    return np.ascontiguousarray(np.broadcast_to(region[:, None], (n, *(int(s) for s in shape))))


@register_scenario
class DamagedModality(ElementFamily):
    family = "damaged-modality"
    version = "v1"
    description = "a fraction d of one modality's features damaged per sample (zero or fill), modality by modality"
    reference = "Hu et al., Dense Multimodal Fusion for Hierarchically Joint Representation (DMF), 2019, Table 1"
    applies_to = (
        "every dataset whose modalities record a per-sample shape (series windows, images, spectrograms, vectors); "
        "region=contiguous: image and spectrogram modalities only"
    )
    #: fill the evaluator uses unless the user passes one: the training mean (natural gaps, value=fill)
    protocol_fill = "mean"
    rule = (
        "random: per sample the round(d*F) features with the smallest of F uniform draws of PCG64([seed, 3, c]); "
        "contiguous: an h x w rectangle, h = round(sqrt(d)*H), w = round(d*H*W/h), top and left uniform"
    )

    def default_params(self, ds: Any) -> dict[str, Any]:
        return {"rates": list(DEFAULT_DAMAGE_RATES), "region": "random", "value": "zero", "alone": True}

    def validate_params(self, params: dict[str, Any]) -> None:
        validate_rates(self.id, params["rates"])
        params["rates"] = [round(float(r), 6) for r in params["rates"]]
        if params["region"] not in REGIONS:
            raise ModalbenchError(
                f"{self.id} parameter region must be one of {', '.join(REGIONS)}, got {params['region']!r}"
            )
        if params["value"] not in VALUES:
            raise ModalbenchError(
                f"{self.id} parameter value must be one of {', '.join(VALUES)}, got {params['value']!r}"
            )
        if not isinstance(params["alone"], bool):
            raise ModalbenchError(f"{self.id} parameter alone must be true or false, got {params['alone']!r}")

    def condition_specs(self, view: SplitView, params: dict[str, Any]) -> list[tuple[dict[str, Any], np.ndarray]]:
        m = len(view.modalities)
        if params["region"] == "contiguous":
            flat = [n for n, k in zip(view.modalities, view.modality_kinds) if k not in _SPATIAL_KINDS]
            if flat:
                raise ModalbenchError(
                    f"{self.id} parameter region=contiguous needs image or spectrogram modalities; "
                    f"{view.name} has {', '.join(flat)} of another kind (use region=random)"
                )
        out = []
        variants = [False, True] if params["alone"] and m > 1 else [False]
        for j, name in enumerate(view.modalities):
            for alone in variants:
                for d in params["rates"]:
                    row = np.zeros(m, dtype=bool) if alone else np.ones(m, dtype=bool)
                    row[j] = True
                    cid = f"damage-{name}-{damage_label(d)}" + ("-alone" if alone else "")
                    desc = f"{name}: {round(d * 100)}% of its features damaged" + (
                        ", the only modality" if alone else ", the others intact"
                    )
                    cond = {
                        "id": cid,
                        "description": desc,
                        "modality": name,
                        "modality_index": j,
                        "damage_rate": d,
                        "n_available": int(row.sum()),
                        "missing_rate": round(1.0 - int(row.sum()) / m, 6),
                    }
                    out.append((cond, row))
        return out

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
        j = int(condition["modality_index"])
        rng = make_rng(seed, DAMAGE_TAG, index)
        rate = float(condition["damage_rate"])
        draw = contiguous_damage if params["region"] == "contiguous" else random_damage
        arrays: ElementArrays = [None] * len(shapes)
        arrays[j] = draw(rng, n_samples, shapes[j], rate)
        return arrays

    def achieved(self, arrays: ElementArrays) -> dict[str, Any]:
        a = next(x for x in arrays if x is not None)
        return {"achieved_rate": round(float(a.mean()), 6) if a.size else 0.0}

    def apply(
        self,
        inputs: Mapping[str, np.ndarray],
        names: Sequence[str],
        arrays: ElementArrays,
        *,
        condition: Mapping[str, Any],
        params: Mapping[str, Any],
    ) -> dict[str, np.ndarray]:
        out = dict(inputs)
        replacement = 0.0 if params["value"] == "zero" else np.nan
        for name, mask in zip(names, arrays):
            if mask is None:
                continue
            x = inputs[name]
            if mask.shape != x.shape:
                raise ModalbenchError(
                    f"{self.id}: damage mask of {name!r} has shape {mask.shape}, the inputs {tuple(x.shape)}"
                )
            out[name] = np.where(mask, np.asarray(replacement, dtype=x.dtype), x)
        return out
