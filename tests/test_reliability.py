"""Nothing silently wrong: non-finite audio refused, non-finite losses stop a run before it saves
(or are skipped and counted), out-of-range settings refused with their key, strict JSON logs,
self-contained checkpoints, clean overwrites, and the exit-code contract (2: the user's to fix)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from avsl import files
from avsl.checkpoint import load_checkpoint
from avsl.cli.main import main
from avsl.config import load_config
from avsl.data.audio import load_audio_window
from avsl.data.synth.presets import get_preset
from avsl.data.synth.writer import generate
from avsl.engine.build import check_config
from avsl.engine.trainer import train
from avsl.errors import AvslError
from avsl.inference import checkpoint_predictor
from avsl.inference.checkpoint_predictor import CheckpointPredictor
from avsl.methods.single import SingleModel
from tests.conftest import SMALL_MODEL, as_set, tiny_spec, write_model_checkpoint

FAST = ["--epochs", "1", "--set", "data.batch_size=8", "--set", "data.workers=0",
        *as_set(*SMALL_MODEL)]  # fmt: skip


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """A tiny-preset benchmark of 32 training and 8 validation clips."""
    out = tmp_path_factory.mktemp("small") / "bench"
    generate(out, get_preset("tiny").with_counts(32, 8, 0), seed=0, workers=1)
    return out


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_audio_with_nan_samples_is_refused_naming_the_file(tmp_path):
    samples = np.zeros(16_000, dtype=np.float32)
    samples[8_000] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, samples, 16_000, subtype="FLOAT")
    with pytest.raises(AvslError, match=r"nan\.wav: audio holds NaN"):
        load_audio_window(path, 16_000, 1.0)


@pytest.mark.parametrize(
    "override",
    ["semi.tau_f=nan", "semi.delta=0", "semi.delta=1.5", "semi.pairs=3", "semi.warmup_epochs=-1",
     "optim.epochs=0", "optim.lr=0", "optim.lr=nan", "data.workers=-1", "data.image_size=-4",
     "data.audio_seconds=nan"],
)  # fmt: skip
def test_out_of_range_settings_are_refused_with_their_key(override):
    key = override.split("=")[0]
    with pytest.raises(AvslError, match=key.replace(".", r"\.")):
        check_config(load_config(None, ["method=dmt", override]))


def poison_step(monkeypatch, bad_step: int) -> None:
    """The loss of step `bad_step` (counted from this run's first step) becomes NaN."""
    real_step = SingleModel.training_step
    calls = iter(range(10**9))

    def poisoned(self, batches, stage):
        output = real_step(self, batches, stage)
        if next(calls) == bad_step:
            output.loss = output.loss * float("nan")
        return output

    monkeypatch.setattr(SingleModel, "training_step", poisoned)


SMALL_RUN = ["method=selfsup", "optim.epochs=2", "data.batch_size=8", "data.workers=0", *SMALL_MODEL]


def test_a_non_finite_loss_stops_the_run_before_anything_is_saved(small, tmp_path, monkeypatch):
    poison_step(monkeypatch, 2)
    run = tmp_path / "run"
    with pytest.raises(AvslError, match="not finite at step 3"):
        train(load_config(None, SMALL_RUN), small / "train", small / "val", run, torch.device("cpu"), progress=False)
    assert not (run / "best.safetensors").exists() and not (run / "last.safetensors").exists()


def test_skip_nonfinite_skips_and_counts_the_step(small, tmp_path, monkeypatch):
    poison_step(monkeypatch, 2)
    run = tmp_path / "run"
    config = load_config(None, [*SMALL_RUN, "optim.skip_nonfinite=true"])
    train(config, small / "train", small / "val", run, torch.device("cpu"), progress=False)
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["train/skipped_steps"] for r in records] == [1, 0]
    assert all(np.isfinite(r["train/loss"]) for r in records)
    tensors, _ = load_checkpoint(run / "best.safetensors")
    assert all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())


