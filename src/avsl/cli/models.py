"""`avsl models`: the published checkpoints avsl loads by name (`--checkpoint NAME`), with where
they come from, their licence, what they were trained on and the numbers their authors report."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from avsl.zoo import published_models

HOW = {
    "file": "fetched by --checkpoint NAME",
    "google-drive-file": "fetched by --checkpoint NAME (needs avsl[download]: gdown)",
    "google-drive-folder": "download its best.pth from the folder by hand, then --checkpoint PATH",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the registry as JSON")


def run(args: argparse.Namespace) -> int:
    models = published_models()
    if args.json:
        print(json.dumps({name: asdict(model) for name, model in models.items()}, indent=2))
        return 0
    for model in models.values():
        reported = "; ".join(
            f"{bench}: " + ", ".join(f"{metric} {value}" for metric, value in numbers.items())
            for bench, numbers in model.reported.items()
        )
        print(f"{model.name}\n  {model.method}, trained on {model.trained_on}; {HOW[model.kind]}\n"
              f"  reported by its authors: {reported}\n  {model.url}\n  source: {model.page}; licence: {model.licence}")  # fmt: skip
    return 0
