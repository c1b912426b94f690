"""`avsl bench --suite NAME`: run a benchmark suite, print and save its JSON."""

from __future__ import annotations

import argparse
import json

from avsl.bench.machine import describe_machine
from avsl.bench.suites import SUITES
from avsl.cli.common import add_output_argument
from avsl.data.synth.presets import PRESETS
from avsl.engine.devices import pick_device
from avsl.errors import AvslError
from avsl.experiments import studies
from avsl.files import writable_dir, write_json

DEVICE_SUITES = tuple(name for name, suite in SUITES.items() if suite.on_device)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--suite",
        choices=sorted([*SUITES, *studies.STUDIES]),
        required=True,
        help="which benchmark to run (README: Speed, Results)",
    )
    add_output_argument(parser, "also write the results to this JSON file", required=False)
    tables = ", ".join(studies.STUDIES)
    parser.add_argument("--seeds", type=int, nargs="+", help=f"table suites ({tables}): seeds (default: the suite's)")
    parser.add_argument("--fractions", type=float, nargs="+", help="table suites: labelled fractions")
    presets = ", ".join(PRESETS)
    parser.add_argument("--preset", help=f"table suites: synthetic preset, one of {presets} (default: the suite's)")
    parser.add_argument("--device", help="train and dmt suites: cpu (default) or cuda[:N] (the papers' sizes)")


def run(args: argparse.Namespace) -> int:
    methods_options = {"--seeds": args.seeds, "--fractions": args.fractions, "--preset": args.preset}
    given = [name for name, value in methods_options.items() if value is not None]
    if args.suite not in studies.STUDIES and given:
        raise AvslError(f"{', '.join(given)}: only the table suites ({', '.join(studies.STUDIES)}) take these options")
    if args.device is not None and args.suite not in DEVICE_SUITES:
        raise AvslError(f"--device: only the {', '.join(DEVICE_SUITES)} suites take it")
    if args.out is not None:
        writable_dir(args.out.parent, "--out folder")  # before the suite runs, not after
    if args.suite in studies.STUDIES:
        plan = None
        if args.seeds or args.fractions:
            plan = tuple((f, tuple(args.seeds or (0,))) for f in (args.fractions or (0.03,)))
        results = {"suite": args.suite, **studies.run(args.preset, plan=plan, study=args.suite)}
    elif args.suite in DEVICE_SUITES:
        device = pick_device(args.device or "cpu")
        results = {"suite": args.suite, **SUITES[args.suite].run(device=device)}
    else:
        results = {"suite": args.suite, **SUITES[args.suite].run()}
    results["machine"] = describe_machine()
    print(json.dumps(results, indent=2))
    if args.out is not None:
        write_json(args.out, results)
    return 0
