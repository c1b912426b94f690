"""Encoders and localizers behind a registry."""

from avsl.models import encoders, localizer  # noqa: F401  (fill the registries)
from avsl.models.registry import (  # noqa: F401
    create_localizer,
    list_audio_encoders,
    list_localizers,
    list_visual_encoders,
    localizer_objective,
)
