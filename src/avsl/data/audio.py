"""Audio decoding: any WAV/FLAC -> mono float32 window at the configured rate.

The window follows EZ-VSL (datasets.py `load_spectrogram`): centred on the frame time (the
clip's middle by default), the signal clipped to [-1, 1] and down-mixed, and tiled when the clip
is shorter than the window. Only the window (plus resampler margin) is read from disk.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from avsl.errors import AvslError

# The shortest sound worth a map: one spectrogram window (512 samples at 16 kHz, the logmel and
# EZ-VSL front ends' n_fft). Anything shorter is tiled into a near-constant signal.
MIN_AUDIO_SECONDS = 0.032


def load_audio_window(path: Path, sample_rate: int, seconds: float, centre: float | None = None) -> np.ndarray:
    """Read `seconds` of audio centred on `centre` (seconds; None = middle of the clip).

    Returns:
        (round(seconds * sample_rate),) float32 mono in [-1, 1].

    Raises:
        AvslError: the file is missing, unreadable or holds no samples.
    """
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AvslError(f"{path}: cannot read audio ({_reason(err)})") from None
    if info.frames <= 0:
        raise AvslError(f"{path}: audio file holds no samples")
    start, stop = window_bounds(info.frames, info.samplerate, seconds, centre)
    try:
        data, _ = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AvslError(f"{path}: cannot decode audio ({_reason(err)})") from None
    return finish_window(data, info.samplerate, sample_rate, seconds, str(path))


def pcm_to_float(samples: np.ndarray) -> np.ndarray:
    """Samples as float32 in [-1, 1]: integer PCM (int16 and int32 as scipy and PyAV give it,
    unsigned 8-bit as WAV stores it) scaled by its type's range, never clipped into a square
    wave; float samples outside [-1, 1] are clipped later, with a warning here."""
    if np.issubdtype(samples.dtype, np.unsignedinteger):
        middle = (np.iinfo(samples.dtype).max + 1) / 2
        return ((samples.astype(np.float64) - middle) / middle).astype(np.float32)
    if np.issubdtype(samples.dtype, np.integer):
        return (samples.astype(np.float64) / -np.iinfo(samples.dtype).min).astype(np.float32)
    floats = samples.astype(np.float32)
    if floats.size and np.isfinite(floats).all() and np.abs(floats).max() > 1.0:
        warnings.warn(f"float audio reaches {np.abs(floats).max():.3g}, outside [-1, 1]: it is clipped "
                      "(scale integer PCM by its range, or pass its integer array)", stacklevel=3)  # fmt: skip
    return floats


def window_of(
    signal: np.ndarray, native_rate: int, sample_rate: int, seconds: float, centre: float | None = None
) -> np.ndarray:
    """The same window as `load_audio_window`, from samples in memory ((n,) or (n, channels))."""
    data = np.asarray(signal, dtype=np.float32)
    data = data[:, None] if data.ndim == 1 else data
    if data.ndim != 2 or data.shape[0] == 0:
        raise AvslError(f"waveform must be (samples,) or (samples, channels) with samples, got shape {signal.shape}")
    start, stop = window_bounds(data.shape[0], native_rate, seconds, centre)
    return finish_window(data[start:stop], native_rate, sample_rate, seconds, "waveform")


def window_bounds(frames: int, native_rate: int, seconds: float, centre: float | None) -> tuple[int, int]:
    """The sample range of a `seconds` window centred on `centre` (s; None: the middle), plus
    one sample of resampler margin, clamped to the signal."""
    middle = frames / native_rate / 2 if centre is None else centre
    start = min(int(max(middle - seconds / 2, 0.0) * native_rate), frames - 1)
    return start, min(start + int(np.ceil(seconds * native_rate)) + 1, frames)


def finish_window(data: np.ndarray, native_rate: int, sample_rate: int, seconds: float, source: str) -> np.ndarray:
    """(frames, channels) -> the mono window: refuse non-finite samples, clip, down-mix,
    resample, tile a short clip, cut to round(seconds x sample_rate)."""
    if not np.isfinite(data).all():  # np.clip keeps NaN: one would poison a whole training run
        raise AvslError(f"{source}: audio holds NaN or infinite samples")
    if 0 < len(data) < MIN_AUDIO_SECONDS * native_rate:
        raise AvslError(
            f"{source}: audio lasts {len(data)} sample(s) ({len(data) / native_rate * 1000:.1f} ms), less than "
            f"one {MIN_AUDIO_SECONDS * 1000:.0f} ms spectrogram window"
        )
    length = round(seconds * sample_rate)
    mono = np.clip(data, -1.0, 1.0).mean(axis=1)  # (frames,)
    if native_rate != sample_rate:
        mono = soxr.resample(mono, native_rate, sample_rate, quality="HQ").astype(np.float32)
    if len(mono) == 0:
        raise AvslError(f"{source}: audio file holds no samples")
    if len(mono) < length:
        mono = np.tile(mono, length // len(mono) + 1)
    return np.ascontiguousarray(mono[:length], dtype=np.float32)


def _reason(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[-1] if text else type(err).__name__
