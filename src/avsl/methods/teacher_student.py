"""Teacher-student methods: `dmt`, `meanteacher` and `pseudo`, one class, three settings.

Stage 1 (warm-up): each student learns from the labelled clips (map loss) and
all clips (the localizer's contrastive loss); with two pairs, pair B draws its own batches so
the pairs differ in data order as well as initialisation and audio encoder.
Stage 2: teachers (copies of the students at the switch, then their EMA) predict on the weak
view of an unlabelled batch; `semi.pseudo` turns the maps into pseudo-labels (DMT: consensus
filter + intersection; Mean Teacher: confidence filter; pseudo: the model's own map); each
student trains on a strong view with supervised + lambda_u * pseudo-label + lambda_c *
contrastive losses. The loop decides the stage of each step, and calls `start_unbiased` at the
switch and `update_teachers(decay)` after each optimizer step of stage 2: a step changes no state.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from avsl.data.strong import StrongAugment
from avsl.losses.supervised import box_targets, map_loss_per_clip
from avsl.methods.base import (
    Stage,
    StreamSpec,
    as_logs,
    build_localizer,
    contrastive_term,
    forward_pair,
    supervised_term,
)
from avsl.methods.recipes import LabelRule
from avsl.models import localizer_objective
from avsl.ops.collective import global_sum, world_size
from avsl.semi.ema import ema_update_
from avsl.semi.pseudo import (
    binarize_probabilities,
    confidence_labels,
    consensus_labels,
    mask_iou,
    unfiltered_labels,
)
from avsl.types import AVBatch, PseudoLabels, StepOutput


@dataclass(frozen=True)
class TeacherStudentSettings:
    """The numbers of docs/method.md (see `avsl.config.SemiConfig` for their defaults)."""

    pairs: int  # 2 for DMT
    ema_teacher: bool  # False: the student is its own teacher (naive pseudo-labelling)
    rule: LabelRule
    labeled_batch: int
    unlabeled_batch: int
    delta: float
    tau_f: float
    lambda_u: float
    lambda_c: float
    confidence: float
    use_filter: bool = True
    use_intersection: bool = True
    dice_weight: float = 0.0


PAIR_NAMES = ("a", "b")
STRONG_VIEW_SEED_STRIDE = 1_000_003  # each student's strong view of a clip has its own seed


class TeacherStudent:
    """See the module docstring; `modules` holds student_a, teacher_a (and _b with two pairs)."""

    def __init__(self, specs: list[dict], settings: TeacherStudentSettings, strong: StrongAugment, seed: int) -> None:
        self.settings = settings
        self.strong = strong
        self.pairs = PAIR_NAMES[: settings.pairs]
        self.objectives = {p: localizer_objective(spec["name"]) for p, spec in zip(self.pairs, specs, strict=True)}
        modules = {}
        self.specs: dict[str, dict] = {}
        self.runners: dict[str, nn.Module] = {}  # the loop may wrap the students (DDP)
        for index, (pair, spec) in enumerate(zip(self.pairs, specs, strict=True)):
            modules[f"student_{pair}"] = build_localizer(spec, seed + 7919 * index)
            self.specs[f"student_{pair}"] = self.specs[f"teacher_{pair}"] = spec
            if settings.ema_teacher:
                teacher = copy.deepcopy(modules[f"student_{pair}"])
                teacher.requires_grad_(False)
                modules[f"teacher_{pair}"] = teacher.eval()
        self.modules = nn.ModuleDict(modules)
        self.inference_name = "teacher_a" if settings.ema_teacher else "student_a"

    # -- what the loop asks -------------------------------------------------------------
    def streams(self, stage: Stage) -> dict[str, StreamSpec]:
        labeled = StreamSpec("labeled", self.settings.labeled_batch)
        unlabeled = StreamSpec("unlabeled", self.settings.unlabeled_batch)
        specs = {"labeled": labeled, "unlabeled": unlabeled}
        if stage == "warmup" and len(self.pairs) == 2:
            specs.update(labeled_b=labeled, unlabeled_b=unlabeled)
        return specs

    def trainable(self) -> list[nn.Parameter]:
        return [p for name in self.trainable_names() for p in self.modules[name].parameters()]

    def trainable_names(self) -> list[str]:
        return [f"student_{pair}" for pair in self.pairs]

    def student(self, pair: str) -> nn.Module:
        name = f"student_{pair}"
        return self.runners.get(name, self.modules[name])

    def evaluated(self, stage: Stage) -> dict[str, nn.Module]:
        if stage == "warmup" or not self.settings.ema_teacher:
            return {f"student_{p}": self.modules[f"student_{p}"] for p in self.pairs}
        return {name: self.modules[name] for name in self.modules}

    def teacher(self, pair: str) -> nn.Module:
        return self.modules[f"teacher_{pair}" if self.settings.ema_teacher else f"student_{pair}"]

    # -- one step --------------------------------------------------------------------------
    def training_step(self, batches: dict[str, AVBatch], stage: Stage) -> StepOutput:
        return self._warmup_step(batches) if stage == "warmup" else self._unbiased_step(batches)

    def start_unbiased(self) -> None:
        """Each EMA teacher becomes a copy of its student (a student that is its own teacher
        needs nothing)."""
        if self.settings.ema_teacher:
            for pair in self.pairs:
                self.modules[f"teacher_{pair}"].load_state_dict(self.modules[f"student_{pair}"].state_dict())

    def update_teachers(self, decay: float) -> None:
        """theta_T <- decay * theta_T + (1 - decay) * theta_S for every pair."""
        if self.settings.ema_teacher:
            for pair in self.pairs:
                ema_update_(self.modules[f"teacher_{pair}"], self.modules[f"student_{pair}"], decay)

    def _warmup_step(self, batches: dict[str, AVBatch]) -> StepOutput:
        total = 0.0
        logs: dict[str, float] = {}
        for pair in self.pairs:
            suffix = "" if pair == "a" else "_b"
            labeled, unlabeled = batches["labeled" + suffix], batches["unlabeled" + suffix]
            output, split = forward_pair(self.student(pair), labeled, unlabeled)
            sup = supervised_term(output.map_logits[:split], labeled.boxes, self.settings.dice_weight)
            con = contrastive_term(self.objectives[pair], output)
            total = total + sup + self.settings.lambda_c * con
            logs.update(as_logs(**{f"sup__loss_{pair}": sup, f"con__loss_{pair}": con}))
        return StepOutput(total, logs)

    def _unbiased_step(self, batches: dict[str, AVBatch]) -> StepOutput:
        labeled, unlabeled = batches["labeled"], batches["unlabeled"]
        labels, teacher_maps = self.pseudo_labels(unlabeled)
        keep = labels.keep
        total = 0.0
        logs = self._diagnostics(labels, teacher_maps, unlabeled)
        # the pseudo-label loss is a mean over the kept clips of the global batch, not of one
        # shard (DDP averages the ranks' gradients, hence the world size)
        pseudo_scale = world_size() / global_sum(keep.sum()).clamp(min=1)
        for index, pair in enumerate(self.pairs):
            seeds = None if unlabeled.seeds is None else unlabeled.seeds + STRONG_VIEW_SEED_STRIDE * index
            image, target = self.strong(unlabeled.image, labels.mask.float(), seeds)
            strong = AVBatch(image=image, audio=unlabeled.audio, boxes=[], has_box=keep, ids=unlabeled.ids)
            output, split = forward_pair(self.student(pair), labeled, strong)
            sup = supervised_term(output.map_logits[:split], labeled.boxes, self.settings.dice_weight)
            per_clip = map_loss_per_clip(output.map_logits[split:], target, self.settings.dice_weight)  # (U,)
            pseudo = (per_clip * keep).sum() * pseudo_scale
            con = contrastive_term(self.objectives[pair], output)
            total = total + sup + self.settings.lambda_u * pseudo + self.settings.lambda_c * con
            logs.update(
                as_logs(
                    **{
                        f"sup__loss_{pair}": sup,
                        f"pl__loss_{pair}": pseudo,
                        f"con__loss_{pair}": con,
                    }
                )
            )
        return StepOutput(total, logs)

    @torch.no_grad()
    def pseudo_labels(self, unlabeled: AVBatch) -> tuple[PseudoLabels, list[Tensor]]:
        """Teachers predict on the weak view with no autograd graph; then the label rule."""
        maps = []
        for pair in self.pairs:
            teacher = self.teacher(pair)
            was_training = teacher.training
            teacher.eval()
            with torch.inference_mode():
                maps.append(teacher(unlabeled.image, unlabeled.audio).map_logits.float())
            teacher.train(was_training)
        maps = [m.clone() for m in maps]  # leave inference mode: these feed autograd-free code only
        s = self.settings
        if s.rule == "consensus":
            # with one pair (the single-pair ablation, its filter off) the teacher agrees with itself
            labels = consensus_labels(maps[0], maps[-1], s.delta, s.tau_f, s.use_filter, s.use_intersection)
        elif s.rule == "confidence":
            labels = confidence_labels(maps[0], s.delta, s.confidence)
        else:
            labels = unfiltered_labels(maps[0], s.delta)
        return labels, maps

    def _diagnostics(self, labels: PseudoLabels, teacher_maps: list[Tensor], unlabeled: AVBatch) -> dict[str, Tensor]:
        """Kept fraction, and pseudo-label quality against the hidden boxes (never trained on).

        Means over an empty set are NaN (not measured this step), computed without asking the
        device whether the set is empty.
        """
        logs = as_logs(pl__kept=labels.keep.float().mean(), pl__agreement=labels.agreement.mean())
        known = unlabeled.sounding
        truth = box_targets(unlabeled.boxes, *labels.mask.shape[-2:]).to(labels.mask.device) >= 0.5
        label_iou = mask_iou(labels.mask, truth)
        single_iou = mask_iou(binarize_probabilities(teacher_maps[0], self.settings.delta), truth)
        kept, dropped = labels.keep & known, ~labels.keep & known
        logs.update(
            as_logs(
                pl__iou_all=masked_mean(label_iou, known),
                pl__iou_teacher_a=masked_mean(single_iou, known),
                pl__iou_kept=masked_mean(label_iou, kept),
                pl__iou_teacher_a_kept=masked_mean(single_iou, kept),
                pl__iou_dropped=masked_mean(label_iou, dropped),
            )
        )
        return logs


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of `values` where `mask`, NaN where the mask is empty."""
    return (values * mask).sum() / mask.sum()
