"""A training run: its folder and its checkpoint schema, in one place.

A run folder holds `last` and `best` checkpoints, the resolved config, the labelled clips, the
skipped clips, the epoch log and TensorBoard's folder (and, with keep_epochs, each epoch's
weights). A checkpoint is one safetensors file (`avsl.checkpoint`): every network's tensors
under `modules.<network>.`, the optimizer's under `optim.`, and a `RunHeader` as its JSON. This
is the only module that spells those names; the trainer, the predictor, the command line, the
benches and the tests save and read runs through it.

A header may come from anywhere, so reading one for inference trusts nothing in it: each field
is checked for type and range before anything is built from it.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from avsl.checkpoint import (
    checked_checkpoint_file,
    load_checkpoint,
    load_module_state,
    optimizer_tensors,
    prefixed,
    restore_optimizer,
    save_checkpoint,
    unprefixed,
)
from avsl.constants import AUDIO_SECONDS, EVAL_SIZE
from avsl.errors import AvslError
from avsl.files import remove_temporary_files
from avsl.models import list_audio_encoders, list_localizers, list_visual_encoders
from avsl.ops.spectrogram import FRONTENDS
from avsl.zoo import fetch_checkpoint

CHECKPOINT_FORMAT = "avsl-checkpoint-1"
LAST_FILE = "last.safetensors"  # the latest save: what --resume continues
BEST_FILE = "best.safetensors"  # the best on validation: what a run folder means for inference
CONFIG_FILE = "config.yaml"
LABELED_FILE = "labeled_ids.txt"
SKIPPED_FILE = "skipped.tsv"
LOG_FILE = "log.jsonl"
TENSORBOARD_FOLDER = "tb"
EPOCHS_FOLDER = "epochs"  # with keep_epochs: each epoch's weights, for studies of training over time
TEST_FOLDER = "test"  # the best checkpoint's test evaluation (`train --test`, the tables; `avsl eval -o RUN/test`)
# Everything a run writes in its folder; `--overwrite` removes these and nothing else.
RUN_FILES = (LAST_FILE, BEST_FILE, LOG_FILE, CONFIG_FILE, LABELED_FILE, SKIPPED_FILE)
RUN_FOLDERS = (TENSORBOARD_FOLDER, EPOCHS_FOLDER)
_NETWORKS = "modules."
_OPTIMIZER = "optim."

# Generous bounds on a header's numbers; a forged value outside them is refused before any
# allocation (a forged width once asked for 1.4 TB).
_MAX_WIDTH = 1024
_MAX_DIM = 8192
_MAX_IMAGE_SIZE = 4096
_SAMPLE_RATES = (1_000, 192_000)
_MAX_SHOWN_TEXT = 200  # a header's text that a report shows (a forged one may be any length)


@dataclass
class RunHeader:
    """A checkpoint's JSON: what to rebuild (config, each network's spec, the inference one),
    the inputs it was trained on, and where the run stands."""

    config: dict
    inference: str  # the network that localizes at test time (teacher A for DMT)
    specs: dict[str, dict]  # each network's localizer spec, by name
    image_size: int
    audio_seconds: float
    data: dict  # {"train": folder, "val": folder or None}
    precision: str | None = None  # the arithmetic training used: config's `auto` as its machine resolved it
    step: int = 0
    best: dict | None = None  # {"ap50": ..., "step": ...} of the best validation so far
    epoch_logs: dict = field(default_factory=dict)  # a mid-epoch save's step logs so far

    def at(self, **changes: Any) -> RunHeader:
        return RunHeader(**{**asdict(self), **changes})


@dataclass
class NetworkCheckpoint:
    """One network of a checkpoint, ready to build: its checked spec, tensors and inputs."""

    name: str
    spec: dict
    state: dict[str, Tensor]
    image_size: int
    audio_seconds: float
    trained: dict = field(default_factory=dict)  # how it was trained, for reports (`training_summary`)


def save_run(path: Path, header: RunHeader, modules: nn.Module, optimizer: torch.optim.Optimizer | None) -> None:
    """Every network of `modules` (and the optimizer's state, unless None: weights only), with
    the header."""
    tensors = prefixed(_NETWORKS, modules.state_dict())
    meta = {"format": CHECKPOINT_FORMAT, **asdict(header)}
    if optimizer is not None:
        optim_tensors, meta["optimizer"] = optimizer_tensors(optimizer)
        tensors.update(prefixed(_OPTIMIZER, optim_tensors))
    save_checkpoint(path, tensors, meta)


def restore_run(path: Path, modules: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> RunHeader:
    """Load a run checkpoint's networks (and optimizer state) in place; its header."""
    tensors, meta = load_checkpoint(path)
    header = _run_header(meta, path)
    load_module_state(modules, unprefixed(_NETWORKS, tensors), path)
    if optimizer is not None:
        restore_optimizer(optimizer, unprefixed(_OPTIMIZER, tensors), meta["optimizer"])
    return header


def read_run_header(path: Path) -> RunHeader:
    """The header of a training checkpoint (AvslError for any other file)."""
    return _run_header(load_checkpoint(path)[1], path)


def _run_header(meta: dict, path: Path) -> RunHeader:
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise AvslError(f"{path}: not a training checkpoint of this avsl version")
    if not isinstance(meta.get("config"), dict) or not isinstance(meta.get("data"), dict):
        raise AvslError(f"{path}: not a training checkpoint (no saved config or data folders)")
    known = RunHeader.__dataclass_fields__
    return RunHeader(**{k: v for k, v in meta.items() if k in known})


def save_network(
    path: Path, spec: Any, state: dict[str, Tensor], image_size: int, audio_seconds: float = AUDIO_SECONDS
) -> None:
    """A checkpoint of one network's state alone (named "model"), loadable for inference like a
    run's. Nothing is checked here: the tests forge bad checkpoints with it."""
    header = {"inference": "model", "specs": {"model": spec}, "image_size": image_size,
              "audio_seconds": audio_seconds}  # fmt: skip
    save_checkpoint(path, prefixed(f"{_NETWORKS}model.", state), header)


def load_network(path: Path, name: str | None = None) -> NetworkCheckpoint:
    """One network of an avsl checkpoint (default: its inference one), every header field checked."""
    tensors, header = load_checkpoint(path)
    specs = _field(header, "specs", dict, path, default={})
    chosen = name or _field(header, "inference", str, path, default="model")
    if chosen not in specs:
        raise AvslError(f"{path}: no network {chosen!r} (has {', '.join(map(str, specs)) or 'none'})")
    image_size = _field(header, "image_size", int, path, default=EVAL_SIZE, bounds=(8, _MAX_IMAGE_SIZE))
    seconds = _field(header, "audio_seconds", (int, float), path, default=AUDIO_SECONDS, bounds=(0.01, 600.0))
    spec = checked_spec(specs[chosen], path)
    state = unprefixed(f"{_NETWORKS}{chosen}.", tensors)
    return NetworkCheckpoint(chosen, spec, state, image_size, float(seconds), training_summary(header))


def training_summary(header: dict) -> dict:
    """Method, step, epochs, labelled fraction and seed from a header, for a report to show.
    Informational only, so a field of the wrong type is left out rather than refused."""
    config = header.get("config") if isinstance(header.get("config"), dict) else {}
    optim = config.get("optim") if isinstance(config.get("optim"), dict) else {}
    fields = {
        "method": config.get("method"),
        "step": header.get("step"),
        "epochs": optim.get("epochs"),
        "labeled_fraction": config.get("labeled_fraction"),
        "seed": config.get("seed"),
        "training_precision": header.get("precision"),
    }
    shown = {k: v for k, v in fields.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return {**shown, **{k: v for k, v in fields.items() if isinstance(v, str) and len(v) <= _MAX_SHOWN_TEXT}}


def checked_spec(spec: Any, source: Path) -> dict:
    """A localizer spec (a header's, or one made from a peer's tensor shapes), every field's
    type and range checked (AvslError otherwise)."""
    if not isinstance(spec, dict):
        raise AvslError(f"{source}: network spec is not an object")
    choices = {
        "name": list_localizers(),
        "visual": list_visual_encoders(),
        "audio": list_audio_encoders(),
        "norm": ["batch", "group"],
        "frontend": list(FRONTENDS),
    }
    for key, allowed in choices.items():
        if spec.get(key) not in allowed:
            raise AvslError(f"{source}: header field {key}={spec.get(key)!r} is not one of {', '.join(allowed)}")
    numbers = {
        "width": (int, (1, _MAX_WIDTH)),
        "dim": (int, (1, _MAX_DIM)),
        "sample_rate": (int, _SAMPLE_RATES),
        "eps": ((int, float), (-1.0, 1.0)),
        "tau": ((int, float), (1e-6, 1e3)),
    }
    for key, (kind, bounds) in numbers.items():
        _field(spec, key, kind, source, bounds=bounds)
    unknown = sorted(set(spec) - set(choices) - set(numbers) - {"visual_weights"})
    if unknown:
        raise AvslError(f"{source}: unknown header field {unknown[0]!r} in the network spec")
    return spec


def _field(
    data: dict,
    key: str,
    kind: type | tuple[type, ...],
    source: Path,
    default: Any = None,
    bounds: tuple[float, float] | None = None,
) -> Any:
    """`data[key]` if it has the type (bool is not a number) and lies within `bounds`."""
    if key not in data and default is not None:
        return default
    value = data.get(key)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    wrong_type = not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
    if wrong_type or (bounds is not None and not (math.isfinite(value) and bounds[0] <= value <= bounds[1])):
        wanted = f" in [{bounds[0]}, {bounds[1]}]" if bounds else ""
        raise AvslError(f"{source}: header field {key}={value!r} is not a valid {kinds[0].__name__}{wanted}")
    return value


def resolve_checkpoint(source: str | Path) -> Path:
    """A run folder means its best checkpoint; a file is taken as it is (if it can be one); a
    URL, hf:// path or published model's name is fetched into the cache first (`avsl.zoo`)."""
    path = fetch_checkpoint(source)
    if path.is_dir():
        if not (path / BEST_FILE).exists():
            raise AvslError(f"{path}: run directory has no {BEST_FILE} (did training finish an epoch?)")
        path = path / BEST_FILE
    return checked_checkpoint_file(path)


def epoch_file(run_dir: Path, epoch: int) -> Path:
    return run_dir / EPOCHS_FOLDER / f"epoch_{epoch:03d}.safetensors"


def epoch_files(run_dir: Path) -> list[tuple[int, Path]]:
    """(epoch, path) of each kept epoch's weights, in order."""
    paths = sorted((run_dir / EPOCHS_FOLDER).glob("epoch_*.safetensors"))
    return [(int(path.stem.split("_")[1]), path) for path in paths]


def holds_run(run_dir: Path) -> bool:
    """Whether `run_dir` holds a run that `--resume` can continue: one with a checkpoint. A run
    stopped before its first save left only its config and log, which a new start replaces."""
    return any((run_dir / name).exists() for name in (LAST_FILE, BEST_FILE))


def started_without_checkpoint(run_dir: Path) -> bool:
    """A run folder whose run stopped before its first save."""
    return run_dir.is_dir() and not holds_run(run_dir) and (run_dir / CONFIG_FILE).exists()


def clear_run(run_dir: Path) -> None:
    """Remove an earlier run's files (and only those) before a new run starts in `run_dir`, so a
    kill before the first save cannot leave the old checkpoints beside the new config."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        shutil.rmtree(run_dir / name, ignore_errors=True)
    remove_temporary_files(run_dir, RUN_FILES)
