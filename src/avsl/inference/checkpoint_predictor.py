"""A trained network from a checkpoint, as a Predictor (batch -> raw map logits).

A checkpoint may come from anywhere, so loading trusts nothing in its header: every field is
checked for type and range, the network is first built on PyTorch's `meta` device (shapes, no
memory) and compared with the file's tensors, and only then built for real. It is built without
initial weights, since the file holds all of them: a path or `imagenet` in the header is never
opened or downloaded.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from avsl.checkpoint import (
    BEST_FILE,
    check_module_state,
    checked_checkpoint_file,
    load_checkpoint,
    load_module_state,
    unprefixed,
)
from avsl.errors import AvslError
from avsl.inference.peers import PEER_IMAGE_SIZE, is_peer_checkpoint, load_peer_checkpoint
from avsl.methods.base import build_localizer
from avsl.models import list_audio_encoders, list_localizers, list_visual_encoders
from avsl.ops.spectrogram import FRONTENDS
from avsl.types import AVBatch

# Generous bounds on a header's numbers; a forged value outside them is refused before any
# allocation (a forged width once asked for 1.4 TB).
_MAX_WIDTH = 1024
_MAX_DIM = 8192
_MAX_IMAGE_SIZE = 4096
_SAMPLE_RATES = (1_000, 192_000)


def resolve_checkpoint(path: Path) -> Path:
    """A run directory means its best checkpoint; a file is taken as it is."""
    if path.is_dir():
        if not (path / BEST_FILE).exists():
            raise AvslError(f"{path}: run directory has no {BEST_FILE} (did training finish an epoch?)")
        path = path / BEST_FILE
    return checked_checkpoint_file(path)


class CheckpointPredictor:
    """The checkpoint's inference network (teacher A for DMT), in eval mode on `device`.

    Args:
        network: another network of the checkpoint by name (e.g. "student_a").
    """

    def __init__(self, path: Path, device: torch.device | str = "cpu", network: str | None = None) -> None:
        self.path = resolve_checkpoint(Path(path))
        if is_peer_checkpoint(self.path):  # EZ-VSL's or SLAVC's best.pth
            spec, state, self.audio_seconds = load_peer_checkpoint(self.path)
            self.network, self.image_size = spec["name"], PEER_IMAGE_SIZE
        else:
            spec, state = self._read(network)
        self.model = load_localizer(spec, state, self.path)
        self.model.to(device).eval()
        self.spec = spec
        self.sample_rate = spec["sample_rate"]
        self.name = f"{self.path}:{self.network}"

    def _read(self, network: str | None) -> tuple[dict, dict[str, Tensor]]:
        """An avsl checkpoint's network spec and tensors, every header field checked."""
        tensors, header = load_checkpoint(self.path)
        specs = _field(header, "specs", dict, self.path, default={})
        self.network = network or _field(header, "inference", str, self.path, default="model")
        if self.network not in specs:
            raise AvslError(f"{self.path}: no network {self.network!r} (has {', '.join(map(str, specs)) or 'none'})")
        self.image_size = _field(header, "image_size", int, self.path, default=224, bounds=(8, _MAX_IMAGE_SIZE))
        self.audio_seconds = float(
            _field(header, "audio_seconds", (int, float), self.path, default=3.0, bounds=(0.01, 600.0))
        )
        return specs[self.network], unprefixed(f"modules.{self.network}.", tensors)

    @torch.inference_mode()
    def __call__(self, batch: AVBatch) -> Tensor:
        return self.model(batch.image, batch.audio).map_logits  # (B, h, w)


def load_localizer(spec: dict, state: dict[str, Tensor], source: Path) -> nn.Module:
    """The localizer of `spec` holding `state`: the spec's bounds (avsl's header or a peer's
    tensor shapes) and the tensors' shapes, kinds and values checked before allocation."""
    spec = {**checked_spec(spec, source), "visual_weights": "none"}  # the checkpoint holds every weight
    with torch.device("meta"):
        skeleton = build_localizer(spec, seed=0)
    check_module_state(skeleton, state, source)  # any key or shape mismatch, before allocating
    model = build_localizer(spec, seed=0)
    load_module_state(model, state, source)
    return model


def checked_spec(spec: Any, source: Path) -> dict:
    """A header's localizer spec, every field's type and range checked (AvslError otherwise)."""
    if not isinstance(spec, dict):
        raise AvslError(f"{source}: network spec is not an object")
    choices = {
        "name": list_localizers(),
        "visual": list_visual_encoders(),
        "audio": list_audio_encoders(),
        "norm": ["batch", "group"],
        "frontend": list(FRONTENDS),
    }
    for key, allowed in choices.items():
        if spec.get(key) not in allowed:
            raise AvslError(f"{source}: header field {key}={spec.get(key)!r} is not one of {', '.join(allowed)}")
    numbers = {
        "width": (int, (1, _MAX_WIDTH)),
        "dim": (int, (1, _MAX_DIM)),
        "sample_rate": (int, _SAMPLE_RATES),
        "eps": ((int, float), (-1.0, 1.0)),
        "tau": ((int, float), (1e-6, 1e3)),
    }
    for key, (kind, bounds) in numbers.items():
        _field(spec, key, kind, source, bounds=bounds)
    unknown = sorted(set(spec) - set(choices) - set(numbers) - {"visual_weights"})
    if unknown:
        raise AvslError(f"{source}: unknown header field {unknown[0]!r} in the network spec")
    return spec


def _field(
    data: dict,
    key: str,
    kind: type | tuple[type, ...],
    source: Path,
    default: Any = None,
    bounds: tuple[float, float] | None = None,
) -> Any:
    """`data[key]` if it has the type (bool is not a number) and lies within `bounds`."""
    if key not in data and default is not None:
        return default
    value = data.get(key)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    wrong_type = not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
    if wrong_type or (bounds is not None and not (math.isfinite(value) and bounds[0] <= value <= bounds[1])):
        wanted = f" in [{bounds[0]}, {bounds[1]}]" if bounds else ""
        raise AvslError(f"{source}: header field {key}={value!r} is not a valid {kinds[0].__name__}{wanted}")
    return value
