"""`avsl bench --suite localize`: `avsl localize` end to end (decode, audio windows, model,
drawing, encoding) on a 10 s, 25 fps, 224 x 224 video, with the papers' ResNet-18 pair and with
the CPU-sized encoders, as frames per second, real-time factor and each stage's share."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from avsl.bench.timing import wait_for_devices
from avsl.bench.videos import write_video
from avsl.inference.model import LocalizationModel
from avsl.inference.video_localize import localize_video
from avsl.methods.base import build_localizer
from avsl.run import save_network

SECONDS, FPS, SIDE = 10.0, 25, 224
ENCODERS = {
    "resnet18": {"visual": "resnet18", "audio": "resnet18", "frontend": "ezvsl", "dim": 512},
    "tiny": {"visual": "tiny", "audio": "tiny", "frontend": "logmel", "dim": 128},
}


def run(device: torch.device | None = None, repeats: int = 2) -> dict:
    device = device or torch.device("cpu")
    rows = []
    with tempfile.TemporaryDirectory(prefix="avsl-localize-") as folder:
        source = write_video(Path(folder) / "in.mp4", seconds=SECONDS, fps=FPS, size=(SIDE, SIDE), texture=True,
                             video_codec="libx264", audio_codec="aac")  # fmt: skip
        for name, encoders in ENCODERS.items():
            model = _model(Path(folder) / f"{name}.safetensors", encoders, device)
            timings = []
            for repeat in range(repeats):
                started = time.perf_counter()
                result = localize_video(model, source, Path(folder) / f"out{repeat}.mp4", progress=False)
                wait_for_devices()
                timings.append((time.perf_counter() - started, result))
            seconds, result = min(timings, key=lambda pair: pair[0])  # the run least disturbed
            stages = sum(result.stage_seconds.values())
            rows.append({
                "encoders": name,
                "frames": result.frames,
                "seconds": round(seconds, 2),
                "frames_per_second": round(result.frames / seconds, 1),
                "real_time_factor": round(SECONDS / seconds, 2),
                "stage_share": {k: round(v / stages, 3) for k, v in sorted(result.stage_seconds.items())},
            })  # fmt: skip
    return {"device": str(device), "video": f"{SECONDS:.0f} s, {FPS} fps, {SIDE} x {SIDE}, H.264 + AAC",
            "batch_size": 16, "repeats": repeats, "rows": rows}  # fmt: skip


def _model(path: Path, encoders: dict, device: torch.device) -> LocalizationModel:
    """A randomly initialised localizer saved and loaded as a checkpoint (speed needs no training)."""
    spec = {"name": "ezvsl", "visual_weights": "none", "width": 32, "norm": "batch", "sample_rate": 16_000,
            "eps": 0.65, "tau": 0.03, **encoders}  # fmt: skip
    network = build_localizer(spec, seed=0)
    save_network(path, spec, network.state_dict(), SIDE)
    return LocalizationModel.from_checkpoint(path, device)
