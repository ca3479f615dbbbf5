"""``modalbench scenarios opportunity`` on a store prepared from an archive in the real OPPORTUNITY format:
14,319 missing-modality conditions (19 modalities, EmbraceNet's cap of 1000 subsets per size) and block-missing
at 10–90 % with EmbraceNet's 300–900-step blocks. The archive is generated (``opportunity_synth``, 1,200 rows per
session) because the tiny checked-in fixture's test recordings are shorter than one block."""

import json
import warnings

import numpy as np
import pytest

from helpers.opportunity_synth import write_opportunity_zip
from modalbench.app.cli import main
from modalbench.errors import ModalbenchError
from modalbench.preprocess.pipeline import prepare
from modalbench.scenarios import get_scenario, load_scenario
from modalbench.scenarios.artifacts import ensure_scenario
from modalbench.store import open_store


@pytest.fixture(scope="module")
def opp_root(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("opp")
    raw = tmp / "raw"
    write_opportunity_zip(raw / "OpportunityUCIDataset.zip", rows_per_file=1_200, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # generated members cannot match the real checksums
        prepare("opportunity", root=tmp / "root", raw=raw, verification="warn", progress=False)
    return tmp / "root"


def test_scenarios_command_yields_14319_conditions_and_nine_block_rates(opp_root, capsys):
    assert main(["scenarios", "opportunity", "--root", str(opp_root), "--json"]) == 0
    rows = {r["scenario"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["missing-modalities@v2"]["n_conditions"] == 14_319
    assert rows["block-missing@v1"]["n_conditions"] == 9
    block = load_scenario(opp_root, "opportunity", "block-missing@v1", seed=0)
    assert [c["missing_rate"] for c in block.conditions] == [round(0.1 * i, 1) for i in range(1, 10)]
    achieved = np.array([c["achieved_rate"] for c in block.conditions])
    assert np.all(achieved >= np.arange(1, 10) / 10 - 1e-9) and np.all(achieved <= np.arange(1, 10) / 10 + 0.01 + 1e-9)
    assert block.manifest["params"]["min_length"] == 300 and block.manifest["params"]["max_length"] == 900


def test_block_missing_defaults_are_embracenets_10_to_30_seconds(opp_root):
    ds = open_store("opportunity", root=opp_root)
    params = get_scenario("block-missing").resolve_params(ds, {})
    assert params["min_length"] == 300 and params["max_length"] == 900
    assert params["rates"] == [round(0.1 * i, 1) for i in range(1, 10)]


def test_blocks_longer_than_the_budget_are_a_clear_error(opp_root):
    ds = open_store("opportunity", root=opp_root)
    with pytest.raises(ModalbenchError, match="too long for a split of"):
        ensure_scenario(ds, opp_root, "block-missing@v1", seed=1, min_length=20_000, max_length=30_000)


def test_gestures_null_class_is_left_out_of_validation_only(opp_root):
    from modalbench.app.workflows import batches_for

    ds = open_store("opportunity", root=opp_root)
    assert ds.attrs["tasks"]["gestures"]["val_excluded_classes"] == [0]
    assert "val_excluded_classes" not in ds.attrs["tasks"]["locomotion"]
    val_split = np.asarray(ds["split"].values) == 1
    assert (np.asarray(ds["label_gestures"].values)[val_split] == 0).any()  # the fixture has null windows in val
    b = batches_for(opp_root, "opportunity", "gestures", batch_size=8, seed=0)
    labels = np.concatenate([np.asarray(y) for _, _, y in b.val()])
    assert labels.size > 0 and not (labels == 0).any()
    train_labels = np.concatenate([np.asarray(y) for _, _, y in b.train(0)])
    assert (train_labels == 0).any()  # training keeps the null class
