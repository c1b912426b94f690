"""The predictor a command names: a checkpoint or a fixed baseline, with EZ-VSL's object-guided
blend on top when asked; and the same predictor again from what metrics.json says of it."""

from __future__ import annotations

from pathlib import Path

import torch

from avsl.errors import AvslError
from avsl.inference.checkpoint_predictor import CheckpointPredictor
from avsl.inference.predictors import BoxPredictor, CenterPredictor, FullPredictor, ObjectGuidedPredictor, Predictor

BASELINES = {"center": CenterPredictor, "full": FullPredictor, "box": BoxPredictor}


def make_predictor(
    checkpoint: Path | None,
    baseline: str | None,
    device: torch.device,
    network: str | None = None,
    ogl: str | None = None,
    precision: str = "fp32",
) -> Predictor:
    """The checkpoint's network (in `precision`), else the named baseline; blended with
    objectness if `ogl`."""
    if checkpoint is not None:
        predictor = CheckpointPredictor(checkpoint, device, network, precision)
    else:
        predictor = BASELINES[baseline]()
    if ogl is not None:
        predictor = ObjectGuidedPredictor(predictor, ogl, device=device)
    return predictor


def rebuild_predictor(about: dict, device: torch.device) -> Predictor:
    """The predictor an evaluation's metrics.json describes (its `model`), built again."""
    kind = about.get("predictor")
    if kind == "checkpoint":
        return make_predictor(Path(about["checkpoint"]), None, device, about.get("network"), about.get("ogl"),
                              about.get("precision", "fp32"))  # fmt: skip
    if kind in BASELINES:
        return make_predictor(None, kind, device, ogl=about.get("ogl"))
    raise AvslError(f"the evaluation's predictor {kind!r} cannot be rebuilt (not a checkpoint or a baseline)")
