"""Pseudo-labels, EMA, the teacher-student step's gradients, and the strong view."""

from __future__ import annotations

import torch

from avsl.config import load_config
from avsl.data.augment import sample_crops, weak_augment
from avsl.engine.build import build_method
from avsl.semi.ema import ema_update_
from avsl.semi.pseudo import confidence_labels, consensus_labels, mask_iou
from avsl.types import AVBatch
from tests.conftest import SMALL_MODEL

BIG = 10.0  # a logit far from any threshold


def logits_from(mask: list[list[int]]) -> torch.Tensor:
    return (torch.tensor(mask, dtype=torch.float32)[None] * 2 - 1) * BIG  # (1, h, w)


def test_consensus_keeps_agreement_and_intersects():
    a = logits_from([[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    b = logits_from([[0, 1, 0], [1, 1, 0], [0, 0, 0]])
    labels = consensus_labels(a, b, delta=0.5, tau_f=0.5)
    assert labels.keep.item() and labels.agreement.item() == 0.75
    assert labels.mask[0].int().tolist() == [[0, 1, 0], [1, 1, 0], [0, 0, 0]]
    # the intersection lies inside each teacher's mask
    assert not (labels.mask & ~(a > 0)).any() and not (labels.mask & ~(b > 0)).any()


def test_consensus_drops_disagreement_and_empty_maps():
    a = logits_from([[1, 1, 0], [0, 0, 0], [0, 0, 0]])
    b = logits_from([[0, 0, 0], [0, 0, 0], [0, 1, 1]])
    assert not consensus_labels(a, b, 0.5, 0.5).keep.item()
    empty = logits_from([[0, 0, 0], [0, 0, 0], [0, 0, 0]])
    assert not consensus_labels(empty, empty, 0.5, 0.5).keep.item()
    # ablations: no filter keeps the disagreement only if the label is non-empty; no intersection uses A
    assert not consensus_labels(a, b, 0.5, 0.5, use_filter=False).keep.item()  # A and B do not overlap
    alone = consensus_labels(a, b, 0.5, 0.5, use_filter=False, use_intersection=False)
    assert alone.keep.item() and alone.mask.equal(a > 0)


def test_vectorised_filter_matches_a_loop():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(50, 6, 6, generator=generator) * 3
    b = a + torch.randn(50, 6, 6, generator=generator) * 3
    labels = consensus_labels(a, b, 0.5, 0.4)
    for i in range(50):
        ma, mb = torch.sigmoid(a[i]) >= 0.5, torch.sigmoid(b[i]) >= 0.5
        union = (ma | mb).sum().item()
        iou = (ma & mb).sum().item() / union if union else 0.0
        assert abs(labels.agreement[i].item() - iou) < 1e-6
        assert labels.keep[i].item() == (iou >= 0.4 and (ma & mb).any().item())
    assert mask_iou(torch.zeros(1, 2, 2, dtype=torch.bool), torch.zeros(1, 2, 2, dtype=torch.bool)).item() == 0


def test_confidence_filter():
    sure = logits_from([[1, 1], [0, 0]])
    unsure = torch.full((1, 2, 2), 0.1)  # probability 0.52 everywhere
    assert confidence_labels(sure, 0.5, 0.7).keep.item()
    assert not confidence_labels(unsure, 0.5, 0.7).keep.item()


def test_ema_arithmetic_and_buffers():
    teacher, student = torch.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    with torch.no_grad():
        teacher.weight.fill_(1.0)
        student.weight.fill_(3.0)
        student.running_mean.fill_(2.0)
        student.num_batches_tracked.fill_(7)
    ema_update_(teacher, student, decay=0.75)
    assert torch.allclose(teacher.weight, torch.full((2,), 1.5))  # 0.75 * 1 + 0.25 * 3
    assert torch.allclose(teacher.running_mean, torch.full((2,), 0.5))
    assert teacher.num_batches_tracked.item() == 7


def tiny_batch(size: int, seed: int, with_boxes: bool = True) -> AVBatch:
    generator = torch.Generator().manual_seed(seed)
    boxes = [torch.tensor([[0.2, 0.2, 0.7, 0.8]]) for _ in range(size)]
    return AVBatch(
        image=torch.randn(size, 3, 32, 32, generator=generator),
        audio=torch.randn(size, 4000, generator=generator) * 0.1,
        boxes=boxes,
        has_box=torch.full((size,), with_boxes),
        ids=[f"c{seed}_{i}" for i in range(size)],
    )


def test_unbiased_step_trains_students_only():
    """The test DMT stands on: after one unbiased-stage step the pseudo-label
    loss is non-zero, every student parameter has a gradient, no teacher parameter has one,
    and the teachers change only through update_teachers."""
    # delta below any map probability: every pixel of every clip is a pseudo-label
    config = load_config(None, ["method=dmt", *SMALL_MODEL, "semi.warmup_epochs=0",
                                "semi.use_filter=false", "semi.delta=1e-30"])  # fmt: skip
    method = build_method(config)
    batches = {"labeled": tiny_batch(4, 0), "unlabeled": tiny_batch(6, 1)}
    method.start_unbiased()  # the loop's call at the end of the warm-up
    before = {k: v.clone() for k, v in method.modules.state_dict().items() if k.startswith("teacher")}
    output = method.training_step(batches, "unbiased")
    assert all(torch.equal(before[k], method.modules.state_dict()[k]) for k in before)  # a step changes no teacher
    assert output.logs["pl/loss_a"] > 0 and output.logs["pl/loss_b"] > 0
    output.loss.backward()
    for name in ("student_a", "student_b"):
        for pname, parameter in method.modules[name].named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, f"{name}.{pname}"
    for name in ("teacher_a", "teacher_b"):
        assert all(p.grad is None for p in method.modules[name].parameters())
    after_step = method.modules.state_dict()
    # at the stage switch the teachers start as copies of their students (weights; the students'
    # BatchNorm statistics have moved on with this step's forward pass)
    switched = {k: v.clone() for k, v in after_step.items() if k.startswith("teacher")}
    for name, value in method.modules.named_parameters():
        if name.startswith("teacher"):
            assert torch.equal(value, after_step[name.replace("teacher", "student", 1)])
    with torch.no_grad():
        for p in method.trainable():
            p.add_(0.1)
    assert all(torch.equal(switched[k], method.modules.state_dict()[k]) for k in switched)
    method.update_teachers(config.semi.alpha)
    assert any(not torch.equal(switched[k], method.modules.state_dict()[k]) for k in switched)


def test_teachers_see_weak_students_see_strong_views(monkeypatch):
    config = load_config(None, ["method=dmt", *SMALL_MODEL, "semi.warmup_epochs=0"])
    method = build_method(config)
    seen: dict[str, list[torch.Tensor]] = {"teacher": [], "student": []}
    for name, module in method.modules.items():
        role = "teacher" if name.startswith("teacher") else "student"
        module.register_forward_pre_hook(lambda m, args, role=role: seen[role].append(args[0].detach().clone()))
    unlabeled = tiny_batch(6, 1)
    method.start_unbiased()
    method.training_step({"labeled": tiny_batch(4, 0), "unlabeled": unlabeled}, "unbiased")
    assert all(torch.equal(image, unlabeled.image) for image in seen["teacher"])
    for image in seen["student"]:  # labelled clips first, then the strong view of the unlabelled ones
        assert not torch.equal(image[4:], unlabeled.image)


def test_weak_view_boxes_follow_crop_and_flip():
    image = torch.zeros(1, 3, 40, 40)
    image[:, :, 10:20, 4:14] = 1.0
    box = [torch.tensor([[4 / 40, 10 / 40, 14 / 40, 20 / 40]])]
    for seed in range(6):
        crops = sample_crops(1, 40, 32, torch.Generator().manual_seed(seed))
        out, moved = weak_augment(image, box, 32, crops)
        ys, xs = (out[0, 0] > 0.5).nonzero(as_tuple=True)
        x1, y1, x2, y2 = (moved[0][0] * 32).round().int().tolist()
        assert (xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1) == (x1, y1, x2, y2)
