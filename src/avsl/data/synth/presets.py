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
    # how often each size bucket (small, medium, large, huge; avsl.data.synth.scene.SIZE_RANGES)
    # is drawn, for the sounding object and the distractors alike. These give sounding boxes of
    # about 11 / 17 / 48 / 24 %: small objects over-represented so that their weakness can be
    # measured, and 58 % of boxes reach the quarter of the frame that AP50's median rule needs.
    size_weights: tuple[float, float, float, float] = (0.10, 0.15, 0.30, 0.45)

    def __post_init__(self) -> None:
        # an off-screen sound needs a class that is not in the frame
        low = (self.max_objects + 2) // 2 * 2
        if self.num_classes % 2 or not low <= self.num_classes <= len(CLASSES):
            raise AvslError(f"num_classes must be an even number from {low} to {len(CLASSES)}, not {self.num_classes}")
        if len(self.size_weights) != 4 or min(self.size_weights) < 0 or abs(sum(self.size_weights) - 1) > 1e-6:
            raise AvslError(f"size_weights must be 4 non-negative weights that sum to 1, not {self.size_weights}")

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
    # `bench` at the papers' input size (224 px, 3 s) with VGG-SS's size mix: its packaged boxes
    # fall 3.3 / 37.6 / 31.8 / 27.3 % small / medium / large / huge in SLAVC's buckets (Mo &
    # Morgado 2022), and these weights give sounding boxes of 3.2 / 37.0 / 31.6 / 28.2 % (side-by-
    # side pairs cap huge objects, hence its weight). The ResNet-18 pair's study runs on it on a
    # GPU (`avsl bench --suite scale`).
    "vggss_mix": replace(
        _BENCH, name="vggss_mix", image_size=224, audio_seconds=3.0, size_weights=(0.03, 0.37, 0.08, 0.52)
    ),
}


def get_preset(name: str) -> SynthPreset:
    if name not in PRESETS:
        raise AvslError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
