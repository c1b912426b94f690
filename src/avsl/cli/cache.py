"""`avsl cache DATA OUT`: decode a layout once into a memory-mapped training cache.

DATA is a layout, or a folder holding train/ (and val/) layouts as `avsl synth` writes them;
OUT then gets train/ (frames with the crop margin) and val/ (frames at the input size), and
`avsl train --data OUT` reads them with no decoding and no per-process copy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from avsl.cli.common import add_decoding_arguments, add_selection_arguments, existing_dir, positive_int
from avsl.data.cache import INDEX_FILE, is_cache, write_cache
from avsl.data.selection import Selection, cache_jobs
from avsl.errors import AvslError
from avsl.files import writable_dir
from avsl.progress import progress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="a layout, or a folder with train/ (and val/)")
    parser.add_argument("out", type=Path, help="cache folder to write")
    parser.add_argument("--sample-rate", type=positive_int, default=16_000, help="audio rate of the cache (Hz)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing cache in OUT")
    add_selection_arguments(parser, "also the clips of this list (e.g. dmt-train), holding out the other DMT splits")
    add_decoding_arguments(parser)


def run(args: argparse.Namespace) -> int:
    existing_dir(args.data, "data directory")
    _check_replaceable(args.out, args.data, args.overwrite)
    writable_dir(args.out.parent, "cache's parent folder")  # OUT.partial is written there, then renamed
    selection = Selection(args.format or "auto", tuple(args.split or ()), args.labeled or "", args.annotations or "")
    jobs = cache_jobs(args.data, args.out, args.image_size, args.audio_seconds, args.sample_rate, args.max_pixels,
                      selection)  # fmt: skip
    for job in jobs:
        with progress(len(job.dataset), f"cache {job.name}", "clip") as bar:
            index = write_cache(job.dataset, job.target, job.input_size, args.workers,
                                progress=lambda done, bar=bar: bar.update(done - bar.n))  # fmt: skip
        side, seconds = index["side"], index["audio_seconds"]
        print(f"{job.target}: {index['count']} clips ({side} px frames, {seconds} s), {len(index['skipped'])} skipped")
        for item in index["skipped"]:
            print(f"  skipped {item['id']}: {item['reason']}")
    return 0


def _check_replaceable(out: Path, data: Path, overwrite: bool) -> None:
    """OUT is new, or (with --overwrite) a cache: --overwrite deletes it, so it must never be the
    data, a file, or any folder that is not a cache."""
    if not out.exists():
        return
    if data.resolve().is_relative_to(out.resolve()):
        raise AvslError(f"{out}: is (or holds) the data folder {data}; write the cache elsewhere")
    if not out.is_dir():
        raise AvslError(f"{out}: is a file, not a cache folder")
    if not (is_cache(out) or is_cache(out / "train")):
        raise AvslError(f"{out}: exists and is not a cache (no {INDEX_FILE}); --overwrite replaces only a cache")
    if not overwrite:
        raise AvslError(f"{out}: exists already (use --overwrite to replace it)")
