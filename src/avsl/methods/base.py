"""The interface every method offers the training loop, and the pieces they share."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol

import torch
from torch import Tensor, nn

from avsl.losses.contrastive import unsupervised_loss
from avsl.losses.supervised import box_targets, map_loss
from avsl.models import create_localizer
from avsl.ops.collective import gather_batch
from avsl.types import AVBatch, LocalizerOutput, StepOutput

Pool = Literal["all", "labeled", "unlabeled"]
# A semi-supervised method's stages: the supervised warm-up, then the unbiased (pseudo-label)
# stage. The loop's schedule decides which one a step is in; single-stage methods ignore it.
Stage = Literal["warmup", "unbiased"]


@dataclass(frozen=True)
class StreamSpec:
    """A batch stream a method wants this step: which clips it draws from, and how many."""

    pool: Pool
    batch_size: int


class Method(Protocol):
    """What the training loop calls (`avsl.engine.trainer`). A method holds networks and losses
    only; the loop owns the optimizer, the schedule and the stage, and tells the method."""

    modules: nn.ModuleDict  # every network with state, by name (saved in checkpoints)
    specs: dict[str, dict]  # each network's localizer spec (rebuilt from checkpoints)
    runners: dict[str, nn.Module]  # wrapped trainable modules (DDP) the step calls instead
    inference_name: str  # the network that localizes at test time

    def trainable_names(self) -> list[str]: ...

    def trainable(self) -> list[nn.Parameter]: ...

    def streams(self, stage: Stage) -> dict[str, StreamSpec]: ...

    def training_step(self, batches: dict[str, AVBatch], stage: Stage) -> StepOutput:
        """The loss of one step; it changes no state (the loop steps the optimizer)."""
        ...

    def start_unbiased(self) -> None:
        """At the end of the warm-up: each teacher becomes a copy of its student."""
        ...

    def update_teachers(self, decay: float) -> None:
        """After an optimizer step of the unbiased stage: teacher <- decay * teacher + (1 - decay) * student."""
        ...

    def evaluated(self, stage: Stage) -> dict[str, nn.Module]: ...


def build_localizer(spec: dict, seed: int) -> nn.Module:
    """A localizer from its spec ({"name": ..., **constructor arguments}), seeded init."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kwargs = {k: v for k, v in spec.items() if k != "name"}
        return create_localizer(spec["name"], **kwargs)


def forward_pair(model: nn.Module, first: AVBatch, second: AVBatch) -> tuple[LocalizerOutput, int]:
    """One forward over two batches concatenated; returns the output and the split point."""
    image = torch.cat([first.image, second.image])
    audio = torch.cat([first.audio, second.audio])
    return model(image, audio), len(first)


def supervised_term(map_logits: Tensor, boxes: list[Tensor], dice_weight: float) -> Tensor:
    """Map loss against the boxes' coverage masks at the map's resolution."""
    target = box_targets(boxes, *map_logits.shape[-2:]).to(map_logits.device)
    return map_loss(map_logits, target, dice_weight)


def contrastive_term(objective: str, output: LocalizerOutput) -> Tensor:
    """The localizer's objective (`avsl.models.localizer_objective`) over the global batch: under
    DDP every rank's clips are negatives."""
    return unsupervised_loss(
        objective, replace(output, visual=gather_batch(output.visual), audio=gather_batch(output.audio))
    )


def as_logs(**values: Tensor) -> dict[str, Tensor]:
    """Flat slash-named log scalars, still on the device: reading them would wait for the device,
    so the loop reads them only when it writes its log."""
    return {k.replace("__", "/"): v.detach().float() for k, v in values.items()}
