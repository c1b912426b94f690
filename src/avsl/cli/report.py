"""`avsl report EVAL_OR_RUN... -o compare.html`: several evaluations side by side.

Each argument is an `avsl eval` output folder (it holds metrics.json), or a folder holding such
folders (a run folder with `avsl eval ... -o RUN/test`). The clips drawn are predicted again
from each evaluation's model and data, as its metrics.json records them; where they cannot be
had again the page has the numbers without the pictures, and a warning says why.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from pathlib import Path

from avsl.cli.common import add_device_argument, add_layout_argument, add_output_argument
from avsl.engine.devices import pick_device
from avsl.errors import AvslError, first_line
from avsl.evaluation.folder import FolderEval, open_folder
from avsl.evaluation.maps_file import MapsFile
from avsl.evaluation.records import Evaluation, find_evaluations, read_evaluation
from avsl.evaluation.report import write_comparison
from avsl.evaluation.report_clips import ClipView, view_clips
from avsl.evaluation.report_html import written_by_avsl
from avsl.files import refuse_overwriting_inputs, writable_dir
from avsl.inference.choose import rebuild_predictor


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("evaluations", type=Path, nargs="+", metavar="EVAL_OR_RUN",
                        help="avsl eval output folders, or folders holding them")  # fmt: skip
    add_output_argument(parser, "the page to write (.html)")
    add_layout_argument(parser)
    parser.add_argument("--no-clips", action="store_true", help="numbers and curves only (no model is loaded)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file that avsl did not write")
    add_device_argument(parser)


def run(args: argparse.Namespace) -> int:
    if args.out.suffix.lower() not in (".html", ".htm"):
        raise AvslError(f"{args.out}: the report is an HTML page; name it .html")
    folders = [folder for path in args.evaluations for folder in find_evaluations(path)]
    if len(set(map(Path.resolve, folders))) < len(folders):
        raise AvslError("the same evaluation folder is given twice")
    evaluations = [read_evaluation(folder) for folder in folders]
    refuse_overwriting_inputs(args.out, [f / name for f in folders for name in ("metrics.json", "per_clip.csv")])
    writable_dir(args.out.parent)
    if args.out.exists() and not (args.overwrite or (args.out.is_file() and written_by_avsl(args.out))):
        raise AvslError(f"{args.out}: exists and is not a page avsl wrote (--overwrite to replace it)")
    device = pick_device(args.device)

    def viewer(evaluation: Evaluation, ids: Sequence[str]) -> dict[str, ClipView]:
        return {} if args.no_clips else _views(evaluation, ids, device)

    page = write_comparison(args.out, evaluations, viewer, args.layout)
    print(f"{len(evaluations)} evaluation(s) compared -> {page}")
    return 0


def _views(evaluation: Evaluation, ids: Sequence[str], device) -> dict[str, ClipView]:
    """The clips re-predicted by the evaluation's own model on its own data; a warning and no
    pictures when either cannot be had again (moved, deleted, or a predictor not rebuilt)."""
    metrics = evaluation.metrics
    try:
        about = metrics.get("model") or {"predictor": metrics.get("predictor")}
        maps = about.get("predictor") == "maps"
        predictor = MapsFile(Path(about["maps"])) if maps else rebuild_predictor(about, device)
        options = {k: v for k, v in (metrics.get("options") or {}).items() if k in FolderEval.__dataclass_fields__}
        options = {k: Path(v) if k == "annotations" and v is not None else v for k, v in options.items()}
        folder = open_folder(
            Path(metrics["data"]), FolderEval(**{**options, "strict": False, "media": True}), predictor
        )
    except (AvslError, OSError, KeyError, TypeError) as err:
        warnings.warn(f"{evaluation.name}: clips not drawn ({first_line(err)})", stacklevel=2)
        return {}
    return view_clips(folder.dataset, predictor, device, ids)
