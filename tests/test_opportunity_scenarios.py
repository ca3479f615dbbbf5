"""Scenarios on an OPPORTUNITY store prepared from the fixture archive: 14,319 missing-modality conditions
(19 modalities, EmbraceNet's cap of 1000 subsets per size) and block-missing at 10–90 %."""

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from modalbench.errors import ModalbenchError
from modalbench.preprocess.pipeline import prepare
from modalbench.scenarios import generate_scenarios, get_scenario, load_scenario
from modalbench.scenarios.artifacts import ensure_scenario
from modalbench.store import open_store

FIXTURE = Path(__file__).parent / "data" / "opportunity" / "OpportunityUCIDataset.zip"


@pytest.fixture(scope="module")
def opp_root(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("opp")
    raw = tmp / "raw"
    raw.mkdir()
    shutil.copy(FIXTURE, raw / "OpportunityUCIDataset.zip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fixture's members cannot match the real checksums
        prepare("opportunity", root=tmp / "root", raw=raw, verification="warn", progress=False)
    return tmp / "root"


def test_missing_modalities_has_14319_conditions(opp_root):
    (res,) = generate_scenarios(opp_root, "opportunity", ["missing-modalities"], seed=0)
    assert res.manifest["n_conditions"] == 14_319


def test_block_missing_defaults_are_embracenets_10_to_30_seconds(opp_root):
    ds = open_store(opp_root, "opportunity")
    params = get_scenario("block-missing").resolve_params(ds, {})
    assert params["min_length"] == 300 and params["max_length"] == 900
    assert params["rates"] == [round(0.1 * i, 1) for i in range(1, 10)]


def test_block_missing_on_fixture_recordings(opp_root):
    ds = open_store(opp_root, "opportunity")
    # the fixture's test recordings are a few dozen steps long: 300-900-step blocks cannot fit a 10 % budget
    with pytest.raises(ModalbenchError, match="too long for a split of"):
        ensure_scenario(ds, opp_root, "block-missing@v1", seed=0)
    ensure_scenario(ds, opp_root, "block-missing@v1", seed=0, min_length=1, max_length=3)
    block = load_scenario(opp_root, "opportunity", "block-missing@v1", seed=0)
    assert [c["missing_rate"] for c in block.conditions] == [round(0.1 * i, 1) for i in range(1, 10)]
    achieved = np.array([c["achieved_rate"] for c in block.conditions])
    assert np.all(achieved >= np.arange(1, 10) / 10 - 1e-9) and np.all(achieved <= np.arange(1, 10) / 10 + 0.01 + 1e-9)


def test_gestures_null_class_is_left_out_of_validation_only(opp_root):
    from modalbench.experiment import batches_for

    ds = open_store(opp_root, "opportunity")
    assert ds.attrs["tasks"]["gestures"]["val_excluded_classes"] == [0]
    assert "val_excluded_classes" not in ds.attrs["tasks"]["locomotion"]
    val_split = np.asarray(ds["split"].values) == 1
    assert (np.asarray(ds["label_gestures"].values)[val_split] == 0).any()  # the fixture has null windows in val
    b = batches_for(opp_root, "opportunity", "gestures", batch_size=8, seed=0)
    labels = np.concatenate([np.asarray(y) for _, _, y in b.val()])
    assert labels.size > 0 and not (labels == 0).any()
    train_labels = np.concatenate([np.asarray(y) for _, _, y in b.train(0)])
    assert (train_labels == 0).any()  # training keeps the null class
