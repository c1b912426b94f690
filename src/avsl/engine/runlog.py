"""Run logging: JSON lines (the record) and TensorBoard scalars (the view); rank 0 only."""

from __future__ import annotations

import json
from pathlib import Path

from avsl.errors import AvslError
from avsl.files import atomic_write, nan_to_none
from avsl.run import LOG_FILE, TENSORBOARD_FOLDER


class RunLog:
    """Appends one JSON object per epoch to RUN/log.jsonl and mirrors scalars to RUN/tb."""

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.path = run_dir / LOG_FILE
        self.writer = None
        if enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # heavy import, only when logging

            self.writer = SummaryWriter(log_dir=str(run_dir / TENSORBOARD_FOLDER))

    def write(self, record: dict, step: int) -> None:
        if not self.enabled:
            return
        try:
            with self.path.open("a") as stream:
                stream.write(json.dumps(nan_to_none(record), allow_nan=False) + "\n")  # strict JSON
        except OSError as err:
            raise AvslError(f"{self.path}: cannot write the run log ({err.strerror or err})") from None
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                    self.writer.add_scalar(key, value, step)
            self.writer.flush()

    def truncate_after(self, step: int) -> None:
        """On resume, forget epochs logged after the checkpoint being resumed, and a last line
        cut short by a kill."""
        if not self.enabled or not self.path.exists():
            return
        kept = "".join(line + "\n" for line in self.path.read_text().splitlines() if _step_of(line) <= step).encode()
        atomic_write(self.path, lambda stream: stream.write(kept))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _step_of(line: str) -> float:
    """A log line's step; a line that does not parse (cut short by a kill) counts as after any."""
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return float("inf")
