"""The evaluation protocol: hand-computed cases and parity with a plain numpy reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avsl.cli.main import main
from avsl.metrics.protocol import (
    auc,
    average_precision,
    binarize,
    ciou,
    gt_maps,
    mean_box_area,
    score_maps,
    size_bucket_index,
    summarize,
)
from avsl.ops.maps import upsample_maps


def reference_ciou(pred_map: np.ndarray, gt_map: np.ndarray) -> float:
    """Written from docs/protocol.md: normalise, threshold at sorted[S*S//2], cIoU."""
    low, high = pred_map.min(), pred_map.max()
    if high > low:
        pred_map = (pred_map - low) / (high - low)
    threshold = np.sort(pred_map.flatten())[int(pred_map.size * 0.5)]
    on = (pred_map >= threshold).astype(float)
    return float(np.sum(on * gt_map) / (np.sum(gt_map) + np.sum(on * (gt_map == 0))))


def reference_gt(boxes: list[list[float]], size: int, consensus: bool) -> np.ndarray:
    gt = np.zeros((size, size))
    for box in boxes:
        x1, y1, x2, y2 = (np.clip(np.array(box), 0, 1) * size).astype(int)
        temp = np.zeros((size, size))
        temp[y1:y2, x1:x2] = 1
        gt += temp
    return np.minimum(gt / 2, 1) if consensus else (gt > 0).astype(float)


def test_gt_union_and_consensus_by_hand():
    boxes = [torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75]])]
    union = gt_maps(boxes, size=4, rule="union")[0]
    consensus = gt_maps(boxes, size=4, rule="consensus")[0]
    expected_union = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=torch.float32)
    assert torch.equal(union, expected_union)
    assert consensus[1, 1] == 1.0 and consensus[0, 0] == 0.5 and consensus[3, 3] == 0.0


def test_sentinel_box_becomes_empty_and_scores_zero():
    # vggss.json's corrupt boxes: x2/y2 = -2.88e16, clipped by the peers to an empty box.
    boxes = [torch.tensor([[0.2, 0.2, -2.88e16, -2.88e16]])]
    assert gt_maps(boxes, size=8).sum() == 0
    assert score_maps(torch.rand(1, 8, 8), boxes).item() == 0.0


def test_ciou_by_hand():
    pred = torch.tensor([[[1, 1], [0, 0]]], dtype=torch.bool)
    gt = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    # intersection 1, |G| = 2, predicted outside G = 1 -> 1 / 3
    assert ciou(pred, gt).item() == pytest.approx(1 / 3)
    consensus = torch.tensor([[[0.5, 0.0], [1.0, 0.0]]])
    # intersection 0.5, sum(G) = 1.5, predicted outside G = 1 -> 0.5 / 2.5
    assert ciou(pred, consensus).item() == pytest.approx(0.2)


def test_median_rule_keeps_top_half_and_ties_at_minimum():
    continuous = torch.arange(16, dtype=torch.float32).view(1, 4, 4)
    assert binarize(continuous).sum() == 8
    saturated = torch.zeros(1, 4, 4)
    saturated[0, 0, :3] = 1.0  # 13 of 16 pixels tied at the minimum
    assert binarize(saturated).all()  # EZ-VSL's >= sorted[S*S//2] turns the whole map on


def test_fixed_threshold_on_normalised_map():
    maps = torch.tensor([[[0.0, 0.4], [0.5, 1.0]]])
    assert binarize(maps, "fixed").tolist() == [[[False, False], [True, True]]]


@pytest.mark.parametrize("rule", ["union", "consensus"])
def test_score_maps_matches_numpy_reference(rule):
    generator = torch.Generator().manual_seed(0)
    maps = torch.rand(40, 7, 7, generator=generator)
    maps = upsample_maps(maps, 224)
    boxes = []
    for _ in range(40):
        corners = torch.rand(3, 2, 2, generator=generator).sort(dim=1).values  # (K, 2 points, xy)
        boxes.append(corners.permute(0, 2, 1).reshape(3, 4)[:, [0, 2, 1, 3]])
    ours = score_maps(maps, boxes, "median", rule)
    expected = [
        reference_ciou(m.numpy(), reference_gt(b.tolist(), 224, rule == "consensus"))
        for m, b in zip(maps, boxes, strict=True)
    ]
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6)


