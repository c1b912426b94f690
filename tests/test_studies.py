"""The DMT studies: ablation and LVS rows, the long schedule's kept epochs and its pseudo-label
curves (which object each kept label sits on), and the tables' columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from avsl.cli.main import main
from avsl.config import config_to_yaml, load_config
from avsl.engine.build import check_config
from avsl.experiments import drift, studies
from avsl.experiments.runner import Row, interrupted, markdown_table
from avsl.types import AVBatch


def _probe(objects: list[list[tuple[list[float], str]]]) -> drift.Probe:
    boxes = [torch.tensor([box for box, kind in clip if kind == "sounding"]) for clip in objects]
    batch = AVBatch(image=torch.zeros(len(objects), 3, 8, 8), audio=torch.zeros(len(objects), 4), boxes=boxes,
                    has_box=torch.ones(len(objects), dtype=torch.bool), ids=[str(i) for i in range(len(objects))])  # fmt: skip
    return drift.Probe([batch], [[(torch.tensor(box), kind) for box, kind in clip] for clip in objects])


def test_each_kept_label_is_matched_to_the_object_it_overlaps_most():
    left, right = [0.0, 0.0, 0.5, 1.0], [0.5, 0.0, 1.0, 1.0]
    probe = _probe([
        [(left, "sounding"), (right, "twin")],  # labelled on the sounding object
        [(left, "sounding"), (right, "twin")],  # labelled on the twin
        [(left, "sounding"), (right, "other")],  # labelled on another distractor, mostly
        [([0.0, 0.0, 0.25, 0.25], "sounding")],  # labelled where no object is
        [(left, "sounding"), (right, "twin")],  # labelled on the twin, but not kept
    ])  # fmt: skip
    mask = torch.zeros(5, 4, 4, dtype=torch.bool)
    mask[0, :, :2] = True
    mask[1, :, 2:] = True
    mask[2, :, 1:] = True  # a quarter of the sounding box's cells, all of the distractor's
    mask[3, 3, 3] = True
    mask[4, :, 2:] = True
    keep = torch.tensor([True, True, True, True, False])
    quality = drift.label_quality(mask, keep, probe)
    assert quality["kept"] == pytest.approx(0.8)
    assert quality["on_sounding"] == quality["on_twin"] == quality["on_other"] == quality["on_background"] == 0.25
    assert quality["on_wrong_object"] == 0.5
    # IoU with the sounding box: 1, 0, 4/16, 0 (clip 3's box covers one cell, the label another)
    assert quality["iou_kept"] == pytest.approx((1 + 0 + 0.25 + 0) / 4)


def test_no_kept_label_leaves_the_shares_unmeasured():
    probe = _probe([[([0.0, 0.0, 1.0, 1.0], "sounding")]])
    quality = drift.label_quality(torch.ones(1, 2, 2, dtype=torch.bool), torch.tensor([False]), probe)
    assert quality["kept"] == 0.0 and quality["iou_kept"] is None and quality["on_wrong_object"] is None


def test_the_studies_vary_dmt_by_config_alone():
    ablations = studies.STUDIES["ablations"].rows(0.03)
    assert [r.method for r in ablations] == [None] * 3 + ["dmt"] * 5
    assert {o for r in ablations for o in r.overrides} == {
        "semi.use_filter=false", "semi.use_intersection=false", "semi.pairs=1", "semi.pair_b_audio=tiny"
    }  # fmt: skip
    for row in [*ablations, *studies.STUDIES["lvs"].rows(0.03), *studies.STUDIES["long"].rows(0.01)]:
        if row.method is not None:
            check_config(load_config(None, [f"method={row.method}", *row.overrides]))  # real keys, a valid method


def test_old_rows_leave_the_new_columns_empty():
    old = {"name": "dmt", "labeled_fraction": 0.03, "seed": 0, "ap50": 0.58, "auc": 0.5, "ciou_mean": 0.5,
           "ciou_small": 0.02, "ap50_fixed": 0.75, "pl_kept": 0.9, "pl_iou_kept": 0.8, "pl_iou_teacher_a": 0.7,
           "seconds": 60.0}  # fmt: skip
    new = {**old, "labeled_fraction": 0.01, "ap50_adaptive": 0.41, "ciou_adaptive": 0.45}
    header, _, old_line, new_line = markdown_table([old, new]).splitlines()
    assert header.index("AP50 (median rule)") < header.index("AP50 (adaptive)")
    assert "| 58.0 |  |  | 75.0 |" in old_line
    assert "| 58.0 | 41.0 | 45.0 | 75.0 |" in new_line


def test_rows_hold_their_difference_from_the_reference_with_an_interval(small_layout, tmp_path):
    rows = []
    for name, predictor, seeds in (("box", "box", 1), ("center", "center", 2), ("old", None, 1)):
        for seed in range(seeds):
            folder = tmp_path / name / f"seed{seed}"
            if predictor is not None:
                assert main(["eval", "--data", str(small_layout), "--predictor", predictor, "--out", str(folder),
                             "--workers", "0", "--no-report", "--image-size", "32"]) == 0  # fmt: skip
            metrics = {"ap50": 0.5, "auc": 0.5, "ciou_mean": 0.5, "ciou_small": 0.1, "ap50_fixed": 0.5}
            rows.append({"name": name, "labeled_fraction": 0.03, "seed": seed, "seconds": 1.0, "pl_iou_kept": None,
                         "pl_iou_teacher_a": None, "pl_kept": None, "eval": str(folder), **metrics})  # fmt: skip
    table = markdown_table(rows, reference="box").splitlines()
    header, centre, old = table[0], next(t for t in table if t.startswith("| center")), table[4]
    assert "AP50 adaptive - box [95 % CI]" in header and "AP50 fixed - box [95 % CI]" in header
    box = json.loads((tmp_path / "box" / "seed0" / "metrics.json").read_text())["by_threshold"]["fixed"]["ap50"]
    ours = json.loads((tmp_path / "center" / "seed0" / "metrics.json").read_text())["by_threshold"]["fixed"]["ap50"]
    assert f"{100 * (ours - box):+.1f} [" in centre.split("|")[-2]  # two seeds of one map: the same difference
    assert old.startswith("| old") and old.endswith("|  |  |")  # no per-clip scores kept: no interval
    assert "the interval excludes 0" in table[-1]


def test_an_interrupted_row_resumes_only_under_its_own_config(tmp_path):
    config = load_config(None, ["method=dmt", "seed=1"])
    assert not interrupted(tmp_path, config)
    (tmp_path / "config.yaml").write_text(config_to_yaml(config))
    (tmp_path / "last.safetensors").write_bytes(b"")
    assert interrupted(tmp_path, config)
    assert not interrupted(tmp_path, load_config(None, ["method=dmt", "seed=2"]))


@pytest.mark.slow
def test_long_schedule_study_writes_table_curves_and_plot(tmp_path, monkeypatch):
    short = ("optim.epochs=3", "semi.warmup_epochs=1", "keep_epochs=true")
    study = studies.Study(lambda f: [Row("dmt (long)", "dmt", f, short)], ((0.25, (0,)),), "long_schedule",
                                drift.write_curves)  # fmt: skip
    monkeypatch.setitem(studies.STUDIES, "long", study)
    args = {"preset_name": "tiny", "work_dir": tmp_path / "work", "results_dir": tmp_path / "results"}
    made = studies.run(**args, study="long", device=torch.device("cpu"))
    run_dir = tmp_path / "work" / "runs" / "0.25" / "dmt_long" / "seed0"
    assert sorted(p.name for p in (run_dir / "epochs").glob("epoch_*")) == [
        f"epoch_00{i}.safetensors" for i in (1, 2, 3)
    ]
    (row,) = json.loads((tmp_path / "results" / "long_schedule_tiny.json").read_text())
    assert row["overrides"] == list(short) and 0 <= row["ap50_adaptive"] <= 1
    (curve,) = json.loads((tmp_path / "results" / "long_schedule_tiny_curves.json").read_text())
    assert [p["epoch"] for p in curve["epochs"]] == [1, 2, 3]  # from the warm-up's end
    assert {
        "kept",
        "on_wrong_object",
        "val_ap50_teacher_a",
        "val_ap50_teacher_b",
        "train_iou_kept",
        "val_ap50_adaptive_teacher_a",
    } <= set(curve["epochs"][-1])
    assert (tmp_path / "results" / "long_schedule_tiny.png").read_bytes()[:4] == b"\x89PNG"
    assert made["plot"].endswith("long_schedule_tiny.png")
    again = studies.run(**args, study="long", device=torch.device("cpu"))  # every row done: nothing reruns
    assert again["rows"] == 1


def test_a_row_claimed_by_a_live_process_is_left_to_it(tmp_path):
    claim = tmp_path / studies.CLAIM_FILE
    claim.write_text(str(os.getpid()))  # this process: alive
    with studies.claimed(tmp_path) as ours:
        assert not ours
    assert claim.exists()
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    claim.write_text(finished.stdout.strip())  # a process that has ended: its row is taken over
    with studies.claimed(tmp_path) as ours:
        assert ours and claim.read_text() == str(os.getpid())
        with studies.claimed(tmp_path) as second:
            assert not second  # one claim at a time
    assert not claim.exists()


@pytest.mark.slow
def test_scale_study_trains_every_row_on_the_paper_encoders(tmp_path):
    scale = studies.STUDIES["scale"]
    assert scale.preset == "vggss_mix" and "model.visual=resnet18" in scale.overrides
    short = replace(scale, overrides=(*scale.overrides, "optim.epochs=2", "semi.warmup_epochs=1"))
    args = {"preset_name": "tiny", "work_dir": tmp_path / "work", "results_dir": tmp_path / "results"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(studies.STUDIES, "scale", short)
        made = studies.run(**args, study="scale", device=torch.device("cpu"))
    rows = json.loads((tmp_path / "results" / "scale_tiny.json").read_text())
    assert [r["name"] for r in rows] == ["center", "full", "ground-truth box (cap)", "supervised", "dmt"]
    for row in rows[3:]:
        saved = load_config(Path(row["run"]) / "config.yaml")
        assert (saved.model.visual, saved.model.audio, saved.model.dim) == ("resnet18", "resnet18", 512)
    (curve,) = json.loads(Path(made["curves"]).read_text())
    assert curve["method"] == "dmt" and [p["epoch"] for p in curve["epochs"]] == [1, 2]  # warm-up's end, then after


def test_each_method_keeps_its_colour_in_every_column_of_the_plot(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    drawn = []
    plot = Axes.plot
    monkeypatch.setattr(
        Axes, "plot", lambda axis, *a, **k: drawn.append((k["label"], k["color"])) or plot(axis, *a, **k)
    )
    point = {"epoch": 1, "iou_kept": 0.5}
    curves = [  # the 3 % rows finished in another order than the 1 % rows
        *({"method": m, "labeled_fraction": 0.03, "warmup_epochs": 1, "epochs": [point]} for m in ("pseudo", "dmt")),
        *({"method": m, "labeled_fraction": 0.01, "warmup_epochs": 1, "epochs": [point]} for m in ("dmt", "pseudo")),
    ]
    drift.plot_curves(curves, tmp_path / "plot.png")
    assert len(set(drawn)) == 2 and len(drawn) == 4 * len(drift.PANELS)  # two methods, two colours
