"""Video decoding with PyAV: a clip's frames at given times and an audio window, bounded.

Only what is asked for is decoded: the demuxer seeks to the key frame before each time and the
decoder runs forward from there, and audio is decoded over the window alone, so a long or
forged file costs no more than its window. Every decoder error becomes an AvslError naming the
file; a frame larger than the pixel limit is refused from the stream's header.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soxr

from avsl.constants import MAX_FRAME_PIXELS
from avsl.data.archives import ArchiveMember
from avsl.errors import AvslError

# Frames decoded past a seek point before giving up on a time (a broken index or a forged
# duration must not make one clip decode forever): 60 s at 60 fps.
MAX_FRAMES_AFTER_SEEK = 3600
# Audio may end this much before the container's duration (codec padding, rounding) unread.
AUDIO_SLACK_S = 0.25


@dataclass(frozen=True)
class VideoInfo:
    """What the container says: duration (s), frame rate, size, and whether it has audio."""

    duration: float
    fps: float
    width: int
    height: int
    has_audio: bool
    audio_rate: int


def probe(path: Path, max_pixels: int = MAX_FRAME_PIXELS) -> VideoInfo:
    """The container's streams; AvslError when there is no usable video stream."""
    with open_media(path) as container:
        if not container.streams.video:
            raise AvslError(f"{path}: no video stream")
        video = container.streams.video[0]
        width, height = video.codec_context.width, video.codec_context.height
        if width * height > max_pixels:
            raise AvslError(f"{path}: video is {width} x {height}, over the limit of {max_pixels:,} pixels")
        duration = stream_duration(container, video)
        if duration is None:
            duration = _count_duration(container, video)
        if not duration or duration <= 0:
            raise AvslError(f"{path}: video holds no frames")
        fps = float(video.average_rate or video.guessed_rate or 0) or 25.0
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(duration, fps, width, height, audio is not None, audio.rate if audio else 0)


def frames_at(path: Path, times: list[float]) -> list[np.ndarray]:
    """The frame on screen at each time (the last one starting at or before it), as (H, W, 3)
    uint8 RGB; a time past the last frame gives the last frame."""
    pictures = []
    with open_media(path) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        for time in times:
            pictures.append(_frame_at(container, video, time, path))
    return pictures


def audio_window(
    path: Path, start: float, seconds: float, sample_rate: int, expected_end: float | None = None
) -> np.ndarray:
    """`seconds` of audio from `start` (or as much as the file has), mono float32 in [-1, 1] at
    `sample_rate`, down-mixed as `avsl.data.audio` does (clip, then the channels' mean).

    Args:
        expected_end: where the container says the media ends (s); audio stopping clearly
            before it (and before the window's end) is refused as truncated.
    """
    with open_media(path) as container:
        if not container.streams.audio:
            raise AvslError(f"{path}: no audio stream")
        stream = container.streams.audio[0]
        _seek(container, stream, start, path)
        chunks, rate = [], stream.rate
        try:
            for frame in container.decode(stream):
                offset = frame.time if frame.time is not None else start
                chunks.append((offset, pcm_channels(frame)))
                if offset >= start + seconds:
                    break
        except av.error.FFmpegError as err:
            if not chunks:
                raise AvslError(f"{path}: cannot decode audio ({ffmpeg_reason(err)})") from None
    if not chunks:
        raise AvslError(f"{path}: audio stream holds no samples")
    first = chunks[0][0]
    signal = np.concatenate([c for _, c in chunks], axis=1)  # (channels, samples) from `first`
    if expected_end is not None and first + signal.shape[1] / rate < min(start + seconds, expected_end) - AUDIO_SLACK_S:
        end = first + signal.shape[1] / rate
        raise AvslError(
            f"{path}: audio ends at {end:.2f} s, before {min(start + seconds, expected_end):.2f} s (a truncated file?)"
        )
    begin = max(0, round((start - first) * rate))
    signal = signal[:, begin : begin + math.ceil(seconds * rate)]
    if not np.isfinite(signal).all():
        raise AvslError(f"{path}: audio holds NaN or infinite samples")
    mono = np.clip(signal, -1.0, 1.0).mean(axis=0).astype(np.float32)
    if rate != sample_rate and len(mono):
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ").astype(np.float32)
    if not len(mono):
        raise AvslError(f"{path}: no audio in the window {start:.2f}-{start + seconds:.2f} s")
    # exactly the window's length where the media covers it: a codec's or resampler's few
    # samples short at the very end are padded with silence
    wanted = round(min(seconds, (expected_end if expected_end is not None else math.inf) - start) * sample_rate)
    if 0 < wanted - len(mono) <= AUDIO_SLACK_S * sample_rate:
        mono = np.concatenate([mono, np.zeros(wanted - len(mono), np.float32)])
    return mono[: max(wanted, 1)] if wanted > 0 else mono


