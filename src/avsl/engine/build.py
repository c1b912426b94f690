"""Config -> method: the one place that flattens the typed config into plain arguments."""

from __future__ import annotations

import math

from avsl.config import TrainConfig
from avsl.data.strong import StrongAugment
from avsl.engine.precision import PRECISIONS
from avsl.errors import AvslError
from avsl.methods.single import SingleModel
from avsl.methods.teacher_student import TeacherStudent, TeacherStudentSettings
from avsl.models import list_localizers

METHODS = ("selfsup", "supervised", "pseudo", "meanteacher", "dmt")
NEEDS_BOXES = ("supervised", "pseudo", "meanteacher", "dmt")


def localizer_spec(config: TrainConfig, audio: str | None = None) -> dict:
    """The constructor arguments of a localizer ({"name": ..., ...}), as checkpoints store them."""
    m = config.model
    return {
        "name": m.localizer,
        "visual": m.visual,
        "audio": audio or m.audio,
        "visual_weights": m.visual_weights,
        "width": m.width,
        "norm": m.norm,
        "dim": m.dim,
        "frontend": m.frontend,
        "sample_rate": config.data.sample_rate,
        "eps": m.eps,
        "tau": m.tau,
    }


def check_config(config: TrainConfig) -> None:
    if config.method not in METHODS:
        raise AvslError(f"unknown method {config.method!r}; choose one of {', '.join(METHODS)}")
    if config.model.localizer not in list_localizers():
        raise AvslError(f"unknown localizer {config.model.localizer!r}; choose one of {', '.join(list_localizers())}")
    if not 0 < config.labeled_fraction <= 1:
        raise AvslError(f"labelled fraction must be in (0, 1], got {config.labeled_fraction}")
    if config.precision not in PRECISIONS:
        raise AvslError(f"precision must be one of {', '.join(PRECISIONS)}, got {config.precision!r}")
    if config.data.batch_size < 2:
        raise AvslError("data.batch_size must be at least 2 (contrastive losses need negatives)")
    if config.method in ("pseudo", "meanteacher", "dmt") and not 0 < config.semi.labeled_batch < config.data.batch_size:
        raise AvslError(
            f"semi.labeled_batch ({config.semi.labeled_batch}) must be between 0 and data.batch_size "
            f"({config.data.batch_size}): each step mixes labelled and unlabelled clips"
        )


def build_method(config: TrainConfig, steps_per_epoch: int):
    """The method object for `config.method` with its networks initialised from the seed."""
    check_config(config)
    spec = localizer_spec(config)
    if config.method == "selfsup":
        return SingleModel(spec, config.data.batch_size, config.seed, "contrastive")
    if config.method == "supervised":
        return SingleModel(spec, config.data.batch_size, config.seed, "boxes", config.loss.dice_weight)
    s = config.semi
    pairs = s.pairs if config.method == "dmt" else 1
    settings = TeacherStudentSettings(
        pairs=pairs,
        ema_teacher=config.method != "pseudo",
        rule={"dmt": "consensus", "meanteacher": "confidence", "pseudo": "unfiltered"}[config.method],
        warmup_steps=s.warmup_epochs * steps_per_epoch,
        labeled_batch=s.labeled_batch,
        unlabeled_batch=config.data.batch_size - s.labeled_batch,
        delta=s.delta,
        tau_f=s.tau_f,
        alpha=s.alpha,
        lambda_u=s.lambda_u,
        lambda_c=s.lambda_c,
        confidence=s.confidence,
        use_filter=s.use_filter,
        use_intersection=s.use_intersection,
        dice_weight=config.loss.dice_weight,
    )
    specs = [spec, localizer_spec(config, audio=s.pair_b_audio)][:pairs]
    strong = StrongAugment(s.strong_crop_scale, s.strong_colour, s.strong_hue, s.strong_grayscale, s.strong_blur)
    return TeacherStudent(specs, settings, strong, config.seed)


def steps_per_epoch(num_train: int, batch_size: int) -> int:
    return max(1, math.ceil(num_train / batch_size))
