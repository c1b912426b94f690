"""Experiment configs the README reports (YAML, each starting with the command that runs it),
and config fragments that several experiments share."""

from pathlib import Path

import yaml

CONFIG_DIR = Path(__file__).resolve().parent


def config_path(name: str) -> Path:
    return CONFIG_DIR / f"{name}.yaml"


def config_overrides(name: str) -> tuple[str, ...]:
    """A config fragment as `key=value` overrides (nested keys dotted), in the file's order."""
    return tuple(_flatten(yaml.safe_load(config_path(name).read_text())))


def _flatten(values: dict, prefix: str = "") -> list[str]:
    items = []
    for key, value in values.items():
        if isinstance(value, dict):
            items += _flatten(value, f"{prefix}{key}.")
        else:
            items.append(f"{prefix}{key}={value}")
    return items


PAPER_ENCODERS = config_overrides("paper_encoders")
