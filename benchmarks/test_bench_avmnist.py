"""Benchmark 5 — AV-MNIST audio regeneration throughput (recordings/s).

modalbench's regeneration path (``loaders/avmnist.py``: WAVs decoded in dask tasks, noise segments resampled once per
clip, mixing + torchaudio log spectrogram per block of 2,048 pairs, the threaded scheduler with one worker and one torch
thread) against a plain Python
loop doing the same transform one recording at a time (decode speech, decode + resample the paired noise clip, mix at
the SNR, spectrogram). Input: the real Free Spoken Digit Dataset recordings (``../shared/data/fsdd``, 3,000 WAVs,
skipped when absent) paired with 50 generated ESC-50-format noise clips (5 s, 44.1 kHz). Items = recordings.
"""

from __future__ import annotations

import importlib.util
from math import gcd
from pathlib import Path

import dask
import numpy as np
import pytest

from modalbench.loaders.avmnist import AVMnist, log_spectrogram, mix, read_wav

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
SPEC = AVMnist().default_params()["audio"]["spectrogram"]
SNR = 10.0
N = 8000

_spec = importlib.util.spec_from_file_location(
    "avmnist_fixture", Path(__file__).resolve().parents[1] / "tests" / "data" / "avmnist" / "make_fixture.py"
)
fx = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(fx)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory):
    if not FSDD.is_dir():
        pytest.skip(f"{FSDD} is absent (real FSDD recordings are only on development machines)")
    import torch

    torch.set_num_threads(1)  # one core for both sides: the machine is shared; dask runs one worker thread below
    speech = sorted(str(p) for p in FSDD.glob("*.wav"))
    base = fx.write_esc50(tmp_path_factory.mktemp("esc50"), folds=tuple(1 + i % 5 for i in range(50)))
    noise = sorted(str(p) for p in (base / "audio").glob("*.wav"))
    rng = np.random.Generator(np.random.PCG64(0))
    offsets = rng.random(len(noise)).tolist()
    noise_idx = rng.integers(len(noise), size=len(speech))
    return speech, noise, offsets, noise_idx


def test_avmnist_regeneration_modalbench(benchmark, sources):
    speech, noise, offsets, noise_idx = sources
    benchmark.group = "avmnist-regeneration"
    benchmark.extra_info.update(role="modalbench", items_are="recordings")
    builder = AVMnist()

    def run():
        s, power = builder._decoded_speech(speech, N)
        pool = builder._decoded_noise(noise, offsets, N)
        audio = builder._audio_array(s, power, pool, np.arange(len(speech)), noise_idx, SNR, SPEC)
        with dask.config.set(scheduler="threads", num_workers=1):
            out = audio.compute()
        assert out.shape == (len(speech), 1, 112, 112)
        return len(out)

    benchmark.extra_info["items"] = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)


def test_avmnist_regeneration_python_loop(benchmark, sources):
    """Reference: one recording at a time, the same decode, resample, mix and spectrogram."""
    from scipy.signal import resample_poly

    speech, noise, offsets, noise_idx = sources
    benchmark.group = "avmnist-regeneration"
    benchmark.extra_info.update(role="reference", reference="python loop")

    def run():
        n = 0
        for i, path in enumerate(speech):
            _, x = read_wav(Path(path))
            x = x[:N]
            s = np.zeros((1, N), np.float32)
            s[0, : len(x)] = x
            power = np.array([np.mean(x.astype(np.float64) ** 2)])
            j = int(noise_idx[i])
            rate, y = read_wav(Path(noise[j]))
            g = gcd(8000, rate)
            y = resample_poly(y, 8000 // g, rate // g).astype(np.float32)
            start = int(offsets[j] * max(0, len(y) - N))
            seg = np.zeros((1, N), np.float32)
            seg[0, : len(y[start : start + N])] = y[start : start + N]
            spec = log_spectrogram(mix(s, power, seg, SNR), SPEC)
            n += len(spec)
        return n

    benchmark.extra_info["items"] = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
