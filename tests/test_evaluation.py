"""The evaluation pieces on their own: `evaluate` over hand-made batches and predictors, and one
folder opened once and scored by two predictors."""

from __future__ import annotations

import pytest
import torch

from avsl.evaluation.evaluate import evaluate
from avsl.evaluation.folder import FolderEval, evaluate_folder, open_folder, score_folder
from avsl.evaluation.report import write_report
from avsl.inference.predictors import CenterPredictor
from avsl.ops.boxes import protocol_pixel_boxes
from avsl.types import AVBatch, BadSample

SIDE = 32


def batch(boxes: list[list[list[float]]], ids: list[str], has_box: list[bool]) -> AVBatch:
    return AVBatch(
        image=torch.zeros(len(ids), 3, SIDE, SIDE), audio=torch.zeros(len(ids), 1, 4, 4),
        boxes=[torch.tensor(b, dtype=torch.float32).reshape(-1, 4) for b in boxes],
        has_box=torch.tensor(has_box), ids=ids,
    )  # fmt: skip


def box_maps(item: AVBatch, size: int = 56) -> torch.Tensor:
    """A map that is 1 inside each clip's first box: the ground truth itself."""
    maps = torch.zeros(len(item), size, size)
    for index, boxes in enumerate(item.boxes):
        if len(boxes):
            x1, y1, x2, y2 = protocol_pixel_boxes(boxes[:1], size)[0].tolist()
            maps[index, y1:y2, x1:x2] = 1.0
    return maps


def test_the_ground_truth_scores_one_and_the_rest_is_accounted_for():
    first = batch([[[0.1, 0.1, 0.6, 0.6]], [[0.2, 0.3, 0.9, 0.8]], []], ["a", "b", "silent"], [True, True, True])
    second = batch([[[0.0, 0.0, 0.5, 0.5]], []], ["c", "unknown"], [True, False])
    second.skipped = [BadSample("broken", "broken.jpg: truncated")]
    result = evaluate(box_maps, [first, second], keep_maps=True)
    assert result.ids == ["a", "b", "c"]  # the sounding clips scored, in order
    metrics = result.metrics("adaptive")
    assert metrics["n"] == 3 and metrics["ap50"] == 1.0 and metrics["ciou_mean"] > 0.9  # edges blur in the upsampling
    assert result.unannotated == ["unknown"] and [s.id for s in result.skipped] == ["broken"]
    assert result.scored == 4  # three sounding clips and one silent negative
    assert len(result.map_ids) == 5 and result.maps[0].shape == (3, 224, 224)


def test_an_inverted_map_scores_zero_under_every_rule():
    item = batch([[[0.1, 0.1, 0.4, 0.4]]], ["a"], [True])
    result = evaluate(lambda b: 1.0 - box_maps(b), [item])
    for rule in ("median", "fixed", "adaptive"):
        assert result.metrics(rule)["ap50"] == 0.0


def test_a_folder_opened_once_scores_any_number_of_predictors(small_layout):
    folder = open_folder(small_layout, FolderEval(image_size=32, audio_seconds=0.5, workers=0), in_memory=True)
    assert folder.batches is not None and folder.gt_rule == "union" and not folder.listed

    def center(item: AVBatch) -> torch.Tensor:
        grid = torch.linspace(-1, 1, 16)
        return -(grid[None, :] ** 2 + grid[:, None] ** 2).expand(len(item), 16, 16)

    with pytest.warns(UserWarning, match="1 clip.s. have no annotation .* unlabelled"):
        first = score_folder(center, folder, torch.device("cpu")).metrics
    with pytest.warns(UserWarning):
        again = score_folder(center, folder, torch.device("cpu")).metrics
    assert first["n"] == again["n"] == 4 and first["ap50"] == again["ap50"]
    assert first["unannotated"]["ids"] == ["unlabelled"]


def test_the_report_page_holds_its_plots_and_the_scores(small_layout, tmp_path):
    predictor = CenterPredictor()
    with pytest.warns(UserWarning, match="unlabelled"):  # the layout's clip without boxes is named
        outcome = evaluate_folder(
            predictor, small_layout, FolderEval(image_size=32, audio_seconds=0.5, workers=0), "cpu"
        )
    page = write_report(tmp_path, outcome.metrics, outcome.result, outcome.dataset, predictor, torch.device("cpu"))
    text = page.read_text()
    assert page == tmp_path / "report.html" and text.count("data:image/png;base64,") >= 2
    assert f"{outcome.metrics['auc']:.3f}" in text and "a" in outcome.result.ids
