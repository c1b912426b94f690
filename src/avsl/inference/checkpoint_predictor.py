"""A trained network from a checkpoint, as a Predictor (batch -> raw map logits).

A checkpoint may come from anywhere, so loading trusts nothing in its header: every field is
checked for type and range, the network is first built on PyTorch's `meta` device (shapes, no
memory) and compared with the file's tensors, and only then built for real. It is built without
initial weights, since the file holds all of them: a path or `imagenet` in the header is never
opened or downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from avsl.checkpoint import check_module_state, load_module_state
from avsl.inference.peers import PEER_IMAGE_SIZE, is_peer_checkpoint, load_peer_checkpoint
from avsl.methods.base import build_localizer
from avsl.run import checked_spec, load_network, resolve_checkpoint
from avsl.types import AVBatch


class CheckpointPredictor:
    """The checkpoint's inference network (teacher A for DMT), in eval mode on `device`.

    Args:
        network: another network of the checkpoint by name (e.g. "student_a").
    """

    def __init__(self, path: str | Path, device: torch.device | str = "cpu", network: str | None = None) -> None:
        self.path = resolve_checkpoint(path)
        if is_peer_checkpoint(self.path):  # EZ-VSL's or SLAVC's best.pth
            spec, state, self.audio_seconds = load_peer_checkpoint(self.path)
            spec = checked_spec(spec, self.path)  # its sizes come from the file's tensor shapes
            self.network, self.image_size = spec["name"], PEER_IMAGE_SIZE
            trained = {"method": "peer checkpoint (EZ-VSL / SLAVC layout)"}
        else:
            found = load_network(self.path, network)
            spec, state = found.spec, found.state
            self.network, self.image_size, self.audio_seconds = found.name, found.image_size, found.audio_seconds
            trained = found.trained
        self.model = load_localizer(spec, state, self.path)
        self.model.to(device).eval()
        self.spec = spec
        self.sample_rate = spec["sample_rate"]
        self.name = f"{self.path}:{self.network}"
        # what metrics.json and the report say about the model (`avsl report` rebuilds it from this)
        self.about = {
            "predictor": "checkpoint", "checkpoint": str(self.path), "network": self.network,
            "localizer": f"{spec['name']} ({spec['visual']} image, {spec['audio']} audio encoder)", **trained,
        }  # fmt: skip

    @torch.inference_mode()
    def __call__(self, batch: AVBatch) -> Tensor:
        return self.model(batch.image, batch.audio).map_logits  # (B, h, w)


def load_localizer(spec: dict, state: dict[str, Tensor], source: Path) -> nn.Module:
    """The localizer of a checked `spec` holding `state`: the tensors' shapes, kinds and values
    are checked against it before anything is allocated."""
    spec = {**spec, "visual_weights": "none"}  # the checkpoint holds every weight
    with torch.device("meta"):
        skeleton = build_localizer(spec, seed=0)
    check_module_state(skeleton, state, source)  # any key or shape mismatch, before allocating
    model = build_localizer(spec, seed=0)
    load_module_state(model, state, source)
    return model
