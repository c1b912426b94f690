"""Evaluations as the reports read them: metrics.json's content and the per-clip cIoU, from a
finished `avsl eval` folder or straight from an evaluation run in this process."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from avsl.errors import AvslError
from avsl.evaluation.evaluate import EvalResult

METRICS_FILE = "metrics.json"  # written last by `avsl eval`: its presence means the run finished
PER_CLIP_FILE = "per_clip.csv"
REPORT_FILE = "report.html"
RULES = ("median", "adaptive", "fixed")


@dataclass
class Evaluation:
    """One evaluation: its name on the page, metrics.json's content, and each scored clip's cIoU
    under each rule (arrays aligned with `ids`)."""

    name: str
    metrics: dict
    ids: list[str]
    cious: dict[str, np.ndarray]
    folder: Path | None = None  # the folder holding its metrics.json and per_clip.csv

    @classmethod
    def from_result(cls, name: str, metrics: dict, result: EvalResult, folder: Path | None = None) -> Evaluation:
        cious = {rule: torch.cat(c).double().numpy() if c else np.zeros(0) for rule, c in result.cious.items()}
        return cls(name, metrics, list(result.ids), cious, folder)

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {clip_id: index for index, clip_id in enumerate(self.ids)}

    def position(self, clip_id: str) -> int:
        """Where `clip_id` lies in `ids` (and in each cIoU array)."""
        return self._positions[clip_id]

    @property
    def rule(self) -> str:
        """The rule this evaluation reported on top (`avsl eval --threshold`)."""
        return self.metrics.get("threshold", "median")


def find_evaluations(path: Path, depth: int = 1) -> list[Path]:
    """The evaluation folders `path` means: itself if it holds metrics.json, else the folders
    at most `depth` below it that do (a run folder with `avsl eval ... -o RUN/test`; a method's
    seeds, `seed0/test`, at depth 2); AvslError if none."""
    if (path / METRICS_FILE).is_file():
        return [path]
    if not path.is_dir():
        raise AvslError(f"{path}: not found")
    levels = ("*/" * level + METRICS_FILE for level in range(1, depth + 1))  # not a walk of the whole run folder
    found = sorted(match.parent for pattern in levels for match in path.glob(pattern))
    if not found:
        raise AvslError(
            f"{path}: not an evaluation folder (no {METRICS_FILE} in it or in the folders below it); "
            f"make one with: avsl eval --data DIR --checkpoint RUN -o {path}"
        )
    return found


def read_evaluation(folder: Path, name: str | None = None) -> Evaluation:
    """An `avsl eval` output folder; AvslError naming the file that is missing or unreadable."""
    metrics_path, per_clip_path = folder / METRICS_FILE, folder / PER_CLIP_FILE
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AvslError(f"{metrics_path}: not a readable metrics.json ({err})") from err
    if not isinstance(metrics, dict) or not isinstance(metrics.get("by_threshold"), dict):
        raise AvslError(f"{metrics_path}: not the metrics.json of avsl eval (no by_threshold)")
    ids, columns = _read_per_clip(per_clip_path)
    return Evaluation(name or str(folder), metrics, ids, columns, folder)


def _read_per_clip(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise AvslError(f"{path}: not a readable per_clip.csv ({err})") from err
    wanted = [f"ciou_{rule}" for rule in RULES]
    if rows and any(column not in rows[0] for column in ["id", *wanted]):
        raise AvslError(f"{path}: not the per_clip.csv of avsl eval (needs the columns id, {', '.join(wanted)})")
    try:
        columns = {rule: np.array([float(row[f"ciou_{rule}"]) for row in rows]) for rule in RULES}
    except (TypeError, ValueError) as err:
        raise AvslError(f"{path}: a cIoU value is not a number ({err})") from err
    if any(not all(math.isfinite(v) for v in values) for values in columns.values()):
        raise AvslError(f"{path}: a cIoU value is not finite")
    return [row["id"] for row in rows], columns
