"""Watching a command as a user would and judging what it did: its exit code and stderr, and
the files it created or changed outside its output folder (the robustness suites share this)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Outcome:
    """What a command did: its exit code (None: killed at the time limit) and its stderr."""

    code: int | None
    stderr: str
    seconds: float


Runner = Callable[[list[str], float], Outcome]


def subprocess_runner(argv: list[str], timeout: float) -> Outcome:
    """`avsl ARGV` in a fresh process, as a user runs it."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "avsl.cli.main", *argv]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as expired:
        stderr = expired.stderr.decode(errors="replace") if isinstance(expired.stderr, bytes) else expired.stderr or ""
        return Outcome(None, stderr, time.perf_counter() - started)
    return Outcome(done.returncode, done.stderr, time.perf_counter() - started)


def watched(runner: Runner, argv: list[str], timeout: float, root: Path, out: Path) -> tuple[Outcome, list[str]]:
    """Run a command; also return what it created or changed under `root` outside `out`."""
    before = _snapshot(root)
    outcome = runner(argv, timeout)
    after = _snapshot(root)
    changed = [p for p, stamp in after.items() if before.get(p) != stamp and not _inside(p, out)]
    return outcome, sorted(changed)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    stamps = {}
    for path in root.rglob("*"):
        if path.is_file():
            info = path.stat()
            stamps[str(path)] = (info.st_mtime_ns, info.st_size)
    return stamps


def _inside(path: str, folder: Path) -> bool:
    return Path(path).is_relative_to(folder)


def command_failure(outcome: Outcome, expect_code: int) -> tuple[str, str] | None:
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    if outcome.code is None:
        return "hang", f"still running after {outcome.seconds:.0f} s"
    if outcome.code not in (0, 2) or "Traceback" in outcome.stderr:
        return "crash", f"exit {outcome.code}: {lines[-1] if lines else ''}"
    if outcome.code != expect_code:
        return "silent garbage", f"exit {outcome.code}, expected {expect_code}: {lines[-1] if lines else ''}"
    errors = [line for line in lines if ": error:" in line]
    if expect_code == 2 and len(errors) != 1:
        return "crash", f"{len(errors)} error lines"
    return None


def outside_failure(outside: list[str]) -> tuple[str, str] | None:
    return ("written outside", ", ".join(outside[:3])) if outside else None


def verdict(name: str, failure: tuple[str, str] | None) -> dict:
    if failure is None:
        return {"case": name, "outcome": "handled"}
    return {"case": name, "outcome": failure[0], "detail": failure[1]}
