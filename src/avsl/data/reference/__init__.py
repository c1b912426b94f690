"""The public benchmarks' split lists and VGG-SS annotations, shipped with the package (NOTICE)."""

from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent
