"""`avsl eval`: score a predictor on a directory in the native layout.

Contract (reviewers' scripts rely on it): writes OUT/metrics.json (last, so its presence
means the run finished) and OUT/per_clip.csv with at least n, ap50,
ciou_mean, auc, ciou_by_size and threshold; OUT/report.html for people (unless --no-report);
with --save-maps an npz holding `maps` (N x 224 x 224 float32, min-max normalised) and `ids`
(and `raw_maps`, each at the model's resolution, which `--maps` scores to the same numbers).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

from avsl.cli.common import (
    add_checkpoint_arguments,
    add_decoding_arguments,
    add_device_argument,
    add_layout_argument,
    add_output_argument,
    add_precision_argument,
    existing_dir,
    percent,
    positive_int,
)
from avsl.constants import EVAL_SIZE
from avsl.data.benchmarks import BENCHMARKS
from avsl.data.formats import FORMATS
from avsl.engine.devices import pick_device
from avsl.errors import AvslError
from avsl.evaluation.evaluate import EvalResult
from avsl.evaluation.folder import FolderEval, evaluate_folder, score_folder
from avsl.evaluation.maps_file import MISSING_RULES, MapsFile, open_maps_folder
from avsl.evaluation.output import write_evaluation
from avsl.evaluation.records import METRICS_FILE, PER_CLIP_FILE
from avsl.files import atomic_write, nan_to_none, writable_dir
from avsl.inference.choose import BASELINES, make_predictor


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="the dataset's folder (see --format)")
    parser.add_argument("--format", choices=FORMATS,
                        help="layout: native (frames/, audio/, annotations.json or vggss.json) or flickr "
                             "(Annotations/*.xml with frames/ + audio/ or Data/*/) (default: auto-detected)")  # fmt: skip
    parser.add_argument("--benchmark", choices=sorted(BENCHMARKS),
                        help="a public test set: its packaged list, gt rule and (VGG-SS) boxes")  # fmt: skip
    parser.add_argument("--split", help="clips to evaluate: a list file, a packaged list's name, or "
                        "dmt-test|dmt-val|dmt-train (default: the benchmark's list, else every frame)")  # fmt: skip
    parser.add_argument("--annotations", type=Path, help="box file to use instead of the folder's own")
    source = parser.add_mutually_exclusive_group(required=True)
    add_checkpoint_arguments(parser, target=source, required=False)
    source.add_argument(
        "--predictor",
        choices=sorted(BASELINES),
        help="a fixed baseline (box: the ground truth itself, each score's cap)",
    )
    source.add_argument("--maps", type=Path, metavar="FILE",
                        help="score maps made elsewhere: an .npz with ids and maps (any size; --save-maps "
                             "writes one), or a folder of <id>.npy")  # fmt: skip
    parser.add_argument("--missing", choices=MISSING_RULES,
                        help="with --maps, listed clips without a map: zero (an all-zero map, the whole frame "
                             "on) or skip (default: refuse, with their count)")  # fmt: skip
    parser.add_argument(
        "--threshold",
        choices=("median", "fixed", "adaptive"),
        default="median",
        help="binarisation reported on top (both are in metrics.json)",
    )
    parser.add_argument(
        "--gt-rule",
        choices=("union", "consensus"),
        help="union of boxes (VGG-SS) or annotator consensus (Flickr-SoundNet); default: the layout's",
    )
    parser.add_argument(
        "--bad-boxes",
        choices=("skip", "clip"),
        default="skip",
        help="skip clips with invalid boxes, or clip boxes to [0, 1] as the peers do",
    )
    parser.add_argument("--ogl", metavar="WEIGHTS", help="EZ-VSL's object-guided localization: blend with an "
                        "ImageNet ResNet-18's objectness (a local state dict file, or 'imagenet')")  # fmt: skip
    parser.add_argument("--save-maps", type=Path, metavar="FILE.npz", help="also save the maps")
    add_output_argument(parser, "output folder: metrics.json, per_clip.csv, report.html")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad clip")
    parser.add_argument("--no-report", action="store_true", help="skip OUT/report.html (plots, best/worst clips)")
    add_layout_argument(parser)
    parser.add_argument("--json", action="store_true", help="print metrics.json's content instead of the summary")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="clips per model call")
    add_decoding_arguments(parser)
    add_device_argument(parser)
    add_precision_argument(parser, "fp32")


def run(args: argparse.Namespace) -> int:
    if args.missing is not None and args.maps is None:
        raise AvslError("--missing goes with --maps")
    if args.save_maps is not None and args.save_maps.suffix != ".npz":
        raise AvslError(f"{args.save_maps}: --save-maps needs a .npz file name")
    existing_dir(args.data, "data directory")  # before --out is made: a mistyped --data leaves nothing behind
    writable_dir(args.out)
    if args.save_maps is not None:
        writable_dir(args.save_maps.parent, "--save-maps folder")
    (args.out / METRICS_FILE).unlink(missing_ok=True)  # its presence must mean this run finished
    device = pick_device(args.device)
    options = FolderEval(
        split=args.split, benchmark=args.benchmark, annotations=args.annotations, format=args.format or "auto",
        gt_rule=args.gt_rule, bad_boxes=args.bad_boxes, threshold=args.threshold, strict=args.strict,
        batch_size=args.batch_size, workers=args.workers, image_size=args.image_size,
        audio_seconds=args.audio_seconds, max_pixels=args.max_pixels, keep_maps=args.save_maps is not None,
    )  # fmt: skip
    if args.maps is not None:
        predictor = MapsFile(args.maps)
        outcome = score_folder(predictor, open_maps_folder(predictor, args.data, options, args.missing), device)
    else:
        predictor = make_predictor(args.checkpoint, args.predictor, device, args.network, args.ogl, args.precision)
        outcome = evaluate_folder(predictor, args.data, options, device)
    metrics, result = outcome.metrics, outcome.result
    if args.save_maps is not None:
        _save_maps(args.save_maps, result)
    report = write_evaluation(args.out, outcome, predictor, device, not args.no_report, args.layout)
    _summary(metrics, args.out, report, args.json)
    return 0


def _save_maps(path: Path, result: EvalResult) -> None:
    """`maps` (224 x 224, min-max normalised), `ids`, and `raw_maps` (each map at the model's
    own resolution, before upsampling and normalising) when all share one size."""
    maps = np.concatenate(result.maps) if result.maps else np.zeros((0, EVAL_SIZE, EVAL_SIZE), np.float32)
    arrays = {"maps": maps, "ids": np.array(result.map_ids, dtype=str)}
    if result.native_maps and len({m.shape[1:] for m in result.native_maps}) == 1:
        arrays["raw_maps"] = np.concatenate(result.native_maps).astype(np.float32)

    def write(stream) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        stream.write(buffer.getvalue())

    atomic_write(path, write)


def _summary(metrics: dict, out: Path, report: Path | None, as_json: bool) -> None:
    """A short summary for a person (the numbers in %), or metrics.json's content with --json."""
    if as_json:
        print(json.dumps(nan_to_none(metrics), indent=2))
    else:
        rules = metrics["by_threshold"]
        print(
            f"AP50 {percent(metrics['ap50'])} ({metrics['threshold']} rule); by rule: median "
            f"{percent(rules['median']['ap50'])}, adaptive {percent(rules['adaptive']['ap50'])}, fixed "
            f"{percent(rules['fixed']['ap50'])}; mean cIoU {metrics['ciou_mean']:.3f}, AUC {metrics['auc']:.3f}\n"
            f"n={metrics['n']} scored clips, gt={metrics['gt_rule']}; test list: {metrics['test_list']}\n"
            f"-> {out / METRICS_FILE}, {out / PER_CLIP_FILE}" + ("" if report is None else f", {report}")
        )
    skipped = metrics["skipped"]
    if skipped["count"]:
        print(f"skipped {skipped['count']} bad clip(s):", file=sys.stderr)
        for item in skipped["items"]:
            print(f"  {item['id']}: {item['reason']}", file=sys.stderr)
