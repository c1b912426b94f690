"""Typed training configuration: dataclass defaults < YAML file < `key=value` overrides.

OmegaConf structured configs check every key and type, so an unknown key or a wrong type is
an error naming the key. Library code never sees this object whole: builders flatten it into
plain arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from avsl.constants import MAX_FRAME_PIXELS
from avsl.errors import AvslError


@dataclass
class DataConfig:
    image_size: int = 0  # 0: the layout's avsl.json if present, else 224
    audio_seconds: float = 0.0  # 0: the layout's avsl.json if present, else 3
    sample_rate: int = 16_000
    batch_size: int = 64
    workers: int = 2  # processes that decode the clips once into memory
    max_pixels: int = MAX_FRAME_PIXELS  # frames whose header claims more pixels are skipped (avsl.data.frames)
    strict: bool = False  # stop at the first unreadable clip or bad entry instead of skipping it
    format: str = "auto"  # layout: auto | native | flickr (avsl.data.formats)
    split: list[str] = field(default_factory=list)  # training clip lists (files or packaged names); default all
    val_split: list[str] = field(default_factory=list)  # validation clip lists (e.g. dmt-val)
    labeled: str = ""  # a list whose clips are exactly the labelled ones (e.g. dmt-train), instead of a fraction
    annotations: str = ""  # box file instead of the folder's own; "vggss" is the packaged vggss.json


@dataclass
class ModelConfig:
    localizer: str = "ezvsl"  # ezvsl | lvs: the unsupervised objective
    visual: str = "tiny"  # tiny | resnet18
    audio: str = "tiny"  # tiny | vggish_tiny | soundnet_tiny | resnet18
    visual_weights: str = "none"  # none | imagenet | path to a state dict
    width: int = 32  # channel width of the tiny encoders
    norm: str = "batch"  # batch | group (tiny encoders; group gives exact multi-process parity on CPU)
    sync_bn: bool = False  # under torchrun on GPUs: BatchNorm statistics over all ranks (SyncBatchNorm)
    dim: int = 128  # shared embedding size
    frontend: str = "logmel"  # logmel | ezvsl
    eps: float = 0.65  # map logit = (S - eps) / tau (LVS's eps and tau)
    tau: float = 0.03
    # a checkpoint (avsl run or file, or EZ-VSL's / SLAVC's best.pth) whose weights start every
    # student of the same architecture (DMT's teachers copy their students at the stage switch)
    init_from: str = ""


@dataclass
class OptimConfig:
    optimizer: str = "adamw"  # adamw | adam
    lr: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 20  # an epoch is ceil(train clips / batch size) steps, for every method
    warmup_steps: int = 50  # linear learning-rate warm-up before the cosine decay
    grad_clip: float = 5.0  # max global gradient norm; 0 disables
    skip_nonfinite: bool = False  # skip (and count) a step whose loss or gradient is not finite, instead of stopping


@dataclass
class LossConfig:
    dice_weight: float = 0.0  # weight of the soft Dice term added to the map BCE


@dataclass
class SemiConfig:
    """Semi-supervised settings (pseudo, meanteacher, dmt); docs/method.md's symbols in comments."""

    warmup_epochs: int = 8  # stage 1 (teachers on D_l + contrastive on all)
    delta: float = 0.5  # binarisation threshold on the teachers' probability maps
    tau_f: float = 0.5  # keep a clip when the two teachers' binary maps reach this IoU
    alpha: float = 0.99  # EMA decay of teacher <- student (per step)
    lambda_u: float = 1.0  # weight of the pseudo-label loss
    lambda_c: float = 0.2  # weight of the contrastive loss
    confidence: float = 0.7  # meanteacher: keep clips whose mean foreground probability reaches this
    labeled_batch: int = 16  # labelled clips per step; the rest of data.batch_size is unlabelled
    use_filter: bool = True  # ablation: keep every clip
    use_intersection: bool = True  # ablation: teacher A's map instead of the intersection
    strong_crop_scale: float = 0.6  # random resized crop keeps at least this area fraction
    strong_colour: float = 0.4  # colour jitter strength (brightness, contrast, saturation)
    strong_hue: float = 0.1  # hue jitter; the synthetic benchmark sets 0, as its look-alike twins differ in hue
    strong_grayscale: float = 0.2  # probability of a grey strong view (0 on the synthetic benchmark, as hue)
    strong_blur: float = 0.5  # probability of a Gaussian blur
    pair_b_audio: str = "vggish_tiny"  # DMT's second pair uses this audio encoder
    pairs: int = 2  # DMT ablation: 1 = a single teacher-student pair (no consensus)


@dataclass
class TrainConfig:
    method: str = "selfsup"  # selfsup | supervised | pseudo | meanteacher | dmt
    # None: the method's own default (build.method_defaults): DMT's 3 % for the semi-supervised
    # methods, every boxed clip for `supervised`
    labeled_fraction: float | None = None
    seed: int = 0
    precision: str = "auto"  # auto (bf16 where the GPU or CPU multiplies in it, else fp32) | fp32 | bf16
    channels_last: bool = True
    device: str = "auto"
    checkpoint_every: int = 0  # also save `last` every N steps (0: only at epoch ends)
    keep_epochs: bool = False  # also keep every epoch's weights in epochs/ (avsl.experiments.drift reads them)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    semi: SemiConfig = field(default_factory=SemiConfig)


def load_config(yaml_path: Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Defaults, then the YAML file, then `key=value` overrides; returns a checked TrainConfig."""
    try:
        merged = OmegaConf.structured(TrainConfig)
        if yaml_path is not None:
            merged = OmegaConf.merge(merged, _read_yaml(Path(yaml_path)))
        for item in overrides:
            if "=" not in item:
                raise AvslError(f"override {item!r} is not key=value")
        merged = OmegaConf.merge(merged, OmegaConf.from_dotlist(list(overrides)))
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        raise AvslError(f"config: {_omegaconf_message(err)}") from None


def _read_yaml(path: Path) -> DictConfig:
    """A YAML mapping of config values; anything else is an AvslError naming the file."""
    if not path.is_file():
        raise AvslError(f"{path}: config file not found")
    try:
        loaded = OmegaConf.load(path)
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as err:
        raise AvslError(f"{path}: not readable YAML ({_first_line(err)})") from None
    if not isinstance(loaded, DictConfig):
        raise AvslError(f"{path}: expected a mapping of config keys (e.g. 'optim: {{lr: 0.001}}'), got a list")
    return loaded


def _first_line(err: Exception) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else type(err).__name__


def config_from_dict(data: dict) -> TrainConfig:
    """A TrainConfig from its saved form (checkpoints, run directories)."""
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(TrainConfig), data))
    except OmegaConfBaseException as err:
        raise AvslError(f"saved config: {_omegaconf_message(err)}") from None


def config_to_dict(config: TrainConfig) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(config))


def config_to_yaml(config: TrainConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(config))


def _omegaconf_message(err: OmegaConfBaseException) -> str:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    key = getattr(err, "full_key", None)
    return f"{key}: {first}" if key and key not in first else first
