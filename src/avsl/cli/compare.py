"""`avsl compare A B [...]`: how sure the differences between evaluations of one test list are.

Each argument is an `avsl eval` output folder, or a folder holding several (one method's seeds:
`runs/dmt` with `seed0/test`, `seed1/test`). Every argument after the first is compared with the
first: per metric and rule, B - A, its paired-bootstrap interval and a verdict.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from avsl.cli.common import non_negative_int, positive_int
from avsl.errors import AvslError
from avsl.evaluation.bootstrap import DRAWS
from avsl.evaluation.comparison import SEED_DEPTH, Entry, compare, markdown
from avsl.evaluation.records import find_evaluations, read_evaluation
from avsl.files import atomic_write, nan_to_none, refuse_overwriting_inputs, writable_dir

OUTPUT_SUFFIXES = (".md", ".json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("evaluations", type=Path, nargs="+", metavar="EVAL",
                        help="avsl eval output folders, or folders of one method's seeds; the first is A")  # fmt: skip
    parser.add_argument("-o", "--out", type=Path, action="append", default=[], metavar="FILE",
                        help="also write the comparison to a .md (Markdown) or .json file (repeatable)")  # fmt: skip
    parser.add_argument("--draws", type=positive_int, default=DRAWS, help="bootstrap resamples")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="the resamples' random seed")


def run(args: argparse.Namespace) -> int:
    for path in args.out:
        if path.suffix not in OUTPUT_SUFFIXES:
            raise AvslError(f"{path}: the comparison is written as .md or .json")
    entries = []
    for path in args.evaluations:
        folders = find_evaluations(path, SEED_DEPTH)
        entries.append(Entry(str(path), [read_evaluation(folder) for folder in folders]))
    inputs = [v.folder / name for e in entries for v in e.evaluations for name in ("metrics.json", "per_clip.csv")]
    for path in args.out:
        refuse_overwriting_inputs(path, inputs)
        writable_dir(path.parent)
    result = compare(entries, args.draws, args.seed)
    text = markdown(result)
    for path in args.out:
        content = text if path.suffix == ".md" else json.dumps(nan_to_none(result), indent=2) + "\n"
        atomic_write(path, lambda stream, content=content: stream.write(content.encode()))
    print(text)
    return 0
