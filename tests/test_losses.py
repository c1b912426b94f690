"""Losses on small hand-made cases."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from avsl.losses.contrastive import ezvsl_loss, lvs_loss
from avsl.losses.supervised import box_targets, map_loss
from avsl.ops.boxes import coverage_masks
from avsl.types import LocalizerOutput


def matched_batch(batch: int = 4, dim: int = 8, size: int = 3) -> LocalizerOutput:
    """Clip i's audio is basis vector i; its visual map shows that vector at one cell."""
    audio = torch.eye(dim)[:batch]
    visual = F.normalize(torch.randn(batch, dim, size, size) * 0.01 + 0.02, dim=1)
    for i in range(batch):
        visual[i, :, 1, 1] = audio[i]
    return LocalizerOutput(map_logits=torch.zeros(batch, size, size), visual=visual, audio=audio)


@pytest.mark.parametrize("loss", [ezvsl_loss, lvs_loss])
def test_matching_pairs_score_lower_than_shuffled(loss):
    output = matched_batch()
    shuffled = LocalizerOutput(output.map_logits, output.visual, output.audio[[1, 2, 3, 0]])
    assert loss(output) < loss(shuffled)


def test_coverage_masks_by_area():
    masks = coverage_masks([torch.tensor([[0.0, 0.0, 0.5, 0.25]]), torch.zeros(0, 4)], 2, 2)
    expected = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    expected[0, 0, 0] = 0.5  # the box covers half of the top-left cell
    torch.testing.assert_close(masks, expected)
    # a box smaller than a cell still shows up as its covered fraction
    tiny = coverage_masks([torch.tensor([[0.1, 0.1, 0.2, 0.2]])], 2, 2)
    assert tiny[0, 0, 0] == pytest.approx(0.04)


def test_map_loss_prefers_the_right_map():
    target = box_targets([torch.tensor([[0.0, 0.0, 0.5, 0.5]])], 4, 4)
    good = (target * 2 - 1) * 5
    assert map_loss(good, target) < map_loss(-good, target)
    assert map_loss(good, target, dice_weight=1.0) > map_loss(good, target)
    assert map_loss(torch.zeros(0, 4, 4), torch.zeros(0, 4, 4)) == 0
