"""How long the benchmark-sized presets of the synthetic benchmark take to generate (target < 60 s)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from avsl.data.synth.presets import get_preset
from avsl.data.synth.writer import generate

TIMED_PRESETS = ("bench", "hard")


def run(repeats: int = 1) -> dict:
    return {"presets": [_generation_time(name, repeats) for name in TIMED_PRESETS]}


def _generation_time(preset_name: str, repeats: int) -> dict:
    preset = get_preset(preset_name)
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            generate(Path(folder) / preset_name, preset, seed=0)
            times.append(time.perf_counter() - start)
    clips = preset.num_train + preset.num_val + preset.num_test
    seconds = sorted(times)[len(times) // 2]
    return {
        "preset": preset.name,
        "clips": clips,
        "processes": os.cpu_count(),
        "seconds": round(seconds, 2),
        "clips_per_second": round(clips / seconds, 1),
    }
