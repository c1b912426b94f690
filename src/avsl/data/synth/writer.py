"""Write the benchmark to disk in the native layout, in parallel and deterministically.

Every clip draws from its own generator seeded by (seed, split, index), so the bytes do not
depend on the number of processes or the order they finish in.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from avsl.constants import EVAL_SIZE, SIZE_BUCKETS
from avsl.data.layout import LAYOUT_DEFAULTS_FILE
from avsl.data.synth.classes import CLASS_NAMES
from avsl.data.synth.presets import SynthPreset, get_preset
from avsl.data.synth.render import mask_box, object_mask, render_audio, render_frame
from avsl.data.synth.scene import Scene, SceneKind, sample_scene
from avsl.errors import AvslError
from avsl.files import writable_dir, write_json

# 2: 16 classes in look-alike twins, 2-4 objects; 3: same-size rivals side by side. The 64
# classes and `num_classes` came later without changing a byte of what 16 classes make.
GENERATOR_VERSION = "3"
SPLITS = ("train", "val", "test")
_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
JPEG_QUALITY = 90


@dataclass(frozen=True)
class ClipJob:
    root: str
    split: str
    index: int
    seed: int
    preset: SynthPreset


def scene_for(split: str, index: int, seed: int, preset: SynthPreset) -> tuple[Scene, np.random.Generator]:
    """The scene of one clip and the generator that renders it (the same for the same inputs)."""
    rng = np.random.default_rng([seed, _SPLIT_CODES[split], index])
    kind: SceneKind = "sounding"
    if split != "train" and rng.random() < preset.negative_fraction:
        kind = "silent" if rng.random() < 0.5 else "offscreen"
    return sample_scene(rng, preset, kind), rng


def clip_id(split: str, index: int) -> str:
    return f"{split}_{index:06d}"


def write_clip(job: ClipJob) -> dict:
    """Render and write one clip; returns its annotation entry."""
    scene, rng = scene_for(job.split, job.index, job.seed, job.preset)
    name = clip_id(job.split, job.index)
    root = Path(job.root)
    frame = render_frame(scene, rng)
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    (root / "frames" / f"{name}.jpg").write_bytes(buffer.getvalue())
    audio = render_audio(scene, job.preset.sample_rate, job.preset.audio_seconds, rng)
    sf.write(root / "audio" / f"{name}.wav", audio, job.preset.sample_rate, subtype="PCM_16")
    objects = [
        {"class": CLASS_NAMES[o.class_index], "bbox": [list(mask_box(object_mask(o, scene.image_size)))],
         "sounding": o.sounding}
        for o in scene.objects
    ]  # fmt: skip
    sounding = scene.sounding_object
    return {
        "file": name,
        "class": CLASS_NAMES[sounding.class_index] if sounding else None,
        "bbox": [o["bbox"][0] for o in objects if o["sounding"]],
        "kind": scene.kind,
        "objects": objects,
        "offscreen": CLASS_NAMES[scene.offscreen_class] if scene.offscreen_class is not None else None,
    }


def size_bucket(box: list[float]) -> str:
    area = (box[2] - box[0]) * (box[3] - box[1]) * EVAL_SIZE * EVAL_SIZE
    return next(name for name, upper in SIZE_BUCKETS if area < upper)


def generate(
    out: Path,
    preset: SynthPreset,
    seed: int = 0,
    overwrite: bool = False,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write OUT/{train,val,test} in the native layout and OUT/MANIFEST.json; returns the manifest.

    The manifest is written last, so its presence means the benchmark is complete.
    """
    _prepare_output(out, overwrite)
    counts = {"train": preset.num_train, "val": preset.num_val, "test": preset.num_test}
    jobs = []
    for split in SPLITS:
        for sub in ("frames", "audio"):
            (out / split / sub).mkdir(parents=True, exist_ok=True)
        jobs += [ClipJob(str(out / split), split, i, seed, preset) for i in range(counts[split])]
    entries: dict[str, list[dict]] = {split: [] for split in SPLITS}
    processes = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for entry in pool.imap(write_clip, jobs, chunksize=16):
            entries[entry["file"].split("_")[0]].append(entry)
            if progress is not None:
                progress(1)
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "preset": preset.as_dict(),
        "seed": seed,
        "counts": counts,
        "classes": list(CLASS_NAMES[: preset.num_classes]),
        "size_histogram": {},
        "kinds": {},
    }
    for split in SPLITS:
        write_json(out / split / "annotations.json", entries[split])
        write_json(out / split / LAYOUT_DEFAULTS_FILE, {
            "image_size": preset.image_size,
            "audio_seconds": preset.audio_seconds,
            "sample_rate": preset.sample_rate,
        })  # fmt: skip
        buckets = Counter(size_bucket(e["bbox"][0]) for e in entries[split] if e["bbox"])
        manifest["size_histogram"][split] = {name: buckets.get(name, 0) for name, _ in SIZE_BUCKETS}
        manifest["kinds"][split] = dict(Counter(e["kind"] for e in entries[split]))
    write_json(out / "MANIFEST.json", manifest)
    return manifest


def _prepare_output(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise AvslError(f"{out}: exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise AvslError(f"{out}: exists and is not empty (use --overwrite to replace it)")
        for split in SPLITS:
            shutil.rmtree(out / split, ignore_errors=True)
        (out / "MANIFEST.json").unlink(missing_ok=True)
    writable_dir(out)


def ensure_benchmark(root: Path, preset_name: str, seed: int = 0) -> bool:
    """Make the benchmark in `root` unless a complete one of this generator, preset and seed is
    there already; returns whether it was reused."""
    preset = get_preset(preset_name)
    manifest = root / "MANIFEST.json"
    if manifest.exists():
        made = json.loads(manifest.read_text())
        same_preset = made.get("preset") == json.loads(json.dumps(preset.as_dict()))
        if same_preset and made.get("seed") == seed and made.get("generator_version") == GENERATOR_VERSION:
            return True
    generate(root, preset, seed=seed, overwrite=True)
    return False
