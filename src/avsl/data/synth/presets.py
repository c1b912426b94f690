"""Named sizes of the synthetic benchmark. Frame size and audio length are preset parameters so
that CPU training is practical; every other knob sets the difficulty."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from avsl.data.synth.classes import CLASSES
from avsl.errors import AvslError


@dataclass(frozen=True)
class SynthPreset:
    """Counts, sizes and difficulty of one benchmark flavour."""

    name: str
    num_train: int
    num_val: int
    num_test: int
    image_size: int
    audio_seconds: float
    sample_rate: int = 16_000
    # the first N of the 64 classes (variant by variant, so twins stay paired): more classes
    # leave fewer labelled clips per class
    num_classes: int = 16
    min_objects: int = 2  # objects per frame, the sounding one included (fewer when they do not fit)
    max_objects: int = 4
    twin_probability: float = 0.5  # the first distractor is the sounding class's look-alike twin
    rival_probability: float = 0.6  # the first distractor has the sounding object's size, on the frame's other side
    negative_fraction: float = 0.1  # of val/test clips: silent or off-screen-only audio, no box
    snr_db: tuple[float, float] = (-5.0, 15.0)  # sounding object vs background noise
    offscreen_probability: float = 0.3  # a faint sound of a class that is not in the frame
    offscreen_db: tuple[float, float] = (-18.0, -8.0)  # its level relative to the sounding object
    clutter: tuple[int, int] = (6, 16)  # background clutter marks per frame
    colour_jitter: float = 0.12  # per-instance hue/brightness jitter of the class colour
    pitch_jitter: float = 0.08  # per-instance relative jitter of the class's pitch and tempo

    def __post_init__(self) -> None:
        # an off-screen sound needs a class that is not in the frame
        low = (self.max_objects + 2) // 2 * 2
        if self.num_classes % 2 or not low <= self.num_classes <= len(CLASSES):
            raise AvslError(f"num_classes must be an even number from {low} to {len(CLASSES)}, not {self.num_classes}")

    def with_counts(self, num_train: int | None, num_val: int | None, num_test: int | None) -> SynthPreset:
        return replace(
            self,
            num_train=self.num_train if num_train is None else num_train,
            num_val=self.num_val if num_val is None else num_val,
            num_test=self.num_test if num_test is None else num_test,
        )

    def as_dict(self) -> dict:
        return asdict(self)


# The methods table: big enough for differences between methods to be real.
_BENCH = SynthPreset("bench", num_train=5000, num_val=500, num_test=1000, image_size=96, audio_seconds=1.0)

PRESETS = {
    # The tests' preset: seconds to make, small frames, short audio.
    "tiny": SynthPreset("tiny", num_train=48, num_val=16, num_test=16, image_size=64, audio_seconds=0.5),
    # What `make demo` trains on: the whole demo takes under 4 minutes on this project's 2-core machine.
    "demo": SynthPreset("demo", num_train=1500, num_val=300, num_test=500, image_size=96, audio_seconds=1.0),
    "bench": _BENCH,
    # `bench` with 64 classes, the twin in 90 % of frames: 3 % of the boxes is about two per
    # class, so the semi-supervised methods stay about 5 points below AP50's cap (README); the
    # contrastive loss alone then no longer localizes (selfsup at or below the centre line).
    "hard": replace(_BENCH, name="hard", num_classes=64, twin_probability=0.9),
}


def get_preset(name: str) -> SynthPreset:
    if name not in PRESETS:
        raise AvslError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
