"""Scene -> frame (uint8 RGB) and scene -> audio (float32 mono)."""

from __future__ import annotations

import numpy as np

from avsl.data.synth.classes import CLASSES
from avsl.data.synth.scene import PlacedObject, Scene

# Level of the sounding object's sound; noise and other sounds are set relative to it.
TARGET_RMS = 0.1
PEAK = 0.99


def object_mask(obj: PlacedObject, image_size: int) -> np.ndarray:
    """(S, S) bool: the pixels the object covers (shape evaluated at pixel centres)."""
    mask = np.zeros((image_size, image_size), dtype=bool)
    u, v = _object_coords(obj)
    mask[obj.y0 : obj.y0 + obj.height, obj.x0 : obj.x0 + obj.width] = CLASSES[obj.class_index].shape(u, v)
    return mask


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Tight normalised [x1, y1, x2, y2] of a mask's pixels (pixel edges, not centres)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    height, width = mask.shape
    return (cols[0] / width, rows[0] / height, (cols[-1] + 1) / width, (rows[-1] + 1) / height)


def render_frame(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """(S, S, 3) uint8: textured background, clutter, then the objects."""
    size = scene.image_size
    image = _background(scene, rng)
    for obj in scene.objects:
        u, v = _object_coords(obj)
        cls = CLASSES[obj.class_index]
        inside = cls.shape(u, v)  # (h, w)
        shade = cls.pattern(u, v)[..., None] * np.array(obj.colour)  # (h, w, 3)
        region = image[obj.y0 : obj.y0 + obj.height, obj.x0 : obj.x0 + obj.width]
        region[inside] = shade[inside]
    image += rng.normal(0, 0.02, size=(size, size, 3))
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def _object_coords(obj: PlacedObject) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres of the object's extent mapped to [-1, 1]^2: (h, w) arrays u (x) and v (y)."""
    xs = (np.arange(obj.width) + 0.5) / obj.width * 2 - 1
    ys = (np.arange(obj.height) + 0.5) / obj.height * 2 - 1
    return np.meshgrid(xs, ys)


def _background(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """A smooth muted colour field with clutter marks (lines and blobs) in random colours."""
    size = scene.image_size
    p = scene.background
    grid = np.linspace(0, 1, size)
    x, y = np.meshgrid(grid, grid)
    field = np.stack(
        [
            0.35 + 0.15 * np.sin(2 * np.pi * (p[3 * c] * 3 * x + p[3 * c + 1] * 3 * y) + 6 * p[3 * c + 2])
            for c in range(3)
        ],
        axis=-1,
    )  # (S, S, 3)
    field += 0.08 * np.sin(2 * np.pi * (p[9] * 12 * x + p[10] * 12 * y))[..., None]
    for _ in range(int(rng.integers(*_clutter_range(scene)))):
        colour = rng.uniform(0.1, 0.9, size=3)
        cx, cy = rng.uniform(0, size, size=2)
        if rng.random() < 0.5:  # a line
            angle = rng.uniform(0, np.pi)
            length = rng.uniform(0.1, 0.5) * size
            t = np.linspace(-0.5, 0.5, int(length) * 2 + 2)
            xs = np.clip((cx + t * length * np.cos(angle)).astype(int), 0, size - 1)
            ys = np.clip((cy + t * length * np.sin(angle)).astype(int), 0, size - 1)
            field[ys, xs] = colour
        else:  # a soft blob
            radius = rng.uniform(0.02, 0.08) * size
            blob = np.exp(-((x * size - cx) ** 2 + (y * size - cy) ** 2) / (2 * radius**2))[..., None]
            field = field * (1 - 0.6 * blob) + 0.6 * blob * colour
    return field


def _clutter_range(scene: Scene) -> tuple[int, int]:
    # Clutter scales with the frame area so small and large presets look alike.
    scale = (scene.image_size / 96) ** 2
    return max(1, int(6 * scale)), max(2, int(16 * scale))


def render_audio(scene: Scene, sample_rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """(round(seconds * rate),) float32: the sounding object's sound, noise, off-screen sound."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    noise = _coloured_noise(len(t), rng)
    mix = noise * TARGET_RMS * 10 ** (-scene.snr_db / 20)
    sounding = scene.sounding_object
    if sounding is not None:
        mix += _unit_rms(CLASSES[sounding.class_index].sound(t, scene.pitch_jitter, rng)) * TARGET_RMS
    if scene.offscreen_class is not None:
        jitter = 1 + rng.uniform(-0.05, 0.05)
        offscreen = _unit_rms(CLASSES[scene.offscreen_class].sound(t, jitter, rng))
        mix += offscreen * TARGET_RMS * 10 ** (scene.offscreen_db / 20)
    peak = np.abs(mix).max()
    if peak > PEAK:
        mix *= PEAK / peak
    return mix.astype(np.float32)


def _unit_rms(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.sqrt(np.mean(x**2))), 1e-8)


def _coloured_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """White noise with a random spectral tilt (between white and brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(len(spectrum)) + 1.0
    spectrum /= freqs ** rng.uniform(0.0, 1.0)
    return _unit_rms(np.fft.irfft(spectrum, n))
