"""The clips of a list, fetched with yt-dlp (the downloader every VGGSound script uses) so that
`avsl prepare` can cut them.

A list is a packaged one by name (a benchmark's, `vggss_144k`, `dmt-test`, ...), a file of ids
(`<youtube id>_<start, 6 digits>` as VGGSound names its clips, or plain video ids), or VGGSound's
own CSV (`youtube id,start second,label,split`). Each clip's video is saved as
`videos/<id>.<ext>`; yt-dlp writes it as `.part` first, resumes that part on the next attempt and
renames it only when whole, so a video that looks complete is complete. Transient faults are
retried with back-off; "unavailable", "private" or "removed" is final. Downloads start at most
`rate` per second over all workers.
"""

from __future__ import annotations

import glob
import gzip
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from avsl.data.benchmarks import BENCHMARKS, REFERENCE_DIR, packaged_lists, resolve_split
from avsl.errors import AvslError

YOUTUBE_TEMPLATE = "https://www.youtube.com/watch?v={ytid}"
VIDEOS_FOLDER = "videos"
_VGGSOUND_ID = re.compile(r"^(?P<ytid>.+)_(?P<start>\d{6})$")
# yt-dlp's messages for a video that another attempt will not bring back
_FINAL = ("video unavailable", "private video", "has been removed", "is not available", "http error 404",
          "http error 403", "http error 410", "unsupported url", "copyright", "account associated",
          "sign in to confirm", "members-only", "blocked it")  # fmt: skip


@dataclass(frozen=True)
class ListedClip:
    """One clip of a list: its id (the layout's name for it), its video, and where it starts."""

    id: str
    ytid: str
    start: int | None  # seconds; None: the whole video (prepare takes its middle)

    def url(self, template: str) -> str:
        return template.format(id=self.id, ytid=self.ytid, start=self.start if self.start is not None else "")


def listed_clips(source: str) -> tuple[list[ListedClip], str | None]:
    """The clips of a list, and its dataset where the name tells it (vggss, flickr)."""
    if source in BENCHMARKS:
        benchmark = BENCHMARKS[source]
        paths, dataset = benchmark.list_paths(), benchmark.dataset
    else:
        path = resolve_split(source, "vggss")
        paths = [path]
        dataset = "flickr" if path.parent == REFERENCE_DIR and path.name.startswith(("flickr", "dmt_flickr")) else None
        dataset = dataset or ("vggss" if path.parent == REFERENCE_DIR else None)
        if not path.is_file():
            raise AvslError(f"{source}: no such list (a file, or one of {', '.join(packaged_lists())})")
    clips: dict[str, ListedClip] = {}
    for path in paths:
        for clip in _read_list(path):
            clips.setdefault(clip.id, clip)
    if not clips:
        raise AvslError(f"{source}: the list holds no clip")
    return list(clips.values()), dataset


def _read_list(path: Path) -> Iterator[ListedClip]:
    """Ids one per line or in a CSV's first column; VGGSound's CSV (id, start second, ...) too."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        lines = raw.decode("utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise AvslError(f"{path}: cannot read the list ({err})") from None
    for line in lines:
        cells = [cell.strip() for cell in line.split(",")]
        if not cells[0] or cells[0].startswith("#") or cells[0] in ("video", "youtube_id", "ytid"):
            continue
        if len(cells) >= 2 and cells[1].isdigit() and not _VGGSOUND_ID.match(cells[0]) and len(cells) >= 3:
            start = int(cells[1])  # VGGSound's CSV: youtube id, start second, label, split
            yield ListedClip(f"{cells[0]}_{start:06d}", cells[0], start)
        elif match := _VGGSOUND_ID.match(cells[0]):
            yield ListedClip(cells[0], match["ytid"], int(match["start"]))
        else:
            yield ListedClip(cells[0], cells[0], None)


@dataclass(frozen=True)
class DownloadOptions:
    template: str = YOUTUBE_TEMPLATE
    workers: int = 4
    rate: float = 2.0  # downloads started per second, over all workers
    attempts: int = 3
    timeout: float = 30.0
    backoff: float = 2.0  # waits backoff x 1, 2, 4 ... s between attempts
    format: str = "best[height<=480]/best"  # frames are squashed to 224 px: larger only costs time


@dataclass(frozen=True)
class Fetched:
    """One clip's download: its video file, or why there is none."""

    clip: ListedClip
    video: Path | None = None
    problem: str | None = None
    before: bool = False  # it was there already


