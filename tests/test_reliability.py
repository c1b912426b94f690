"""Nothing silently wrong: non-finite audio refused, non-finite losses stop a run before it saves,
out-of-range settings refused with their key, strict JSON logs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from avsl.config import load_config
from avsl.data.audio import load_audio_window
from avsl.data.synth.presets import get_preset
from avsl.data.synth.writer import generate
from avsl.engine.build import check_config
from avsl.engine.trainer import train
from avsl.errors import AvslError
from avsl.methods.single import SingleModel


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


def test_a_non_finite_loss_stops_the_run_before_anything_is_saved(tmp_path, monkeypatch):
    data = tmp_path / "tiny"
    generate(data, get_preset("tiny").with_counts(32, 8, 0), seed=0, workers=1)
    real_step = SingleModel.training_step

    def poisoned(self, batches, step):
        output = real_step(self, batches, step)
        if step == 2:
            output.loss = output.loss * float("nan")
        return output

    monkeypatch.setattr(SingleModel, "training_step", poisoned)
    config = load_config(None, ["method=selfsup", "optim.epochs=2", "data.batch_size=8", "data.workers=0",
                                "model.width=8", "model.dim=16"])  # fmt: skip
    run = tmp_path / "run"
    with pytest.raises(AvslError, match="not finite at step 3"):
        train(config, data / "train", data / "val", run, torch.device("cpu"), progress=False)
    assert not (run / "best.safetensors").exists() and not (run / "last.safetensors").exists()


def test_log_lines_are_strict_json(tmp_path):
    from avsl.engine.runlog import RunLog

    log = RunLog(tmp_path, tensorboard=False)
    log.write({"step": 1, "val/x": float("nan"), "val/y": float("inf"), "ok": 0.5}, 1)
    record = json.loads((tmp_path / "log.jsonl").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert record == {"step": 1, "val/x": None, "val/y": None, "ok": 0.5}
