"""Progress that shows wherever a command runs: tqdm's bar on a terminal or in a notebook, and
plain lines (every tenth of the work, or every epoch) when stderr goes to a file or a pipe,
where a bar would print nothing useful until the end."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm.auto import tqdm

LINES = 10  # plain lines over the whole run: one per 10 %
# Work done sooner than this prints no plain line (as tqdm's `delay`): a log of a short command
# keeps only its result, and a failed one its error line.
DELAY_S = 1.0


class PlainProgress:
    """The part of tqdm's interface the commands use, written as one line per mark:
    `desc: 40% (step 120 of 300, 1m12s elapsed, ~1m48s left, loss=0.312)`."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str,
        initial: int = 0,
        marks: int = LINES,
        stream: TextIO | None = None,
        delay: float = DELAY_S,
    ) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.start_n = initial
        self.marks = max(1, marks)
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.postfix = ""
        self.delay = delay
        self.shown = self._mark(initial)
        self.closed = False

    def _mark(self, n: int) -> int:
        return n * self.marks // self.total if self.total else 0

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.total and self._mark(self.n) > self.shown:
            self.shown = self._mark(self.n)
            self._line()

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if not self.closed and (not self.total or self.n < self.total) and self.n > self.start_n:
            self._line()  # the end of a run that stopped early (or had no total)
        self.closed = True

    def _line(self) -> None:
        elapsed = time.perf_counter() - self.started
        if elapsed < self.delay:
            return
        done = self.n - self.start_n
        count = f"{self.unit} {self.n} of {self.total}" if self.total else f"{self.unit} {self.n}"
        parts = [count, f"{_clock(elapsed)} elapsed"]
        if self.total and done > 0 and self.n < self.total:
            parts.append(f"~{_clock(elapsed / done * (self.total - self.n))} left")
        if self.postfix:
            parts.append(self.postfix)
        share = f"{100 * self.n // self.total}% " if self.total else ""
        print(f"{self.desc}: {share}({', '.join(parts)})", file=self.stream, flush=True)

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, kind, *exc) -> None:
        if kind is None:
            self.close()
        self.closed = True  # a failed run ends with its error line alone


def progress(
    total: int | None,
    desc: str,
    unit: str,
    enabled: bool | None = None,
    initial: int = 0,
    marks: int = LINES,
    unit_scale: bool = False,
):
    """A progress display for `total` units: `enabled` None shows a bar on a terminal or in a
    notebook and `marks` plain lines otherwise; False shows nothing; True always a bar.
    `unit_scale` shows large counts with k / M / G prefixes on the bar (bytes)."""
    if enabled is False:
        return tqdm(total=total, disable=True)
    if enabled is None and not (sys.stderr.isatty() or "ipykernel" in sys.modules):
        return PlainProgress(total, desc, unit, initial, marks)
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, unit_scale=unit_scale)


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"
