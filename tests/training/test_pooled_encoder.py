"""The pooled (shift-invariant) sensor encoder and its fixed-DFT spectral branch."""

import numpy as np
import pytest
import torch

from mujo_edge.errors import ConfigError
from mujo_edge.training.models import (
    ArchConfig,
    ModalityConfig,
    ModelConfig,
    MujoModel,
    PooledSensorEncoder,
    SensorEncoder,
    SpectralFeatures,
)

POOLED = ArchConfig(
    sensor_encoder="pooled",
    sensor_spectral_bins=25,
    sensor_channels=(32, 32, 64, 64),
    sensor_kernel=7,
    sensor_activation="gelu",
)


def model(arch, rows=3):
    return MujoModel(ModelConfig(arch=arch, modalities=(ModalityConfig("wrist_acc", "sensor", rows),)), seed=0)


def test_spectral_features_equal_numpy_rfft_of_the_hann_windowed_signal():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 100)) + 5.0  # an offset: the DFT sees the de-meaned signal
    got = SpectralFeatures(100, 25)(torch.tensor(x, dtype=torch.float32)).numpy()
    d = x - x.mean(axis=-1, keepdims=True)
    want = np.log1p(np.abs(np.fft.rfft(d * np.hanning(100), axis=-1))[..., 1:26] ** 2)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_a_sine_peaks_in_its_own_bin():
    t = np.arange(100) / 50.0
    x = torch.tensor(np.sin(2 * np.pi * 3.0 * t)[None, None], dtype=torch.float32)  # 3 Hz = bin 6 at 0.5 Hz/bin
    assert int(SpectralFeatures(100, 25)(x)[0, 0].argmax()) + 1 == 6


def test_pooled_encoder_shapes_magnitudes_and_preset_choice():
    m = model(POOLED)
    enc = m.encoders["wrist_acc"]
    assert isinstance(enc, PooledSensorEncoder)
    x = torch.randn(4, 3, 100)
    assert m.embed("wrist_acc", x).shape == (4, 1280)
    mags = enc.with_magnitudes(x)
    assert mags.shape == (4, 4, 100)
    torch.testing.assert_close(mags[:, 3], torch.linalg.vector_norm(x, dim=1), rtol=1e-5, atol=1e-5)
    assert model(POOLED, rows=4).encoders["wrist_acc"].with_magnitudes(torch.randn(2, 4, 100)).shape[1] == 4
    assert model(POOLED, rows=6).embed("wrist_acc", torch.randn(2, 6, 100)).shape == (2, 1280)
    assert isinstance(model(ArchConfig()).encoders["wrist_acc"], SensorEncoder)


def test_the_mean_and_max_over_time_do_not_care_where_a_burst_sits():
    enc = (
        model(ArchConfig(sensor_encoder="pooled", sensor_channels=(8, 8, 16, 16), sensor_kernel=5))
        .encoders["wrist_acc"]
        .eval()
    )
    x = torch.zeros(2, 3, 100)
    x[0, :, 30:40] = 1.0
    x[1, :, 50:60] = 1.0  # the same burst, 20 samples later (a multiple of the total pooling, 4)
    with torch.no_grad():
        h = enc.convs(enc.with_magnitudes(x))
    torch.testing.assert_close(h[0].amax(-1), h[1].amax(-1))
    torch.testing.assert_close(h[0].mean(-1), h[1].mean(-1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sensor_encoder": "transformer"}, "sensor_encoder"),
        ({"sensor_encoder": "pooled", "sensor_spectral_bins": 51}, "sensor_spectral_bins"),
        ({"sensor_spectral_bins": -1}, "sensor_spectral_bins"),
    ],
)
def test_bad_pooled_settings_are_named(kwargs, field):
    with pytest.raises(ConfigError) as e:
        ArchConfig(**kwargs)
    assert e.value.field == field


def test_an_arch_saved_before_the_pooled_encoder_existed_loads_as_the_mmfit_cnn():
    old = ArchConfig().to_dict()
    del old["sensor_encoder"], old["sensor_spectral_bins"]
    assert ArchConfig.from_dict(old) == ArchConfig()


def test_log_magnitude_spectrum_is_within_eight_percent_of_the_exact_magnitude():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3, 100))
    got = SpectralFeatures(100, 25, "log_magnitude")(torch.tensor(x, dtype=torch.float32)).numpy()
    d = x - x.mean(axis=-1, keepdims=True)
    exact = np.abs(np.fft.rfft(d * np.hanning(100), axis=-1))[..., 1:26]
    ratio = np.expm1(got) / exact
    assert ratio.min() > 0.96 and ratio.max() < 1.08  # alpha-max-beta-min with beta 0.4: -4 % .. +7.7 %


def test_the_spectrum_kind_is_checked():
    with pytest.raises(ConfigError, match="sensor_spectrum"):
        SpectralFeatures(100, 25, "log_energy")
    with pytest.raises(ConfigError, match="sensor_spectrum"):
        ArchConfig(sensor_encoder="pooled", sensor_spectral_bins=25, sensor_spectrum="log_energy")
