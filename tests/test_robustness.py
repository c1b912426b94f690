"""The hostile corpus through the real commands (in this process; `avsl bench --suite
robustness` runs each as its own process, with a time limit): every case handled."""

from __future__ import annotations

import contextlib
import io
import time

import pytest

from avsl.bench import judge, robustness_suite
from avsl.cli.main import main


def in_process(argv: list[str], timeout: float) -> judge.Outcome:
    started = time.perf_counter()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return judge.Outcome(code, stderr.getvalue(), time.perf_counter() - started)


@pytest.mark.slow
def test_every_hostile_case_is_handled():
    result = robustness_suite.run(runner=in_process)
    assert result["cases"] >= 140
    assert result["not_handled"] == []
    assert result["handled"] == result["cases"]


def test_the_judge_sees_garbage_crashes_and_files_written_outside(tmp_path):
    """The suite must be able to fail: a reader that scores everything, or crashes, is caught."""
    garbage = robustness_suite.judge_clip("x", "skip", listed=False, score=0.3)
    assert garbage["outcome"] == "silent garbage"
    refused = robustness_suite.judge_clip("x", "score", listed=True, score=None)
    assert refused["outcome"] == "silent garbage"
    crash = judge.command_failure(judge.Outcome(1, "Traceback ...\nValueError", 1.0), 2)
    assert crash[0] == "crash"
    hang = judge.command_failure(judge.Outcome(None, "", 300.0), 0)
    assert hang[0] == "hang"
    two_lines = judge.Outcome(2, "avsl eval: error: a\navsl eval: error: b\n", 1.0)
    assert judge.command_failure(two_lines, 2)[0] == "crash"

    def writes_beside(argv, timeout):
        (tmp_path / "stray.txt").write_text("x")
        return judge.Outcome(0, "", 0.0)

    _, outside = judge.watched(writes_beside, [], 1.0, tmp_path, tmp_path / "out")
    assert outside == [str(tmp_path / "stray.txt")]
