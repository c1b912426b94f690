"""Maps for a folder without boxes: where the sound is in each clip of a layout (frames/ +
audio/) or of a folder of videos, as a table, the maps, and (optionally) pictures.

OUT/predictions.csv has, per clip, its confidence (the raw map's maximum), the peak of its map
and the box of the map's largest hot region (normalised [0, 1] coordinates of the frame);
OUT/maps.npz the min-max normalised maps at the protocol's 224 x 224 with their ids and raw
logits; with overlays, OUT/overlays/<id>.png. A clip that cannot be read is skipped and listed.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from avsl.constants import EVAL_SIZE, MAX_FRAME_PIXELS
from avsl.data.dataset import AVDataset, collate_samples
from avsl.data.frames import load_frame
from avsl.data.prepare import PrepareOptions, list_videos, prepare_all
from avsl.errors import AvslError
from avsl.files import atomic_write
from avsl.inference.model import LocalizationModel
from avsl.metrics.protocol import confidence
from avsl.ops.maps import minmax_normalize, upsample_maps
from avsl.ops.overlay import hot_box, overlay
from avsl.progress import progress as progress_display
from avsl.types import BadSample

PREDICTIONS_FILE = "predictions.csv"
MAPS_FILE = "maps.npz"
SKIPPED_FILE = "predict_skipped.tsv"


@dataclass
class PredictOutcome:
    """What a run wrote: one row per clip, and the clips (or videos) it skipped."""

    rows: list[dict] = field(default_factory=list)
    skipped: list[BadSample] = field(default_factory=list)


def predict_folder(
    model: LocalizationModel,
    folder: Path,
    out: Path,
    overlays: bool = False,
    batch_size: int = 32,
    workers: int = 2,
    max_pixels: int = MAX_FRAME_PIXELS,
    progress: bool | None = None,
) -> PredictOutcome:
    """Predict every clip of `folder` (a layout, or videos: their middle frame and audio) into `out`."""
    with _as_layout(folder, workers, max_pixels) as (layout, skipped):
        dataset = AVDataset(layout, model.image_size, model.sample_rate, model.audio_seconds, max_pixels=max_pixels)
        if not len(dataset):
            raise AvslError(f"{folder}: no clip to predict (frames/<id>.jpg with audio/<id>.wav, or videos)")
        outcome = PredictOutcome(skipped=list(skipped))
        maps, logits, ids = [], [], []
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_samples)
        with progress_display(len(loader), "predict", "batch", progress) as bar:
            for batch in loader:
                outcome.skipped += batch.skipped
                if len(batch):
                    with torch.inference_mode():
                        raw = model(batch.image, batch.audio).float().cpu()  # (B, h, w)
                    heat = minmax_normalize(upsample_maps(raw, EVAL_SIZE))  # (B, 224, 224)
                    for index, clip_id in enumerate(batch.ids):
                        outcome.rows.append(_row(clip_id, raw[index], heat[index].numpy()))
                        if overlays:
                            _write_overlay(dataset, clip_id, raw[index], outcome.rows[-1]["confidence"], out)
                    maps.append(heat.numpy().astype(np.float32))
                    logits.append(raw.numpy())
                    ids += batch.ids
                bar.update(1)
    if not outcome.rows:
        first = outcome.skipped[0].reason if outcome.skipped else "none"
        raise AvslError(f"{folder}: no clip could be read ({len(outcome.skipped)} skipped; first: {first})")
    _write_results(out, outcome, ids, maps, logits)
    return outcome


@contextmanager
def _as_layout(folder: Path, workers: int, max_pixels: int) -> Iterator[tuple[Path, list[BadSample]]]:
    """The folder itself when it is a layout; else its videos prepared (middle frame, audio)
    into a temporary layout, removed afterwards, with the videos that could not be used."""
    if (folder / "frames").is_dir():
        yield folder, []
        return
    if not folder.is_dir():
        raise AvslError(f"{folder}: folder not found")
    videos, problems = list_videos(folder)
    skipped = [BadSample(Path(p.video).stem, p.problem) for p in problems]
    with tempfile.TemporaryDirectory(prefix="avsl-predict-") as temp:
        for outcome in prepare_all(videos, Path(temp), PrepareOptions(max_pixels=max_pixels), workers):
            if outcome.problem is not None:
                skipped.append(BadSample(Path(outcome.video).stem, outcome.problem))
        yield Path(temp), skipped


def _row(clip_id: str, raw: torch.Tensor, heat: np.ndarray) -> dict:
    """One line of predictions.csv (coordinates normalised to the frame)."""
    y, x = np.unravel_index(int(heat.argmax()), heat.shape)
    box = hot_box(heat)
    side = heat.shape[0]
    corners = [round(v / side, 4) for v in box] if box is not None else [""] * 4
    return {"id": clip_id, "confidence": round(float(confidence(raw[None])[0]), 5),
            "peak_x": round((x + 0.5) / side, 4), "peak_y": round((y + 0.5) / side, 4),
            **dict(zip(("box_x1", "box_y1", "box_x2", "box_y2"), corners, strict=True))}  # fmt: skip


def _write_overlay(dataset: AVDataset, clip_id: str, raw: torch.Tensor, score: float, out: Path) -> None:
    """OUT/overlays/<id>.png at the frame's own size."""
    frame = np.asarray(load_frame(dataset.layout.frame_path(clip_id)))
    heatmap = minmax_normalize(upsample_maps(raw[None], frame.shape[:2]))[0].numpy()
    buffer = io.BytesIO()
    Image.fromarray(overlay(frame, heatmap, boxes=True, confidence=score)).save(buffer, format="PNG")
    atomic_write(out / "overlays" / f"{clip_id}.png", lambda stream: stream.write(buffer.getvalue()))


def _write_results(out: Path, outcome: PredictOutcome, ids: list[str], maps: list, logits: list) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(outcome.rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(outcome.rows)
    atomic_write(out / PREDICTIONS_FILE, lambda stream: stream.write(text.getvalue().encode()))
    buffer = io.BytesIO()
    np.savez(buffer, ids=np.array(ids, dtype=str), maps=np.concatenate(maps), logits=np.concatenate(logits))
    atomic_write(out / MAPS_FILE, lambda stream: stream.write(buffer.getvalue()))
    report = "".join(f"{s.id}\t{s.reason}\n" for s in outcome.skipped).encode()
    if outcome.skipped:
        atomic_write(out / SKIPPED_FILE, lambda stream: stream.write(report))
    else:
        (out / SKIPPED_FILE).unlink(missing_ok=True)
