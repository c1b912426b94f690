"""How fast the protocol scores maps: 5,000 maps of 224 x 224 (the size of VGG-SS's test set)."""

from __future__ import annotations

import torch

from avsl.bench.timing import median_seconds
from avsl.metrics.protocol import gt_maps, score_maps

NUM_MAPS = 5000


def run(repeats: int = 3) -> dict:
    generator = torch.Generator().manual_seed(0)
    low_res = torch.rand(NUM_MAPS, 7, 7, generator=generator)
    maps = torch.nn.functional.interpolate(low_res[:, None], size=(224, 224), mode="bilinear")[:, 0]
    corners = torch.rand(NUM_MAPS, 2, 2, generator=generator).sort(dim=1).values  # (N, 2, xy)
    boxes = list(corners.permute(0, 2, 1).reshape(NUM_MAPS, 1, 4)[:, :, [0, 2, 1, 3]])
    results = {"num_maps": NUM_MAPS, "map_size": 224}
    for threshold in ("median", "fixed", "adaptive"):
        seconds = median_seconds(lambda t=threshold: score_maps(maps, boxes, t), repeats=repeats)
        results[f"score_seconds_{threshold}"] = round(seconds, 3)
    results["gt_maps_seconds"] = round(median_seconds(lambda: gt_maps(boxes), repeats=repeats), 3)
    results["torch_threads"] = torch.get_num_threads()
    return results
