"""Config -> method: the one place that flattens the typed config into plain arguments."""

from __future__ import annotations

import math
from dataclasses import replace

from avsl.config import TrainConfig
from avsl.data.formats import FORMATS
from avsl.data.strong import StrongAugment
from avsl.engine.precision import PRECISIONS
from avsl.errors import AvslError
from avsl.methods.single import SingleModel
from avsl.methods.teacher_student import TeacherStudent, TeacherStudentSettings
from avsl.models import list_localizers

METHODS = ("selfsup", "supervised", "pseudo", "meanteacher", "dmt")
NEEDS_BOXES = ("supervised", "pseudo", "meanteacher", "dmt")
SEMI_SUPERVISED = ("pseudo", "meanteacher", "dmt")  # learn from labelled and unlabelled clips
# DMT's protocol labels 3 % of the training clips (Guo et al., NeurIPS 2023, sec. 4.1).
SEMI_LABELED_FRACTION = 0.03
INFERENCE_ONLY = ("slavc",)  # localizers for peers' released checkpoints (avsl.inference.peers)


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


def method_defaults(config: TrainConfig) -> TrainConfig:
    """`config` with the settings left to the method filled in: the labelled fraction (DMT's 3 %
    for a semi-supervised method, which labelling every clip would turn into plain supervision;
    all boxed clips for `supervised`)."""
    if config.labeled_fraction is not None:
        return config
    return replace(config, labeled_fraction=SEMI_LABELED_FRACTION if config.method in SEMI_SUPERVISED else 1.0)


def check_config(config: TrainConfig) -> None:
    if config.method not in METHODS:
        raise AvslError(f"unknown method {config.method!r}; choose one of {', '.join(METHODS)}")
    if config.model.localizer not in list_localizers():
        raise AvslError(f"unknown localizer {config.model.localizer!r}; choose one of {', '.join(list_localizers())}")
    if config.model.localizer in INFERENCE_ONLY:
        raise AvslError(
            f"the {config.model.localizer} localizer loads released checkpoints; it has no training objective here"
        )
    fraction = config.labeled_fraction
    if fraction is not None and not 0 < fraction <= 1:
        raise AvslError(f"labelled fraction must be in (0, 1], got {fraction}")
    if config.data.format not in FORMATS:
        raise AvslError(f"data.format must be one of {', '.join(FORMATS)}, got {config.data.format!r}")
    if config.precision not in PRECISIONS:
        raise AvslError(f"precision must be one of {', '.join(PRECISIONS)}, got {config.precision!r}")
    _check_numbers(config)
    if config.data.batch_size < 2:
        raise AvslError("data.batch_size must be at least 2 (contrastive losses need negatives)")
    if config.method in SEMI_SUPERVISED and not 0 < config.semi.labeled_batch < config.data.batch_size:
        raise AvslError(
            f"semi.labeled_batch ({config.semi.labeled_batch}) must be between 0 and data.batch_size "
            f"({config.data.batch_size}): each step mixes labelled and unlabelled clips"
        )
    if config.method in SEMI_SUPERVISED and config.semi.warmup_epochs >= config.optim.epochs:
        raise AvslError(
            f"{config.method}'s pseudo-label stage never runs: optim.epochs ({config.optim.epochs}) must be above "
            f"semi.warmup_epochs ({config.semi.warmup_epochs}), the supervised warm-up"
        )


def _check_numbers(config: TrainConfig) -> None:
    """Values that would train on garbage or crash later, refused up front with their key."""
    s, o, d = config.semi, config.optim, config.data
    rules = [
        ("optim.lr", o.lr, math.isfinite(o.lr) and o.lr > 0, "a finite number above 0"),
        ("optim.epochs", o.epochs, o.epochs >= 1, "at least 1"),
        ("optim.weight_decay", o.weight_decay, math.isfinite(o.weight_decay) and o.weight_decay >= 0, "finite, >= 0"),
        ("optim.warmup_steps", o.warmup_steps, o.warmup_steps >= 0, ">= 0"),
        ("optim.grad_clip", o.grad_clip, math.isfinite(o.grad_clip) and o.grad_clip >= 0, "finite, >= 0 (0: off)"),
        ("data.workers", d.workers, d.workers >= 0, ">= 0"),
        ("data.image_size", d.image_size, 0 <= d.image_size <= 4096, "between 0 (the layout's) and 4096"),
        ("data.audio_seconds", d.audio_seconds, 0 <= d.audio_seconds <= 600, "between 0 (the layout's) and 600"),
        ("data.sample_rate", d.sample_rate, 1_000 <= d.sample_rate <= 192_000, "between 1000 and 192000"),
        ("data.max_pixels", d.max_pixels, d.max_pixels >= 1, "at least 1"),
        ("model.width", config.model.width, 1 <= config.model.width <= 1024, "between 1 and 1024"),
        ("model.dim", config.model.dim, 1 <= config.model.dim <= 8192, "between 1 and 8192"),
        ("model.tau", config.model.tau, math.isfinite(config.model.tau) and config.model.tau > 0, "finite, above 0"),
        ("model.eps", config.model.eps, math.isfinite(config.model.eps), "finite"),
        ("semi.delta", s.delta, 0 < s.delta < 1, "strictly between 0 and 1"),
        ("semi.tau_f", s.tau_f, 0 <= s.tau_f <= 1, "between 0 and 1"),
        ("semi.alpha", s.alpha, 0 <= s.alpha <= 1, "between 0 and 1"),
        ("semi.confidence", s.confidence, 0 <= s.confidence <= 1, "between 0 and 1"),
        ("semi.pairs", s.pairs, s.pairs in (1, 2), "1 or 2"),
        ("semi.warmup_epochs", s.warmup_epochs, s.warmup_epochs >= 0, ">= 0"),
        ("semi.lambda_u", s.lambda_u, math.isfinite(s.lambda_u) and s.lambda_u >= 0, "finite, >= 0"),
        ("semi.lambda_c", s.lambda_c, math.isfinite(s.lambda_c) and s.lambda_c >= 0, "finite, >= 0"),
    ]  # fmt: skip
    for key, value, ok, wanted in rules:  # comparisons with NaN are False, so NaN is refused too
        if not ok:
            raise AvslError(f"{key} must be {wanted}, got {value}")


def build_method(config: TrainConfig, steps_per_epoch: int):
    """The method object for `config.method` with its networks initialised from the seed."""
    config = method_defaults(config)
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
