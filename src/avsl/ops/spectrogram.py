"""Audio front ends: batched waveform -> log-spectrogram modules that run on any device.

Two named front ends:
- `logmel` (the project's default): 64-band log-mel, 32 ms Hann window, 10 ms hop. Compact
  (64 x 301 for 3 s at 16 kHz), so CPU-sized audio encoders train fast on it.
- `ezvsl`: EZ-VSL's exact spectrogram, `scipy.signal.spectrogram(x, fs, nperseg=512,
  noverlap=274)` (Tukey(0.25) window, constant detrend, one-sided PSD), `log(S + 1e-7)`, divided
  by 12: 257 x 200 for 3 s at 16 kHz. Use it to evaluate checkpoints trained by EZ-VSL's code.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from avsl.errors import AvslError


class LogMelSpectrogram(nn.Module):
    """(B, L) waveform -> (B, 1, n_mels, frames) log-mel power spectrogram."""

    def __init__(self, sample_rate: int, n_fft: int = 512, hop_length: int = 160, n_mels: int = 64) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        fbank = mel_filterbank(n_fft // 2 + 1, n_mels, sample_rate)  # (n_freqs, n_mels)
        self.register_buffer("fbank", fbank, persistent=False)

    def forward(self, waveform: Tensor) -> Tensor:
        spec = torch.stft(
            waveform.float(), self.n_fft, self.hop_length, window=self.window, return_complex=True
        )  # (B, n_freqs, T)
        power = spec.real.square() + spec.imag.square()
        mel = torch.einsum("bft,fm->bmt", power, self.fbank)  # (B, n_mels, T)
        return torch.log(mel + 1e-6)[:, None]


class EZVSLSpectrogram(nn.Module):
    """(B, L) waveform -> (B, 1, 257, frames): EZ-VSL's scipy spectrogram, reproduced in torch."""

    # EZ-VSL datasets.py: nperseg=512, noverlap=274, log(S + 1e-7), Normalize(mean=0, std=12).
    n_fft = 512
    overlap = 274
    log_floor = 1e-7
    scale = 12.0

    def __init__(self, sample_rate: int) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        window = tukey_window(self.n_fft, 0.25)
        self.register_buffer("window", window, persistent=False)

    def forward(self, waveform: Tensor) -> Tensor:
        step = self.n_fft - self.overlap
        frames = waveform.float().unfold(-1, self.n_fft, step)  # (B, T, n_fft)
        frames = frames - frames.mean(dim=-1, keepdim=True)  # scipy's detrend="constant"
        spec = torch.fft.rfft(frames * self.window, dim=-1)  # (B, T, n_freqs)
        psd = (spec.real.square() + spec.imag.square()) / (self.sample_rate * self.window.square().sum())
        psd[..., 1:-1] *= 2  # one-sided density; DC and Nyquist bins are not doubled
        return (torch.log(psd + self.log_floor) / self.scale).transpose(1, 2)[:, None]


FRONTENDS = ("logmel", "ezvsl")


def create_frontend(name: str, sample_rate: int) -> nn.Module:
    """The named audio front end (see the module docstring)."""
    if name == "logmel":
        return LogMelSpectrogram(sample_rate)
    if name == "ezvsl":
        return EZVSLSpectrogram(sample_rate)
    raise AvslError(f"unknown audio front end {name!r}; choose one of {', '.join(FRONTENDS)}")


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int) -> Tensor:
    """(n_freqs, n_mels) triangular filters on the HTK mel scale, 0 Hz to Nyquist, unnormalised."""

    def hz_to_mel(hz: Tensor) -> Tensor:
        return 2595.0 * torch.log10(1.0 + hz / 700.0)

    def mel_to_hz(mel: Tensor) -> Tensor:
        return 700.0 * (10 ** (mel / 2595.0) - 1.0)

    nyquist = sample_rate / 2
    freqs = torch.linspace(0, nyquist, n_freqs)  # (n_freqs,)
    top = float(hz_to_mel(torch.tensor(nyquist, device="cpu")))  # a host number, even under torch.device("meta")
    mel_points = torch.linspace(0, top, n_mels + 2)
    hz_points = mel_to_hz(mel_points)  # (n_mels + 2,)
    left, centre, right = hz_points[:-2], hz_points[1:-1], hz_points[2:]
    rising = (freqs[:, None] - left) / (centre - left)
    falling = (right - freqs[:, None]) / (right - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0)


def tukey_window(length: int, alpha: float) -> Tensor:
    """Periodic Tukey window, as `scipy.signal.get_window(("tukey", alpha), length)` makes it."""
    points = length + 1  # periodic = symmetric window of length + 1 without its last sample
    n = torch.arange(points, dtype=torch.float64)
    width = int(math.floor(alpha * (points - 1) / 2.0))
    window = torch.ones(points, dtype=torch.float64)
    head = n[: width + 1]
    tail = n[points - width - 1 :]
    window[: width + 1] = 0.5 * (1 + torch.cos(math.pi * (-1 + 2.0 * head / alpha / (points - 1))))
    window[points - width - 1 :] = 0.5 * (
        1 + torch.cos(math.pi * (-2.0 / alpha + 1 + 2.0 * tail / alpha / (points - 1)))
    )
    return window[:-1].float()
