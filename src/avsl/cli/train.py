"""`avsl train`: train a localizer with one of the methods; see `avsl train --help`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from avsl.cli.common import (
    add_device_argument,
    add_output_argument,
    add_selection_arguments,
    existing_dir,
    percent,
    positive_int,
)
from avsl.config import config_from_dict, load_config
from avsl.data.selection import split_dirs
from avsl.engine.build import METHODS, check_config, method_defaults, recipe_of
from avsl.engine.devices import pick_device
from avsl.engine.trainer import train
from avsl.errors import AvslError
from avsl.evaluation.folder import FolderEval, evaluate_folder
from avsl.evaluation.output import write_evaluation
from avsl.evaluation.records import METRICS_FILE
from avsl.files import nan_to_none, writable_dir
from avsl.inference.choose import make_predictor
from avsl.run import BEST_FILE, LAST_FILE, TEST_FOLDER, holds_run, read_run_header, started_without_checkpoint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, help="a train layout, or a folder with train/ and val/")
    parser.add_argument("--val", type=Path, help="validation layout (default: DATA/val when present)")
    parser.add_argument("--method", choices=METHODS, help="default: the config's (selfsup)")
    parser.add_argument("--localizer", help="ezvsl or lvs (default: the config's, ezvsl)")
    parser.add_argument("--labeled-fraction", type=float, help="fraction of training clips whose boxes are used "
                        "(default: 0.03, DMT's, for pseudo, meanteacher and dmt; 1 for supervised)")  # fmt: skip
    add_selection_arguments(parser, "these clips are the labelled ones (e.g. dmt-train: DMT's 4,250), not a fraction")
    parser.add_argument("--val-split", action="append", metavar="LIST",
                        help="validation clips (e.g. dmt-val; from --val, or from --data when no val/ is there)")  # fmt: skip
    parser.add_argument("--epochs", type=positive_int, help="default: the config's; with --resume, more epochs "
                        "than the run's extend it")  # fmt: skip
    parser.add_argument(
        "--seed", type=int, help="initialisation, labelled subset and batch order (default: the config's, 0)"
    )
    add_output_argument(parser, "run folder (checkpoints, log, config)", required=False)
    parser.add_argument("--config", type=Path, help="YAML file of config values")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set optim.lr=3e-4 (repeatable)")  # fmt: skip
    parser.add_argument("--resume", type=Path, metavar="RUN", help="continue the run in RUN exactly")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished or started run in --out")
    parser.add_argument("--strict", action="store_true", help="stop at the first unreadable clip or bad entry")
    parser.add_argument("--test", type=Path, metavar="DIR",
                        help="after training, score the best checkpoint on this layout's boxed clips "
                             "(RUN/test: metrics.json, per_clip.csv, report.html; avsl eval for a benchmark's list)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the run's numbers as JSON instead of the summary")
    add_device_argument(parser)


def run(args: argparse.Namespace) -> int:
    if args.resume is not None:
        return _resume(args)
    if args.data is None or args.out is None:
        raise AvslError("--data and --out are required (or --resume RUN)")
    overrides = list(args.overrides)
    if args.strict:
        overrides.append("data.strict=true")
    for flag, key in (("method", "method"), ("localizer", "model.localizer"),
                      ("labeled_fraction", "labeled_fraction"), ("epochs", "optim.epochs"), ("seed", "seed")):  # fmt: skip
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    config = load_config(args.config, overrides)
    _select_data(config, args)
    check_config(config)
    if config.labeled_fraction is None and recipe_of(config).semi_supervised and not config.data.labeled:
        config = method_defaults(config)
        print(f"{config.method}: labelling {config.labeled_fraction:.0%} of the training clips, DMT's protocol "
              "(--labeled-fraction to choose)", flush=True)  # fmt: skip
    if holds_run(args.out) and not args.overwrite:
        raise AvslError(f"{args.out}: holds a run already (use --resume {args.out} or --overwrite)")
    writable_dir(args.out, "run folder")
    train_dir, val_dir = split_dirs(args.data, args.val)
    if val_dir is None and config.data.val_split:
        val_dir = train_dir  # the validation list's clips come from the same folder
    if args.test is not None:
        existing_dir(args.test, "--test folder")  # before training, not after it
    device = pick_device(args.device)
    result = train(config, train_dir, val_dir, args.out, device)
    _report(result, _test(result.run_dir, args.test, device), args.json)
    return 0


# Options that would change what a run is; --resume takes them from its checkpoint.
_FIXED_BY_THE_RUN = {"method": "--method", "localizer": "--localizer", "labeled_fraction": "--labeled-fraction",
                     "split": "--split", "labeled": "--labeled", "annotations": "--annotations", "format": "--format",
                     "val_split": "--val-split", "seed": "--seed", "out": "--out", "config": "--config",
                     "overrides": "--set", "overwrite": "--overwrite"}  # fmt: skip


def _resume(args: argparse.Namespace) -> int:
    unset = (None, [])  # argparse's defaults; `False` is --overwrite's, compared by identity (0 == False)
    given = [flag for name, flag in _FIXED_BY_THE_RUN.items() if getattr(args, name) not in unset
             and getattr(args, name) is not False]  # fmt: skip
    if given:
        raise AvslError(f"--resume continues {args.resume} with the settings it was started with; {given[0]} cannot "
                        "change them (start a new run with --out, or pass only --epochs, --data, --val, --device)")  # fmt: skip
    if args.test is not None:
        existing_dir(args.test, "--test folder")
    if started_without_checkpoint(args.resume):
        raise AvslError(f"{args.resume}: the run stopped before its first checkpoint, so there is nothing to resume; "
                        "start it again with the same command")  # fmt: skip
    path = args.resume / LAST_FILE
    header = read_run_header(path)
    config = config_from_dict(header.config)
    check_config(config)
    if args.epochs is not None:
        if args.epochs < config.optim.epochs:
            raise AvslError(f"{args.resume}: the run is set for {config.optim.epochs} epochs; --resume --epochs "
                            "can only extend it")  # fmt: skip
        config.optim.epochs = args.epochs
        check_config(config)
    if args.strict:
        config.data.strict = True
    writable_dir(args.resume, "run folder")
    data = header.data
    train_dir = split_dirs(args.data, args.val)[0] if args.data is not None else _saved_dir(data, "train", path)
    val_dir = args.val if args.val is not None else _saved_dir(data, "val", path)
    if train_dir is None:
        raise AvslError(f"{path}: the saved training folder is missing; pass --data")
    device = pick_device(args.device)
    result = train(config, train_dir, val_dir, args.resume, device, resume=True)
    if result.finished_before:
        print(f"{args.resume}: finished already ({result.steps} steps, {config.optim.epochs} epochs); "
              f"--resume {args.resume} --epochs N (N > {config.optim.epochs}) trains it further")  # fmt: skip
        if args.test is None:
            return 0
    _report(result, _test(result.run_dir, args.test, device), args.json)
    return 0


def _select_data(config, args: argparse.Namespace) -> None:
    """The data options, set as given (not through the override grammar, which would read
    '${...}' or brackets in a path as its own syntax)."""
    data = config.data
    data.format = args.format or data.format
    data.split = list(args.split or data.split)
    data.val_split = list(args.val_split or data.val_split)
    data.labeled = args.labeled or data.labeled
    data.annotations = args.annotations or data.annotations


def _saved_dir(data: dict, key: str, source: Path) -> Path | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AvslError(f"{source}: saved {key} folder is not a path")
    return Path(value)


def _test(run_dir: Path, test_dir: Path | None, device) -> dict | None:
    """The best checkpoint scored on `test_dir` into RUN/test (as `avsl eval` would); its metrics."""
    if test_dir is None:
        return None
    predictor = make_predictor(run_dir, None, device)
    outcome = evaluate_folder(predictor, test_dir, FolderEval(), device)
    out = run_dir / TEST_FOLDER
    out.mkdir(exist_ok=True)
    report = write_evaluation(out, outcome, predictor, device)
    return {**outcome.metrics, "files": str(report or out / METRICS_FILE)}


def _report(result, test: dict | None, as_json: bool) -> None:
    """A short summary for a person, or the run's numbers as JSON with --json."""
    if as_json:
        numbers = {"run": str(result.run_dir), "steps": result.steps, "best": result.best, "val": result.final,
                   "seconds": round(result.seconds, 1), "precision": result.precision}  # fmt: skip
        if test is not None:
            numbers["test"] = nan_to_none({k: test[k] for k in ("n", "ap50", "ap50_adaptive", "ciou_mean", "auc")})
        print(json.dumps(numbers, indent=2))
        return
    best = result.best
    chosen = f"best val AP50 {percent(best['ap50'])} at step {best['step']}" if best else "no validation split"
    print(f"{result.run_dir}: {result.steps} steps in {result.seconds / 60:.1f} min ({result.precision}); {chosen} -> "
          f"{result.run_dir / BEST_FILE}")  # fmt: skip
    for name, scores in result.final.items():
        print(f"  last epoch, {name}: val AP50 {percent(scores['ap50'])} (median rule), "
              f"{percent(scores['ap50_adaptive'])} (adaptive), mean cIoU {scores['ciou_mean']:.3f}")  # fmt: skip
    if test is not None:
        rules = test["by_threshold"]
        print(f"  best checkpoint on test ({test['n']} clips of {test['data']}): AP50 "
              f"{percent(rules['median']['ap50'])} (median rule), {percent(rules['adaptive']['ap50'])} (adaptive), "
              f"{percent(rules['fixed']['ap50'])} (fixed) -> {test['files']}")  # fmt: skip
