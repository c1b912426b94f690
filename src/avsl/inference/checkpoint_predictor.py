"""A trained network from a checkpoint, as a Predictor (batch -> raw map logits)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from avsl.checkpoint import BEST_FILE, load_checkpoint, load_module_state, unprefixed
from avsl.errors import AvslError
from avsl.methods.base import build_localizer
from avsl.types import AVBatch


def resolve_checkpoint(path: Path) -> Path:
    """A run directory means its best checkpoint; a file is taken as it is."""
    if path.is_dir():
        if not (path / BEST_FILE).exists():
            raise AvslError(f"{path}: run directory has no {BEST_FILE} (did training finish an epoch?)")
        return path / BEST_FILE
    return path


class CheckpointPredictor:
    """The checkpoint's inference network (teacher A for DMT), in eval mode on `device`.

    Args:
        network: another network of the checkpoint by name (e.g. "student_a").
    """

    def __init__(self, path: Path, device: torch.device | str = "cpu", network: str | None = None) -> None:
        self.path = resolve_checkpoint(Path(path))
        tensors, header = load_checkpoint(self.path)
        self.network = network or header.get("inference", "model")
        specs = header.get("specs", {})
        if self.network not in specs:
            raise AvslError(f"{self.path}: no network {self.network!r} (has {', '.join(specs) or 'none'})")
        self.model = build_localizer(specs[self.network], seed=0)
        load_module_state(self.model, unprefixed(f"modules.{self.network}.", tensors), self.path)
        self.model.to(device).eval()
        self.image_size = int(header.get("image_size", 224))
        self.audio_seconds = float(header.get("audio_seconds", 3.0))
        self.sample_rate = int(specs[self.network].get("sample_rate", 16_000))
        self.name = f"{self.path}:{self.network}"

    @torch.inference_mode()
    def __call__(self, batch: AVBatch) -> Tensor:
        return self.model(batch.image, batch.audio).map_logits  # (B, h, w)
