"""`avsl synth OUT --preset NAME`: write the synthetic benchmark in the native layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from avsl.cli.common import non_negative_int, positive_int
from avsl.data.synth.presets import PRESETS, get_preset
from avsl.data.synth.writer import generate
from avsl.progress import progress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="output directory (gets train/, val/, test/, MANIFEST.json)")
    parser.add_argument("--preset", required=True, help=f"one of {', '.join(PRESETS)}")
    parser.add_argument("--num-train", type=non_negative_int, help="training clips (default: the preset's)")
    parser.add_argument("--num-val", type=non_negative_int, help="validation clips (default: the preset's)")
    parser.add_argument("--num-test", type=non_negative_int, help="test clips (default: the preset's)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="the benchmark is a pure function of it")
    parser.add_argument("--workers", type=positive_int, help="processes (default: all cores)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing benchmark in OUT")


def run(args: argparse.Namespace) -> int:
    preset = get_preset(args.preset).with_counts(args.num_train, args.num_val, args.num_test)
    total = preset.num_train + preset.num_val + preset.num_test
    with progress(total, f"synth {preset.name}", "clip") as bar:
        manifest = generate(args.out, preset, seed=args.seed, overwrite=args.overwrite,
                            workers=args.workers, progress=bar.update)  # fmt: skip
    counts = ", ".join(f"{k} {v}" for k, v in manifest["counts"].items())
    print(f"wrote {counts} clips ({preset.image_size} px, {preset.audio_seconds} s) to {args.out}")
    return 0
