"""Argument types and helpers shared by the subcommand modules."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path

from avsl.constants import MAX_FRAME_PIXELS, PRECISIONS
from avsl.data.formats import FORMATS
from avsl.errors import AvslError
from avsl.zoo import fetch_checkpoint, is_remote

# The one vocabulary of the command line: these groups are shared by the commands that take
# them, so a concept has one name, one type and one help line everywhere.


def _number(name: str, kind: type, accepted: Callable[[float], bool], wanted: str) -> Callable[[str], float]:
    """An argparse type: `kind(text)` when `accepted`, else one line saying what is wanted. The
    float checks refuse nan and inf, which compare false with everything."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a whole number' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if not accepted(value):
            raise argparse.ArgumentTypeError(f"must {wanted}, got {text}")
        return value

    parse.__name__ = name
    return parse


positive_int = _number("positive_int", int, lambda value: value > 0, "be positive")
non_negative_int = _number("non_negative_int", int, lambda value: value >= 0, "not be negative")
positive_float = _number("positive_float", float, lambda v: math.isfinite(v) and v > 0, "be a finite number above 0")
finite_float = _number("finite_float", float, math.isfinite, "be a finite number")


def percent(value: float | None) -> str:
    """A score in [0, 1] as a person reads it ("84.1 %"); n/a when it was not measured."""
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.1f} %"


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda:N")


def add_precision_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """`--precision`: `default` is fp32 where the numbers are kept (scores, saved maps), auto
    where they are looked at (overlays)."""
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=default,
        help="model arithmetic: auto (bf16 where the GPU or CPU multiplies in it, else fp32), fp32 or bf16",
    )


def add_checkpoint_arguments(parser: argparse.ArgumentParser, target=None, required: bool = True) -> None:
    """--checkpoint (in `target`, e.g. a mutually exclusive group) and --network."""
    (target or parser).add_argument(
        "--checkpoint", type=checkpoint_source, required=required,
        help="a run folder (its best checkpoint) or a checkpoint file (avsl's, or EZ-VSL's / SLAVC's best.pth), "
             "an http(s) URL or hf://owner/repo/file (fetched once into $AVSL_HOME), or a name from avsl models",
    )  # fmt: skip
    parser.add_argument("--sha256", type=sha256_hex, metavar="HEX",
                        help="refuse the checkpoint file unless its SHA-256 is this")  # fmt: skip
    parser.add_argument("--network", help="which network of the checkpoint (default: its inference one, teacher A "
                        "for DMT)")  # fmt: skip


def sha256_hex(text: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a SHA-256 (64 hexadecimal digits)")
    return text.lower()


def checkpoint_source(text: str) -> str | Path:
    """--checkpoint's value: a Path, or the text itself when it names something to fetch (a
    URL's `//` would not survive being a Path). `fetch_checkpoint_argument` makes it local."""
    return text if is_remote(text) else Path(text)


def fetch_checkpoint_argument(args: argparse.Namespace) -> None:
    """Turn a command's --checkpoint into a local path before the command runs: fetched (with
    progress) and checked against --sha256, so every command sees a file on disk."""
    given = getattr(args, "checkpoint", None)
    if isinstance(given, list):  # `avsl app` takes several
        args.checkpoint = [fetch_checkpoint(source) for source in given]
    elif given is not None:
        args.checkpoint = fetch_checkpoint(given, getattr(args, "sha256", None))


def add_output_argument(
    parser: argparse.ArgumentParser, help: str, old_name: str | None = None, required: bool = True, default=None
) -> None:
    """-o/--out: where a command writes. `old_name` is an earlier spelling, still accepted but
    not shown (one release); with it, the command checks the option is given (`required_out`)."""
    parser.add_argument("-o", "--out", type=Path, required=required and old_name is None, default=default, help=help)
    if old_name is not None:
        parser.add_argument(old_name, dest="out", type=Path, help=argparse.SUPPRESS)


def required_out(args: argparse.Namespace) -> Path:
    if args.out is None:
        raise AvslError("the following argument is required: -o/--out")
    return args.out


def add_layout_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layout", choices=("overlay", "side-by-side"), default="overlay",
                        help="the heatmap over the frame, or three panels: frame | map | overlay")  # fmt: skip


def add_decoding_arguments(parser: argparse.ArgumentParser, sizes: bool = True) -> None:
    """--workers and --max-pixels (and the model's input sizes): how clips are decoded."""
    parser.add_argument("--workers", type=non_negative_int, default=2, help="decoding processes (0: this one)")
    parser.add_argument("--max-pixels", type=positive_int, default=MAX_FRAME_PIXELS,
                        help="skip frames (or videos) whose header claims more pixels")  # fmt: skip
    if sizes:
        parser.add_argument("--image-size", type=positive_int,
                            help="model input side (default: the model's, else the folder's avsl.json, else 224)")  # fmt: skip
        parser.add_argument("--audio-seconds", type=positive_float,
                            help="audio window (default: the model's, else the folder's avsl.json, else 3)")  # fmt: skip


def existing_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise AvslError(f"{path}: {what} not found")
    return path


def add_selection_arguments(parser: argparse.ArgumentParser, labeled_help: str) -> None:
    """--format, --split, --labeled and --annotations: which clips of a folder a command reads
    (avsl.data.selection.Selection)."""
    parser.add_argument("--format", choices=FORMATS, help="layout of the data (default: auto-detected)")
    parser.add_argument(
        "--split",
        action="append",
        metavar="LIST",
        help="training clips: a list file or packaged name, e.g. vggss_144k (repeatable; default all)",
    )
    parser.add_argument("--labeled", metavar="LIST", help=labeled_help)
    parser.add_argument("--annotations", help="box file instead of the folder's own ('vggss': the packaged one)")  # fmt: skip
