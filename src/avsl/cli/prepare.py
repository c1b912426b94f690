"""`avsl prepare VIDEOS OUT`: decode raw videos into the native layout (see avsl.data.prepare)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from avsl.cli.common import add_decoding_arguments, positive_float, positive_int
from avsl.constants import MAX_FRAME_PIXELS, SAMPLE_RATE
from avsl.data.cache import INDEX_FILE, holds_clips, is_cache, write_cache
from avsl.data.prepare import VIDEO_SUFFIXES, PrepareOptions, list_videos, prepare_all
from avsl.data.selection import cache_jobs
from avsl.errors import AvslError
from avsl.files import atomic_write, writable_dir
from avsl.progress import progress

REPORT_FILE = "prepare_skipped.tsv"
MAX_WINDOW_SECONDS = 600.0  # as data.audio_seconds: one decoded window stays a few hundred MB at most


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", type=Path, help=f"a folder of videos ({', '.join(VIDEO_SUFFIXES[:5])}, ...) "
                        "searched recursively (tar archives' members included), a .tar / .tar.gz of videos, "
                        "or a list file of paths")  # fmt: skip
    parser.add_argument("out", type=Path, help="layout folder to write (frames/<id>.jpg, audio/<id>.wav)")
    parser.add_argument("--frames", type=positive_int, default=1,
                        help="frames per video, evenly spaced (default 1: the middle); clips are <id>_<k>")  # fmt: skip
    parser.add_argument("--time", default="middle", help="middle (default), vggsound (the id's _<start> second "
                        "names a 10 s clip of a full video), or seconds from the start")  # fmt: skip
    parser.add_argument("--audio-seconds", type=positive_float,
                        help="audio window centred on the frame (default: the whole video, at most 10 s)")  # fmt: skip
    parser.add_argument("--sample-rate", type=positive_int, default=SAMPLE_RATE, help="rate of the written audio (Hz)")
    add_decoding_arguments(parser, sizes=False)
    parser.add_argument("--strict", action="store_true", help="stop at the first video that cannot be used")
    parser.add_argument("--cache", type=Path, metavar="DIR", help="also write a training cache of the layout")


def run(args: argparse.Namespace) -> int:
    if args.audio_seconds is not None and args.audio_seconds > MAX_WINDOW_SECONDS:
        raise AvslError(f"--audio-seconds is at most {MAX_WINDOW_SECONDS:.0f} (one window is decoded into memory)")
    options = PrepareOptions(args.frames, _checked_time(args.time, args.frames), args.audio_seconds,
                             args.sample_rate, args.max_pixels)  # fmt: skip
    writable_dir(args.out)
    if args.cache is not None:
        if args.cache.exists() and not is_cache(args.cache):
            raise AvslError(f"{args.cache}: exists and is not a cache (no {INDEX_FILE}); choose a new folder")
        writable_dir(args.cache.parent, "cache's parent folder")
    videos, problems = list_videos(args.videos)
    if not videos and not problems:
        raise AvslError(f"{args.videos}: no videos found ({', '.join(VIDEO_SUFFIXES[:5])}, ...)")
    if args.strict and problems:
        raise AvslError(f"{problems[0].video}: {problems[0].problem} (--strict)")
    written = before = 0
    with progress(len(videos), "prepare", "video") as bar:
        for outcome in prepare_all(videos, args.out, options, args.workers):
            bar.update(1)
            if outcome.problem is not None:
                problems.append(outcome)
                if args.strict:
                    raise AvslError(f"{outcome.problem} (--strict)")
            elif outcome.done_before:
                before += len(outcome.clips)
            else:
                written += len(outcome.clips)
    _report(args.out, written, before, problems)
    if written + before == 0:
        for sub in ("frames", "audio"):
            _remove_if_empty(args.out / sub)
        raise AvslError(f"{args.out}: no clip written: all {len(problems)} video(s) were skipped "
                        f"(each in {args.out / REPORT_FILE})")  # fmt: skip
    if args.cache is not None:
        write_layout_cache(args.out, args.cache, args.sample_rate, args.workers, args.max_pixels)
    return 0


def _checked_time(value: str, frames: int) -> str:
    if value in ("middle", "vggsound"):
        return value
    try:
        seconds = float(value)
    except ValueError:
        raise AvslError(f"--time must be middle, vggsound or a number of seconds, got {value!r}") from None
    if not 0 <= seconds < float("inf"):
        raise AvslError(f"--time must be a time from the start (>= 0), got {value}")
    if frames != 1:
        raise AvslError("--time SECONDS takes one frame per video; --frames K spreads K over the video")
    return value


def _report(out: Path, written: int, before: int, problems: list) -> None:
    print(f"{out}: {written} clips written, {before} already there, {len(problems)} videos skipped")
    if problems:
        report = "".join(f"{p.video}\t{p.problem}\n" for p in problems).encode()
        atomic_write(out / REPORT_FILE, lambda stream: stream.write(report))
        print(f"skipped {len(problems)} video(s) (all in {out / REPORT_FILE}):", file=sys.stderr)
        for problem in problems[:20]:
            named = (
                problem.problem if problem.problem.startswith(problem.video) else f"{problem.video}: {problem.problem}"
            )
            print(f"  {named}", file=sys.stderr)
    else:
        (out / REPORT_FILE).unlink(missing_ok=True)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty, or not there
        pass


def write_layout_cache(
    layout: Path, cache: Path, sample_rate: int = SAMPLE_RATE, workers: int = 2, max_pixels: int = MAX_FRAME_PIXELS
) -> None:
    """The layout's training cache, as `avsl cache` writes it; a rerun keeps a cache that
    already holds every clip."""
    (job,) = cache_jobs(layout, cache, None, None, sample_rate, max_pixels)
    if holds_clips(cache, job.dataset.ids, job.input_size, sample_rate, job.dataset.audio_seconds):
        print(f"{cache}: training cache already holds the layout's {len(job.dataset)} clips")
        return
    index = write_cache(job.dataset, job.target, job.input_size, workers)
    print(f"{cache}: training cache of {index['count']} clips ({len(index['skipped'])} skipped)")
