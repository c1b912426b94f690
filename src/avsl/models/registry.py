"""Name -> constructor registries for encoders and localizers (timm-style create_* / list_*)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

from avsl.errors import AvslError

Factory = TypeVar("Factory", bound=Callable[..., nn.Module])

_REGISTRIES: dict[str, dict[str, Callable[..., nn.Module]]] = {
    "visual encoder": {},
    "audio encoder": {},
    "localizer": {},
}
# Each localizer's training objective (a key of avsl.losses' OBJECTIVES), declared where it is
# registered; None for localizers that only load released checkpoints.
_OBJECTIVES: dict[str, str | None] = {}


def _register(kind: str, name: str) -> Callable[[Factory], Factory]:
    def decorator(factory: Factory) -> Factory:
        if name in _REGISTRIES[kind]:
            raise ValueError(f"{kind} {name!r} registered twice")
        _REGISTRIES[kind][name] = factory
        return factory

    return decorator


def _create(kind: str, name: str, **kwargs) -> nn.Module:
    registry = _REGISTRIES[kind]
    if name not in registry:
        raise AvslError(f"unknown {kind} {name!r}; choose one of {', '.join(sorted(registry))}")
    return registry[name](**kwargs)


def register_visual_encoder(name: str) -> Callable[[Factory], Factory]:
    return _register("visual encoder", name)


def register_audio_encoder(name: str) -> Callable[[Factory], Factory]:
    return _register("audio encoder", name)


def register_localizer(name: str, objective: str | None) -> Callable[[Factory], Factory]:
    """Register a localizer factory; it is called with `objective=` and the spec's arguments."""
    _OBJECTIVES[name] = objective
    return _register("localizer", name)


def create_visual_encoder(name: str, **kwargs) -> nn.Module:
    return _create("visual encoder", name, **kwargs)


def create_audio_encoder(name: str, **kwargs) -> nn.Module:
    return _create("audio encoder", name, **kwargs)


def create_localizer(name: str, **kwargs) -> nn.Module:
    return _create("localizer", name, objective=localizer_objective(name), **kwargs)


def localizer_objective(name: str) -> str | None:
    """The loss a localizer trains with (None: it cannot be trained here)."""
    if name not in _OBJECTIVES:
        raise AvslError(f"unknown localizer {name!r}; choose one of {', '.join(list_localizers())}")
    return _OBJECTIVES[name]


def list_visual_encoders() -> list[str]:
    return sorted(_REGISTRIES["visual encoder"])


def list_audio_encoders() -> list[str]:
    return sorted(_REGISTRIES["audio encoder"])


def list_localizers() -> list[str]:
    return sorted(_REGISTRIES["localizer"])
