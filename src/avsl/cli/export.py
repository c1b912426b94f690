"""`avsl export --checkpoint RUN --onnx model.onnx`: the localizer as ONNX (see avsl.inference.export)."""

from __future__ import annotations

import argparse
from pathlib import Path

from avsl.errors import AvslError
from avsl.files import refuse_overwriting_inputs, writable_dir
from avsl.inference.export import export_onnx
from avsl.inference.model import LocalizationModel
from avsl.run import resolve_checkpoint


def add_parser(commands) -> None:
    parser = commands.add_parser("export", help="export a trained localizer as ONNX (needs avsl[onnx])")
    parser.add_argument("--checkpoint", type=Path, required=True, help="a run folder or checkpoint file")
    parser.add_argument("--onnx", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--network", help="which network of the checkpoint (default: its inference one)")
    parser.add_argument("--no-check", action="store_true", help="skip the onnxruntime-against-PyTorch check")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.onnx.suffix != ".onnx":
        raise AvslError(f"{args.onnx}: name the file .onnx")
    refuse_overwriting_inputs(args.onnx, [resolve_checkpoint(args.checkpoint)])
    writable_dir(args.onnx.parent, "output folder")
    model = LocalizationModel.from_checkpoint(args.checkpoint, "cpu", args.network)
    report = export_onnx(model, args.onnx, check=not args.no_check)
    print(
        f"{report.path}: inputs image (batch, {', '.join(map(str, report.image_shape))}) float, ImageNet-normalised, "
        f"and waveform (batch, {report.waveform_length}) float at {model.sample_rate} Hz; "
        f"output map_logits (batch, {', '.join(map(str, report.map_shape))})"
    )
    if report.max_abs_difference is not None:
        print(f"onnxruntime against PyTorch on a random batch of 3: max |difference| {report.max_abs_difference:.2e}")
    return 0
