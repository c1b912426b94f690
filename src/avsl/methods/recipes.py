"""The training methods as one table: what each needs and how it is put together. Everything
that asks "which method is this" reads a recipe's fields instead of comparing names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LabelRule = Literal["consensus", "confidence", "unfiltered"]
Objective = Literal["contrastive", "boxes"]


@dataclass(frozen=True)
class Recipe:
    """One method.

    needs_boxes: trains on the boxes of labelled clips.
    semi_supervised: also learns from unlabelled clips: a supervised warm-up (`semi.warmup_epochs`),
        then an unbiased stage on teachers' pseudo-labels; it needs unlabelled clips and a stage
        after the warm-up.
    objective: a single-network method's loss (the localizer's own contrastive loss, or boxes).
    ema_teacher: each teacher follows its student by EMA (else the student is its own teacher).
    rule: how teachers' maps become pseudo-labels (avsl.semi.pseudo).
    pairs_setting: the number of teacher-student pairs is `semi.pairs` (DMT: 2; 1 is the
        single-pair ablation); otherwise one pair.
    """

    needs_boxes: bool
    semi_supervised: bool
    objective: Objective | None = None
    ema_teacher: bool = False
    rule: LabelRule | None = None
    pairs_setting: bool = False


RECIPES: dict[str, Recipe] = {
    "selfsup": Recipe(needs_boxes=False, semi_supervised=False, objective="contrastive"),
    "supervised": Recipe(needs_boxes=True, semi_supervised=False, objective="boxes"),
    "pseudo": Recipe(needs_boxes=True, semi_supervised=True, rule="unfiltered"),
    "meanteacher": Recipe(needs_boxes=True, semi_supervised=True, ema_teacher=True, rule="confidence"),
    "dmt": Recipe(needs_boxes=True, semi_supervised=True, ema_teacher=True, rule="consensus", pairs_setting=True),
}
METHODS = tuple(RECIPES)
