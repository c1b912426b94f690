"""The result tables on a synthetic preset: the methods comparison and the studies of DMT
(its ablations, the LVS localizer, a long schedule). Results are appended row by row, so an
interrupted suite resumes where it stopped and never loses a finished row."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from avsl.configs import config_overrides, config_path
from avsl.data.synth.presets import get_preset
from avsl.data.synth.writer import GENERATOR_VERSION, ensure_benchmark
from avsl.errors import AvslError
from avsl.experiments import drift
from avsl.experiments.runner import Row, baseline_rows, markdown_table, run_row
from avsl.files import atomic_write, write_json
from avsl.methods.recipes import RECIPES

Plan = tuple[tuple[float, tuple[int, ...]], ...]  # (labelled fraction, seeds) in order
CLAIM_FILE = "suite.claim"  # in a row's run folder while a suite runs it: the process id


@dataclass(frozen=True)
class Study:
    """A table: its rows at one labelled fraction, the fractions and seeds it runs, and the
    synthetic preset and config changes that all its rows share."""

    rows: Callable[[float], list[Row]]
    plan: Plan
    table: str  # results/<table>.{json,md}; another preset than its own gets a `_<preset>` suffix
    # what is made from the finished rows beside the table: (rows, data root, table path, device)
    finish: Callable[[list[dict], Path, Path, torch.device], dict] | None = None
    preset: str = "bench"
    overrides: tuple[str, ...] = ()
    reference: str | None = None  # the row every other is held against, with intervals


TABLES_DIR = Path(__file__).resolve().parent / "tables"


def load_study(path: Path) -> Study:
    """A study from its table file (tables/<suite>.yaml: the rows, plan, preset and what they share)."""
    spec = yaml.safe_load(path.read_text())
    items = [dict(item) for item in spec["rows"]]

    def rows(fraction: float) -> list[Row]:
        return [*baseline_rows(), *(_row(item, fraction) for item in items)]

    plan = tuple((float(fraction), tuple(seeds)) for fraction, seeds in spec["plan"].items())
    shared = config_overrides(spec["config"]) if "config" in spec else ()
    finish = drift.write_curves if spec.get("curves") else None
    return Study(rows, plan, spec["table"], finish, spec.get("preset", "bench"), shared, spec.get("reference"))


def _row(item: dict, fraction: float) -> Row:
    """A table file's row: the plan's fraction for a method that uses boxes, unless it gives one."""
    method = item["method"]
    default = fraction if RECIPES[method].needs_boxes else 1.0
    return Row(item["name"], method, float(item.get("fraction", default)), tuple(item.get("overrides", ())))


STUDIES = {path.stem: load_study(path) for path in sorted(TABLES_DIR.glob("*.yaml"))}


def run(
    preset_name: str | None = None,
    work_dir: Path | None = None,
    results_dir: Path = Path("results"),
    plan: Plan | None = None,
    device: torch.device | None = None,
    study: str = "methods",
) -> dict:
    """A study on its own preset writes `results/<table>.{json,md}`, on another preset
    `results/<table>_<preset>.{json,md}`; the runs go to `runs/bench[_<preset>]/` (no suffix
    for `bench`), so studies on one preset share its benchmark."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    chosen = STUDIES[study]
    plan = plan or chosen.plan
    preset_name = preset_name or chosen.preset
    preset = get_preset(preset_name)
    suffix = "" if preset_name == chosen.preset else f"_{preset_name}"
    work_dir = work_dir or Path("runs/bench" + ("" if preset_name == "bench" else f"_{preset_name}"))
    data_root = work_dir / "data"
    ensure_benchmark(data_root, preset_name)
    results_path = results_dir / f"{chosen.table}{suffix}.json"
    made: dict = {}
    for fraction, seeds in plan:
        for seed in seeds:
            for row in chosen.rows(fraction):
                if row.fraction_free and fraction != plan[0][0]:
                    continue  # fraction-free rows are measured once per seed, with the main fraction
                finished = {(r["name"], r["labeled_fraction"], r["seed"]) for r in finished_rows(results_path)}
                if (row.name, row.reported_fraction, seed) in finished:
                    continue  # read again each time: a suite in another process may have finished it
                run_dir = work_dir / "runs" / f"{fraction:g}" / _folder_name(row.name) / f"seed{seed}"
                with claimed(run_dir) as ours:
                    if not ours:
                        print(f"== {row.name} (labels {fraction:.0%}, seed {seed}): another process runs it ==")
                        continue
                    print(f"== {row.name} (labels {fraction:.0%}, seed {seed}) ==", flush=True)
                    result = run_row(row, data_root, run_dir, config_path("bench"), seed, device,
                                     preset.image_size, preset.audio_seconds, chosen.overrides)  # fmt: skip
                    rows = [*finished_rows(results_path), {**result, "generator_version": GENERATOR_VERSION}]
                    write_json(results_path, rows)
                table = markdown_table(rows, chosen.reference)
                atomic_write(results_path.with_suffix(".md"), lambda stream, t=table: stream.write(t.encode()))
                if chosen.finish:  # after every row, so that a suite stopped later still has them
                    made = chosen.finish(rows, data_root, results_path, device)
    rows = finished_rows(results_path)
    if chosen.finish and not made:
        made = chosen.finish(rows, data_root, results_path, device)
    return {"rows": len(rows), "results": str(results_path), **made}


@contextmanager
def claimed(run_dir: Path) -> Iterator[bool]:
    """Whether this process may run the row of `run_dir`: suites started side by side on one
    machine share out a table's rows instead of training one twice. A claim left by a process
    that has died is taken over (its run resumes from its last checkpoint)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CLAIM_FILE
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        if _claim_holder_alive(path):
            yield False
            return
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(str(os.getpid()))
    try:
        yield True
    finally:
        path.unlink(missing_ok=True)


def _claim_holder_alive(path: Path) -> bool:
    try:
        os.kill(int(path.read_text()), 0)
    except ProcessLookupError:
        return False
    except ValueError:  # not written yet, or cut short: young means being written
        return time.time() - path.stat().st_mtime < 60
    except PermissionError:
        return True  # another user's live process
    return True


def _folder_name(row_name: str) -> str:
    """A row's run folder: its name with each run of other characters than letters, digits and
    `-` made one `_`."""
    return re.sub(r"[^A-Za-z0-9-]+", "_", row_name).strip("_")


def finished_rows(results_path: Path) -> list[dict]:
    """The rows a resumed suite keeps; rows measured on another version of the benchmark would
    make a table of incomparable numbers, so they stop the suite instead."""
    rows: list[dict] = json.loads(results_path.read_text()) if results_path.exists() else []
    versions = {str(row.get("generator_version", "unrecorded")) for row in rows} - {GENERATOR_VERSION}
    if versions:
        raise AvslError(
            f"{results_path} holds rows of benchmark version {', '.join(sorted(versions))}, not "
            f"{GENERATOR_VERSION}; move it away to start a new table"
        )
    return rows
