"""Short videos written with PyAV, for the prepare benchmark and the tests: every frame shows
its own index (two grey levels, index % 16 on the top half and index // 16 on the bottom), so a
reader's choice of frame can be checked after lossy coding."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Grey levels 14 apart, so lossy codecs keep them apart; 16 x 16 levels number 256 frames.
LEVEL_STEP = 14
LEVELS = 16


def frame_picture(index: int, width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8: the top half at level index % 16, the bottom at index // 16."""
    picture = np.empty((height, width, 3), np.uint8)
    picture[: height // 2] = 16 + LEVEL_STEP * (index % LEVELS)
    picture[height // 2 :] = 16 + LEVEL_STEP * (index // LEVELS % LEVELS)
    return picture


def textured_picture(index: int, width: int, height: int) -> np.ndarray:
    """Drifting stripes and rings with a little grain: detail that moves, as footage has."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    shift = 3.0 * index
    stripes = np.sin((x + shift) / 9.0) * np.cos((y - 0.5 * shift) / 13.0)
    rings = np.sin(np.hypot(x - width / 2 - shift % width / 4, y - height / 2) / 5.0)
    grain = np.random.default_rng(index).normal(0, 6, (height, width)).astype(np.float32)
    grey = 128 + 50 * stripes + 30 * rings + grain
    picture = np.stack([grey, 0.8 * grey + 20, 1.1 * grey - 10], axis=-1)
    return np.clip(picture, 0, 255).astype(np.uint8)


def shown_index(picture: np.ndarray) -> int:
    """The index a decoded `frame_picture` shows (read from the middle of each half)."""
    height = picture.shape[0]
    top = float(picture[height // 8 : 3 * height // 8].mean())
    bottom = float(picture[5 * height // 8 : 7 * height // 8].mean())
    return round((top - 16) / LEVEL_STEP) + LEVELS * round((bottom - 16) / LEVEL_STEP)


def write_video(
    path: Path,
    seconds: float = 2.0,
    fps: int = 25,
    size: tuple[int, int] = (64, 48),
    audio_rate: int | None = 44_100,
    channels: int = 2,
    video_codec: str | None = "mpeg4",
    audio_codec: str = "aac",
    frames: int | None = None,
    texture: bool = False,
) -> Path:
    """A video of round(seconds x fps) frames (frame k shows `frame_picture(k)`; `frames`
    overrides the count, 0 gives an empty video stream, `video_codec=None` none at all) and,
    unless `audio_rate` is None, a 440 Hz tone; any container PyAV writes (by the suffix).
    `texture` paints moving detail and grain instead, so the encoder works (and its bit rate
    resembles a real video's) as it would on camera footage."""
    width, height = size
    count = round(seconds * fps) if frames is None else frames
    with av.open(str(path), "w") as container:
        video = None
        if video_codec is not None:
            video = container.add_stream(video_codec, rate=fps)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = None
        if audio_rate is not None:
            audio = container.add_stream(audio_codec, rate=audio_rate)
            audio.layout = "stereo" if channels == 2 else "mono"
        for index in range(count if video is not None else 0):
            picture = textured_picture(index, width, height) if texture else frame_picture(index, width, height)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(video.encode(frame))
        if video is not None:
            container.mux(video.encode())
        if audio is not None:
            _write_tone(container, audio, seconds, audio_rate, channels)
    return path


def _write_tone(container, stream, seconds: float, rate: int, channels: int) -> None:
    total = round(seconds * rate)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(total) / rate)).astype(np.float32)
    block = 1024
    for start in range(0, total, block):
        chunk = np.repeat(tone[None, start : start + block], channels, axis=0)  # planar (channels, n)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=stream.layout.name)
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())
