"""noisy-modality@v1: seeded Gaussian noise at a given SNR, regenerated from the seed and checked by sha256."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.scenario_stores import make_image_store
from modalbench.errors import ModalbenchError
from modalbench.scenarios import ensure_scenario, get_scenario, load_scenario
from modalbench.scenarios.elements import elements_sha256, standard_normal
from modalbench.scenarios.noisy_modality import add_noise
from modalbench.scenarios.rng import make_rng


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("img")
    return root, make_image_store(root, n_modalities=3, counts=(20, 10, 60))


def test_conditions_one_modality_at_a_time_then_all(images) -> None:
    scen = get_scenario("noisy-modality").generate(images[1], seed=0)
    ids = [c["id"] for c in scen.conditions]
    snrs = ["snr20", "snr10", "snr5", "snr0", "snr-5"]
    assert ids == [f"noise-{m}-{s}" for m in ("v0", "v1", "v2", "all") for s in snrs]
    assert scen.arrays["condition_table"].all()
    assert scen.conditions[-1]["noisy_modalities"] == [0, 1, 2]


def test_standard_normal_moments_and_determinism() -> None:
    z = standard_normal(make_rng(3, 4, 0, 0), 200_001)
    assert z.dtype == np.float32 and z.shape == (200_001,)
    assert abs(float(z.mean())) < 0.01 and abs(float(z.std()) - 1) < 0.01
    assert abs(float((z > 1.96).mean()) - 0.025) < 0.002
    assert np.array_equal(z, standard_normal(make_rng(3, 4, 0, 0), 200_001))
    assert not np.array_equal(z[:100], standard_normal(make_rng(3, 4, 1, 0), 100))


@pytest.mark.parametrize("snr", [20, 0, -5])
def test_add_noise_reaches_the_snr(snr) -> None:
    rng = np.random.default_rng(0)
    x = (rng.random((50, 3, 16, 16)) * (1 + np.arange(50)[:, None, None, None])).astype(np.float32)
    z = standard_normal(make_rng(0, 4, 0, 0), x.size).reshape(x.shape)
    noisy = add_noise(x, z, snr)
    signal = (x.astype(np.float64) ** 2).mean(axis=(1, 2, 3))
    noise = ((noisy.astype(np.float64) - x) ** 2).mean(axis=(1, 2, 3))
    measured = 10 * np.log10(signal / noise)
    # 768 draws per sample: the noise power is estimated within ~5 % (0.22 dB) per sample
    assert abs(measured.mean() - snr) < 0.1 and np.abs(measured - snr).max() < 1.0


def test_add_noise_keeps_nans_and_zero_samples() -> None:
    x = np.zeros((2, 4), np.float32)
    x[1] = [1, np.nan, 1, 1]
    out = add_noise(x, np.ones_like(x), 0.0)
    assert np.array_equal(out[0], x[0]), "a sample with no signal gets no noise"
    assert np.isnan(out[1, 1]) and np.allclose(out[1, [0, 2, 3]], 2.0)


def test_reader_applies_the_recorded_noise(images) -> None:
    root, ds = images
    res = ensure_scenario(ds, root, "noisy-modality", seed=5, snrs=[10], per_modality=True)
    r = load_scenario(root, "toy-images", "noisy-modality", seed=5, version="v1")
    n = r.sample_range[1] - r.sample_range[0]
    x = {f"v{j}": np.full((n, 1, 4, 4), 2.0, np.float32) for j in range(3)}
    out = r.apply_elements(1, x, ["v0", "v1", "v2"])  # noise-v1-snr10
    assert np.array_equal(out["v0"], x["v0"]) and np.array_equal(out["v2"], x["v2"])
    z = standard_normal(make_rng(5, 4, 1, 1), n * 16).reshape(n, 1, 4, 4)
    assert np.allclose(out["v1"], 2.0 + np.sqrt(4.0 / 10.0) * z, atol=1e-5)
    assert res.manifest["conditions"][1]["elements_sha256"] == elements_sha256([None, z, None])


def test_bad_snrs(images) -> None:
    with pytest.raises(ModalbenchError, match="snrs has duplicates"):
        get_scenario("noisy-modality").generate(images[1], seed=0, snrs=[5, 5.0])
    with pytest.raises(ModalbenchError, match="is not a number of dB"):
        get_scenario("noisy-modality").generate(images[1], seed=0, snrs=["loud"])
