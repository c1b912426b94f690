"""Scene descriptions: what is in a frame and what is heard, sampled from a seeded generator.

A scene is plain data, so the renderer, the tests (box vs drawn mask) and the manifest all see
the same facts. Object extents are whole pixels of the frame, so boxes are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from avsl.data.synth.classes import CLASSES, twin_of
from avsl.data.synth.presets import SynthPreset

SceneKind = Literal["sounding", "silent", "offscreen"]

# Object box area as a fraction of the frame, per size bucket of the protocol (SLAVC's
# 32^2 / 96^2 / 144^2 bounds in 224 x 224 pixels are 2.0 %, 18.4 %, 41.3 %); the preset's
# size_weights say how often each bucket is drawn. Under the median threshold half the frame is
# "on", so a clip can only reach cIoU 0.5 when its object covers a quarter of the frame: the
# size mix sets AP50's ceiling (as on VGG-SS). Side-by-side pairs cap huge objects at about half
# the frame, so the sounding boxes' mix differs from the weights (presets.py gives both).
SIZE_RANGES = {"small": (0.006, 0.02), "medium": (0.02, 0.18), "large": (0.18, 0.41), "huge": (0.41, 0.64)}
ASPECT_RANGE = (0.6, 1.7)  # width / height
PLACEMENT_TRIES = 40


@dataclass(frozen=True)
class PlacedObject:
    """An object: its class, pixel extent [x0, x0 + w) x [y0, y0 + h), colour and role."""

    class_index: int
    x0: int
    y0: int
    width: int
    height: int
    colour: tuple[float, float, float]
    sounding: bool


@dataclass(frozen=True)
class Scene:
    """One clip: objects in the frame, and the audio's recipe."""

    image_size: int
    kind: SceneKind
    objects: tuple[PlacedObject, ...]
    snr_db: float
    pitch_jitter: float
    offscreen_class: int | None = None
    offscreen_db: float = 0.0
    background: tuple[float, ...] = field(default_factory=tuple)

    @property
    def sounding_object(self) -> PlacedObject | None:
        return next((o for o in self.objects if o.sounding), None)


def sample_scene(rng: np.random.Generator, preset: SynthPreset, kind: SceneKind) -> Scene:
    """Draw a scene: a sounding object (unless a negative), distractors of other classes, audio mix."""
    size = preset.image_size
    num_classes = preset.num_classes
    sounding_class = int(rng.integers(num_classes))
    distractor_classes = [c for c in range(num_classes) if c != sounding_class]
    sounding = kind == "sounding"
    area_range = _size_range(rng, preset)
    num_distractors = int(rng.integers(preset.min_objects - 1, preset.max_objects))
    placed: list[PlacedObject] = []
    if num_distractors and rng.random() < preset.rival_probability:
        # a rival of the same size on the other side of the frame: only the audio says which
        # of the two sounds, and neither sits in the middle where a centre prior would find it
        rival_class = _first_distractor_class(rng, preset, sounding_class, distractor_classes)
        placed.extend(_place_side_by_side(rng, preset, (sounding_class, rival_class), area_range, sounding))
        num_distractors -= 1
    else:
        first = _place(rng, preset, sounding_class, area_range, placed, sounding=sounding)
        placed.extend([first] if first is not None else [])
    for _ in range(num_distractors):
        # distractors come from the same size mix, so size alone never tells which object sounds
        if len(placed) == 1:
            cls = _first_distractor_class(rng, preset, sounding_class, distractor_classes)
        else:
            cls = int(rng.choice(distractor_classes))
        other = _place(rng, preset, cls, _size_range(rng, preset), placed, sounding=False)
        if other is not None:
            placed.append(other)
    order = rng.permutation(len(placed))  # the sounding object is not always drawn first
    objects = tuple(placed[i] for i in order)
    visible = {o.class_index for o in objects}
    offscreen = None
    if kind == "offscreen" or rng.random() < preset.offscreen_probability:
        offscreen = int(rng.choice([c for c in range(num_classes) if c not in visible]))
    return Scene(
        image_size=size,
        kind=kind,
        objects=objects,
        snr_db=float(rng.uniform(*preset.snr_db)),
        pitch_jitter=float(1 + rng.uniform(-preset.pitch_jitter, preset.pitch_jitter)),
        offscreen_class=offscreen,
        offscreen_db=0.0 if kind == "offscreen" else float(rng.uniform(*preset.offscreen_db)),
        background=tuple(float(x) for x in rng.uniform(0, 1, size=16)),
    )


