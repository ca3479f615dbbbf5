"""missing-modalities@v2 (samples with natural gaps left out, EmbraceNet §6.4.1) and the rule that a sample with no
available modality is never scored, in every family."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from helpers.scenario_stores import make_image_store
from modalbench.app import workflows
from modalbench.app.workflows import evaluate_scenario
from modalbench.data import StoreReader
from modalbench.meta import DatasetMeta
from modalbench.paths import store_path
from modalbench.scenarios import get_scenario
from modalbench.scenarios.artifacts import ensure_scenario
from modalbench.scenarios.reader import ScenarioReader

N_TEST = 300


class Oracle(nn.Module):
    """Knows every test label (keyed by the first pixel of modality 0, fill ``none`` keeps it) and answers right
    only when ``rule(available)`` holds for the row; a scored row that breaks the rule lowers the accuracy."""

    handles_missing = True

    def __init__(self, meta: DatasetMeta, keys: np.ndarray, labels: np.ndarray, rule: str) -> None:
        super().__init__()
        self.meta = meta
        self.lookup = {float(k): int(y) for k, y in zip(keys, labels)}
        self.rule = rule

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        first = inputs[self.meta.modality_names[0]].reshape(len(available), -1)[:, 0].tolist()
        y = torch.tensor([self.lookup[k] for k in first])
        count = available.sum(1)
        ok = count > 0 if self.rule == "any" else count == count.max()
        pred = torch.where(ok, y, 1 - y)
        return torch.nn.functional.one_hot(pred, self.meta.n_classes).float()


@pytest.fixture(scope="module")
def gappy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, workflows.TestData]:
    """A 3-modality image store whose test samples have about 10 % natural gaps (each keeps >= 1 modality)."""
    root = tmp_path_factory.mktemp("gappy")
    make_image_store(root, "gappy", n_modalities=3, counts=(20, 10, N_TEST), unavailable_rate=0.1, seed=3)
    reader = StoreReader(str(store_path(root, "gappy", "v1")), split="test")
    inputs, natural, labels = reader.read_all()
    test = workflows.TestData(reader, inputs, natural, labels, np.arange(reader.start, reader.stop))
    assert 0.15 < (~natural.all(axis=1)).mean() < 0.4  # ~10 % per entry, 3 modalities
    return root, test


def _scenario(root: Path, test: workflows.TestData, sid: str) -> ScenarioReader:
    from modalbench.store import open_store

    res = ensure_scenario(open_store("gappy", root=root, version="v1"), root, sid, seed=0)
    return ScenarioReader(res.path)


def _oracle(test: workflows.TestData, rule: str) -> Oracle:
    first = test.inputs["v0"].reshape(len(test.labels), -1)[:, 0]
    assert len(np.unique(first)) == len(first)
    return Oracle(test.reader.meta, first, test.labels, rule)


def test_v2_is_the_standard_version_and_v1_stays_registered() -> None:
    assert get_scenario("missing-modalities").id == "missing-modalities@v2"
    assert get_scenario("missing-modalities@v1").excludes_natural_gaps is False
    assert get_scenario("missing-modalities@v2").excludes_natural_gaps is True


def test_v2_manifest_records_the_excluded_samples(gappy: tuple[Path, workflows.TestData]) -> None:
    root, test = gappy
    v2 = _scenario(root, test, "missing-modalities@v2")
    gaps = int((~test.natural.all(axis=1)).sum())
    assert [c["n_excluded"] for c in v2.conditions] == [gaps] * 7
    assert [c["n_scored"] for c in v2.conditions] == [N_TEST - gaps] * 7
    assert np.array_equal(np.asarray(v2._arrays["scored_samples"][...]), test.natural.all(axis=1))
    v1 = _scenario(root, test, "missing-modalities@v1")
    assert "n_excluded" not in v1.conditions[0] and v1.sha256 != v2.sha256


def test_v2_never_scores_a_sample_with_fewer_modalities_than_the_condition_keeps(
    gappy: tuple[Path, workflows.TestData],
) -> None:
    root, test = gappy
    model = _oracle(test, "all-kept")
    v2 = evaluate_scenario(model, test, _scenario(root, test, "missing-modalities@v2"), "none", batch_size=64)
    assert all(m["accuracy"] == 1.0 for m in v2.metrics)
    assert v2.n_scored == [int(test.natural.all(axis=1).sum())] * 7
    # the v1 rule scores gappy samples under k-modality conditions: the same oracle is caught
    v1 = evaluate_scenario(model, test, _scenario(root, test, "missing-modalities@v1"), "none", batch_size=64)
    assert min(m["accuracy"] for m in v1.metrics) < 1.0


@pytest.mark.parametrize("sid", ["full@v1", "missing-modalities@v1", "missing-modalities@v2", "random-missing@v1"])
def test_zero_available_samples_are_never_scored(gappy: tuple[Path, workflows.TestData], sid: str) -> None:
    root, test = gappy
    reader = _scenario(root, test, sid)
    got = evaluate_scenario(_oracle(test, "any"), test, reader, "none", batch_size=64)
    assert all(m["accuracy"] == 1.0 for m in got.metrics)
    for c in range(reader.n_conditions):
        avail = reader.availability(c, test.indices)
        expected = int(avail.any(axis=1).sum())
        if sid.endswith("@v2"):
            expected = int((avail.any(axis=1) & test.natural.all(axis=1)).sum())
        assert got.n_scored[c] == expected
    if sid == "missing-modalities@v1":  # single-modality conditions meet samples lacking that modality
        assert min(got.n_scored) < N_TEST
