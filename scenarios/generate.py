"""Generate the standard scenarios of a prepared dataset (what ``modalbench scenarios NAME`` runs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modalbench.store import open_store
from modalbench.vocabulary import ROBUSTNESS_FAMILIES, STANDARD_FAMILIES

from .artifacts import GenerateResult, ensure_scenario
from .base import TRAINING_SPLITS, NotApplicableError, get_scenario


@dataclass
class Skipped:
    """A default family that does not apply to the dataset (e.g. block-missing on images)."""

    scenario_id: str
    reason: str


def generate_scenarios(
    root: str | Path | None,
    name: str,
    families: list[str] | None = None,
    *,
    seed: int = 0,
    split: str = "test",
    version: str | None = None,
    on_corrupt: str = "refuse",
    robustness: bool = False,
) -> list[GenerateResult | Skipped]:
    """Generate (or reuse) scenarios of dataset ``name``.

    ``families=None`` means every standard family; families that do not apply are returned as
    :class:`Skipped`. Explicitly requested families that do not apply raise :class:`ModalbenchError`.
    A stored artifact that fails its sha256 is refused (``on_corrupt="refuse"``: evaluation) or regenerated with
    status ``repaired`` (``on_corrupt="regenerate"``: the ``modalbench scenarios`` command); see
    :func:`~.artifacts.ensure_scenario`. ``robustness=True`` adds the element-level robustness families
    and the training scenario ``train-missing`` to the default list; a training scenario is always generated on the
    train split.
    """
    ds = open_store(name, root=root, version=version)
    explicit = families is not None
    ids: list[str] = []
    defaults = list(STANDARD_FAMILIES) + (list(ROBUSTNESS_FAMILIES) if robustness else [])
    for fam_name in families if families is not None else defaults:
        fam_id = get_scenario(fam_name).id
        if fam_id not in ids:
            ids.append(fam_id)
    out: list[GenerateResult | Skipped] = []
    for fam_id in ids:
        try:
            fam_split = "train" if get_scenario(fam_id).splits == TRAINING_SPLITS else split
            out.append(ensure_scenario(ds, root, fam_id, seed=seed, split=fam_split, on_corrupt=on_corrupt))
        except NotApplicableError as exc:
            if explicit:
                raise
            out.append(Skipped(fam_id, str(exc)))
    return out