def finished_video(folder: Path, clip_id: str) -> Path | None:
    """The clip's whole video in `folder`, if a download finished (yt-dlp's parts do not count)."""
    for path in folder.glob(f"{glob.escape(clip_id)}.*"):
        if path.suffix not in (".part", ".ytdl", ".tmp") and path.stem == clip_id:
            return path
    return None


def fetch_videos(
    clips: list[ListedClip],
    folder: Path,
    options: DownloadOptions,
    skip: Callable[[ListedClip], bool] = lambda clip: False,
) -> Iterator[Fetched]:
    """Each clip's video in `folder`, fetched by `options.workers` threads (in the list's order
    of completion); clips for which `skip` holds (prepared already) are not fetched."""
    folder.mkdir(parents=True, exist_ok=True)
    limiter = _RateLimiter(options.rate)

    def one(clip: ListedClip) -> Fetched:
        if skip(clip):
            return Fetched(clip, before=True)
        if (found := finished_video(folder, clip.id)) is not None:
            return Fetched(clip, found, before=True)
        return _fetch_with_retries(clip, folder, options, limiter)

    with ThreadPoolExecutor(max_workers=options.workers) as pool:
        yield from pool.map(one, clips)


def _fetch_with_retries(clip: ListedClip, folder: Path, options: DownloadOptions, limiter: _RateLimiter) -> Fetched:
    url = clip.url(options.template)
    reason = ""
    for attempt in range(options.attempts):
        if attempt:
            time.sleep(options.backoff * 2 ** (attempt - 1))
        limiter.wait()
        try:
            return Fetched(clip, _download(url, folder / clip.id, options))
        except _Failed as err:
            reason = str(err)
            if err.final:
                break
    return Fetched(clip, problem=f"{url}: {reason}")


class _Failed(Exception):
    def __init__(self, message: str, final: bool) -> None:
        super().__init__(message)
        self.final = final


class _Quiet:
    """yt-dlp's logger: nothing on the console (the reason comes back in the exception)."""

    def debug(self, message: str) -> None:
        pass

    info = warning = error = debug


def _download(url: str, stem: Path, options: DownloadOptions) -> Path:
    try:
        from yt_dlp import YoutubeDL
        from yt_dlp.utils import DownloadError
    except ImportError:
        raise AvslError("avsl download needs yt-dlp: pip install 'avsl[download]'") from None
    settings = {
        "outtmpl": f"{stem}.%(ext)s", "format": options.format, "quiet": True, "noprogress": True,
        "logger": _Quiet(), "socket_timeout": options.timeout, "retries": 0, "fragment_retries": 0,
        "continuedl": True, "noplaylist": True, "overwrites": False,
    }  # fmt: skip
    try:
        with YoutubeDL(settings) as downloader:
            info = downloader.extract_info(url, download=True)
            path = Path(downloader.prepare_filename(info))
    except DownloadError as err:
        message = re.sub(r"^ERROR: ", "", str(err)).splitlines()[0]
        raise _Failed(message, final=any(marker in message.lower() for marker in _FINAL)) from None
    except OSError as err:  # a full disk: final for this run (the part stays for the next)
        raise _Failed(f"cannot write ({err.strerror})", final=True) from None
    if not path.is_file():
        raise _Failed("the downloader reported success but wrote no file", final=False)
    return path


class _RateLimiter:
    """At most `rate` starts per second, shared by the threads."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.interval
        time.sleep(max(0.0, start - now))
