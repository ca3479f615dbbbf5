"""The model interface the engine relies on: the meta accessor and the runtime-checkable hooks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modalbench.baselines import create_baseline
from modalbench.engine.checkpoint import save_checkpoint
from modalbench.engine.trainer import fit
from modalbench.errors import ModalbenchError
from modalbench.fusion import CalibratedModel, FastPathModel, PretrainableModel, TrainableModel, model_meta
from modalbench.meta import DatasetMeta, ModalitySpec

META = DatasetMeta("pair", (ModalitySpec("a", "vector", (3,)), ModalitySpec("b", "vector", (2,))), ("x", "y"))


class Forward(nn.Module):
    """A user's model: forward only, no hooks."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 2)

    def forward(self, inputs: dict[str, torch.Tensor], available: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.cat([inputs["a"], inputs["b"]], dim=1))


def test_model_meta_is_the_models_meta_and_a_missing_one_is_named() -> None:
    model = Forward()
    with pytest.raises(ModalbenchError, match="Forward: no .meta"):
        model_meta(model)
    model.meta = META
    assert model_meta(model) is META


def test_registered_methods_offer_the_hooks_the_engine_looks_for() -> None:
    late = create_baseline("late", META)
    assert isinstance(late, TrainableModel) and isinstance(late, CalibratedModel)
    assert isinstance(create_baseline("mae", META), PretrainableModel)
    assert isinstance(create_baseline("intermediate", META), FastPathModel)
    assert not isinstance(Forward(), TrainableModel) and not isinstance(Forward(), FastPathModel)


def test_training_or_checkpointing_a_forward_only_model_is_a_clear_error(tmp_path) -> None:
    model = Forward()
    model.meta = META
    with pytest.raises(ModalbenchError, match="Forward: the trainer needs training_loss"):
        fit(model, lambda e: [], lambda: [], epochs=1, seed=0, progress=False)
    with pytest.raises(ModalbenchError, match="Forward: a checkpoint needs the model's regime and config"):
        save_checkpoint(model, tmp_path / "ckpt")
    assert not (tmp_path / "ckpt").exists()