def _first_distractor_class(
    rng: np.random.Generator, preset: SynthPreset, sounding_class: int, distractor_classes: list[int]
) -> int:
    """Often the sounding class's look-alike twin, so that looks alone do not tell which sounds."""
    if rng.random() < preset.twin_probability:
        return twin_of(sounding_class)
    return int(rng.choice(distractor_classes))


def _size_range(rng: np.random.Generator, preset: SynthPreset) -> tuple[float, float]:
    return SIZE_RANGES[rng.choice(list(SIZE_RANGES), p=list(preset.size_weights))]


def _place(
    rng: np.random.Generator,
    preset: SynthPreset,
    class_index: int,
    area_range: tuple[float, float],
    existing: list[PlacedObject],
    sounding: bool,
    region: tuple[int, int, int, int] | None = None,
) -> PlacedObject | None:
    """An object of log-uniform area in `area_range` (of the frame) at a free spot inside
    `region` (x0, y0, width, height; the whole frame by default), or None after many tries."""
    size = preset.image_size
    rx, ry, region_width, region_height = region or (0, 0, size, size)
    base = np.array(CLASSES[class_index].colour)
    for _ in range(PLACEMENT_TRIES):
        area = np.exp(rng.uniform(np.log(area_range[0]), np.log(area_range[1]))) * size * size
        aspect = np.exp(rng.uniform(np.log(ASPECT_RANGE[0]), np.log(ASPECT_RANGE[1])))
        width = int(np.clip(round(np.sqrt(area * aspect)), 3, region_width))
        height = int(np.clip(round(np.sqrt(area / aspect)), 3, region_height))
        x0 = rx + int(rng.integers(0, region_width - width + 1))
        y0 = ry + int(rng.integers(0, region_height - height + 1))
        if all(_apart(x0, y0, width, height, o) for o in existing):
            jitter = rng.uniform(-preset.colour_jitter, preset.colour_jitter, size=3)
            colour = tuple(float(c) for c in np.clip(base + jitter, 0, 1))
            return PlacedObject(class_index, x0, y0, width, height, colour, sounding)
    return None


def _place_side_by_side(
    rng: np.random.Generator,
    preset: SynthPreset,
    classes: tuple[int, int],
    area_range: tuple[float, float],
    sounding: bool,
) -> list[PlacedObject]:
    """Two objects of one size bucket, each in its own part of a frame cut in two at a random
    line; the first class is the sounding one (when the scene sounds), on a random side. Areas
    are capped by what fits in a part, so a huge pair comes out large."""
    size = preset.image_size
    vertical_cut = bool(rng.random() < 0.5)
    cut = int(round(size * rng.uniform(0.4, 0.6)))
    parts = [(0, 0, cut, size), (cut + 1, 0, size - cut - 1, size)]  # x0, y0, width, height
    if not vertical_cut:
        parts = [(y, x, h, w) for x, y, w, h in parts]
    sides = rng.permutation(2)
    objects = []
    for role, class_index in enumerate(classes):
        region = parts[int(sides[role])]
        obj = _place(rng, preset, class_index, area_range, [], sounding=sounding and role == 0, region=region)
        if obj is not None:
            objects.append(obj)
    return objects


def _apart(x0: int, y0: int, width: int, height: int, other: PlacedObject, margin: int = 1) -> bool:
    return (
        x0 + width + margin <= other.x0
        or other.x0 + other.width + margin <= x0
        or y0 + height + margin <= other.y0
        or other.y0 + other.height + margin <= y0
    )
