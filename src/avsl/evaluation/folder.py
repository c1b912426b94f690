"""A predictor scored on a dataset folder: the clips, boxes and rule chosen, the protocol run,
and metrics.json's content. `avsl eval` and `avsl.evaluate` both call this."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from avsl.constants import MAX_FRAME_PIXELS, SAMPLE_RATE
from avsl.data.benchmarks import choose_test_set
from avsl.data.dataset import AVDataset, collate_samples
from avsl.data.layout import read_layout_defaults
from avsl.data.selection import resolve_sizes
from avsl.errors import AvslError
from avsl.evaluation.evaluate import EvalResult, evaluate
from avsl.types import AVBatch

MEDIAN_RULE = "pixels >= the map's value at sorted position S*S//2 (EZ-VSL)"


@dataclass(frozen=True)
class FolderEval:
    """What to score and how (the options of `avsl eval`; None: the folder's or model's own)."""

    split: str | None = None
    benchmark: str | None = None
    annotations: Path | None = None
    format: str = "auto"
    gt_rule: str | None = None
    bad_boxes: str = "skip"
    threshold: str = "median"
    strict: bool = False
    batch_size: int = 32
    workers: int = 2
    image_size: int | None = None
    audio_seconds: float | None = None
    max_pixels: int = MAX_FRAME_PIXELS
    keep_maps: bool = False
    media: bool = True  # False: score boxes only, for maps made elsewhere (`avsl eval --maps`)


@dataclass
class FolderOutcome:
    """metrics.json's content, the per-clip result, and the dataset they came from."""

    metrics: dict
    result: EvalResult
    dataset: AVDataset


@dataclass
class FolderTestSet:
    """A folder's clips chosen for scoring, with the rule and the description metrics.json gives
    them; `batches` when decoded once to be scored many times (a study's epochs)."""

    data: Path
    dataset: AVDataset
    gt_rule: str
    test_list: str  # the list's name and size, as metrics.json reports it
    listed: bool  # chosen by a list (else every frame of the folder)
    options: FolderEval
    batches: list[AVBatch] | None = None


def evaluate_folder(predictor, data: Path, options: FolderEval, device: torch.device) -> FolderOutcome:
    """Score `predictor` on the folder; AvslError when nothing can be scored. Every folder
    evaluation (the CLI, the API, the tables, the studies) comes through here."""
    return score_folder(predictor, open_folder(data, options, predictor), device)


def open_folder(data: Path, options: FolderEval, predictor=None, in_memory: bool = False) -> FolderTestSet:
    """The clips to score, sized for `predictor` (see `resolve_sizes`); `in_memory` decodes them
    now, for a folder scored many times."""
    if not data.is_dir():
        raise AvslError(f"{data}: data directory not found")
    layout = read_layout_defaults(data)
    test_set = choose_test_set(data, options.benchmark, options.split, options.annotations, options.format)
    image_size, audio_seconds = resolve_sizes(data, options.image_size, options.audio_seconds, predictor)
    dataset = AVDataset(
        data, image_size, getattr(predictor, "sample_rate", None) or layout.get("sample_rate", SAMPLE_RATE),
        audio_seconds, split=test_set.lists or None, box_policy=options.bad_boxes, max_pixels=options.max_pixels,
        format=options.format, annotation_file=test_set.annotation_file,
    )  # fmt: skip
    _check_entries(dataset, options.strict)
    if not dataset.labeled_ids:
        raise AvslError(f"{data}: no listed clip has boxes ({dataset.layout.annotation_source}); nothing to score "
                        "(for maps of clips without boxes: avsl predict)")  # fmt: skip
    gt_rule = options.gt_rule or test_set.gt_rule or dataset.layout.gt_rule
    describe = test_set.describe(len(dataset.listed.ids))
    folder = FolderTestSet(data, dataset, gt_rule, describe, bool(test_set.lists), options)
    if in_memory:
        folder.batches = list(_loader(folder))
    return folder


def score_folder(predictor, folder: FolderTestSet, device: torch.device) -> FolderOutcome:
    """The protocol over the folder's clips, and metrics.json's content."""
    options, dataset = folder.options, folder.dataset
    batches = folder.batches if folder.batches is not None else _loader(folder)
    result = evaluate(
        predictor, batches, rule=folder.gt_rule, keep_maps=options.keep_maps, strict=options.strict, device=device,
        progress=False if folder.batches is not None else None,
    )  # fmt: skip
    result.skipped[:0] = dataset.rejected
    if not result.scored:
        first = result.skipped[0].reason if result.skipped else "none was annotated"
        raise AvslError(f"{folder.data}: no clip could be scored ({len(result.skipped)} skipped; first: {first})")
    if result.unannotated:
        listed = "listed " if folder.listed else ""
        warnings.warn(
            f"{len(result.unannotated)} {listed}clip(s) have no annotation ({dataset.layout.annotation_source}) and "
            f"were not scored: {', '.join(result.unannotated[:5])}{', ...' if len(result.unannotated) > 5 else ''} "
            "(all in metrics.json 'unannotated')",
            stacklevel=3,
        )
    metrics = result.metrics(options.threshold)
    metrics.update(
        data=str(folder.data),
        format=dataset.layout.format,
        test_list=folder.test_list,
        annotations=str(dataset.layout.annotation_source),
        predictor=getattr(predictor, "name", "model"),
        gt_rule=folder.gt_rule,
        bad_boxes=options.bad_boxes,
        clipped_boxes=dataset.annotations.clipped,
        duplicate_ids=dataset.duplicates,
        median_rule=MEDIAN_RULE,
        model=getattr(predictor, "about", {"predictor": getattr(predictor, "name", "model")}),
        options={k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
    )
    return FolderOutcome(metrics, result, dataset)


def _loader(folder: FolderTestSet) -> DataLoader | list[AVBatch]:
    """The clips in batches: decoded by `workers` processes, or their boxes alone."""
    options, dataset = folder.options, folder.dataset
    if not options.media:
        indices = range(len(dataset))
        chunks = [indices[start : start + options.batch_size] for start in range(0, len(dataset), options.batch_size)]
        return [collate_samples([dataset.boxes_only(i) for i in chunk]) for chunk in chunks]
    return DataLoader(dataset, batch_size=options.batch_size, num_workers=options.workers, collate_fn=collate_samples)


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
