"""`avsl demo`: make the synthetic benchmark, train DMT at 3 % labels, compare with the centre
baseline and self-supervised EZ-VSL on the test split, print the table, and write DMT's
evaluation (dmt_test/: metrics.json, per_clip.csv, report.html) and a short video of test clips
with their heatmaps and sound."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from avsl.cli.common import add_device_argument, add_output_argument, add_precision_argument
from avsl.configs import config_path
from avsl.data.synth.presets import get_preset
from avsl.data.synth.writer import ensure_benchmark
from avsl.engine.devices import pick_device
from avsl.evaluation.folder import FolderEval, evaluate_folder
from avsl.evaluation.output import write_evaluation
from avsl.experiments.runner import Row, baseline_rows, markdown_table, run_row
from avsl.files import atomic_write, write_json
from avsl.inference.model import LocalizationModel
from avsl.inference.reel import write_clip_reel

EVALUATION_FOLDER = "dmt_test"  # `avsl report runs/demo/dmt_test ...` compares it with others
LABELED_FRACTION = 0.03  # docs/method.md: about 3 % of the boxes
REEL_CLIPS = 6  # in dmt_clips.mp4: the three best-localized test clips and three from the middle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_argument(parser, "where data, runs and results go", required=False, default=Path("runs/demo"))
    parser.add_argument("--quick", action="store_true", help="a one-minute smoke version on the tiny preset")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every row")
    add_device_argument(parser)
    add_precision_argument(parser, "auto")  # of the training; the test scores are fp32, as avsl eval's


def _show(out: Path, data_root: Path, dmt_run: Path, device) -> tuple[Path | None, Path]:
    """DMT's evaluation on the test split (OUT/dmt_test: metrics.json, per_clip.csv, the
    report) and a short video of some of its clips."""
    model = LocalizationModel.from_checkpoint(dmt_run, device, precision="fp32")  # scores as avsl eval's
    outcome = evaluate_folder(model.predictor, data_root / "test", FolderEval(), device)
    (out / EVALUATION_FOLDER).mkdir(exist_ok=True)
    report = write_evaluation(out / EVALUATION_FOLDER, outcome, model.predictor, device)
    cious = torch.cat(outcome.result.cious["median"])
    order = torch.argsort(cious, descending=True, stable=True).tolist()
    middle = len(order) // 2
    shown = [outcome.result.ids[i] for i in order[: REEL_CLIPS // 2] + order[middle : middle + REEL_CLIPS // 2]]
    reel = write_clip_reel(model, outcome.dataset, shown, out / "dmt_clips.mp4")
    return report, reel


def run(args: argparse.Namespace) -> int:
    preset = get_preset("tiny" if args.quick else "demo")
    config_file = config_path("quick" if args.quick else "demo")
    data_root = args.out / "data"
    reused = ensure_benchmark(data_root, preset.name, args.seed)
    print(f"{'reusing' if reused else 'made'} the {preset.name} benchmark in {data_root}")
    device = pick_device(args.device)
    rows = [*baseline_rows(), Row("selfsup", "selfsup"), Row("dmt", "dmt", LABELED_FRACTION)]
    results = []
    for row in rows:
        print(f"== {row.name} ==", flush=True)
        run_dir = args.out / "runs" / row.name
        results.append(run_row(row, data_root, run_dir, config_file, args.seed, device,
                               preset.image_size, preset.audio_seconds, (f"precision={args.precision}",)))  # fmt: skip
    table = markdown_table(results, reference="dmt")
    write_json(args.out / "results.json", results)
    atomic_write(args.out / "results.md", lambda stream: stream.write(table.encode()))
    report, reel = _show(args.out, data_root, args.out / "runs" / "dmt", device)
    print()
    print(table)
    print(f"data: {data_root}   runs: {args.out / 'runs'}   table: {args.out / 'results.md'}")
    shown = f"{report} (open it in a browser)" if report else f"{args.out / EVALUATION_FOLDER} (no report)"
    print(f"DMT on the test split: {shown}; {reel} (a few clips, with their sound)")
    print(f"see a run's curves with: tensorboard --logdir {args.out / 'runs'}")
    return 0
