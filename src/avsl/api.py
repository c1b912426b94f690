"""The Python API, mirroring the command line: `load` a run to localize frames and sounds,
`evaluate` a model on a dataset folder, `train` from a config.

    import avsl
    model = avsl.load("runs/dmt")                      # a run folder or a .safetensors file
    found = model.localize(image, waveform, 16_000)    # (H, W, 3) uint8 and (samples,) float
    found.heatmap, found.confidence                    # (H, W) in [0, 1], the raw map's maximum
    picture = avsl.overlay(image, found.heatmap, confidence=found.confidence)  # (H, W, 3) uint8
    maps = model(images, waveforms)                    # an nn.Module: prepared batches -> raw maps
    avsl.localize_video(model, "clip.mp4", "clip_heat.mp4", stride=2)  # as `avsl localize`
    metrics = avsl.evaluate(model, "data/demo/test")   # metrics.json's content
    result = avsl.train(avsl.TrainConfig(method="selfsup"), "data/demo", "runs/selfsup")
"""

from __future__ import annotations

from pathlib import Path

import torch

from avsl.config import TrainConfig, config_from_dict, load_config
from avsl.data.selection import split_dirs
from avsl.engine.build import check_config
from avsl.engine.devices import pick_device
from avsl.engine.trainer import TrainResult
from avsl.engine.trainer import train as train_run
from avsl.evaluation.folder import FolderEval, evaluate_folder
from avsl.inference.model import Localization, LocalizationModel
from avsl.inference.video_localize import localize_video
from avsl.ops.overlay import overlay
from avsl.zoo import fetch_checkpoint

__all__ = ["Localization", "LocalizationModel", "TrainConfig", "evaluate", "load", "localize_video", "overlay", "train"]


def load(
    path: str | Path,
    device: str | torch.device = "auto",
    network: str | None = None,
    sha256: str | None = None,
    precision: str = "auto",
) -> LocalizationModel:
    """A trained localizer from a run folder (its best checkpoint), a checkpoint file, an
    http(s) URL or hf://owner/repo/file (fetched once into $AVSL_HOME, checked against `sha256`
    when given), or a published model's name (`avsl models`). `precision`: auto (bf16 where the
    hardware multiplies in it: heatmaps within 0.04 of fp32's), fp32 (exact) or bf16."""
    return LocalizationModel.from_checkpoint(fetch_checkpoint(path, sha256), _device(device), network, precision)


def evaluate(
    model: LocalizationModel | str | Path,
    data: str | Path,
    device: str | torch.device = "auto",
    precision: str = "fp32",
    **options,
) -> dict:
    """Score `model` (loaded, in the precision it was loaded with; or a run/checkpoint path,
    loaded in `precision`: fp32 by default, as `avsl eval`, so scores are exact and comparable)
    on a dataset folder; `options` are `avsl eval`'s (split, benchmark, annotations, format,
    gt_rule, bad_boxes, threshold, strict, batch_size, workers, ...). Returns metrics.json's content."""
    loaded = model if isinstance(model, LocalizationModel) else load(model, device, precision=precision)
    return evaluate_folder(loaded.predictor, Path(data), FolderEval(**options), loaded.device).metrics


def train(
    config: TrainConfig | dict | str | Path,
    data: str | Path,
    out: str | Path,
    val: str | Path | None = None,
    device: str | torch.device = "auto",
    resume: bool = False,
) -> TrainResult:
    """Train as `avsl train` does: `config` a TrainConfig, a dict of its values, or a YAML file;
    `data` a layout or a folder holding train/ (and val/)."""
    if isinstance(config, (str, Path)):
        config = load_config(Path(config))
    elif isinstance(config, dict):
        config = config_from_dict(config)
    check_config(config)
    train_dir, val_dir = split_dirs(Path(data), Path(val) if val is not None else None)
    return train_run(config, train_dir, val_dir, Path(out), _device(device), resume=resume)


def _device(device: str | torch.device) -> torch.device:
    return device if isinstance(device, torch.device) else pick_device(device)
