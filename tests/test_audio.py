"""Audio front end: windowing, tiling, resampling, down-mixing, spectrogram parity."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy import signal

from avsl.data.audio import load_audio_window
from avsl.errors import AvslError
from avsl.ops.spectrogram import EZVSLSpectrogram, create_frontend


def test_window_is_centred_on_the_middle(tmp_path):
    rate = 8000
    ramp = np.linspace(-1, 1, rate * 4, dtype=np.float32)  # 4 s, value encodes the time
    sf.write(tmp_path / "a.wav", ramp, rate)
    window = load_audio_window(tmp_path / "a.wav", rate, 2.0)
    assert window.shape == (2 * rate,)
    np.testing.assert_allclose(window[0], ramp[rate], atol=1e-4)  # starts at 1 s = 2 s - 1 s


def test_short_clip_is_tiled(tmp_path):
    rate = 8000
    clip = np.linspace(0, 0.5, rate // 2, dtype=np.float32)  # 0.5 s
    sf.write(tmp_path / "short.wav", clip, rate)
    window = load_audio_window(tmp_path / "short.wav", rate, 2.0)
    assert window.shape == (2 * rate,)
    np.testing.assert_allclose(window[: rate // 2], window[rate // 2 : rate], atol=1e-4)


def test_stereo_flac_is_downmixed_clipped_and_resampled(tmp_path):
    rate = 44_100
    t = np.arange(rate) / rate
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    right = np.full_like(t, 0.9)
    sf.write(tmp_path / "s.flac", np.stack([left, right], axis=1), rate)
    window = load_audio_window(tmp_path / "s.flac", 16_000, 1.0)
    assert window.shape == (16_000,) and window.dtype == np.float32
    assert abs(window[2000:14000].mean() - 0.45) < 0.01  # the constant channel's half survives
    spectrum = np.abs(np.fft.rfft(window - window.mean()))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 s window: bin index = Hz


def test_unreadable_audio_names_the_file(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"not audio at all")
    with pytest.raises(AvslError, match="broken.wav: cannot read audio"):
        load_audio_window(path, 16_000, 1.0)
    with pytest.raises(AvslError, match="missing.wav"):
        load_audio_window(tmp_path / "missing.wav", 16_000, 1.0)


def test_ezvsl_spectrogram_matches_scipy():
    rng = np.random.default_rng(0)
    audio = np.clip(0.3 * rng.standard_normal(48_000), -1, 1)
    _, _, expected = signal.spectrogram(audio, 16_000, nperseg=512, noverlap=274)
    expected = np.log(expected + 1e-7) / 12.0
    ours = EZVSLSpectrogram(16_000)(torch.from_numpy(audio).float()[None])[0, 0]
    assert ours.shape == (257, 200)
    np.testing.assert_allclose(ours.numpy(), expected, atol=2e-4)


def test_logmel_is_batched_and_device_agnostic():
    frontend = create_frontend("logmel", 16_000)
    spec = frontend(torch.randn(3, 48_000) * 0.1)
    assert spec.shape == (3, 1, 64, 301)
    assert torch.isfinite(spec).all()
    with pytest.raises(AvslError, match="unknown audio front end"):
        create_frontend("mfcc", 16_000)