def public_code_ciou(heatmap: np.ndarray, gt_map: np.ndarray) -> float:
    """EZ-VSL's test.py and utils.py as written, in numpy float32: normalize_img, the threshold
    at sorted position int(H * W / 2), infer >= thres, then cal_CIOU."""
    low, high = heatmap.min(), heatmap.max()
    pred = (heatmap - low) / (high - low) if high - low != 0 else heatmap
    threshold = np.sort(pred.flatten())[int(pred.shape[0] * pred.shape[1] / 2)]
    infer = np.zeros(pred.shape)
    infer[pred >= threshold] = 1
    return float(np.sum(infer * gt_map) / (np.sum(gt_map) + np.sum(infer * (gt_map == 0))))


def radial_map(side: int, scale: float, offset: float) -> torch.Tensor:
    """A centred radial map: symmetric, so many pixels sit at one distance, and near-equal values
    that float32 normalisation can round onto one another."""
    grid = (torch.arange(side, dtype=torch.float32) + 0.5) / side
    radius = torch.sqrt((grid[None, :] - 0.5) ** 2 + (grid[:, None] - 0.5) ** 2)
    return offset - scale * radius


def test_thresholds_the_normalised_map_exactly_as_the_public_code():
    boxes = [torch.tensor([[0.3, 0.25, 0.65, 0.7]])]
    gt = reference_gt(boxes[0].tolist(), 224, consensus=False)
    raw_rule_differs = False
    for side in (7, 14, 28, 56, 224):
        for scale in (1e-3, 1.0, 30.0):
            for offset in (0.0, 5.0, 100.0):
                maps = upsample_maps(radial_map(side, scale, offset)[None], 224)  # (1, 224, 224)
                ours = float(score_maps(maps, boxes, "median")[0])
                # cIoU's own division is float32 here and float64 there; the rules differ by 1e-4 and more
                assert ours == pytest.approx(public_code_ciou(maps[0].numpy(), gt), rel=1e-6), (side, scale, offset)
                raw = float(ciou(binarize(maps, "median"), gt_maps(boxes, 224))[0])
                raw_rule_differs |= raw != pytest.approx(ours, rel=1e-6)
    assert raw_rule_differs  # the grid holds a case where skipping the normalisation scores otherwise


def test_auc_trapezoid_by_hand():
    # all clips at cIoU 1 -> success 1 for every t -> area 1; all at 0 -> only t=0 succeeds.
    assert auc(torch.ones(10)) == pytest.approx(1.0)
    assert auc(torch.zeros(10)) == pytest.approx(0.025)  # trapezoid over [0, 0.05]
    half = torch.tensor([0.5, 0.5])
    # success 1 up to t=0.5, 0 after: trapezoid gives 0.5 + half a step
    assert auc(half) == pytest.approx(0.525)


def test_summary_and_size_buckets():
    cious = torch.tensor([0.9, 0.4, 0.6, 0.1])
    areas = torch.tensor([10.0, 32.0**2, 120.0**2, 200.0**2])
    assert size_bucket_index(areas).tolist() == [0, 1, 2, 3]
    summary = summarize(cious, areas)
    assert summary["n"] == 4
    assert summary["ap50"] == pytest.approx(0.5)
    assert summary["ciou_mean"] == pytest.approx(0.5)
    assert summary["ciou_by_size"]["small"] == {
        "n": 1,
        "ap50": 1.0,
        "ciou_mean": pytest.approx(0.9),
    }


def test_mean_box_area_in_eval_pixels():
    boxes = [torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.25, 0.25]]), torch.zeros(0, 4)]
    areas = mean_box_area(boxes)
    assert areas[0].item() == pytest.approx((112**2 + 56**2) / 2)
    assert areas[1].item() == 0.0


def test_average_precision_ranks_sounding_first():
    scores = torch.tensor([0.9, 0.8, 0.1, 0.05])
    assert average_precision(scores, torch.tensor([True, True, False, False])) == pytest.approx(1.0)
    # positives ranked 1st and 3rd: (1/1 + 2/3) / 2
    assert average_precision(scores, torch.tensor([True, False, True, False])) == pytest.approx(5 / 6)


