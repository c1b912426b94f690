"""`avsl localize --checkpoint RUN INPUT -o OUTPUT`: where the sound is, drawn over a video (every
frame, with its own audio window) or over an image (with --audio FILE)."""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image, PngImagePlugin

from avsl.cli.common import (
    add_checkpoint_arguments,
    add_device_argument,
    add_layout_argument,
    add_output_argument,
    add_precision_argument,
    finite_float,
    positive_int,
    required_out,
)
from avsl.data.audio import load_audio_window
from avsl.data.frames import load_frame
from avsl.engine.devices import pick_device
from avsl.errors import AvslError
from avsl.files import atomic_write, refuse_overwriting_inputs, writable_dir
from avsl.inference.model import LocalizationModel
from avsl.inference.video_localize import AUDIO_HOP_S, OUTPUT_TAG, VideoRun, localize_video
from avsl.ops.overlay import overlay
from avsl.run import resolve_checkpoint

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# Containers that take the overlay's H.264 (or MPEG-4) video and AAC audio.
VIDEO_OUTPUT_SUFFIXES = (".mp4", ".mkv", ".mov", ".m4v", ".avi")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="a video (any container PyAV reads) or an image (with --audio)")
    add_output_argument(parser, "a video (.mp4, .mkv, .mov, .m4v, .avi) for a video input, a .png for an image",
                        old_name="--output")  # fmt: skip
    add_checkpoint_arguments(parser)
    parser.add_argument("--audio", type=Path, help="the sound: needed for an image, replaces a video's own")
    parser.add_argument(
        "--stride", type=positive_int, default=1, help="localize every k-th frame (others keep its map)"
    )
    parser.add_argument("--alpha", type=_fraction, default=0.5, help="heatmap opacity, 0-1")
    parser.add_argument("--min-confidence", type=finite_float,
                        help="show no heatmap where the map's maximum is below this (silent or unrelated sound)")  # fmt: skip
    parser.add_argument("--boxes", action="store_true", help="also draw the box of the map's hot region")
    parser.add_argument("--save-maps", type=Path, metavar="FILE.npz", help="also save the raw maps (and their times)")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="frames per model call")
    parser.add_argument("--audio-hop", type=float, default=AUDIO_HOP_S,
                        help="frames share the audio window centred on the nearest multiple of this many seconds "
                             "(0: each frame's own)")  # fmt: skip
    add_layout_argument(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output that avsl localize did not write")  # fmt: skip
    add_device_argument(parser)
    add_precision_argument(parser, "auto")


def run(args: argparse.Namespace) -> int:
    required_out(args)
    is_image = args.input.suffix.lower() in IMAGE_SUFFIXES
    _check_paths(args, is_image)
    model = LocalizationModel.from_checkpoint(args.checkpoint, pick_device(args.device), args.network, args.precision)
    if is_image:
        return _localize_image(model, args)
    video = localize_video(model, args.input, args.out, args.audio, args.stride, args.alpha, args.min_confidence,
                           args.boxes, args.batch_size, audio_hop=args.audio_hop, layout=args.layout)  # fmt: skip
    if args.save_maps is not None:
        _save_npz(args.save_maps, times=np.array(video.times, np.float64), logits=_stacked(video.logits),
                  confidence=np.array(video.confidences, np.float32))  # fmt: skip
    _report_video(video, args.out)
    return 0


def _check_paths(args: argparse.Namespace, is_image: bool) -> None:
    """Every user error before the model loads or a frame decodes."""
    if not args.input.is_file():
        raise AvslError(f"{args.input}: input not found")
    if is_image and args.audio is None:
        raise AvslError(f"{args.input}: an image needs its sound: --audio FILE")
    if args.audio is not None and not args.audio.is_file():
        raise AvslError(f"{args.audio}: audio file not found")
    if is_image and args.out.suffix.lower() != ".png":
        raise AvslError(f"{args.out}: the overlay of an image is written as .png")
    if not is_image and args.out.suffix.lower() not in VIDEO_OUTPUT_SUFFIXES:
        raise AvslError(f"{args.out}: the overlay of a video is a video: name it {', '.join(VIDEO_OUTPUT_SUFFIXES)}")
    if args.save_maps is not None and args.save_maps.suffix != ".npz":
        raise AvslError(f"{args.save_maps}: --save-maps needs a .npz file name")
    if not (math.isfinite(args.audio_hop) and args.audio_hop >= 0):
        raise AvslError(f"--audio-hop must be a number of seconds >= 0, got {args.audio_hop}")
    if not args.out.parent.is_dir():
        raise AvslError(f"{args.out.parent}: output folder not found")
    inputs = [args.input, args.audio, resolve_checkpoint(args.checkpoint)]
    outputs = [args.out, _maps_path(args, is_image)]
    for output in outputs:
        if output is not None:
            refuse_overwriting_inputs(output, inputs)
    if outputs[1] is not None and outputs[1].resolve() == args.out.resolve():
        raise AvslError(f"{args.out}: both the overlay and the maps would be written there")
    if not args.overwrite:
        _refuse_replacing_others(args.out)
    writable_dir(args.out.parent, "output folder")
    if args.save_maps is not None:
        writable_dir(args.save_maps.parent, "--save-maps folder")


def _maps_path(args: argparse.Namespace, is_image: bool) -> Path | None:
    """Where the raw maps go: --save-maps, or beside an image's overlay."""
    if args.save_maps is not None or not is_image:
        return args.save_maps
    return args.out.with_suffix(".npz")


def _refuse_replacing_others(output: Path) -> None:
    """An existing output is replaced only when this command wrote it (its metadata says so):
    anything else may be the user's own video or picture."""
    if output.exists() and not _written_by_localize(output):
        raise AvslError(f"{output}: exists and was not written by avsl localize (use --overwrite to replace it)")


def _written_by_localize(path: Path) -> bool:
    try:
        if path.suffix.lower() == ".png":
            with Image.open(path) as picture:
                return picture.info.get("Software") == OUTPUT_TAG
        with av.open(str(path), metadata_errors="ignore") as container:
            return any(value == OUTPUT_TAG for value in container.metadata.values())
    except (OSError, ValueError, av.error.FFmpegError):
        return False


def _localize_image(model: LocalizationModel, args: argparse.Namespace) -> int:
    picture = load_frame(args.input)
    window = torch.from_numpy(load_audio_window(args.audio, model.sample_rate, model.audio_seconds))
    found = model.localize_batch(model.prepare_image(picture)[None], window[None], [(picture.height, picture.width)])[0]
    shown = args.min_confidence is None or found.confidence >= args.min_confidence
    drawn = overlay(np.asarray(picture), found.heatmap if shown else None, args.alpha, args.boxes,
                    confidence=found.confidence, layout=args.layout)  # fmt: skip
    buffer = io.BytesIO()
    tags = PngImagePlugin.PngInfo()
    tags.add_text("Software", OUTPUT_TAG)
    Image.fromarray(drawn).save(buffer, format="PNG", pnginfo=tags)
    atomic_write(args.out, lambda stream: stream.write(buffer.getvalue()))
    maps = _maps_path(args, is_image=True)
    _save_npz(maps, logits=found.logits, heatmap=found.heatmap, confidence=np.float32(found.confidence))
    note = "" if shown else f" (below --min-confidence {args.min_confidence}: no heatmap drawn)"
    print(f"{args.out}: confidence {found.confidence:.3f}{note}; raw map in {maps}")
    return 0


def _save_npz(path: Path, **arrays) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(path, lambda stream: stream.write(buffer.getvalue()))


def _stacked(maps: list[np.ndarray]) -> np.ndarray:
    return np.stack(maps) if maps else np.zeros((0, 0, 0), np.float32)


def _report_video(video: VideoRun, output: Path) -> None:
    scores = np.array(video.confidences) if video.confidences else np.zeros(1)
    print(
        f"{output}: {video.frames} frames, {video.localized} localized, {video.shown} with a heatmap; "
        f"confidence min {scores.min():.3f} / median {np.median(scores):.3f} / max {scores.max():.3f}"
    )


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value
