"""DMT's unbiased-stage step against the sum of its necessary pieces, measured in one run:
two teacher forwards (inference mode), two strong views, two student forward+backward passes
on the labelled + strong unlabelled batch, the optimizer step and the EMA update. The step
should reach at least 0.85 of the samples/s those pieces allow: the step adds little of its own.

Two sizes: `small` (tiny encoders, 96 px, 1 s, batch 16 + 48: what a CPU trains) and `paper`
(two ResNet-18 pairs, 224 px, 3 s EZ-VSL spectrograms, batch 32 + 96, channels-last: the
papers' setting, for a GPU). A CPU measures `small` alone unless asked: a paper-size DMT step
takes minutes there.
"""

from __future__ import annotations

import torch

from avsl.bench.timing import median_seconds
from avsl.config import load_config
from avsl.engine.build import build_method
from avsl.methods.base import contrastive_term, forward_pair, supervised_term
from avsl.precision import autocast, resolve_precision
from avsl.types import AVBatch

SIZES = {
    "small": {"image": 96, "seconds": 1.0, "overrides": ["data.batch_size=64", "semi.labeled_batch=16"]},
    "paper": {
        "image": 224,
        "seconds": 3.0,
        "overrides": [
            "data.batch_size=128",
            "semi.labeled_batch=32",
            "model.visual=resnet18",
            "model.audio=resnet18",
            "semi.pair_b_audio=resnet18",
            "model.frontend=ezvsl",
            "model.dim=512",
        ],  # fmt: skip
    },
}


def _batch(size: int, side: int, samples: int, seed: int, device: torch.device) -> AVBatch:
    generator = torch.Generator().manual_seed(seed)
    return AVBatch(
        image=torch.randn(size, 3, side, side, generator=generator).contiguous(memory_format=torch.channels_last),
        audio=torch.randn(size, samples, generator=generator) * 0.1,
        boxes=[torch.tensor([[0.2, 0.2, 0.7, 0.8]]) for _ in range(size)],
        has_box=torch.ones(size, dtype=torch.bool),
        ids=[str(i) for i in range(size)],
        seeds=torch.arange(size) * 7919 + seed,
    ).to(device)


def run(device: torch.device | None = None, sizes: tuple[str, ...] | None = None, repeats: int = 5) -> dict:
    device = device or torch.device("cpu")
    sizes = sizes or (("small", "paper") if device.type == "cuda" else ("small",))
    precisions = ("fp32", "bf16") if device.type == "cuda" else ("fp32",)
    rows = [_measure(device, size, precision, repeats) for size in sizes for precision in precisions]
    return {"device": _device_name(device), "rows": rows}


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _measure(device: torch.device, size: str, precision: str, repeats: int) -> dict:
    setting = SIZES[size]
    config = load_config(None, ["method=dmt", "semi.warmup_epochs=0", *setting["overrides"]])
    precision = resolve_precision(precision, device)
    method = build_method(config)
    method.modules.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(method.trainable(), lr=1e-4)
    samples = round(setting["seconds"] * config.data.sample_rate)
    labeled = _batch(config.semi.labeled_batch, setting["image"], samples, 0, device)
    unlabeled = _batch(config.data.batch_size - config.semi.labeled_batch, setting["image"], samples, 1, device)
    batches = {"labeled": labeled, "unlabeled": unlabeled}
    method.start_unbiased()  # the stage switch: teachers <- students

    def full_step() -> None:
        with autocast(device, precision):
            output = method.training_step(batches, "unbiased")
        optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        optimizer.step()
        method.update_teachers(config.semi.alpha)

    with autocast(device, precision):
        labels, _ = method.pseudo_labels(unlabeled)
    masks = labels.mask.float()

    def teachers() -> None:
        with autocast(device, precision):
            method.pseudo_labels(unlabeled)

    def strong_views() -> None:
        for _ in method.pairs:
            method.strong(unlabeled.image, masks, unlabeled.seeds)

    image, _ = method.strong(unlabeled.image, masks, unlabeled.seeds)
    strong = AVBatch(image=image, audio=unlabeled.audio, boxes=[], has_box=labels.keep, ids=unlabeled.ids)

    def students() -> None:
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        with autocast(device, precision):
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
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step = median_seconds(full_step, repeats)
    count = len(labeled) + len(unlabeled)
    row = {
        "size": size,
        "precision": precision,
        "batch": count,
        "image_size": setting["image"],
        "pieces_seconds": {k: round(v, 4) for k, v in pieces.items()},
        "step_seconds": round(step, 4),
        "step_samples_per_s": round(count / step, 1),
        "pieces_samples_per_s": round(count / sum(pieces.values()), 1),
        "ratio": round(sum(pieces.values()) / step, 3),
    }
    if device.type == "cuda":
        row["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return row
