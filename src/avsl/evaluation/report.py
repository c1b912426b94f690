"""OUT/report.html of `avsl eval`: one self-contained file a person opens (plots embedded as PNG).

It holds the metrics table, the success-rate curve (the fraction of clips whose cIoU reaches
each threshold; its area is the protocol's AUC, recomputed here from the per-clip values and
printed beside metrics.json's), cIoU by object size, and the best, median and worst clips: frame,
ground-truth boxes and heatmap, re-predicted for those few clips only.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import torch

from avsl.constants import AUC_THRESHOLDS, EVAL_SIZE
from avsl.data.dataset import AVDataset, collate_samples
from avsl.evaluation.evaluate import EvalResult
from avsl.files import atomic_write
from avsl.ops.images import denormalize_images
from avsl.ops.maps import minmax_normalize, upsample_maps
from avsl.ops.overlay import overlay

REPORT_FILE = "report.html"
SHOWN_PER_GROUP = 3


def success_curve(cious: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Thresholds, the fraction of clips at or above each, and the trapezoid area under it."""
    thresholds = np.array(AUC_THRESHOLDS)
    fractions = np.array([(cious >= t).mean() for t in thresholds]) if len(cious) else np.zeros(len(thresholds))
    area = float(np.sum((fractions[1:] + fractions[:-1]) / 2 * np.diff(thresholds)))
    return thresholds, fractions, area


def write_report(out: Path, metrics: dict, result: EvalResult, dataset: AVDataset, predictor, device) -> Path:
    """Write OUT/report.html and return its path."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot as plt

    threshold = metrics["threshold"]
    cious = torch.cat(result.cious[threshold]).numpy() if result.cious[threshold] else np.zeros(0)
    thresholds, fractions, area = success_curve(cious)
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].plot(thresholds, fractions, marker="o", markersize=3)
    axes[0].set(xlabel="cIoU threshold", ylabel="fraction of clips at or above", ylim=(0, 1.02),
                title=f"success rate (AUC {area:.3f})")  # fmt: skip
    axes[0].grid(alpha=0.3)
    sizes = metrics["ciou_by_size"]
    names = [name for name, row in sizes.items() if row["n"]]
    axes[1].bar(names, [sizes[n]["ciou_mean"] for n in names], color="#c0504d")
    for index, name in enumerate(names):
        axes[1].text(index, sizes[name]["ciou_mean"] + 0.01, f"n={sizes[name]['n']}", ha="center", fontsize=8)
    axes[1].set(ylabel="mean cIoU", ylim=(0, 1), title="cIoU by object size (SLAVC buckets)")
    figure.tight_layout()
    curves = _png(figure, plt)
    grid = _examples(result, cious, dataset, predictor, device, plt)
    page = _page(metrics, area, curves, grid)
    path = out / REPORT_FILE
    atomic_write(path, lambda stream: stream.write(page.encode()))
    return path


def _examples(result: EvalResult, cious: np.ndarray, dataset: AVDataset, predictor, device, plt) -> str | None:
    """The best, median and worst clips, re-predicted (a few clips: no map is kept for all)."""
    if not len(cious):
        return None
    order = np.argsort(-cious, kind="stable")
    middle = len(order) // 2
    groups = {
        "best": order[:SHOWN_PER_GROUP],
        "median": order[max(middle - SHOWN_PER_GROUP // 2, 0) :][:SHOWN_PER_GROUP],
        "worst": order[::-1][:SHOWN_PER_GROUP],
    }
    position = {clip_id: i for i, clip_id in enumerate(dataset.ids)}
    figure, axes = plt.subplots(3, SHOWN_PER_GROUP, figsize=(3.2 * SHOWN_PER_GROUP, 9.6), squeeze=False)
    for row, (group, chosen) in enumerate(groups.items()):
        ids = [result.ids[i] for i in chosen]
        samples = [dataset[position[i]] for i in ids]
        batch = collate_samples(samples).to(device)
        with torch.inference_mode():
            maps = minmax_normalize(upsample_maps(predictor(batch).float(), EVAL_SIZE)).cpu().numpy()
        for column in range(SHOWN_PER_GROUP):
            axis = axes[row][column]
            axis.axis("off")
            if column >= len(ids):
                continue
            frame = _display_frame(batch.image[column].cpu())
            truth = (batch.boxes[column].cpu().numpy() * EVAL_SIZE).round().astype(int).tolist()
            axis.imshow(overlay(frame, maps[column], ground_truth=truth, legend=False))
            axis.set_title(f"{group}: {ids[column][:24]}\ncIoU {cious[chosen[column]]:.2f}", fontsize=8)
    figure.tight_layout()
    return _png(figure, plt)


def _display_frame(image: torch.Tensor) -> np.ndarray:
    """A normalised (3, S, S) model input back to (224, 224, 3) uint8 for display."""
    pixels = (denormalize_images(image) * 255).round()[None]
    pixels = torch.nn.functional.interpolate(pixels, size=(EVAL_SIZE, EVAL_SIZE), mode="bilinear", align_corners=False)
    return pixels[0].permute(1, 2, 0).to(torch.uint8).numpy()


def _png(figure, plt) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _page(metrics: dict, area: float, curves: str, grid: str | None) -> str:
    def cell(value) -> str:
        return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))

    rows = [("clips scored (n)", metrics["n"]), ("AP50 (the papers' \"CIoU\")", metrics["ap50"]),
            ("mean cIoU", metrics["ciou_mean"]), ("AUC (metrics.json)", metrics["auc"]),
            ("AUC (from this page's curve)", area), ("threshold", metrics["threshold"]),
            ("gt rule", metrics.get("gt_rule")), ("test list", metrics.get("test_list")),
            ("predictor", metrics.get("predictor")), ("skipped clips", metrics["skipped"]["count"])]  # fmt: skip
    fp = metrics.get("false_positive")
    if fp:
        rows.append(("false positives: AP sounding vs silent", fp["ap"]))
    other = metrics["by_threshold"]["fixed" if metrics["threshold"] == "median" else "median"]
    rows.append(
        (f"AP50 with the {'fixed 0.5' if metrics['threshold'] == 'median' else 'median'} threshold", other["ap50"])
    )
    table = "\n".join(f"<tr><th>{html.escape(name)}</th><td>{cell(value)}</td></tr>" for name, value in rows)
    examples = f'<h2>Best, median and worst clips</h2><img src="data:image/png;base64,{grid}">' if grid else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>avsl evaluation: {html.escape(str(metrics.get("data")))}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}th{{text-align:left;padding-right:2em}}
img{{max-width:100%}}</style></head>
<body data-auc="{metrics["auc"]!r}" data-curve-auc="{area!r}">
<h1>avsl evaluation</h1><p>{html.escape(str(metrics.get("data")))}</p>
<table>{table}</table>
<h2>Success rate and object size</h2><img src="data:image/png;base64,{curves}">
{examples}
<p>Heatmaps are min-max normalised; the turbo-coloured region, outlined in white, is the prediction (the map
at or above 0.5), magenta boxes are the ground truth. cIoU and binarisation as in
metrics.json ({html.escape(str(metrics.get("median_rule", "")))}).</p>
</body></html>
"""
