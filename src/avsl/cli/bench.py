"""`avsl bench --suite NAME`: run a benchmark suite, print and save its JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from avsl.bench import metrics_suite, synth_suite
from avsl.files import write_json

SUITES = {"metrics": metrics_suite.run, "synth": synth_suite.run}


def add_parser(commands) -> None:
    parser = commands.add_parser("bench", help="speed benchmarks (medians over repeats)")
    parser.add_argument("--suite", choices=sorted(SUITES), required=True)
    parser.add_argument("--out", type=Path, help="also write the results to this JSON file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    results = {"suite": args.suite, **SUITES[args.suite]()}
    print(json.dumps(results, indent=2))
    if args.out is not None:
        write_json(args.out, results)
    return 0
