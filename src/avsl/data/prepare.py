"""Raw videos -> the native layout: frames/<id>.jpg and audio/<id>.wav (16 kHz mono PCM).

Each video gives one clip (its middle frame), or K clips `<id>_<k>` (K evenly spaced frames);
each clip's audio is the window centred on its frame's time, `audio_seconds` long (default: the
whole video, capped at 10 s, VGGSound's clip length). A clip is written audio first, then frame,
each to a temporary name renamed into place, so the frame's presence means the clip is complete:
a rerun skips those and redoes the rest, and a killed run never leaves a half-written clip in
the layout (it reads clips from frames/).
"""

from __future__ import annotations

import multiprocessing
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from avsl.constants import MAX_FRAME_PIXELS, SAMPLE_RATE
from avsl.data.archives import archive_members, is_archive
from avsl.data.layout import id_problem
from avsl.data.video import audio_window, frames_at, probe
from avsl.errors import AvslError
from avsl.files import TEMP_SUFFIX

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".flv", ".mpg", ".mpeg", ".ts", ".3gp", ".ogv")
MAX_AUDIO_SECONDS = 10.0  # VGGSound's clips are 10 s
JPEG_QUALITY = 95
# VGGSound ids: <11-character YouTube id>_<start second, 6 digits>; the clip is the 10 s from there.
_VGGSOUND_ID = re.compile(r"^(?P<youtube>.+)_(?P<start>\d{6})$")


@dataclass(frozen=True)
class PrepareOptions:
    """How each video is cut (see the module docstring and `avsl prepare --help`).

    time: "middle" (of the video), "vggsound" (the middle of the 10 s clip that the id's
        `_<start>` suffix names in a full-length video), or seconds from the start (one frame).
    """

    frames: int = 1
    time: str = "middle"
    audio_seconds: float | None = None
    sample_rate: int = SAMPLE_RATE
    max_pixels: int = MAX_FRAME_PIXELS


@dataclass(frozen=True)
class Outcome:
    """One video's result: the clips written, or why it was skipped."""

    video: str
    clips: tuple[str, ...] = ()
    done_before: bool = False
    problem: str | None = None


def list_videos(source: Path) -> tuple[list[Path], list[Outcome]]:
    """The videos of a folder (recursively, by suffix, and inside its tar archives), of one tar
    archive, or of a list file (one path per line, relative to the list's folder); unusable
    names are returned as problems."""
    unreadable: list[Outcome] = []
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file())
        paths = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
        for archive in filter(is_archive, files):
            try:
                paths += archive_members(archive, VIDEO_SUFFIXES)
            except AvslError as err:  # one bad shard is listed; the others are read
                unreadable.append(Outcome(str(archive), problem=str(err)))
    elif is_archive(source):
        paths = archive_members(source, VIDEO_SUFFIXES)
    elif source.is_file():
        try:
            lines = source.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise AvslError(f"{source}: cannot read the video list ({err})") from None
        paths = [source.parent / line.strip() for line in lines if line.strip() and not line.startswith("#")]
    else:
        raise AvslError(f"{source}: no such folder or list file")
    chosen, problems, seen = [], unreadable, set()
    for path in paths:
        if problem := id_problem(path.stem):
            problems.append(Outcome(str(path), problem=problem))
        elif path.stem in seen:
            problems.append(
                Outcome(str(path), problem=f"another video is named {path.stem!r} too (ids must be unique)")
            )
        else:
            seen.add(path.stem)
            chosen.append(path)
    return chosen, problems


def clip_ids(video: Path, options: PrepareOptions) -> list[str]:
    if options.frames == 1:
        return [video.stem]
    return [f"{video.stem}_{k}" for k in range(options.frames)]


def is_done(out: Path, clip_id: str) -> bool:
    return (out / "frames" / f"{clip_id}.jpg").is_file() and (out / "audio" / f"{clip_id}.wav").is_file()


def prepare_video(video: Path, out: Path, options: PrepareOptions) -> Outcome:
    """Write the clips of one video; any problem with the file is returned, not raised."""
    ids = clip_ids(video, options)
    if all(is_done(out, clip_id) for clip_id in ids):
        return Outcome(str(video), tuple(ids), done_before=True)
    try:
        info = probe(video, options.max_pixels)
        if not info.has_audio:
            raise AvslError(f"{video}: no audio stream")
        begin, end = clip_span(video, info.duration, options)
        times = frame_times(begin, end, options)
        pictures = frames_at(video, times)
        length = options.audio_seconds or min(end - begin, MAX_AUDIO_SECONDS)
        for clip_id, time, picture in zip(ids, times, pictures, strict=True):
            start = min(max(time - length / 2, begin), max(end - length, begin))
            waveform = audio_window(video, start, length, options.sample_rate, expected_end=info.duration)
            _write_clip(out, clip_id, picture, waveform, options.sample_rate)
    except AvslError as err:
        return Outcome(str(video), problem=str(err))
    return Outcome(str(video), tuple(ids))


def clip_span(video: Path, duration: float, options: PrepareOptions) -> tuple[float, float]:
    """The part of the video that is the clip (s): all of it, or VGGSound's 10 s from the
    second its id names."""
    if options.time != "vggsound":
        return 0.0, duration
    match = _VGGSOUND_ID.match(video.stem)
    if match is None:
        raise AvslError(f"{video}: name is not a VGGSound id (<youtube id>_<start, 6 digits>)")
    start = float(match["start"])
    if start >= duration:
        raise AvslError(f"{video}: its id starts the clip at {start:.0f} s, but the video lasts {duration:.1f} s")
    return start, min(start + MAX_AUDIO_SECONDS, duration)


def frame_times(begin: float, end: float, options: PrepareOptions) -> list[float]:
    """The times (s) of the frames to keep: K evenly spaced over the clip (its middle for K = 1),
    or the one asked for."""
    if options.time in ("middle", "vggsound"):
        return [begin + (end - begin) * (k + 0.5) / options.frames for k in range(options.frames)]
    at = float(options.time)
    if at >= end:
        raise AvslError(f"asked for the frame at {at} s, but the video lasts {end:.1f} s")
    return [at]


def _write_clip(out: Path, clip_id: str, picture: np.ndarray, waveform: np.ndarray, rate: int) -> None:
    audio_path = out / "audio" / f"{clip_id}.wav"
    frame_path = out / "frames" / f"{clip_id}.jpg"
    _replace(audio_path, lambda temp: sf.write(temp, waveform, rate, subtype="PCM_16", format="WAV"))
    _replace(frame_path, lambda temp: Image.fromarray(picture).save(temp, format="JPEG", quality=JPEG_QUALITY))


def _replace(path: Path, write: Callable[[Path], None]) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        write(temp)
        os.replace(temp, path)
    except OSError as err:
        temp.unlink(missing_ok=True)
        raise AvslError(f"{path}: cannot write ({err.strerror or err})") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def prepare_all(videos: list[Path], out: Path, options: PrepareOptions, workers: int) -> Iterator[Outcome]:
    """Each video's outcome as it finishes, `workers` processes at a time (0: this process)."""
    for sub in ("frames", "audio"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    if workers == 0:
        for video in videos:
            yield prepare_video(video, out, options)
        return
    # The platform's default start method (fork on Linux: no re-import per worker); this process
    # has opened no video yet, so no decoder thread is forked.
    with multiprocessing.get_context().Pool(workers) as pool:
        yield from pool.imap_unordered(_prepare_job, [(v, out, options) for v in videos], chunksize=1)


def _prepare_job(job: tuple[Path, Path, PrepareOptions]) -> Outcome:
    return prepare_video(*job)
