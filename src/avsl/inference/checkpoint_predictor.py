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
from avsl.precision import autocast, resolve_precision
from avsl.run import checked_spec, load_network, resolve_checkpoint
from avsl.types import AVBatch


class CheckpointPredictor:
    """The checkpoint's inference network (teacher A for DMT), in eval mode on `device`, its
    weights channels-last (what oneDNN's and cuDNN's fastest convolutions take: 2.4x faster for
    the ResNet-18 pair on a 2-core CPU, same fp32 arithmetic).

    Args:
        network: another network of the checkpoint by name (e.g. "student_a").
        precision: fp32 (exact, comparable scores: evaluation's default), bf16 (autocast), or
            auto (bf16 where the hardware multiplies in it: what `localize` uses).
    """

    def __init__(
        self,
        path: str | Path,
        device: torch.device | str = "cpu",
        network: str | None = None,
        precision: str = "fp32",
    ) -> None:
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
        self.device = torch.device(device)
        self.model.to(self.device, memory_format=torch.channels_last).eval()
        self.precision = resolve_precision(precision, self.device)
        self.spec = spec
        self.sample_rate = spec["sample_rate"]
        self.name = f"{self.path}:{self.network}"
        # what metrics.json and the report say about the model (`avsl report` rebuilds it from this)
        self.about = {
            "predictor": "checkpoint", "checkpoint": str(self.path), "network": self.network,
            "localizer": f"{spec['name']} ({spec['visual']} image, {spec['audio']} audio encoder)", **trained,
            "precision": self.precision,
        }  # fmt: skip

    def __call__(self, batch: AVBatch) -> Tensor:
        return self.maps(batch.image, batch.audio)

    def maps(self, images: Tensor, waveforms: Tensor) -> Tensor:
        """Raw maps (B, h, w), fp32, of prepared images (B, 3, S, S) and windows (B, L)."""
        return self.map_logits(self.embed_visual(images), self.embed_audio(waveforms))

    @torch.inference_mode()
    def embed_visual(self, images: Tensor) -> Tensor:
        """The network's visual features of prepared images (B, 3, S, S), on its device."""
        images = images.to(self.device).contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.precision):
            return self.model.embed_visual(images)

    @torch.inference_mode()
    def embed_audio(self, windows: Tensor) -> Tensor:
        """The network's audio embeddings of prepared windows (B, L), on its device."""
        with autocast(self.device, self.precision):
            return self.model.embed_audio(windows.to(self.device))

    @torch.inference_mode()
    def map_logits(self, visual: Tensor, audio: Tensor) -> Tensor:
        """Raw maps (B, h, w), fp32, of `embed_visual`'s and `embed_audio`'s outputs."""
        with autocast(self.device, self.precision):
            return self.model.map_logits(visual, audio).float()


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
