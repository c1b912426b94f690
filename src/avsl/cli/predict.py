"""`avsl predict --checkpoint RUN FOLDER -o OUT`: where the sound is in every clip of a folder
without boxes (see avsl.inference.predict)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from avsl.cli.common import (
    add_checkpoint_arguments,
    add_decoding_arguments,
    add_device_argument,
    add_output_argument,
    add_precision_argument,
    positive_int,
)
from avsl.engine.devices import pick_device
from avsl.errors import AvslError
from avsl.files import refuse_overwriting_inputs, writable_dir
from avsl.inference.model import LocalizationModel
from avsl.inference.predict import MAPS_FILE, PREDICTIONS_FILE, SKIPPED_FILE, predict_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="a layout (frames/ + audio/) or a folder of videos, no boxes needed")
    add_checkpoint_arguments(parser)
    add_output_argument(parser, f"output folder: {PREDICTIONS_FILE}, {MAPS_FILE} (and overlays/)")
    parser.add_argument("--overlays", action="store_true", help="also draw each clip's heatmap: OUT/overlays/<id>.png")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="clips per model call")
    add_decoding_arguments(parser, sizes=False)
    add_device_argument(parser)
    add_precision_argument(parser, "fp32")


def run(args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        raise AvslError(f"{args.folder}: folder not found")
    refuse_overwriting_inputs(args.out, [args.folder])
    model = LocalizationModel.from_checkpoint(args.checkpoint, pick_device(args.device), args.network, args.precision)
    writable_dir(args.out)
    outcome = predict_folder(model, args.folder, args.out, args.overlays, args.batch_size, args.workers,
                             args.max_pixels)  # fmt: skip
    print(f"{len(outcome.rows)} clips -> {args.out / PREDICTIONS_FILE}, {args.out / MAPS_FILE}"
          + (f", {args.out / 'overlays'}/" if args.overlays else ""))  # fmt: skip
    if outcome.skipped:
        print(f"skipped {len(outcome.skipped)} clip(s) (all in {args.out / SKIPPED_FILE}):", file=sys.stderr)
        for item in outcome.skipped[:20]:
            print(f"  {item.id}: {item.reason}", file=sys.stderr)
    return 0
