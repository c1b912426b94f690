"""`avsl eval`: score a predictor on a directory in the native layout.

Contract (reviewers' scripts rely on it): writes OUT/metrics.json (last, so its presence
means the run finished) and OUT/per_clip.csv with at least n, ap50,
ciou_mean, auc, ciou_by_size and threshold; with --save-maps an npz holding `maps`
(N x 224 x 224 float32, min-max normalised) and `ids`.
"""

from __future__ import annotations

import argparse
import io
import sys
import warnings
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from avsl.cli.common import (
    add_device_argument,
    existing_dir,
    non_negative_int,
    pick_device,
    positive_float,
    positive_int,
)
from avsl.constants import AUDIO_SECONDS, EVAL_SIZE, MAX_FRAME_PIXELS, SAMPLE_RATE
from avsl.data.benchmarks import BENCHMARKS, choose_test_set
from avsl.data.dataset import AVDataset, collate_samples
from avsl.data.formats import FORMATS
from avsl.data.layout import read_layout_defaults
from avsl.engine.evaluate import EvalResult, evaluate
from avsl.errors import AvslError
from avsl.files import atomic_write, writable_dir, write_json
from avsl.inference.checkpoint_predictor import CheckpointPredictor
from avsl.inference.predictors import CenterPredictor

PREDICTORS = {"center": CenterPredictor}
METRICS_FILE = "metrics.json"


def add_parser(commands) -> None:
    parser = commands.add_parser("eval", help="evaluate a checkpoint or a baseline predictor")
    parser.add_argument("--data", type=Path, required=True, help="the dataset's folder (see --format)")
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="layout: native (frames/, audio/, annotations.json or vggss.json) or flickr "
                             "(Annotations/*.xml with frames/ + audio/ or Data/*/); auto detects it")  # fmt: skip
    parser.add_argument("--benchmark", choices=sorted(BENCHMARKS),
                        help="a public test set: its packaged list, gt rule and (VGG-SS) boxes")  # fmt: skip
    parser.add_argument("--split", help="clips to evaluate: a list file, a packaged list's name, or "
                        "dmt-test|dmt-val|dmt-train (default: the benchmark's list, else every frame)")  # fmt: skip
    parser.add_argument("--annotations", type=Path, help="box file to use instead of the folder's own")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="a run directory or checkpoint file")
    source.add_argument("--predictor", choices=sorted(PREDICTORS), help="a fixed baseline predictor")
    parser.add_argument(
        "--threshold",
        choices=("median", "fixed"),
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
    parser.add_argument("--network", help="which network of the checkpoint (default: its inference one)")
    parser.add_argument("--save-maps", type=Path, metavar="FILE.npz", help="also save the maps")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad clip")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--workers", type=non_negative_int, default=2, help="data-loading processes")
    parser.add_argument(
        "--image-size",
        type=positive_int,
        help="model input size (default: DIR/avsl.json's, else 224)",
    )
    parser.add_argument("--audio-seconds", type=positive_float, help="audio window (default: DIR/avsl.json's, else 3)")
    parser.add_argument("--max-pixels", type=positive_int, default=MAX_FRAME_PIXELS,
                        help="skip frames whose header claims more pixels (default: %(default)s)")  # fmt: skip
    add_device_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.save_maps is not None and args.save_maps.suffix != ".npz":
        raise AvslError(f"{args.save_maps}: --save-maps needs a .npz file name")
    writable_dir(args.out)
    if args.save_maps is not None:
        writable_dir(args.save_maps.parent, "--save-maps folder")
    (args.out / METRICS_FILE).unlink(missing_ok=True)  # its presence must mean this run finished
    device = pick_device(args.device)
    if args.checkpoint is not None:
        predictor = CheckpointPredictor(args.checkpoint, device, args.network)
        image_size, audio_seconds = predictor.image_size, predictor.audio_seconds
        sample_rate = predictor.sample_rate
    else:
        predictor = PREDICTORS[args.predictor]()
        image_size, audio_seconds, sample_rate = None, None, None
    layout = read_layout_defaults(existing_dir(args.data, "data directory"))
    test_set = choose_test_set(args.data, args.benchmark, args.split, args.annotations, args.format)
    dataset = AVDataset(
        args.data,
        args.image_size or image_size or layout.get("image_size", EVAL_SIZE),
        sample_rate or layout.get("sample_rate", SAMPLE_RATE),
        args.audio_seconds or audio_seconds or layout.get("audio_seconds", AUDIO_SECONDS),
        split=test_set.lists or None,
        box_policy=args.bad_boxes,
        max_pixels=args.max_pixels,
        format=args.format,
        annotation_file=test_set.annotation_file,
    )
    gt_rule = args.gt_rule or test_set.gt_rule or dataset.layout.gt_rule
    _check_entries(dataset, args.strict)
    if not dataset.labeled_ids:
        raise AvslError(f"{args.data}: no listed clip has boxes ({dataset.layout.annotation_source}); nothing to score")
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers, collate_fn=collate_samples)
    result = evaluate(
        predictor,
        loader,
        rule=gt_rule,
        keep_maps=args.save_maps is not None,
        strict=args.strict,
        device=device,
    )
    result.skipped[:0] = dataset.rejected
    if not result.scored:
        first = result.skipped[0].reason if result.skipped else "none was annotated"
        raise AvslError(f"{args.data}: no clip could be scored ({len(result.skipped)} skipped; first: {first})")
    metrics = result.metrics(args.threshold)
    metrics.update(
        data=str(args.data),
        format=dataset.layout.format,
        test_list=test_set.describe(len(dataset.listed.ids)),
        annotations=str(dataset.layout.annotation_source),
        predictor=predictor.name,
        gt_rule=gt_rule,
        bad_boxes=args.bad_boxes,
        clipped_boxes=dataset.annotations.clipped,
        duplicate_ids=dataset.duplicates,
        median_rule="pixels >= the map's value at sorted position S*S//2 (EZ-VSL)",
    )
    if args.save_maps is not None:
        _save_maps(args.save_maps, result)
    per_clip = result.per_clip_csv().encode()
    atomic_write(args.out / "per_clip.csv", lambda stream: stream.write(per_clip))
    write_json(args.out / METRICS_FILE, metrics)
    _report(metrics, args.out)
    return 0


