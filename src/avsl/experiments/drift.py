"""Pseudo-labels over a long schedule, epoch by epoch: confirmation bias made visible.

From each epoch's kept weights (`keep_epochs=true`) the method's teachers label one fixed probe
of unlabelled training clips, under the method's own label rule, and each kept label is matched
to the object of its frame that it overlaps most. The synthetic benchmark knows every object's
box, so a label that sits on the sounding object's look-alike twin, or on another distractor, is
counted as such: a teacher that drifts keeps teaching its students the wrong object. Teacher A's
val AP50 under the adaptive rule is scored from the same weights; the median rule's comes from the
run's own log.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from avsl.config import config_from_dict
from avsl.data.dataset import AVDataset, collate_samples
from avsl.data.synth.classes import CLASS_NAMES, twin_of
from avsl.engine.build import build_method
from avsl.evaluation.folder import FolderEval, FolderTestSet, open_folder, score_folder
from avsl.files import atomic_write, write_json
from avsl.losses.supervised import box_targets
from avsl.run import EPOCHS_FOLDER, epoch_files, read_run_header, restore_run
from avsl.semi.pseudo import mask_iou
from avsl.types import AVBatch

PROBE_CLIPS = 512  # unlabelled training clips with a sounding object; enough for a 2-point curve
# beside a finished run's kept epochs: its points, so later rows do not rescore it; a new run in
# the folder removes it with the epochs
CURVE_FILE = "curve.json"
KINDS = ("sounding", "twin", "other", "background")  # what a kept label overlaps most


@dataclass(frozen=True)
class Probe:
    """The probe clips and, per clip in their order, every object's box with what it is to the
    sounding one."""

    batches: list[AVBatch]
    objects: list[list[tuple[Tensor, str]]]  # per clip: (box (4,), "sounding" | "twin" | "other")


def load_probe(data_dir: Path, run_dir: Path, image_size: int, audio_seconds: float, sample_rate: int) -> Probe:
    """The first PROBE_CLIPS unlabelled training clips (by annotation order) that have a visible
    sounding object; the run's labelled clips are left out, as their boxes were trained on."""
    labeled = set((run_dir / "labeled_ids.txt").read_text().split())
    entries = json.loads((data_dir / "annotations.json").read_text())
    chosen = [e for e in entries if e["file"] not in labeled and any(o["sounding"] for o in e.get("objects", ()))]
    chosen = chosen[:PROBE_CLIPS]
    dataset = AVDataset(data_dir, image_size, sample_rate, audio_seconds, ids=[e["file"] for e in chosen])
    batches = _in_batches(dataset)
    by_id = {e["file"]: e for e in chosen}
    return Probe(batches, [_objects(by_id[clip_id]) for batch in batches for clip_id in batch.ids])


def _objects(entry: dict) -> list[tuple[Tensor, str]]:
    sounding = next(o for o in entry["objects"] if o["sounding"])
    twin = CLASS_NAMES[twin_of(CLASS_NAMES.index(sounding["class"]))]
    objects = []
    for obj in entry["objects"]:
        kind = "sounding" if obj["sounding"] else "twin" if obj["class"] == twin else "other"
        objects += [(torch.tensor(box, dtype=torch.float32), kind) for box in obj["bbox"]]
    return objects


def load_val(data_dir: Path, image_size: int, audio_seconds: float) -> FolderTestSet:
    """The val split, decoded once, to score teacher A of every epoch under the adaptive rule
    (the run's log has the median rule's AP50, which this benchmark's size mix caps)."""
    return open_folder(data_dir, FolderEval(image_size=image_size, audio_seconds=audio_seconds, batch_size=128,
                                            workers=0), in_memory=True)  # fmt: skip


def _in_batches(dataset: AVDataset, size: int = 128) -> list[AVBatch]:
    starts = range(0, len(dataset), size)
    return [collate_samples([dataset[i] for i in range(s, min(s + size, len(dataset)))]) for s in starts]


@torch.no_grad()
def epoch_curve(run_dir: Path, probe: Probe, val: FolderTestSet, device: torch.device) -> list[dict]:
    """One point per kept epoch from the end of the warm-up on (the teachers are copies of the
    students at the switch, so the warm-up's last epoch is labelled by its students)."""
    logged = _logged_records(run_dir)
    points = []
    for epoch, path in epoch_files(run_dir):
        config = config_from_dict(read_run_header(path).config)
        if epoch < config.semi.warmup_epochs:
            continue
        method = build_method(config)
        restore_run(path, method.modules)
        if epoch == config.semi.warmup_epochs:
            method.start_unbiased()  # the switch: each teacher becomes a copy of its student
        method.modules.to(device)
        parts = [method.pseudo_labels(batch.to(device))[0] for batch in probe.batches]
        mask = torch.cat([p.mask for p in parts]).cpu()
        keep = torch.cat([p.keep for p in parts]).cpu()
        teacher = method.modules[method.inference_name].eval()
        scores = score_folder(lambda batch, model=teacher: model(batch.image, batch.audio).map_logits,
                              val, device).metrics  # fmt: skip
        points.append({"epoch": epoch, **label_quality(mask, keep, probe), **logged.get(epoch, {}),
                       "val_ap50_adaptive_teacher_a": scores["ap50_adaptive"]})  # fmt: skip
    return points