def _frame_at(container, video, time: float, path: Path) -> np.ndarray:
    _seek(container, video, time, path)
    chosen = None
    try:
        for count, frame in enumerate(container.decode(video)):
            if chosen is not None and frame.time is not None and frame.time > time + 1e-6:
                break
            chosen = frame
            if count >= MAX_FRAMES_AFTER_SEEK:
                break
    except av.error.FFmpegError as err:
        if chosen is None:
            raise AvslError(f"{path}: cannot decode video ({ffmpeg_reason(err)})") from None
    if chosen is None:
        raise AvslError(f"{path}: no video frame decodes at {time:.2f} s")
    period = 1.0 / float(video.average_rate or video.guessed_rate or 25)
    if chosen.time is not None and chosen.time < time - 2 * period:
        raise AvslError(f"{path}: video frames end at {chosen.time:.2f} s, before {time:.2f} s (a truncated file?)")
    return chosen.to_ndarray(format="rgb24")


def _seek(container, stream, time: float, path: Path) -> None:
    """To the key frame at or before `time` (s) of `stream`."""
    try:
        container.seek(max(0, int(time / stream.time_base)), stream=stream, backward=True)
    except av.error.FFmpegError as err:
        raise AvslError(
            f"{path}: cannot seek to {time:.2f} s in its {stream.type} stream ({ffmpeg_reason(err)})"
        ) from None


def stream_duration(container, video) -> float | None:
    """The stream's duration from its header (s), else the container's; None when neither says."""
    if video.duration is not None and video.time_base:
        return float(video.duration * video.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _count_duration(container, video) -> float | None:
    """Duration from the packets' timestamps when the header has none (some raw streams)."""
    last = None
    for packet in container.demux(video):
        if packet.pts is not None and packet.duration is not None:
            last = float((packet.pts + packet.duration) * video.time_base)
    container.seek(0)
    return last


def pcm_channels(frame: av.AudioFrame) -> np.ndarray:
    """A decoded audio frame as (channels, samples) float32 in [-1, 1], whatever its format."""
    channels = frame.layout.nb_channels
    samples = frame.to_ndarray()  # planar: (channels, n); packed: (1, n * channels)
    samples = samples.reshape(channels, -1) if frame.format.is_planar else samples.reshape(-1, channels).T
    return _as_float(samples)


def _as_float(samples: np.ndarray) -> np.ndarray:
    """PCM of any sample format as float in [-1, 1]."""
    if samples.dtype.kind == "f":
        return samples.astype(np.float32)
    if samples.dtype == np.uint8:
        return (samples.astype(np.float32) - 128.0) / 128.0
    return samples.astype(np.float32) / float(np.iinfo(samples.dtype).max + 1)


def open_media(path: Path, kind: str = "video"):
    """An input container, or an AvslError naming the file and what it was read as (PyAV's own
    errors are many)."""
    try:
        source = io.BytesIO(path.read()) if isinstance(path, ArchiveMember) else str(path)
        return av.open(source, metadata_errors="ignore")
    except FileNotFoundError:
        raise AvslError(f"{path}: {kind} not found") from None
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as err:
        raise AvslError(f"{path}: cannot open as {'an' if kind[0] in 'aeiou' else 'a'} {kind} "
                        f"({ffmpeg_reason(err)})") from None  # fmt: skip


def ffmpeg_reason(err: Exception) -> str:
    """FFmpeg's own words ("Invalid data found when processing input"), without errno and path."""
    text = getattr(err, "strerror", None) or str(err).strip()
    lines = text.splitlines()
    return lines[0] if lines else type(err).__name__
