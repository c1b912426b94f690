"""Single-network methods: `selfsup` (contrastive only) and `supervised` (boxes only)."""

from __future__ import annotations

from torch import nn

from avsl.methods.base import (
    StreamSpec,
    as_logs,
    build_localizer,
    contrastive_term,
    supervised_term,
)
from avsl.types import AVBatch, StepOutput


class SelfSupervised:
    """The localizer's own contrastive objective on every clip; no boxes."""

    inference_name = "model"

    def __init__(self, spec: dict, batch_size: int, seed: int) -> None:
        self.modules = nn.ModuleDict({"model": build_localizer(spec, seed)})
        self.specs = {"model": spec}
        self.runners: dict[str, nn.Module] = {}  # the loop may wrap trainable modules (DDP)
        self.objective = spec["name"]
        self.batch_size = batch_size

    def streams(self, step: int) -> dict[str, StreamSpec]:
        return {"all": StreamSpec("all", self.batch_size)}

    def trainable(self) -> list[nn.Parameter]:
        return list(self.modules.parameters())

    def training_step(self, batches: dict[str, AVBatch], step: int) -> StepOutput:
        batch = batches["all"]
        model = self.runners.get("model", self.modules["model"])
        loss = contrastive_term(self.objective, model(batch.image, batch.audio))
        return StepOutput(loss, as_logs(con__loss=loss))

    def after_optimizer_step(self, step: int) -> None:
        pass

    def evaluated(self, step: int) -> dict[str, nn.Module]:
        return {"model": self.modules["model"]}

    def trainable_names(self) -> list[str]:
        return ["model"]


class Supervised:
    """The map loss on the labelled clips only (all boxes for the upper bound)."""

    inference_name = "model"

    def __init__(self, spec: dict, batch_size: int, seed: int, dice_weight: float = 0.0) -> None:
        self.modules = nn.ModuleDict({"model": build_localizer(spec, seed)})
        self.specs = {"model": spec}
        self.runners: dict[str, nn.Module] = {}
        self.batch_size = batch_size
        self.dice_weight = dice_weight

    def streams(self, step: int) -> dict[str, StreamSpec]:
        return {"labeled": StreamSpec("labeled", self.batch_size)}

    def trainable(self) -> list[nn.Parameter]:
        return list(self.modules.parameters())

    def training_step(self, batches: dict[str, AVBatch], step: int) -> StepOutput:
        batch = batches["labeled"]
        output = self.runners.get("model", self.modules["model"])(batch.image, batch.audio)
        loss = supervised_term(output.map_logits, batch.boxes, self.dice_weight)
        return StepOutput(loss, as_logs(sup__loss=loss))

    def after_optimizer_step(self, step: int) -> None:
        pass

    def evaluated(self, step: int) -> dict[str, nn.Module]:
        return {"model": self.modules["model"]}

    def trainable_names(self) -> list[str]:
        return ["model"]
