"""Checkpoints: one safetensors file holding every tensor (weights and optimizer state) and a
JSON header (config, step, optimizer hyper-parameters, scores). Written atomically; loading
never unpickles anything, so a checkpoint from anywhere is safe to open."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import Tensor, nn

from avsl.errors import AvslError
from avsl.files import atomic_write

_HEADER_KEY = "avsl"
# A paper-size DMT run (four ResNet-18 pairs' weights and the students' Adam state) takes about
# 0.5 GB; a file far above this is not a checkpoint, and reading it whole would exhaust memory.
MAX_CHECKPOINT_BYTES = 8 * 2**30


def save_checkpoint(path: Path, tensors: dict[str, Tensor], header: dict[str, Any]) -> None:
    """Write `tensors` and the JSON-able `header` to `path` atomically."""
    contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    data = save(contiguous, metadata={_HEADER_KEY: json.dumps(header)})
    atomic_write(path, lambda stream: stream.write(data))


def load_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a checkpoint written by `save_checkpoint`; AvslError if it is missing or corrupt."""
    path = checked_checkpoint_file(Path(path))
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise AvslError(f"{path}: cannot read checkpoint ({err.strerror})") from None
    try:
        tensors = load(raw)
        header_size = int.from_bytes(raw[:8], "little")
        metadata = json.loads(raw[8 : 8 + header_size]).get("__metadata__", {})
        header = json.loads(metadata[_HEADER_KEY])
    except (SafetensorError, ValueError, KeyError, json.JSONDecodeError, UnicodeDecodeError):
        raise AvslError(f"{path}: not an avsl checkpoint (corrupt or another format)") from None
    return tensors, header


def checked_checkpoint_file(path: Path) -> Path:
    """`path` if it is a regular file of a checkpoint's size: a device (/dev/zero) would be read
    forever and a FIFO would block before any format check could refuse it."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise AvslError(f"{path}: checkpoint not found") from None
    except OSError as err:
        raise AvslError(f"{path}: cannot read checkpoint ({err.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise AvslError(f"{path}: not a regular file (a device, FIFO or socket cannot hold a checkpoint)")
    if info.st_size > MAX_CHECKPOINT_BYTES:
        raise AvslError(f"{path}: {info.st_size / 2**30:.1f} GiB is larger than any checkpoint (limit "
                        f"{MAX_CHECKPOINT_BYTES / 2**30:.0f} GiB)")  # fmt: skip
    return path


def prefixed(prefix: str, state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {f"{prefix}{k}": v for k, v in state.items()}


def unprefixed(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_module_state(module: nn.Module, state: dict[str, Tensor], source: Path) -> None:
    """Strict load that explains a mismatch in one line instead of a wall of keys."""
    check_module_state(module, state, source)
    module.load_state_dict(state)


def check_module_state(module: nn.Module, state: dict[str, Tensor], source: Path) -> None:
    """AvslError unless `state` has exactly `module`'s keys and shapes (works on meta modules),
    each weight of the module's kind (no integer or boolean tensor cast silently into a float
    weight), finite, and stored whole (a view with a zero stride can claim a billion entries
    in a few bytes)."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = (
            (missing and f"missing {missing[0]}")
            or (unexpected and f"unexpected {unexpected[0]}")
            or (f"{wrong[0]} has shape {tuple(state[wrong[0]].shape)}, expected {tuple(expected[wrong[0]].shape)}")
        )
        raise AvslError(
            f"{source}: checkpoint does not match the model architecture ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(wrong)} mis-shaped tensors; e.g. {detail})"
        )
    _check_values(expected, state, source)


def _check_values(expected: dict[str, Tensor], state: dict[str, Tensor], source: Path) -> None:
    for key, value in state.items():
        if any(step == 0 and size > 1 for step, size in zip(value.stride(), value.shape, strict=True)):
            raise AvslError(f"{source}: tensor {key} is a broadcast view (zero stride), not stored weights")
        if expected[key].is_floating_point() != value.is_floating_point():
            raise AvslError(f"{source}: tensor {key} is {value.dtype}, expected {expected[key].dtype}")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise AvslError(f"{source}: tensor {key} holds NaN or infinite values (a diverged or damaged model)")


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split an optimizer's state dict into tensors (for safetensors) and JSON (the rest)."""
    state = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, Tensor):
                tensors[f"{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], saved: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for index, values in saved["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
