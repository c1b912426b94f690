"""`avsl demo --quick` end to end, and DMT improving on its own warm-up on the tiny preset."""

from __future__ import annotations

import json

import av
import pytest
import torch

from avsl.cli.main import main
from avsl.config import load_config
from avsl.configs import config_path
from avsl.data.synth.presets import get_preset
from avsl.data.synth.writer import generate
from avsl.engine.trainer import train


@pytest.mark.slow
def test_quick_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["name"] for r in results] == ["center", "full", "ground-truth box (cap)", "selfsup", "dmt"]
    assert all(r["n"] > 0 and 0 <= r["ap50"] <= 1 for r in results)
    dmt = results[-1]
    assert dmt["pl_kept"] is not None  # the unbiased stage ran and logged its diagnostics
    assert "| dmt |" in (out / "results.md").read_text()
    printed = capsys.readouterr().out
    assert "| center |" in printed and str(out / "results.md") in printed
    report = out / "dmt_test" / "report.html"
    assert str(report) in printed and str(out / "dmt_clips.mp4") in printed
    assert report.stat().st_size > 10_000 and (out / "dmt_test" / "metrics.json").exists()
    with av.open(str(out / "dmt_clips.mp4")) as reel:  # six test clips with their heatmaps and sound
        assert reel.streams.audio and sum(1 for _ in reel.decode(video=0)) >= 6
    # a second run reuses the benchmark it made
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    assert "reusing the tiny benchmark" in capsys.readouterr().out


@pytest.mark.slow
def test_dmt_improves_on_its_own_warmup(tmp_path):
    """The unbiased stage makes teacher A's maps of the unlabelled training clips agree better
    with their hidden boxes than at the stage switch, where teacher A is the warm-up model.
    (Measured on those clips, as semi-supervised learning promises; a 16-clip val split is too
    noisy to rank two epochs of a model this small.)"""
    data = tmp_path / "data"
    generate(data, get_preset("tiny").with_counts(96, 16, 0), seed=0)
    config = load_config(config_path("demo"), ["method=dmt", "labeled_fraction=0.1", "data.batch_size=16",
                                               "data.workers=0", "model.width=16", "model.dim=32",
                                               "semi.labeled_batch=4", "optim.warmup_steps=4", "optim.epochs=12",
                                               "semi.warmup_epochs=4", "semi.alpha=0.9"])  # fmt: skip
    run = tmp_path / "run"
    train(config, data / "train", data / "val", run, torch.device("cpu"), progress=False)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    unbiased = [r for r in log if "train/pl/iou_teacher_a" in r]
    assert len(unbiased) == 8
    assert unbiased[-1]["train/pl/iou_teacher_a"] > unbiased[0]["train/pl/iou_teacher_a"]
