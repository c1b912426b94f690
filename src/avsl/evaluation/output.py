"""An evaluation's folder, as `avsl eval` and the demo write it: per_clip.csv, report.html, and
metrics.json last, so its presence means the evaluation finished (scripts rely on it)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from avsl.errors import first_line
from avsl.evaluation.folder import FolderOutcome
from avsl.evaluation.records import METRICS_FILE, PER_CLIP_FILE, REPORT_FILE
from avsl.evaluation.report import write_report
from avsl.files import atomic_write, write_json
from avsl.ops.overlay import Layout


def write_evaluation(
    out: Path,
    outcome: FolderOutcome,
    predictor,
    device: torch.device | str,
    report: bool = True,
    layout: Layout = "overlay",
) -> Path | None:
    """Write the folder; the report's path, or None when it was not asked for or failed (a
    report never fails an evaluation: its error is a warning)."""
    (out / METRICS_FILE).unlink(missing_ok=True)
    per_clip = outcome.result.per_clip_csv().encode()
    atomic_write(out / PER_CLIP_FILE, lambda stream: stream.write(per_clip))
    page = None
    if report:
        try:
            page = write_report(out, outcome.metrics, outcome.result, outcome.dataset, predictor, device, layout)
        except Exception as err:  # the scores stand without their pictures
            warnings.warn(f"{out / REPORT_FILE}: not written ({first_line(err)})", stacklevel=2)
    write_json(out / METRICS_FILE, outcome.metrics)
    return page