def label_quality(mask: Tensor, keep: Tensor, probe: Probe) -> dict:
    """Kept fraction, kept labels' IoU with the sounding box, and the share of kept labels by
    the object each overlaps most (background: none at all)."""
    height, width = mask.shape[-2:]
    sounding = [torch.stack([box for box, kind in clip if kind == "sounding"]) for clip in probe.objects]
    truth = box_targets(sounding, height, width) >= 0.5
    iou = mask_iou(mask, truth)
    kinds = []
    for label, objects in zip(mask, probe.objects, strict=True):
        cells = box_targets([box.reshape(1, 4) for box, _ in objects], height, width) >= 0.5  # one map per object
        ious = mask_iou(label.expand(len(objects), -1, -1), cells)
        kinds.append(objects[int(ious.argmax())][1] if len(objects) and ious.max() > 0 else "background")
    kept = [k for k, flag in zip(kinds, keep.tolist(), strict=True) if flag]
    shares = {f"on_{kind}": kept.count(kind) / len(kept) if kept else None for kind in KINDS}
    return {
        "kept": float(keep.float().mean()),
        "iou_kept": float(iou[keep].mean()) if keep.any() else None,
        **shares,
        "on_wrong_object": shares["on_twin"] + shares["on_other"] if kept else None,
    }


def _logged_records(run_dir: Path) -> dict[int, dict]:
    """Per epoch, from the run's log: each teacher's val AP50 (the student's in the warm-up, and
    for naive pseudo-labelling, whose student is its own teacher), and the training-time kept
    fraction and kept-label IoU over the epoch's batches (strong-view students, weak-view labels)."""
    records = {}
    for line in (run_dir / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        epoch = round(record["epoch"])
        records[epoch] = {"train_kept": record.get("train/pl/kept"), "train_iou_kept": record.get("train/pl/iou_kept")}
        for pair in ("a", "b"):
            value = record.get(f"val/teacher_{pair}/ap50", record.get(f"val/student_{pair}/ap50"))
            if value is not None:
                records[epoch][f"val_ap50_teacher_{pair}"] = value
    return records


def write_curves(rows: list[dict], data_root: Path, results_path: Path, device: torch.device) -> dict:
    """`<table>_curves.json` and `<table>.png` beside the table, from every row's kept epochs.

    A finished row's run is scored once and its curve kept beside its epochs (CURVE_FILE; delete
    it to score again), so a suite that calls this after every row does not rescore earlier ones.
    """
    curves = []
    for row in rows:
        run_dir = Path(row["run"] or "")
        if not row["run"] or not epoch_files(run_dir):
            continue  # a baseline, or a row whose run folder is gone (another machine's table)
        cached = run_dir / EPOCHS_FOLDER / CURVE_FILE
        if not cached.exists():
            write_json(cached, _run_curve(run_dir, data_root, device))
        curve = json.loads(cached.read_text())
        curves.append({key: row[key] for key in ("name", "method", "labeled_fraction", "seed")} | curve)
    curves_path = results_path.with_name(results_path.stem + "_curves.json")
    write_json(curves_path, curves)
    if not curves:
        return {"curves": str(curves_path)}
    plot_path = results_path.with_suffix(".png")
    plot_curves(curves, plot_path)
    return {"curves": str(curves_path), "plot": str(plot_path)}


def _run_curve(run_dir: Path, data_root: Path, device: torch.device) -> dict:
    header = read_run_header(epoch_files(run_dir)[0][1])
    config = config_from_dict(header.config)
    shape = (header.image_size, header.audio_seconds, config.data.sample_rate)
    probe = load_probe(data_root / "train", run_dir, *shape)
    val = load_val(data_root / "val", *shape[:2])
    return {"warmup_epochs": config.semi.warmup_epochs, "probe_clips": len(probe.objects),
            "epochs": epoch_curve(run_dir, probe, val, device)}  # fmt: skip


# (curve key, axis title): one row of panels each, one column per labelled fraction
PANELS = (
    ("iou_kept", "kept labels' IoU\nwith the sounding box"),
    ("on_wrong_object", "share of kept labels\non another object"),
    ("val_ap50_adaptive_teacher_a", "teacher A's val AP50\n(adaptive rule)"),
    ("val_ap50_teacher_a", "teacher A's val AP50\n(median rule, capped)"),
)


def plot_curves(curves: list[dict], path: Path) -> None:
    """Panels of PANELS by fraction; a dotted line marks the end of the warm-up."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server or in CI
    from matplotlib import pyplot

    fractions = sorted({c["labeled_fraction"] for c in curves})
    # one colour per method in every column, whatever order each fraction's rows finished in
    methods = sorted({c["method"] for c in curves})
    colours = {method: f"C{index}" for index, method in enumerate(methods)}
    figure, axes = pyplot.subplots(len(PANELS), max(len(fractions), 1), figsize=(4.5 * max(len(fractions), 1), 10),
                                   squeeze=False, sharex=True)  # fmt: skip
    for column, fraction in enumerate(fractions):
        for curve in sorted((c for c in curves if c["labeled_fraction"] == fraction), key=lambda c: c["method"]):
            epochs = [p["epoch"] for p in curve["epochs"]]
            for row, (key, title) in enumerate(PANELS):
                values = [p.get(key) for p in curve["epochs"]]
                axis = axes[row][column]
                axis.plot(epochs, [float("nan") if v is None else v for v in values], marker=".",
                          label=curve["method"], color=colours[curve["method"]])  # fmt: skip
                axis.axvline(curve["warmup_epochs"], color="grey", linestyle=":", linewidth=1)
                axis.set_ylabel(title if column == 0 else "")
        axes[0][column].set_title(f"{fraction:.0%} labels")
        axes[-1][column].set_xlabel("epoch")
    axes[0][0].legend()
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=110)
    pyplot.close(figure)
    atomic_write(path, lambda stream: stream.write(image.getvalue()))
