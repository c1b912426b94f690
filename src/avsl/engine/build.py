"""Config -> method: the one place that flattens the typed config into plain arguments."""

from __future__ import annotations

import math
from dataclasses import replace

from avsl.config import TrainConfig
from avsl.constants import PRECISIONS
from avsl.data.formats import FORMATS
from avsl.data.strong import StrongAugment
from avsl.engine.schedule import StageSchedule
from avsl.errors import AvslError
from avsl.methods.base import Method
from avsl.methods.recipes import METHODS, RECIPES, Recipe
from avsl.methods.single import SingleModel
from avsl.methods.teacher_student import TeacherStudent, TeacherStudentSettings
from avsl.models import list_localizers, localizer_objective

# DMT's protocol labels 3 % of the training clips (Guo et al., NeurIPS 2023, sec. 4.1).
SEMI_LABELED_FRACTION = 0.03


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
    return replace(config, labeled_fraction=SEMI_LABELED_FRACTION if recipe_of(config).semi_supervised else 1.0)


def recipe_of(config: TrainConfig) -> Recipe:
    if config.method not in RECIPES:
        raise AvslError(f"unknown method {config.method!r}; choose one of {', '.join(METHODS)}")
    return RECIPES[config.method]


def check_config(config: TrainConfig) -> None:
    """Every setting that cannot be what the user asked for, refused with its key."""
    recipe = recipe_of(config)
    if config.model.localizer not in list_localizers():
        raise AvslError(f"unknown localizer {config.model.localizer!r}; choose one of {', '.join(list_localizers())}")
    if localizer_objective(config.model.localizer) is None:
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
    if recipe.semi_supervised:
        _check_semi(config, recipe)


def _check_semi(config: TrainConfig, recipe: Recipe) -> None:
    s = config.semi
    if not 0 < s.labeled_batch < config.data.batch_size:
        raise AvslError(
            f"semi.labeled_batch ({s.labeled_batch}) must be between 0 and data.batch_size "
            f"({config.data.batch_size}): each step mixes labelled and unlabelled clips"
        )
    if s.warmup_epochs >= config.optim.epochs:
        raise AvslError(
            f"{config.method}'s pseudo-label stage never runs: optim.epochs ({config.optim.epochs}) must be above "
            f"semi.warmup_epochs ({s.warmup_epochs}), the supervised warm-up"
        )
    if recipe.rule == "consensus" and _pairs(config, recipe) == 1 and s.use_filter:
        raise AvslError(
            f"{config.method}'s consensus filter needs two teacher-student pairs; semi.pairs=1 is the single-pair "
            "ablation, which keeps every label: set semi.use_filter=false with it"
        )


def _pairs(config: TrainConfig, recipe: Recipe) -> int:
    return config.semi.pairs if recipe.pairs_setting else 1


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


def build_method(config: TrainConfig) -> Method:
    """The method object for `config.method` with its networks initialised from the seed."""
    config = method_defaults(config)
    check_config(config)
    recipe = recipe_of(config)
    spec = localizer_spec(config)
    if recipe.objective is not None:
        return SingleModel(spec, config.data.batch_size, config.seed, recipe.objective, config.loss.dice_weight)
    s = config.semi
    pairs = _pairs(config, recipe)
    settings = TeacherStudentSettings(
        pairs=pairs,
        ema_teacher=recipe.ema_teacher,
        rule=recipe.rule,
        labeled_batch=s.labeled_batch,
        unlabeled_batch=config.data.batch_size - s.labeled_batch,
        delta=s.delta,
        tau_f=s.tau_f,
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


def stage_schedule(config: TrainConfig, steps_per_epoch: int) -> StageSchedule:
    """When the method leaves its warm-up, and its teachers' EMA decay (docs/method.md's alpha)."""
    recipe = recipe_of(config)
    if not recipe.semi_supervised:
        return StageSchedule()
    return StageSchedule(config.semi.warmup_epochs * steps_per_epoch, config.semi.alpha if recipe.ema_teacher else None)


def steps_per_epoch(num_train: int, batch_size: int) -> int:
    return max(1, math.ceil(num_train / batch_size))
