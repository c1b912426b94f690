"""Progress wherever a command runs: plain lines, as the work goes, when stderr is not a terminal."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from avsl.progress import PlainProgress
from tests.conftest import SMALL_MODEL, as_set


def test_plain_lines_mark_each_tenth_with_the_time_left():
    stream = io.StringIO()
    with PlainProgress(200, "eval", "batch", stream=stream, delay=0.0) as bar:
        for _ in range(200):
            bar.update(1)
            bar.set_postfix(loss="0.5")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and lines[0].startswith("eval: 10% (batch 20 of 200, ")
    assert "left" in lines[0] and "loss=0.5" in lines[0] and "left" not in lines[-1]


def test_short_work_prints_no_plain_line():
    stream = io.StringIO()
    with PlainProgress(4, "eval", "batch", stream=stream) as bar:
        bar.update(4)
    assert stream.getvalue() == ""


@pytest.mark.slow
def test_a_piped_training_prints_progress_before_it_ends(tiny_benchmark, tmp_path):
    command = [sys.executable, "-m", "avsl.cli.main", "train", "--data", str(tiny_benchmark), "--method", "selfsup",
               "--epochs", "20", "-o", str(tmp_path / "run"), *as_set(*SMALL_MODEL, "data.workers=0")]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first = process.stderr.readline()
    running = process.poll() is None
    rest, _ = process.communicate(timeout=300)
    assert first.startswith("train selfsup: ") and "% (step " in first and running  # an epoch's line, while it trains
    assert process.returncode == 0 and "best val AP50" in rest