def _check_entries(dataset: AVDataset, strict: bool) -> None:
    """Bad list or annotation entries: --strict stops at the first; duplicates are warned about
    (each clip is scored once, from its first entry)."""
    if strict and dataset.rejected:
        raise AvslError(f"{dataset.rejected[0].reason} (--strict stops at bad entries)")
    if strict and dataset.annotations.problems:
        clip_id, problem = next(iter(dataset.annotations.problems.items()))
        raise AvslError(
            f"{dataset.layout.annotation_source}: clip {clip_id}: {problem} (--strict stops at bad entries)"
        )
    if dataset.duplicates:
        warnings.warn(
            f"{len(dataset.duplicates)} clip id(s) listed more than once, scored once "
            f"(first: {dataset.duplicates[0]}; all in metrics.json 'duplicate_ids')",
            stacklevel=2,
        )


def _save_maps(path: Path, result: EvalResult) -> None:
    maps = np.concatenate(result.maps) if result.maps else np.zeros((0, EVAL_SIZE, EVAL_SIZE), np.float32)

    def write(stream) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, maps=maps, ids=np.array(result.map_ids, dtype=str))
        stream.write(buffer.getvalue())

    atomic_write(path, write)


def _report(metrics: dict, out: Path) -> None:
    print(
        f"n={metrics['n']} ap50={metrics['ap50']:.4f} ciou_mean={metrics['ciou_mean']:.4f} "
        f"auc={metrics['auc']:.4f} (threshold={metrics['threshold']}, gt={metrics['gt_rule']}; "
        f"test list: {metrics['test_list']}) -> {out / 'metrics.json'}"
    )
    skipped = metrics["skipped"]
    if skipped["count"]:
        print(f"skipped {skipped['count']} bad clip(s):", file=sys.stderr)
        for item in skipped["items"]:
            print(f"  {item['id']}: {item['reason']}", file=sys.stderr)
