"""`avsl download LIST OUT`: fetch a list's clips with yt-dlp and prepare them (frames/ + 16 kHz
audio/), resumably; what could not be had is listed in OUT/download_failed.tsv."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from avsl.cli.common import non_negative_int, positive_float, positive_int
from avsl.cli.prepare import write_layout_cache
from avsl.data.prepare import PrepareOptions, is_done, prepare_all
from avsl.data.video_download import (
    VIDEOS_FOLDER,
    YOUTUBE_TEMPLATE,
    DownloadOptions,
    ListedClip,
    fetch_videos,
    listed_clips,
)
from avsl.errors import AvslError
from avsl.files import atomic_write, writable_dir
from avsl.progress import progress

FAILED_FILE = "download_failed.tsv"
SHOWN_FAILURES = 20
# rough figures for --dry-run: a whole YouTube video at up to 480 p, and its time on one worker
ESTIMATED_MB_PER_VIDEO = 25
ESTIMATED_SECONDS_PER_VIDEO = 8.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("list", help="a packaged list (vggss, vggss_144k, dmt-test, flickr, ...), a file of ids "
                        "(<youtube id>_<start> or plain video ids), or VGGSound's CSV")  # fmt: skip
    parser.add_argument("out", type=Path, help="the layout to write (videos/ while downloading, frames/, audio/)")
    parser.add_argument("--url-template", help="where a clip is fetched from; placeholders {id} (as the list "
                        "spells it), {ytid}, {start} (default: the YouTube watch page)")  # fmt: skip
    parser.add_argument("--workers", type=positive_int, default=4, help="parallel downloads")
    parser.add_argument("--rate", type=positive_float, default=2.0, help="downloads started per second, at most")
    parser.add_argument("--attempts", type=positive_int, default=3, help="tries per clip for faults that may pass")
    parser.add_argument("--timeout", type=positive_float, default=30.0, help="seconds without data before a retry")
    parser.add_argument("--keep-videos", action="store_true", help="keep each video after its clip is prepared")
    parser.add_argument("--dry-run", action="store_true", help="print the count, a disk and time estimate and "
                        "the first URLs; fetch nothing")  # fmt: skip
    parser.add_argument("--cache", type=Path, metavar="DIR", help="also write the training cache of the layout")
    parser.add_argument("--prepare-workers", type=non_negative_int, default=2, help="decoding processes")


def run(args: argparse.Namespace) -> int:
    clips, dataset = listed_clips(args.list)
    if dataset == "flickr" and args.url_template is None:
        raise AvslError(f"{args.list}: Flickr-SoundNet's clips are Flickr videos, not YouTube's; give "
                        "--url-template with a mirror's address (e.g. https://mirror.example/{id}.mp4)")  # fmt: skip
    template = args.url_template or YOUTUBE_TEMPLATE
    try:
        clips[0].url(template)
    except (KeyError, IndexError, ValueError) as err:
        raise AvslError(
            f"--url-template {template!r}: unknown placeholder {err} (use {{id}}, {{ytid}}, {{start}})"
        ) from None
    if args.dry_run:
        _dry_run(clips, template, args)
        return 0
    writable_dir(args.out)
    options = DownloadOptions(template, args.workers, args.rate, args.attempts, args.timeout)
    failures: list[tuple[str, str]] = []
    fetched = []
    with progress(len(clips), "download", "clip") as bar:
        for outcome in fetch_videos(clips, args.out / VIDEOS_FOLDER, options, skip=lambda c: is_done(args.out, c.id)):
            bar.update(1)
            if outcome.problem is not None:
                failures.append((outcome.clip.id, outcome.problem))
            elif outcome.video is not None:
                fetched.append(outcome)
    failures += _prepare(fetched, args)
    obtained = len(clips) - len(failures)
    _report(args.out, len(clips), obtained, failures)
    if obtained == 0:
        raise AvslError(f"{args.out}: none of the {len(clips)} clips could be had (each in {args.out / FAILED_FILE})")
    if args.cache is not None:
        write_layout_cache(args.out, args.cache, workers=args.prepare_workers)
    return 0


def _prepare(fetched: list, args: argparse.Namespace) -> list[tuple[str, str]]:
    """Cut each downloaded video into its clip (VGGSound's 10 s from the id's start, or the
    middle of a whole video); a video that cannot be used is a failure of its clip."""
    failures = []
    by_video = {str(f.video): f.clip for f in fetched}
    for timed in (True, False):
        videos = [f.video for f in fetched if (f.clip.start is not None) == timed]
        if not videos:
            continue
        options = PrepareOptions(time="vggsound" if timed else "middle")
        for outcome in prepare_all(videos, args.out, options, args.prepare_workers):
            clip: ListedClip = by_video[outcome.video]
            if outcome.problem is not None:
                failures.append((clip.id, f"downloaded, but cannot be used: {outcome.problem}"))
            if not args.keep_videos:
                Path(outcome.video).unlink(missing_ok=True)
    return failures


def _report(out: Path, listed: int, obtained: int, failures: list[tuple[str, str]]) -> None:
    print(f"{out}: {obtained} of the {listed} listed clips obtained ({100 * obtained / listed:.1f} %), "
          f"{len(failures)} could not be had" + (f" (each in {out / FAILED_FILE})" if failures else ""))  # fmt: skip
    if not failures:
        (out / FAILED_FILE).unlink(missing_ok=True)
        return
    report = "".join(f"{clip_id}\t{reason}\n" for clip_id, reason in failures).encode()
    atomic_write(out / FAILED_FILE, lambda stream: stream.write(report))
    for clip_id, reason in failures[:SHOWN_FAILURES]:
        print(f"  {clip_id}: {reason}", file=sys.stderr)
    if len(failures) > SHOWN_FAILURES:
        print(f"  ... and {len(failures) - SHOWN_FAILURES} more", file=sys.stderr)


def _dry_run(clips: list[ListedClip], template: str, args: argparse.Namespace) -> None:
    pending = [c for c in clips if not is_done(args.out, c.id)]
    seconds = len(pending) * max(ESTIMATED_SECONDS_PER_VIDEO / args.workers, 1.0 / args.rate)
    print(f"{len(clips)} clips listed, {len(clips) - len(pending)} prepared already in {args.out}; "
          f"to fetch: {len(pending)}, about {len(pending) * ESTIMATED_MB_PER_VIDEO / 1000:.1f} GB while downloading "
          f"(videos are removed once cut, unless --keep-videos) and {seconds / 3600:.1f} h at {args.workers} workers "
          f"(rough: {ESTIMATED_MB_PER_VIDEO} MB and {ESTIMATED_SECONDS_PER_VIDEO:.0f} s per video)")  # fmt: skip
    for clip in pending[:5]:
        print(f"  {clip.url(template)}")