def test_log_lines_are_strict_json(tmp_path):
    from avsl.engine.runlog import RunLog

    log = RunLog(tmp_path, tensorboard=False)
    log.write({"step": 1, "val/x": float("nan"), "val/y": float("inf"), "ok": 0.5}, 1)
    record = json.loads((tmp_path / "log.jsonl").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert record == {"step": 1, "val/x": None, "val/y": None, "ok": 0.5}


@pytest.mark.parametrize("weights", ["imagenet", "/moved/away/resnet18.pth"])
def test_a_checkpoint_loads_without_its_initial_weights(tmp_path, monkeypatch, weights):
    """The header names initial weights (a download, a file since moved): neither is touched."""

    def refuse(source):
        raise AssertionError(f"initial weights {source} were loaded")

    monkeypatch.setattr("avsl.models.encoders.load_visual_weights", refuse)
    path = tmp_path / "model.safetensors"
    write_model_checkpoint(path, tiny_spec(visual_weights=weights))
    predictor = CheckpointPredictor(path)
    assert predictor.image_size == 64


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"width": 10**9}, "header field width=1000000000"),
        ({"width": "8"}, "header field width='8'"),
        ({"dim": True}, "header field dim=True"),
        ({"tau": float("nan")}, "header field tau=nan"),
        ({"visual": "../../evil"}, "header field visual='../../evil'"),
        ({"sample_rate": -1}, "header field sample_rate=-1"),
        ({"extra": 1}, "unknown header field 'extra'"),
    ],
)
def test_forged_header_fields_are_refused_before_building(tmp_path, changes, message):
    path = tmp_path / "forged.safetensors"
    write_model_checkpoint(path, tiny_spec(**changes), model_spec=tiny_spec())
    with pytest.raises(AvslError, match=message.replace("(", r"\(").replace(".", r"\.")):
        CheckpointPredictor(path)


def test_a_forged_but_valid_width_is_compared_on_meta_before_any_allocation(tmp_path, monkeypatch):
    path = tmp_path / "forged.safetensors"
    write_model_checkpoint(path, tiny_spec(visual="tiny", width=1024), model_spec=tiny_spec(visual="tiny"))
    devices = []
    real_build = checkpoint_predictor.build_localizer

    def recording_build(spec, seed):
        devices.append(torch.empty(0).device.type)  # the default device the build allocates on
        return real_build(spec, seed)

    monkeypatch.setattr(checkpoint_predictor, "build_localizer", recording_build)
    with pytest.raises(AvslError, match="does not match the model architecture"):
        CheckpointPredictor(path)
    assert devices == ["meta"]


def test_overwrite_removes_the_old_run_and_orphaned_temporary_files(small, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", str(small), "--out", str(run), *FAST]) == 0
    assert (run / "best.safetensors").exists()
    assert main(["train", "--data", str(small), "--out", str(run), *FAST]) == 2
    assert "holds a run already" in capsys.readouterr().err
    (run / ".last.safetensors.k1ll3d.tmp").write_bytes(b"partial")
    (run / "notes.txt").write_text("the user's own file")
    config = load_config(None, [*SMALL_RUN, "optim.epochs=3"])
    train(config, small / "train", small / "val", run, torch.device("cpu"), progress=False, max_steps=1)
    # stopped before its first save: nothing of the old run is left to be mistaken for this one
    assert not (run / "best.safetensors").exists() and not (run / "last.safetensors").exists()
    assert not (run / ".last.safetensors.k1ll3d.tmp").exists()
    assert (run / "notes.txt").read_text() == "the user's own file"
    assert "optim:\n" in (run / "config.yaml").read_text() and "epochs: 3" in (run / "config.yaml").read_text()


def test_skipped_training_clips_are_summarised_and_strict_stops(small, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(small, data)
    broken = sorted((data / "train" / "frames").glob("*.jpg"))[0]
    broken.write_bytes(b"\xff\xd8 truncated")
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), *FAST]) == 0
    err = capsys.readouterr().err
    assert "warning: skipped 1 unreadable clip(s)" in err and broken.name in err
    assert broken.stem in (run / "skipped.tsv").read_text()
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "strict"), "--strict", *FAST]) == 2
    line = one_line_error(capsys)
    assert broken.name in line and "strict" in line


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        files.write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o640


