"""Train-then-test runs of the methods, shared by `avsl demo` and `avsl bench --suite methods`.

Every number is a test-split score of the checkpoint that the run picked on the val split;
the test split is touched once per reported number.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from avsl.config import TrainConfig, config_to_yaml, load_config
from avsl.engine.trainer import train
from avsl.evaluation.folder import FolderEval, evaluate_folder
from avsl.evaluation.output import write_evaluation
from avsl.experiments.intervals import RULES, interval_cell, reference_intervals
from avsl.inference.checkpoint_predictor import CheckpointPredictor
from avsl.inference.predictors import BoxPredictor, CenterPredictor, FullPredictor
from avsl.run import CONFIG_FILE, LAST_FILE, TEST_FOLDER

# the maps every table shows without a model: two trivial ones, and the ground truth itself,
# whose row is each score's cap on the test split (the median rule's is well below 100)
BASELINES = {"center": CenterPredictor, "full": FullPredictor, "ground-truth box (cap)": BoxPredictor}


@dataclass(frozen=True)
class Row:
    """One line of a results table: a method at a labelled fraction, with its config changes."""

    name: str
    method: str | None  # None: the baseline map named `name` (no training)
    fraction: float = 1.0
    overrides: tuple[str, ...] = ()

    @property
    def reported_fraction(self) -> float | None:
        """The fraction a results row records: none for the rows that use no boxes."""
        return self.fraction if self.method not in (None, "selfsup") else None

    @property
    def fraction_free(self) -> bool:
        """Rows that do not depend on the labelled fraction are measured once per seed."""
        return self.method in (None, "selfsup") or self.fraction == 1.0


def baseline_rows() -> list[Row]:
    """The rows of BASELINES, which every table starts with."""
    return [Row(name, None) for name in BASELINES]


def test_metrics(
    predictor, test_dir: Path, image_size: int, audio_seconds: float, device: torch.device, out: Path | None = None
) -> dict:
    """The test split's metrics.json content under the median rule (as `avsl eval` gives it);
    with `out`, also its per-clip scores there (metrics.json, per_clip.csv: what `avsl compare`
    and the tables' intervals read)."""
    options = FolderEval(image_size=image_size, audio_seconds=audio_seconds, batch_size=64, workers=2)
    outcome = evaluate_folder(predictor, test_dir, options, device)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_evaluation(out, outcome, predictor, device, report=False)
    return outcome.metrics


def run_row(
    row: Row,
    data_root: Path,
    run_dir: Path,
    config_file: Path,
    seed: int,
    device: torch.device,
    image_size: int,
    audio_seconds: float,
    overrides: tuple[str, ...] = (),
) -> dict:
    """Train the row's method (unless it is a baseline map) and score it on the test split."""
    started = time.perf_counter()
    if row.method is None:
        metrics = test_metrics(BASELINES[row.name](), data_root / "test", image_size, audio_seconds, device)
        return _summary(row, seed, metrics, {}, time.perf_counter() - started, None)
    config = load_config(
        config_file,
        [f"method={row.method}", f"labeled_fraction={row.fraction}", f"seed={seed}", *row.overrides, *overrides],
    )
    train(config, data_root / "train", data_root / "val", run_dir, device, resume=interrupted(run_dir, config))
    predictor = CheckpointPredictor(run_dir, device)
    metrics = test_metrics(predictor, data_root / "test", predictor.image_size, predictor.audio_seconds, device,
                           run_dir / TEST_FOLDER)  # fmt: skip
    return _summary(row, seed, metrics, _last_train_logs(run_dir), time.perf_counter() - started, run_dir)


def interrupted(run_dir: Path, config: TrainConfig) -> bool:
    """Whether `run_dir` holds an unfinished run of this very config: a suite stopped mid-row
    goes on from its last checkpoint (exactly, as `avsl train --resume`) instead of restarting."""
    saved = run_dir / CONFIG_FILE
    return (run_dir / LAST_FILE).exists() and saved.exists() and saved.read_text() == config_to_yaml(config)


def _last_train_logs(run_dir: Path) -> dict:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    return json.loads(lines[-1]) if lines else {}


def _summary(row: Row, seed: int, metrics: dict, log: dict, seconds: float, run_dir: Path | None) -> dict:
    return {
        "name": row.name,
        "method": row.method,
        "labeled_fraction": row.reported_fraction,
        "seed": seed,
        "n": metrics["n"],
        "overrides": list(row.overrides),
        "ap50": metrics["ap50"],
        "ap50_adaptive": metrics["ap50_adaptive"],
        "ciou_adaptive": metrics["ciou_adaptive"],
        "auc": metrics["auc"],
        "ciou_mean": metrics["ciou_mean"],
        "ciou_small": metrics["ciou_by_size"]["small"]["ciou_mean"],
        "ap50_fixed": metrics["by_threshold"]["fixed"]["ap50"],
        "pl_kept": log.get("train/pl/kept"),
        "pl_iou_kept": log.get("train/pl/iou_kept"),
        "pl_iou_teacher_a": log.get("train/pl/iou_teacher_a"),
        "seconds": round(seconds, 1),
        "run": str(run_dir) if run_dir else None,
        "eval": str(run_dir / TEST_FOLDER) if run_dir else None,
    }


# (row key, column title, scale): the papers' median-rule AP50 first, then the scores that the
# size of the object does not cap; a row measured before a column existed leaves it empty
SCORE_COLUMNS = (
    ("ap50", "AP50 (median rule)", 100),
    ("ap50_adaptive", "AP50 (adaptive)", 100),
    ("ciou_adaptive", "mean cIoU (adaptive)", 100),
    ("ap50_fixed", "AP50 (fixed 0.5)", 100),
    ("auc", "AUC", 100),
    ("ciou_mean", "mean cIoU", 100),
    ("ciou_small", "small-object cIoU", 100),
)


def markdown_table(rows: list[dict], reference: str | None = None) -> str:
    """Mean (and spread over seeds when there are several) of each row's numbers; with a
    `reference` row, each row's AP50 difference from it with its 95 % interval (row - reference)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["name"], row["labeled_fraction"]), []).append(row)
    titles = ["method", "labels", "seeds", *(title for _, title, _ in SCORE_COLUMNS)]
    titles += ["pseudo-label IoU (kept / teacher A)", "kept", "minutes"]
    intervals = reference_intervals(rows, reference) if reference else {}
    if intervals:
        titles += [f"AP50 {rule} - {reference} [95 % CI]" for rule in RULES]
    lines = ["| " + " | ".join(titles) + " |", "|" + " --- |" * len(titles)]
    order = list(BASELINES)  # the baselines first, in their own order; then the rest as measured
    ranked = sorted(groups.items(), key=lambda item: order.index(item[0][0]) if item[0][0] in order else len(order))
    for (name, fraction), group in ranked:
        labels = "none" if fraction is None else f"{fraction:.0%}"
        cells = [name, labels, str(len(group))]
        for key, _, scale in SCORE_COLUMNS:
            cells.append(_mean_spread([g.get(key) for g in group], scale))
        kept_iou = [g["pl_iou_kept"] for g in group if g["pl_iou_kept"] is not None]
        single = [g["pl_iou_teacher_a"] for g in group if g["pl_iou_teacher_a"] is not None]
        cells.append(f"{_mean_spread(kept_iou, 100)} / {_mean_spread(single, 100)}" if kept_iou else "")
        kept = [g["pl_kept"] for g in group if g["pl_kept"] is not None]
        cells.append(_mean_spread(kept, 100) if kept else "")
        cells.append(f"{sum(g['seconds'] for g in group) / len(group) / 60:.1f}")
        if intervals:
            cells += [interval_cell(intervals.get((name, fraction), {}).get(rule)) for rule in RULES]
        lines.append("| " + " | ".join(cells) + " |")
    if intervals:
        lines += ["", f"Intervals: each row's AP50 minus {reference}'s, in points, with its 95 % paired-bootstrap "
                  "interval over the test clips (and over seeds where a row has several; `avsl compare`); "
                  "`*`: the interval excludes 0."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _mean_spread(values: list[float | None], scale: float = 1.0) -> str:
    present = [v * scale for v in values if v is not None]
    if not present:
        return ""
    mean = sum(present) / len(present)
    if len(present) == 1:
        return f"{mean:.1f}"
    spread = (sum((v - mean) ** 2 for v in present) / (len(present) - 1)) ** 0.5
    return f"{mean:.1f} ± {spread:.1f}"
