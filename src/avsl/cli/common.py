"""Argument types and helpers shared by the subcommand modules."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from avsl.data.formats import FORMATS
from avsl.errors import AvslError


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above zero (refuses nan, inf, 0 and negatives)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def finite_float(text: str) -> float:
    """Any finite number (refuses nan and inf, which compare false with everything)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda:N")


def existing_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise AvslError(f"{path}: {what} not found")
    return path


def add_selection_arguments(parser: argparse.ArgumentParser, labeled_help: str) -> None:
    """--format, --split, --labeled and --annotations: which clips of a folder a command reads
    (avsl.data.selection.Selection)."""
    parser.add_argument("--format", choices=FORMATS, help="layout of the data (default: auto-detected)")
    parser.add_argument(
        "--split",
        action="append",
        metavar="LIST",
        help="training clips: a list file or packaged name, e.g. vggss_144k (repeatable; default all)",
    )
    parser.add_argument("--labeled", metavar="LIST", help=labeled_help)
    parser.add_argument("--annotations", help="box file instead of the folder's own ('vggss': the packaged one)")  # fmt: skip