def test_average_precision_counts_ties_together():
    positive = torch.tensor([True, True, True, False])
    assert average_precision(torch.ones(4), positive) == pytest.approx(0.75)
    # scores 0.9 (pos), 0.5 (pos), 0.5 (neg), 0.1 (pos): thresholds give
    # (recall 1/3, precision 1), (2/3, 2/3), (1, 3/4) -> 1/3 + 2/9 + 1/4
    scores = torch.tensor([0.9, 0.5, 0.5, 0.1])
    labels = torch.tensor([True, True, False, True])
    assert average_precision(scores, labels) == pytest.approx(1 / 3 + 2 / 9 + 1 / 4)


def test_adaptive_threshold_matches_a_numpy_reference():
    """Each map's top-k pixels on, k = its gt area (Senocak et al. 2023), scored by cIoU."""
    from avsl.metrics.protocol import gt_maps, score_maps

    generator = torch.Generator().manual_seed(5)
    maps = torch.rand(6, 224, 224, generator=generator)
    boxes = [torch.tensor([[0.1 * i, 0.05, 0.3 + 0.1 * i, 0.6]]) for i in range(5)] + [
        torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.9, 0.8]])
    ]
    ours = score_maps(maps, boxes, "adaptive").numpy()
    for clip in range(6):
        gt = gt_maps([boxes[clip]])[0].numpy()
        values = maps[clip].numpy()
        k = int((gt > 0).sum())
        pred = values >= np.sort(values.ravel())[::-1][k - 1]
        expected = (pred * gt).sum() / (gt.sum() + (pred * (gt == 0)).sum())
        assert abs(ours[clip] - expected) < 1e-6
        assert pred.sum() == k  # continuous maps: exactly k pixels


def test_max_f1_and_pia_match_numpy_references():
    from avsl.metrics.protocol import area_above, map_quantiles, max_f1

    generator = np.random.default_rng(2)
    scores = np.round(generator.normal(size=40), 1)  # rounded: ties happen
    positive = generator.random(40) < 0.5
    best, at = 0.0, None
    for threshold in np.unique(scores)[::-1]:
        called = scores >= threshold
        tp = (called & positive).sum()
        f1 = 2 * tp / (called.sum() + positive.sum())
        if f1 > best:
            best, at = f1, threshold
    ours, threshold = max_f1(torch.from_numpy(scores), torch.from_numpy(positive))
    assert abs(ours - best) < 1e-12 and threshold == at
    maps = torch.from_numpy(generator.normal(size=(3, 224, 224))).float()
    exact = (maps.numpy() >= 0.3).mean(axis=(1, 2))
    assert np.abs(area_above(map_quantiles(maps), 0.3).numpy() - exact).max() < 2 / 1024


def test_the_whole_frame_baseline_scores_each_clips_box_area(small_layout, tmp_path):
    out = tmp_path / "full"
    assert main(["eval", "--data", str(small_layout), "--predictor", "full", "--out", str(out), "--workers", "0"]) == 0
    lines = (out / "per_clip.csv").read_text().splitlines()
    assert lines[0] == "id,ciou_median,ciou_fixed,box_area,ciou_adaptive"
    scores = {line.split(",")[0]: float(line.split(",")[1]) for line in lines[1:]}
    assert scores["d"] == 1.0  # its box is the whole frame
    assert abs(scores["a"] - 0.3 * 0.4) < 0.01  # cIoU of the whole frame = the box's share of it
    metrics = json.loads((out / "metrics.json").read_text())
    assert "ap50_adaptive" in metrics and "ciou_adaptive" in metrics
    assert metrics["false_positive"]["pia"] == 1.0  # the whole frame is highlighted under silence too


def test_the_ground_truth_box_shows_each_rules_cap(small_layout, tmp_path):
    out = tmp_path / "box"
    assert main(["eval", "--data", str(small_layout), "--predictor", "box", "--out", str(out), "--workers", "0"]) == 0
    rows = [line.split(",") for line in (out / "per_clip.csv").read_text().splitlines()[1:]]
    scores = {row[0]: [float(v) for v in row[1:]] for row in rows}  # median, fixed, area (px), adaptive
    for clip_id in ("a", "b", "d"):
        median, fixed, area, adaptive = scores[clip_id]
        assert fixed > 0.97 and adaptive > 0.97  # the box itself, up to the protocol's pixel rounding
        assert median == pytest.approx(min(1.0, area / 224**2 / 0.5), abs=0.02)  # half the frame is on
    assert json.loads((out / "metrics.json").read_text())["ap50_adaptive"] == 1.0
