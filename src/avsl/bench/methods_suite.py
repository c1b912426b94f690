"""The comparison table: every method on the `bench` synthetic preset, several seeds and
labelled fractions; results are appended row by row, so an interrupted suite resumes where it
stopped and never loses a finished row."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from avsl.bench.experiments import markdown_table, run_row, table_rows
from avsl.configs import config_path
from avsl.data.synth.presets import get_preset
from avsl.data.synth.writer import GENERATOR_VERSION, generate
from avsl.errors import AvslError
from avsl.files import atomic_write, write_json

# ISSUE #5: 3 % labels over 3 seeds, 1 % and 10 % with one seed.
DEFAULT_PLAN = ((0.03, (0, 1, 2)), (0.01, (0,)), (0.10, (0,)))


def ensure_benchmark(root: Path, preset_name: str, seed: int = 0) -> bool:
    """Make the benchmark in `root` unless a complete one of this generator, preset and seed is
    there already; returns whether it was reused."""
    preset = get_preset(preset_name)
    manifest = root / "MANIFEST.json"
    if manifest.exists():
        made = json.loads(manifest.read_text())
        same_preset = made.get("preset") == json.loads(json.dumps(preset.as_dict()))
        if same_preset and made.get("seed") == seed and made.get("generator_version") == GENERATOR_VERSION:
            return True
    generate(root, preset, seed=seed, overwrite=True)
    return False


def run(
    preset_name: str = "bench",
    work_dir: Path | None = None,
    results_dir: Path = Path("results"),
    plan: tuple[tuple[float, tuple[int, ...]], ...] = DEFAULT_PLAN,
    device: torch.device | None = None,
) -> dict:
    """The `bench` preset's table is `results/methods.{json,md}`; another preset's is
    `results/methods_<preset>.{json,md}`, made in `runs/bench_<preset>`."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    preset = get_preset(preset_name)
    suffix = "" if preset_name == "bench" else f"_{preset_name}"
    work_dir = work_dir or Path(f"runs/bench{suffix}")
    data_root = work_dir / "data"
    ensure_benchmark(data_root, preset_name)
    results_path = results_dir / f"methods{suffix}.json"
    rows = _finished_rows(results_path)
    done = {(r["name"], r["labeled_fraction"], r["seed"]) for r in rows}
    for fraction, seeds in plan:
        for seed in seeds:
            for row in table_rows(fraction):
                if row.method in (None, "selfsup") or row.fraction == 1.0:
                    if fraction != plan[0][0]:
                        continue  # fraction-free rows are measured once per seed, with the main fraction
                key_fraction = row.fraction if row.method not in (None, "selfsup") else None
                if (row.name, key_fraction, seed) in done:
                    continue
                run_dir = work_dir / "runs" / f"{fraction:g}" / row.name.replace(" ", "_") / f"seed{seed}"
                print(f"== {row.name} (labels {fraction:.0%}, seed {seed}) ==", flush=True)
                result = run_row(row, data_root, run_dir, config_path("bench"), seed, device,
                                 preset.image_size, preset.audio_seconds)  # fmt: skip
                rows.append({**result, "generator_version": GENERATOR_VERSION})
                done.add((row.name, key_fraction, seed))
                write_json(results_path, rows)
                table = markdown_table(rows)
                atomic_write(results_path.with_suffix(".md"), lambda stream, t=table: stream.write(t.encode()))
    return {"rows": len(rows), "results": str(results_path)}


def _finished_rows(results_path: Path) -> list[dict]:
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
