"""`avsl bench --suite prepare`: clips per second of `avsl prepare` on 10 s 360p videos (H.264 +
AAC stereo at 44.1 kHz in MP4, 25 fps: what VGGSound's YouTube downloads look like)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from avsl.bench.videos import write_video
from avsl.data.prepare import PrepareOptions, list_videos, prepare_all

CLIPS = 16
SECONDS = 10.0
SIZE = (640, 360)


def run(repeats: int = 3, clips: int = CLIPS) -> dict:
    with tempfile.TemporaryDirectory(prefix="avsl-prepare-") as folder:
        videos_dir = Path(folder) / "videos"
        videos_dir.mkdir()
        for index in range(clips):
            write_video(videos_dir / f"clip{index:03d}.mp4", seconds=SECONDS, fps=25, size=SIZE,
                        video_codec="libx264", audio_codec="aac", texture=True)  # fmt: skip
        size_bytes = sum(p.stat().st_size for p in videos_dir.iterdir())
        videos, _ = list_videos(videos_dir)
        rows = []
        for workers in (1, 2):
            times = []
            for repeat in range(repeats):
                out = Path(folder) / f"out{workers}_{repeat}"
                started = time.perf_counter()
                outcomes = list(prepare_all(videos, out, PrepareOptions(), workers))
                times.append(time.perf_counter() - started)
                assert all(o.problem is None for o in outcomes), [o.problem for o in outcomes if o.problem]
            seconds = statistics.median(times)
            rows.append(
                {"workers": workers, "seconds": round(seconds, 2), "clips_per_second": round(clips / seconds, 2)}
            )
    return {
        "clips": clips,
        "video": f"{SECONDS:.0f} s, {SIZE[0]} x {SIZE[1]}, 25 fps H.264 + AAC 44.1 kHz stereo, MP4",
        "mean_bit_rate_kbps": round(size_bytes * 8 / clips / SECONDS / 1000),
        "output": "the middle frame as JPEG + the whole 10 s as 16 kHz mono WAV",
        "cpus": os.cpu_count(),
        "repeats": repeats,
        "rows": rows,
    }
