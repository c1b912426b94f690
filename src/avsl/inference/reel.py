"""A short video of dataset clips with their heatmaps: each clip's overlay held for its audio
window, with that audio playing, so a person sees and hears what the model localizes."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from avsl.data.dataset import AVDataset
from avsl.inference.model import LocalizationModel
from avsl.ops.overlay import overlay

REEL_SIDE = 256  # frames are shown at this size (the synthetic ones are 96 px)
REEL_FPS = 25


def write_clip_reel(model: LocalizationModel, dataset: AVDataset, ids: list[str], path: Path) -> Path:
    """Write `path` (an .mp4, atomically): the clips `ids` of `dataset` one after another."""
    temp = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    position = {clip_id: i for i, clip_id in enumerate(dataset.ids)}
    try:
        with av.open(str(temp), "w") as container:
            video = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=REEL_FPS)
            video.width = video.height = REEL_SIDE
            video.pix_fmt = "yuv420p"
            audio = container.add_stream("aac", rate=model.sample_rate)
            audio.layout = "mono"
            frame_index = sample_index = 0
            for clip_id in ids:
                sample = dataset[position[clip_id]]
                picture = _overlay(model, dataset, clip_id, sample)
                waveform = sample.waveform.numpy()
                for _ in range(max(1, round(len(waveform) / model.sample_rate * REEL_FPS))):
                    frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                    frame.pts, frame.time_base = frame_index, Fraction(1, REEL_FPS)
                    container.mux(video.encode(frame))
                    frame_index += 1
                sound = av.AudioFrame.from_ndarray(waveform[None].astype(np.float32), format="fltp", layout="mono")
                sound.sample_rate, sound.pts, sound.time_base = (
                    model.sample_rate,
                    sample_index,
                    Fraction(1, model.sample_rate),
                )
                container.mux(audio.encode(sound))
                sample_index += len(waveform)
            container.mux(video.encode())
            container.mux(audio.encode())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def _overlay(model: LocalizationModel, dataset: AVDataset, clip_id: str, sample) -> np.ndarray:
    """The clip's frame at REEL_SIDE with its heatmap, confidence and ground-truth boxes."""
    frame = Image.open(dataset.layout.frame_path(clip_id)).convert("RGB").resize((REEL_SIDE, REEL_SIDE), Image.BICUBIC)
    found = model.localize_batch(sample.image[None], sample.waveform[None], [(REEL_SIDE, REEL_SIDE)])[0]
    truth = (sample.boxes.numpy() * REEL_SIDE).round().astype(int).tolist()
    return overlay(np.asarray(frame), found.heatmap, ground_truth=truth, confidence=found.confidence)
