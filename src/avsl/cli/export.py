"""`avsl export --checkpoint RUN -o model.onnx`: the localizer as ONNX (see avsl.inference.export)."""

from __future__ import annotations

import argparse

from avsl.cli.common import add_checkpoint_arguments, add_output_argument, required_out
from avsl.errors import AvslError
from avsl.files import refuse_overwriting_inputs, writable_dir
from avsl.inference.export import export_onnx
from avsl.inference.model import LocalizationModel
from avsl.run import resolve_checkpoint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    add_output_argument(parser, "the .onnx file to write", old_name="--onnx")
    parser.add_argument("--no-check", action="store_true", help="skip the onnxruntime-against-PyTorch check")


def run(args: argparse.Namespace) -> int:
    required_out(args)
    if args.out.suffix != ".onnx":
        raise AvslError(f"{args.out}: name the file .onnx")
    refuse_overwriting_inputs(args.out, [resolve_checkpoint(args.checkpoint)])
    writable_dir(args.out.parent, "output folder")
    model = LocalizationModel.from_checkpoint(args.checkpoint, "cpu", args.network, "fp32")
    report = export_onnx(model, args.out, check=not args.no_check)
    print(
        f"{report.path}: inputs image (batch, {', '.join(map(str, report.image_shape))}) float, ImageNet-normalised, "
        f"and waveform (batch, {report.waveform_length}) float at {model.sample_rate} Hz; "
        f"output map_logits (batch, {', '.join(map(str, report.map_shape))})"
    )
    print(
        "preprocessing (JSON in the file's metadata): " + ", ".join(f"{k}={v}" for k, v in report.preprocessing.items())
    )
    if report.max_abs_difference is not None:
        print(f"onnxruntime against PyTorch on a random batch of 3: max |difference| {report.max_abs_difference:.2e}")
    return 0
