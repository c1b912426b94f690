"""The object classes: each has a distinctive look (shape, colour, texture) and sound.

Shapes are implicit functions on object coordinates (u, v) in [-1, 1]^2 that touch all four
sides of that square, so an object's tight box is its drawn extent. Sounds are functions of
time with a class-specific pitch or tempo that each instance jitters slightly.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

Shape = Callable[[np.ndarray, np.ndarray], np.ndarray]
Pattern = Callable[[np.ndarray, np.ndarray], np.ndarray]
Sound = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def _circle(u, v):
    return u**2 + v**2 <= 1.0


def _square(u, v):
    return np.maximum(abs(u), abs(v)) <= 1.0


def _diamond(u, v):
    return abs(u) + abs(v) <= 1.0


def _triangle(u, v):
    return (v <= 1.0) & (abs(u) <= (v + 1.0) / 2.0)


def _ring(u, v):
    r2 = u**2 + v**2
    return (r2 <= 1.0) & (r2 >= 0.3)


def _cross(u, v):
    return (np.minimum(abs(u), abs(v)) <= 0.34) & (np.maximum(abs(u), abs(v)) <= 1.0)


def _hexagon(u, v):
    return (abs(v) <= 1.0) & (2 * abs(u) + abs(v) <= 2.0)


def _pill(u, v):
    return (abs(u) <= 1.0) & (abs(v) <= 1.0) & ((abs(u) <= 0.5) | ((abs(u) - 0.5) ** 2 * 4 + v**2 <= 1.0))


def _solid(u, v):
    return np.ones_like(u)


def _stripes(u, v):
    return 0.65 + 0.35 * (np.sin(u * 9.0) > 0)


def _checker(u, v):
    return 0.6 + 0.4 * ((np.floor(u * 3) + np.floor(v * 3)) % 2)


def _dots(u, v):
    return 1.0 - 0.45 * ((np.sin(u * 12) * np.sin(v * 12)) > 0.5)


def _radial(u, v):
    return 1.0 - 0.5 * np.clip(np.sqrt(u**2 + v**2), 0, 1)


def _rings(u, v):
    return 0.7 + 0.3 * (np.sin(np.sqrt(u**2 + v**2) * 14) > 0)


def _diagonal(u, v):
    return 0.65 + 0.35 * (np.sin((u + v) * 8) > 0)


def _gradient(u, v):
    return 0.55 + 0.45 * (v + 1) / 2


def _harmonic_stack(f0: float) -> Sound:
    def sound(t, jitter, rng):
        pitch = f0 * jitter
        return sum(np.sin(2 * np.pi * k * pitch * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 7))

    return sound


def _noise_bursts(tempo: float, tilt: float = 0.0) -> Sound:
    def sound(t, jitter, rng):
        gate = (np.mod(t * tempo * jitter, 1.0) < 0.18).astype(np.float64)
        spectrum = np.fft.rfft(rng.standard_normal(len(t)))
        spectrum /= (np.arange(len(spectrum)) + 1.0) ** tilt  # 0: white, 1: brown-ish
        return np.fft.irfft(spectrum, len(t)) * gate

    return sound


def _sweeps(low: float, high: float, period: float) -> Sound:
    def sound(t, jitter, rng):
        phase_t = np.mod(t, period / jitter)
        frequency = low + (high - low) * phase_t / (period / jitter)
        return np.sin(2 * np.pi * np.cumsum(frequency) / _rate(t))

    return sound


def _am_hum(f0: float, rate_hz: float) -> Sound:
    def sound(t, jitter, rng):
        carrier = sum(np.sin(2 * np.pi * k * f0 * jitter * t) / k**1.5 for k in range(1, 5))
        return carrier * (0.55 + 0.45 * np.sin(2 * np.pi * rate_hz * jitter * t))

    return sound


def _formant_pulses(f0: float, formants: tuple[float, float]) -> Sound:
    def sound(t, jitter, rng):
        pitch = f0 * jitter
        out = np.zeros_like(t)
        for k in range(1, int(3500 / pitch)):
            weight = sum(np.exp(-(((k * pitch - f) / 150.0) ** 2)) for f in formants) + 0.05
            out += weight * np.sin(2 * np.pi * k * pitch * t)
        return out

    return sound


def _vibrato_tone(f0: float, rate_hz: float) -> Sound:
    def sound(t, jitter, rng):
        frequency = f0 * jitter * (1 + 0.03 * np.sin(2 * np.pi * rate_hz * t))
        return np.sin(2 * np.pi * np.cumsum(frequency) / _rate(t))

    return sound


def _chirps(high: float, low: float, per_second: float) -> Sound:
    def sound(t, jitter, rng):
        local = np.mod(t * per_second * jitter, 1.0)
        frequency = high - (high - low) * np.clip(local / 0.35, 0, 1)
        gate = local < 0.35
        return np.sin(2 * np.pi * np.cumsum(frequency) / _rate(t)) * gate

    return sound


def _clicks(per_second: float, carrier: float = 2500.0) -> Sound:
    def sound(t, jitter, rng):
        local = np.mod(t * per_second * jitter, 1.0)
        return np.exp(-local * 60) * np.sin(2 * np.pi * carrier * t)

    return sound


def _rate(t: np.ndarray) -> float:
    return 1.0 / (t[1] - t[0]) if len(t) > 1 else 1.0


@dataclass(frozen=True)
class ObjectClass:
    name: str
    shape: Shape
    colour: tuple[float, float, float]
    pattern: Pattern
    sound: Sound


# The base classes come in twins (2k, 2k + 1): the same shape and texture in another colour,
# with a sound of the same kind at another pitch, tempo or band. A twin is often in the frame as
# a distractor, so telling which object sounds needs the fine audio-visual correspondence that
# a few labelled clips teach poorly and many unlabelled ones can.
_BASE_CLASSES: tuple[ObjectClass, ...] = (
    ObjectClass("bell", _circle, (0.95, 0.80, 0.10), _radial, _harmonic_stack(440.0)),
    ObjectClass("gong", _circle, (0.80, 0.10, 0.95), _radial, _harmonic_stack(660.0)),
    ObjectClass("drum", _square, (0.85, 0.15, 0.15), _stripes, _noise_bursts(5.0)),
    ObjectClass("rattle", _square, (0.15, 0.15, 0.85), _stripes, _noise_bursts(8.0, tilt=1.0)),
    ObjectClass("siren", _triangle, (0.15, 0.35, 0.95), _diagonal, _sweeps(500.0, 1600.0, 0.3)),
    ObjectClass("alarm", _triangle, (0.35, 0.95, 0.15), _diagonal, _sweeps(900.0, 2600.0, 0.2)),
    ObjectClass("engine", _pill, (0.55, 0.55, 0.60), _checker, _am_hum(95.0, 7.0)),
    ObjectClass("motor", _pill, (0.45, 0.30, 0.15), _checker, _am_hum(150.0, 12.0)),
    ObjectClass("voice", _diamond, (0.95, 0.55, 0.20), _gradient, _formant_pulses(130.0, (700.0, 1200.0))),
    ObjectClass("singer", _diamond, (0.55, 0.20, 0.95), _gradient, _formant_pulses(220.0, (400.0, 2200.0))),
    ObjectClass("flute", _ring, (0.20, 0.80, 0.30), _solid, _vibrato_tone(1800.0, 6.0)),
    ObjectClass("whistle", _ring, (0.80, 0.30, 0.20), _solid, _vibrato_tone(1100.0, 4.0)),
    ObjectClass("bird", _cross, (0.85, 0.25, 0.85), _dots, _chirps(5200.0, 3200.0, 7.0)),
    ObjectClass("frog", _cross, (0.25, 0.85, 0.55), _dots, _chirps(2800.0, 1800.0, 5.0)),
    ObjectClass("clock", _hexagon, (0.15, 0.80, 0.85), _rings, _clicks(11.0)),
    ObjectClass("metronome", _hexagon, (0.80, 0.85, 0.15), _rings, _clicks(6.0, carrier=1200.0)),
)


# Each base class comes in variants: its sound on a time axis scaled by k (every pitch, tempo
# and sweep rate times k; 1.25 keeps the highest chirp under the 8 kHz Nyquist limit of 16 kHz
# audio) and its colour with the hue turned, with shape and texture kept. Many classes make
# 3 % of the boxes about two per class, so a few labels cannot teach every class's look and
# sound: the unlabelled clips have to.
_VARIANTS: tuple[tuple[float, float], ...] = ((1.0, 0.0), (0.62, 0.5), (0.8, 0.25), (1.25, 0.75))  # (k, hue turn)


def _variant(base: ObjectClass, number: int) -> ObjectClass:
    """Variant 0 is the base class itself, so the 16-class benchmarks of earlier versions are a
    special case (`num_classes=16`)."""
    if number == 0:
        return base
    time_scale, hue_turn = _VARIANTS[number]
    hue, lightness, saturation = colorsys.rgb_to_hls(*base.colour)
    colour = colorsys.hls_to_rgb((hue + hue_turn) % 1.0, lightness, saturation)

    def sound(t: np.ndarray, jitter: float, rng: np.random.Generator) -> np.ndarray:
        return base.sound(t * time_scale, jitter, rng)

    return replace(base, name=f"{base.name}{number}", colour=colour, sound=sound)


# Class 16 v + b is variant v of base class b; since 16 is even, twins stay at (2k, 2k + 1).
CLASSES: tuple[ObjectClass, ...] = tuple(
    _variant(base, number) for number in range(len(_VARIANTS)) for base in _BASE_CLASSES
)


def twin_of(class_index: int) -> int:
    """The look-alike of the same variant: same shape and texture, another colour, a sound of the
    same kind at another pitch, tempo or band."""
    return class_index ^ 1


CLASS_NAMES = tuple(c.name for c in CLASSES)
