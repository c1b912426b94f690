"""Run logging: JSON lines (the record) and TensorBoard scalars (the view); rank 0 only."""

from __future__ import annotations

import json
from pathlib import Path

from avsl.files import nan_to_none


class RunLog:
    """Appends one JSON object per epoch to RUN/log.jsonl and mirrors scalars to RUN/tb."""

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.path = run_dir / "log.jsonl"
        self.writer = None
        if enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # heavy import, only when logging

            self.writer = SummaryWriter(log_dir=str(run_dir / "tb"))

    def write(self, record: dict, step: int) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as stream:
            stream.write(json.dumps(nan_to_none(record), allow_nan=False) + "\n")  # strict JSON
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                    self.writer.add_scalar(key, value, step)
            self.writer.flush()

    def truncate_after(self, step: int) -> None:
        """On resume, forget epochs logged after the checkpoint being resumed."""
        if not self.enabled or not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        self.path.write_text("".join(line + "\n" for line in kept))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
