"""Shared fixtures: small datasets written in the real formats (JPEG, WAV, annotations.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from avsl.data.synth.presets import get_preset
from avsl.data.synth.writer import generate
from avsl.methods.base import build_localizer
from avsl.run import save_network

# The small model every training test uses (`load_config` overrides; `as_set` for the CLI).
SMALL_MODEL = ("model.width=8", "model.dim=16")


def as_set(*overrides: str) -> list[str]:
    """Config overrides as `avsl train` arguments."""
    return [item for override in overrides for item in ("--set", override)]


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory) -> Path:
    """The `tiny` synthetic benchmark (train/, val/, test/), written once for the whole session;
    tests read it and write their runs elsewhere."""
    out = tmp_path_factory.mktemp("tiny") / "bench"
    generate(out, get_preset("tiny"), seed=0, workers=2)
    return out


def write_clip(
    root: Path,
    clip_id: str,
    *,
    size: tuple[int, int] = (96, 64),
    seconds: float = 1.0,
    rate: int = 16_000,
    channels: int = 1,
    seed: int = 0,
) -> None:
    """A random frame and a random audio file in the native layout."""
    rng = np.random.default_rng(seed)
    (root / "frames").mkdir(parents=True, exist_ok=True)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    pixels = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "frames" / f"{clip_id}.jpg")
    audio = (0.1 * rng.standard_normal((int(seconds * rate), channels))).astype(np.float32)
    sf.write(root / "audio" / f"{clip_id}.wav", audio, rate)


def write_annotations(root: Path, entries: list[dict]) -> None:
    (root / "annotations.json").write_text(json.dumps(entries))


@pytest.fixture
def small_layout(tmp_path: Path) -> Path:
    """Four good clips with boxes, one silent negative, one unannotated clip."""
    root = tmp_path / "data"
    boxes = {
        "a": [[0.1, 0.1, 0.4, 0.5]],
        "b": [[0.5, 0.5, 0.9, 0.95]],
        "c": [[0.3, 0.2, 0.7, 0.8], [0.0, 0.0, 0.1, 0.1]],
        "d": [[0.0, 0.0, 1.0, 1.0]],
        "neg": [],
    }
    for index, clip_id in enumerate([*boxes, "unlabelled"]):
        write_clip(root, clip_id, seed=index)
    write_annotations(root, [{"file": k, "class": "thing", "bbox": v} for k, v in boxes.items()])
    return root


def tiny_spec(**changes) -> dict:
    spec = {"name": "ezvsl", "visual": "resnet18", "audio": "tiny", "visual_weights": "none", "width": 4,
            "norm": "batch", "dim": 8, "frontend": "logmel", "sample_rate": 16_000, "eps": 0.65, "tau": 0.03}  # fmt: skip
    return {**spec, **changes}


def write_model_checkpoint(path: Path, spec: dict, model_spec: dict | None = None) -> None:
    model = build_localizer(model_spec or {**spec, "visual_weights": "none"}, seed=0)
    save_network(path, spec, model.state_dict(), image_size=64)
