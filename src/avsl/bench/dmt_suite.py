"""DMT's unbiased-stage step against the sum of its necessary pieces, measured in one run:
two teacher forwards (inference mode), two strong views, two student forward+backward passes
on the labelled + strong unlabelled batch, the optimizer step and the EMA update. The step
should reach at least 0.85 of the samples/s those pieces allow (ISSUE #5)."""

from __future__ import annotations

import torch

from avsl.bench.timing import median_seconds
from avsl.config import load_config
from avsl.engine.build import build_method
from avsl.methods.base import contrastive_term, forward_pair, supervised_term
from avsl.types import AVBatch

SIZE = 96
SAMPLES = 16_000  # 1 s of audio, as the demo and bench presets


def _batch(size: int, seed: int) -> AVBatch:
    generator = torch.Generator().manual_seed(seed)
    return AVBatch(
        image=torch.randn(size, 3, SIZE, SIZE, generator=generator).contiguous(memory_format=torch.channels_last),
        audio=torch.randn(size, SAMPLES, generator=generator) * 0.1,
        boxes=[torch.tensor([[0.2, 0.2, 0.7, 0.8]]) for _ in range(size)],
        has_box=torch.ones(size, dtype=torch.bool),
        ids=[str(i) for i in range(size)],
    )


def run(repeats: int = 5) -> dict:
    config = load_config(None, ["method=dmt", "semi.warmup_epochs=0"])
    method = build_method(config, steps_per_epoch=1)
    method.modules.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(method.trainable(), lr=1e-4)
    labeled = _batch(config.semi.labeled_batch, 0)
    unlabeled = _batch(config.data.batch_size - config.semi.labeled_batch, 1)
    batches = {"labeled": labeled, "unlabeled": unlabeled}
    method.training_step(batches, 0)  # the stage switch (teachers <- students) happens once, here

    def full_step() -> None:
        output = method.training_step(batches, 1)
        optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        optimizer.step()
        method.after_optimizer_step(1)

    labels, _ = method._pseudo_labels(unlabeled)

    def teachers() -> None:
        method._pseudo_labels(unlabeled)

    def strong_views() -> None:
        for _ in method.pairs:
            method.strong(unlabeled.image, labels.mask.float())

    image, target = method.strong(unlabeled.image, labels.mask.float())
    strong = AVBatch(image=image, audio=unlabeled.audio, boxes=[], has_box=labels.keep, ids=unlabeled.ids)

    def students() -> None:
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for pair in method.pairs:
            output, split = forward_pair(method.student(pair), labeled, strong)
            total = total + supervised_term(output.map_logits[:split], labeled.boxes, 0.0)
            total = total + contrastive_term(method.objectives[pair], output)
        total.backward()

    def optimizer_and_ema() -> None:
        optimizer.step()
        method.update_teachers(config.semi.alpha)

    pieces = {
        "teachers": median_seconds(teachers, repeats),
        "strong_views": median_seconds(strong_views, repeats),
        "students": median_seconds(students, repeats),
        "optimizer_and_ema": median_seconds(optimizer_and_ema, repeats),
    }
    step = median_seconds(full_step, repeats)
    samples = len(labeled) + len(unlabeled)
    return {
        "batch": samples,
        "image_size": SIZE,
        "pieces_seconds": {k: round(v, 4) for k, v in pieces.items()},
        "step_seconds": round(step, 4),
        "step_samples_per_s": round(samples / step, 1),
        "pieces_samples_per_s": round(samples / sum(pieces.values()), 1),
        "ratio": round(sum(pieces.values()) / step, 3),
    }
