"""Experiment configs the README reports (YAML, each starting with the command that runs it)."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent


def config_path(name: str) -> Path:
    return CONFIG_DIR / f"{name}.yaml"
