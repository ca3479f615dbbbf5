"""Minape: torchaudio log-mel front end, grouping of same-type modalities, presets and model size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio

from helpers.models import digits_meta
from modalbench.baselines import minape
from modalbench.baselines.spectrogram import LogMelFrontEnd, SpectrogramParams, derived_params, params_for
from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta, ModalitySpec

torch.set_num_threads(1)


def _series_meta(name: str = "toy", t: int = 256) -> DatasetMeta:
    return DatasetMeta(
        name,
        (ModalitySpec("force", "series", (t, 3)), ModalitySpec("cam", "image", (3, 32, 32))),
        ("ok", "worn", "broken"),
    )


def test_front_end_matches_torchaudio_reference() -> None:
    p = SpectrogramParams(sample_rate=1000, n_fft=64, hop_length=16, n_mels=16)
    x = torch.randn(2, 256, 3, generator=torch.Generator().manual_seed(0))  # [B, T, C]
    ours = LogMelFrontEnd(p)(x)
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=1000, n_fft=64, hop_length=16, n_mels=16, window_fn=torch.hann_window
    )
    ref = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80.0)(mel(x.permute(0, 2, 1)))
    assert ours.shape == (2, 3, 16, 256 // 16 + 1) == ref.shape
    assert torch.allclose(ours, ref, atol=1e-4)


def test_front_end_matches_numpy_stft() -> None:
    """Independent check: reflect-padded Hann STFT power × HTK mel filterbank, 10·log10, top_db clip per sample."""
    p = SpectrogramParams(sample_rate=800, n_fft=32, hop_length=8, n_mels=8)
    x = torch.randn(2, 128, 2, generator=torch.Generator().manual_seed(1))
    ours = LogMelFrontEnd(p)(x).numpy()
    fb = torchaudio.functional.melscale_fbanks(
        p.n_fft // 2 + 1, 0.0, p.sample_rate / 2, p.n_mels, p.sample_rate
    ).numpy()
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(p.n_fft) / p.n_fft)  # periodic Hann
    for b in range(2):
        specs = []
        for c in range(2):
            sig = np.pad(x[b, :, c].numpy().astype(np.float64), p.n_fft // 2, mode="reflect")
            frames = np.stack([sig[i : i + p.n_fft] for i in range(0, len(sig) - p.n_fft + 1, p.hop_length)])
            power = np.abs(np.fft.rfft(frames * win, axis=1)) ** 2  # [frames, freq]
            specs.append((power @ fb).T)  # [mels, frames]
        db = 10 * np.log10(np.maximum(np.stack(specs), 1e-10))
        db = np.maximum(db, db.max() - 80.0)
        np.testing.assert_allclose(ours[b], db, rtol=1e-3, atol=1e-2)


def test_mudestreda_preset_and_overrides() -> None:
    meta = _series_meta("mudestreda", t=8192)
    p = params_for(meta, meta.modality("force"))
    assert (p.sample_rate, p.n_fft, p.hop_length, p.n_mels) == (10_000, 2048, 512, 128)
    model = minape.Minape(meta)
    fe = model.fronts["force"]
    assert fe.mel.spectrogram.n_fft == 2048 and fe.mel.spectrogram.hop_length == 512 and fe.mel.n_mels == 128
    assert torch.equal(fe.mel.spectrogram.window, torch.hann_window(2048))
    q = params_for(_series_meta(), _series_meta().modality("force"), {"n_mels": 10})
    assert q.n_mels == 10 and q.n_fft == derived_params(256).n_fft
    with pytest.raises(ModalbenchError, match="hop"):
        params_for(_series_meta(), _series_meta().modality("force"), {"hop": 3})
    with pytest.raises(ModalbenchError, match="n_mels"):
        params_for(_series_meta(), _series_meta().modality("force"), {"n_mels": 500})


def test_series_group_input_is_the_log_mel_spectrogram() -> None:
    meta = _series_meta()
    model = minape.Minape(meta).eval()
    x = {"force": torch.randn(2, 256, 3), "cam": torch.randn(2, 3, 32, 32)}
    g = model.group_inputs(x)
    spec_key = next(k for k in g if k.startswith("spec"))
    assert torch.allclose(g[spec_key], model.fronts["force"](x["force"]))
    assert torch.equal(g["img_32x32"], x["cam"])
    assert model(x, torch.ones(2, 2, dtype=torch.bool)).shape == (2, 3)


def test_same_type_modalities_are_stacked_as_channels() -> None:
    model = minape.Minape(digits_meta())
    assert model.groups == {"img_8x4": ["left", "right"]}
    first = model.pathways["img_8x4"][0]
    assert isinstance(first, torch.nn.Conv2d) and first.in_channels == 2
    assert first.kernel_size == first.stride  # patch embedding: kernel = stride = P


def test_presets_structure_and_size() -> None:
    meta = _series_meta()
    paper = minape.Minape(meta, preset="paper")
    assert (paper.hparams["depth"], paper.hparams["kernel"]) == (16, 13)
    path = paper.pathways["img_32x32"]
    depthwise = [m for m in path.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 16 and all(m.kernel_size == (13, 13) for m in depthwise)
    convs1d = [m for m in paper.temp_mixer.modules() if isinstance(m, torch.nn.Conv1d)]
    assert len(convs1d) == 4 and all(c.out_channels == 64 for c in convs1d)
    n = paper.n_parameters()
    assert n == sum(p.numel() for p in paper.parameters())
    assert n < 1_000_000 and paper.size_mb() < 12.0  # the paper's headline budget
    assert paper.size_mb() >= n * 4 / 2**20
    small = minape.Minape(meta)
    assert small.n_parameters() < n
