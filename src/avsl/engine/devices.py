"""Device names as users give them."""

from __future__ import annotations

import torch

from avsl.errors import AvslError


def pick_device(name: str) -> torch.device:
    """`auto` is CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AvslError(f"device {name!r} asked for but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise AvslError(f"unknown device {name!r}") from None
