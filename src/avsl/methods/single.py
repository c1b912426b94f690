"""Single-network methods: `selfsup` (the localizer's contrastive loss on every clip, no boxes)
and `supervised` (the map loss on the labelled clips only; all boxes for the upper bound)."""

from __future__ import annotations

from torch import nn

from avsl.methods.base import Stage, StreamSpec, as_logs, build_localizer, contrastive_term, supervised_term
from avsl.methods.recipes import Objective
from avsl.models import localizer_objective
from avsl.types import AVBatch, StepOutput


class SingleModel:
    """One localizer trained with one objective, in one stage; `objective` picks the loss and
    the clips."""

    inference_name = "model"

    def __init__(self, spec: dict, batch_size: int, seed: int, objective: Objective, dice_weight: float = 0.0) -> None:
        self.modules = nn.ModuleDict({"model": build_localizer(spec, seed)})
        self.specs = {"model": spec}
        self.runners: dict[str, nn.Module] = {}  # the loop may wrap the model (DDP)
        self.contrastive = localizer_objective(spec["name"])
        self.objective = objective
        self.pool = "all" if objective == "contrastive" else "labeled"
        self.batch_size = batch_size
        self.dice_weight = dice_weight

    def streams(self, stage: Stage) -> dict[str, StreamSpec]:
        return {self.pool: StreamSpec(self.pool, self.batch_size)}

    def trainable(self) -> list[nn.Parameter]:
        return list(self.modules.parameters())

    def trainable_names(self) -> list[str]:
        return ["model"]

    def training_step(self, batches: dict[str, AVBatch], stage: Stage) -> StepOutput:
        batch = batches[self.pool]
        output = self.runners.get("model", self.modules["model"])(batch.image, batch.audio)
        if self.objective == "contrastive":
            loss = contrastive_term(self.contrastive, output)
            return StepOutput(loss, as_logs(con__loss=loss))
        loss = supervised_term(output.map_logits, batch.boxes, self.dice_weight)
        return StepOutput(loss, as_logs(sup__loss=loss))

    def start_unbiased(self) -> None:
        """One stage: nothing to switch."""

    def update_teachers(self, decay: float) -> None:
        """No teacher."""

    def evaluated(self, stage: Stage) -> dict[str, nn.Module]:
        return {"model": self.modules["model"]}
