"""Log-mel spectrogram front end for time-series modalities (torchaudio).

Minape (Truchan et al., ICONIP 2023) turns every time-series modality into a log-mel spectrogram before its
ConvMixer pathway: ``torchaudio.transforms.MelSpectrogram`` (Hann window, power 2) followed by
``torchaudio.transforms.AmplitudeToDB`` (power -> dB, ``10·log10(max(S, amin))`` clipped to ``top_db`` below the
per-sample maximum). The paper does not state its STFT / mel parameters: the ``mudestreda`` entry (10 kHz assumed
for the force signals, ``n_fft = 2048``, ``hop = 512``, 128 mel bands — common audio defaults) is modalbench's
choice, not the paper's. For any other dataset the parameters are derived from the window length so that every
window yields a few frames and no mel filter is empty (see :func:`params_for`).

A ``series`` modality ``[B, T, C]`` becomes ``[B, C, n_mels, frames]`` (channels stay channels).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torchaudio
from torch import nn

from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta, ModalitySpec


@dataclass(frozen=True)
class SpectrogramParams:
    """Parameters of the log-mel front end (all passed to torchaudio)."""

    sample_rate: int
    n_fft: int
    hop_length: int
    n_mels: int
    f_min: float = 0.0
    f_max: float | None = None
    power: float = 2.0
    top_db: float | None = 80.0
    center: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self, where: str) -> None:
        """Raise a :class:`ModalbenchError` when a parameter cannot work."""
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise ModalbenchError(f"{where}: spectrogram parameter {name!r} must be a positive int, got {v!r}")
        if self.n_mels > self.n_fft // 2 + 1:
            raise ModalbenchError(
                f"{where}: n_mels={self.n_mels} exceeds the {self.n_fft // 2 + 1} frequency bins of n_fft={self.n_fft}"
            )


#: per-dataset front-end parameters; keys are dataset names (``meta.name``)
DATASET_PARAMS: dict[str, SpectrogramParams] = {
    # modalbench's choice for Mudestreda's force signals (10 kHz assumed; not stated in Truchan et al. 2023):
    # n_fft 2048, hop 512, 128 mels
    "mudestreda": SpectrogramParams(sample_rate=10_000, n_fft=2048, hop_length=512, n_mels=128),
}


#: sampling rates (Hz) of the windowed datasets, used by :func:`derived_params` (mel scale in physical units)
DATASET_SAMPLE_RATES: dict[str, int] = {"opportunity": 30, "synthetic": 30, "gas-sensor": 1}


def derived_params(length: int, sample_rate: int = 100) -> SpectrogramParams:
    """Parameters for a window of ``length`` steps: ``n_fft`` the largest power of two <= length/2 (>= 8, <= 2048),
    hop = n_fft/4, and ``n_mels = min(128, n_fft/4)`` so that no triangular mel filter is empty."""
    n_fft = 2 ** max(3, min(11, int(math.floor(math.log2(max(length // 2, 8))))))
    return SpectrogramParams(
        sample_rate=int(sample_rate), n_fft=n_fft, hop_length=max(1, n_fft // 4), n_mels=max(4, min(128, n_fft // 4))
    )


def params_for(meta: DatasetMeta, spec: ModalitySpec, override: dict[str, Any] | None = None) -> SpectrogramParams:
    """Front-end parameters for one series modality: ``override`` > ``DATASET_PARAMS[meta.name]`` > derived.

    The derived parameters take the sampling rate from ``meta.extra["sample_rate"]``, else
    ``DATASET_SAMPLE_RATES[meta.name]``, else 100 Hz.
    """
    if spec.kind != "series":
        raise ModalbenchError(
            f"modality {spec.name!r}: spectrogram front end needs a 'series' modality, got {spec.kind!r}"
        )
    base = DATASET_PARAMS.get(meta.name)
    if base is None:
        rate = meta.extra.get("sample_rate", DATASET_SAMPLE_RATES.get(meta.name, 100))
        base = derived_params(spec.shape[0], int(rate))
    if override:
        unknown = set(override) - set(base.to_dict())
        if unknown:
            raise ModalbenchError(
                f"modality {spec.name!r}: unknown spectrogram parameter(s) {sorted(unknown)}; "
                f"expected some of {sorted(base.to_dict())}"
            )
        base = SpectrogramParams(**{**base.to_dict(), **override})
    base.check(f"modality {spec.name!r}")
    return base


def n_frames(length: int, p: SpectrogramParams) -> int:
    """Number of STFT frames torchaudio produces for ``length`` samples."""
    if p.center:
        return length // p.hop_length + 1
    return (length - p.n_fft) // p.hop_length + 1


class LogMelFrontEnd(nn.Module):
    """``[B, T, C]`` series -> ``[B, C, n_mels, frames]`` log-mel spectrogram (torchaudio, Hann window)."""

    def __init__(self, params: SpectrogramParams) -> None:
        super().__init__()
        self.params = params
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=params.sample_rate,
            n_fft=params.n_fft,
            hop_length=params.hop_length,
            f_min=params.f_min,
            f_max=params.f_max,
            n_mels=params.n_mels,
            power=params.power,
            center=params.center,
            window_fn=torch.hann_window,
        )
        self.to_db = torchaudio.transforms.AmplitudeToDB(
            stype="power" if params.power == 2.0 else "magnitude", top_db=params.top_db
        )

    def output_shape(self, spec: ModalitySpec) -> tuple[int, int, int]:
        """``(C, n_mels, frames)`` for a series modality of shape ``(T, C)``."""
        t, c = spec.shape
        return (c, self.params.n_mels, n_frames(t, self.params))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_db(self.mel(x.transpose(1, 2).contiguous()))
