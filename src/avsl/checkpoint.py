"""Checkpoints: one safetensors file holding every tensor (weights and optimizer state) and a
JSON header (config, step, optimizer hyper-parameters, scores). Written atomically; loading
never unpickles anything, so a checkpoint from anywhere is safe to open."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import Tensor, nn

from avsl.errors import AvslError
from avsl.files import atomic_write

# A run directory holds the latest and the best-on-validation checkpoint.
LAST_FILE = "last.safetensors"
BEST_FILE = "best.safetensors"
_HEADER_KEY = "avsl"


def save_checkpoint(path: Path, tensors: dict[str, Tensor], header: dict[str, Any]) -> None:
    """Write `tensors` and the JSON-able `header` to `path` atomically."""
    contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    data = save(contiguous, metadata={_HEADER_KEY: json.dumps(header)})
    atomic_write(path, lambda stream: stream.write(data))


def load_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a checkpoint written by `save_checkpoint`; AvslError if it is missing or corrupt."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AvslError(f"{path}: checkpoint not found") from None
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


def prefixed(prefix: str, state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {f"{prefix}{k}": v for k, v in state.items()}


def unprefixed(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_module_state(module: nn.Module, state: dict[str, Tensor], source: Path) -> None:
    """Strict load that explains a mismatch in one line instead of a wall of keys."""
    check_module_state(module, state, source)
    module.load_state_dict(state)


def check_module_state(module: nn.Module, state: dict[str, Tensor], source: Path) -> None:
    """AvslError unless `state` has exactly `module`'s keys and shapes (works on meta modules)."""
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
