"""Encoders of the ``skeleton`` and ``video`` modality kinds, and every baseline on a skeleton + video dataset."""

from __future__ import annotations

import pytest
import torch

from helpers.models import all_patterns
from modalbench.baselines.encoders import SkeletonTemporalEncoder, Video3DCNNEncoder, make_encoder
from modalbench.baselines.registry import baseline_names, create_baseline
from modalbench.meta import DatasetMeta, ModalitySpec

torch.set_num_threads(1)

SKELETON = ModalitySpec("skeleton", "skeleton", (12, 2, 25, 3), ("x", "y", "z"))
VIDEO = ModalitySpec("rgb", "video", (4, 3, 16, 16), ("red", "green", "blue"), storage_dtype="uint8")
META = DatasetMeta("pose-video", (SKELETON, VIDEO), ("a", "b", "c"))


def test_dims_and_channel_axes_of_the_new_kinds() -> None:
    assert SKELETON.dims == ("skeleton_time", "skeleton_body", "skeleton_joint", "skeleton_coord")
    assert VIDEO.dims == ("rgb_time", "rgb_channel", "rgb_height", "rgb_width")
    assert (SKELETON.channel_axis, SKELETON.n_channels) == (3, 3)
    assert (VIDEO.channel_axis, VIDEO.n_channels) == (1, 3)


@pytest.mark.parametrize("kind", [None, "gru"])
def test_skeleton_encoder_picked_by_kind(kind: str | None) -> None:
    enc = make_encoder(SKELETON, 8, kind=kind)
    assert isinstance(enc, SkeletonTemporalEncoder) and (enc.gru is not None) == (kind == "gru")
    x = torch.randn(5, *SKELETON.shape, requires_grad=True)
    out = enc(x)
    assert out.shape == (5, 8)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_video_encoder_is_a_3d_cnn() -> None:
    enc = make_encoder(VIDEO, 8)
    assert isinstance(enc, Video3DCNNEncoder) and any(isinstance(m, torch.nn.Conv3d) for m in enc.modules())
    x = torch.rand(3, *VIDEO.shape, requires_grad=True)
    out = enc(x)
    assert out.shape == (3, 8)
    out.sum().backward()
    # the clip's temporal order matters: reversing time changes the features
    assert not torch.allclose(enc.eval()(x), enc(x.flip(1)))


@pytest.mark.parametrize("name", baseline_names())
def test_every_baseline_forward_backward_on_skeleton_and_video(name: str) -> None:
    torch.manual_seed(0)
    model = create_baseline(name, META)
    pats = all_patterns(2)
    g = torch.Generator().manual_seed(0)
    inputs = {s.name: torch.randn(len(pats), *s.shape, generator=g) for s in META.modalities}
    target = torch.tensor([0, 1, 2, 0])
    model.train()
    loss, logits = model.training_loss(inputs, pats, target)
    assert logits.shape == (4, 3) and torch.isfinite(loss)
    loss.backward()
    model.eval()
    with torch.no_grad():
        assert torch.isfinite(model(inputs, pats)).all()
