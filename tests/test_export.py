"""ONNX export: the localizer with its audio front end, a dynamic batch axis, onnxruntime's maps
equal to PyTorch's; bad names refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import soundfile as sf
import torch
from PIL import Image

from avsl.cli.main import main
from avsl.inference import export
from avsl.inference.model import LocalizationModel
from tests.conftest import tiny_spec, write_model_checkpoint


@pytest.mark.slow
@pytest.mark.parametrize(
    "changes",
    [{"visual": "tiny"}, {"visual": "tiny", "name": "lvs", "audio": "vggish_tiny", "frontend": "ezvsl"}],
)
def test_onnx_maps_equal_pytorchs_at_any_batch_size(tmp_path, capsys, changes):
    checkpoint = tmp_path / "model.safetensors"
    write_model_checkpoint(checkpoint, tiny_spec(**changes))
    path = tmp_path / "model.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--onnx", str(path)]) == 0
    assert "max |difference|" in capsys.readouterr().out
    model = LocalizationModel.from_checkpoint(checkpoint)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(1)
    for batch in (1, 4):
        image = torch.randn(batch, 3, model.image_size, model.image_size, generator=generator)
        waveform = torch.rand(batch, round(model.audio_seconds * model.sample_rate), generator=generator) - 0.5
        (maps,) = session.run(["map_logits"], {"image": image.numpy(), "waveform": waveform.numpy()})
        with torch.inference_mode():
            expected = model.network(image, waveform).map_logits.numpy()
        assert maps.shape == expected.shape and np.abs(maps - expected).max() < 1e-3


def test_a_bad_file_name_is_refused(tmp_path, capsys):
    checkpoint = tmp_path / "model.safetensors"
    write_model_checkpoint(checkpoint, tiny_spec(visual="tiny"))
    assert main(["export", "--checkpoint", str(checkpoint), "--onnx", str(tmp_path / "model.bin")]) == 2
    assert "name the file .onnx" in capsys.readouterr().err


def test_a_non_finite_parity_difference_fails_and_writes_nothing(tmp_path, capsys, monkeypatch):
    checkpoint = tmp_path / "model.safetensors"
    write_model_checkpoint(checkpoint, tiny_spec(visual="tiny"))
    monkeypatch.setattr(export, "parity_difference", lambda *args: float("nan"))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["export", "--checkpoint", str(checkpoint), "--onnx", str(out / "model.onnx")]) == 2
    assert "non-finite" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # neither the model nor the exporter's temporary files


@pytest.mark.slow
def test_export_writes_nothing_outside_its_output(tmp_path):
    """onnxruntime writes a telemetry id under ~/.cache on import unless told not to."""
    checkpoint = tmp_path / "model.safetensors"
    write_model_checkpoint(checkpoint, tiny_spec(visual="tiny"))
    home, out = tmp_path / "home", tmp_path / "out"
    home.mkdir()
    environment = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY")}
    command = [sys.executable, "-m", "avsl.cli.main", "export", "--checkpoint", str(checkpoint), "--onnx",
               str(out / "model.onnx")]  # fmt: skip
    done = subprocess.run(command, env={**environment, "HOME": str(home)}, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert [p for p in home.rglob("*") if p.is_file()] == []
    assert [p.name for p in out.iterdir()] == ["model.onnx"]


def test_the_documented_snippet_runs_as_written(tmp_path, monkeypatch, capsys):
    """The ONNX block of docs/using-a-model.md, run in a folder holding model.onnx, frame.jpg and sound.wav."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "using-a-model.md").read_text()
    section = page[page.index("## In other runtimes") :]
    snippet = section[
        section.index("```python\n") + len("```python\n") : section.index("```\n", section.index("```python"))
    ]
    checkpoint = tmp_path / "model.safetensors"
    write_model_checkpoint(checkpoint, tiny_spec(visual="tiny"))
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--checkpoint", str(checkpoint), "-o", "model.onnx"]) == 0
    assert "window_samples=48000" in capsys.readouterr().out
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)).save("frame.jpg")
    sf.write("sound.wav", 0.1 * np.random.default_rng(1).standard_normal(20_000), 16_000)  # shorter than the window
    scope: dict = {}
    exec(compile(snippet, "docs/using-a-model.md", "exec"), scope)
    heatmap = scope["heatmap"]
    assert heatmap.shape == (60, 80) and heatmap.min() == 0.0 and heatmap.max() == pytest.approx(1.0)