def test_a_full_disk_is_a_user_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(AvslError, match="metrics.json: cannot write \\(no space left on the device\\)"):
        files.write_json(target, {"new": 1})
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left


@pytest.mark.parametrize("shape", ["file", "under_file"])
def test_an_unusable_eval_output_is_refused_before_evaluating(small_layout, tmp_path, capsys, monkeypatch, shape):
    (tmp_path / "taken").write_text("a file")
    out = tmp_path / "taken" if shape == "file" else tmp_path / "taken" / "sub"
    monkeypatch.setattr(
        "avsl.evaluation.folder.evaluate", lambda *a, **k: pytest.fail("evaluated before checking --out")
    )
    assert (
        main(["eval", "--data", str(small_layout), "--predictor", "center", "--out", str(out), "--workers", "0"]) == 2
    )
    assert str(out) in one_line_error(capsys)


@pytest.mark.parametrize(
    ("text", "message"),
    [("optim: {lr: [1\n", "not readable YAML"), ("- 1\n- 2\n", "expected a mapping"), ("optim: 3\n", "OptimConfig")],
)
def test_malformed_yaml_is_one_line_exit_2(small, tmp_path, capsys, text, message):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    assert main(["train", "--data", str(small), "--out", str(tmp_path / "r"), "--config", str(config)]) == 2
    assert message in one_line_error(capsys)


def test_an_eval_where_every_clip_failed_exits_2_without_metrics(small_layout, tmp_path, capsys):
    for frame in (small_layout / "frames").glob("*.jpg"):
        frame.write_bytes(b"")
    out = tmp_path / "e"
    assert (
        main(["eval", "--data", str(small_layout), "--predictor", "center", "--out", str(out), "--workers", "0"]) == 2
    )
    assert "no clip could be scored (6 skipped" in one_line_error(capsys)
    assert not (out / "metrics.json").exists()


def test_eval_lists_bad_entries_scores_duplicates_once_and_strict_stops(small_layout, tmp_path, capsys):
    entries = json.loads((small_layout / "annotations.json").read_text())
    entries += [{"class": "no file"}, {"file": "../../etc/passwd", "bbox": []}, dict(entries[0])]
    (small_layout / "annotations.json").write_text(json.dumps(entries))
    out = tmp_path / "e"
    argv = ["eval", "--data", str(small_layout), "--predictor", "center", "--out", str(out), "--workers", "0"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 4 and metrics["duplicate_ids"] == ["a"]
    assert {s["id"] for s in metrics["skipped"]["items"]} == {"item 5", "item 6"}
    assert "1 clip id(s) listed more than once" in capsys.readouterr().err
    assert main([*argv, "--strict"]) == 2
    assert "item 5 is not an object with a 'file' key" in one_line_error(capsys)


@pytest.mark.parametrize(
    ("error", "code"),
    [(OSError(errno.ENOSPC, "No space left on device", "/data/x.jpg"), 2), (OSError(errno.EIO, "I/O error"), 1)],
)
def test_os_errors_the_user_can_fix_exit_2_others_are_bugs(tmp_path, monkeypatch, capsys, error, code):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr("avsl.cli.synth.generate", fail)
    assert main(["synth", str(tmp_path / "s"), "--preset", "tiny"]) == code
    line = one_line_error(capsys)
    assert ("/data/x.jpg: No space left on device" in line) if code == 2 else ("unexpected error" in line)
