"""ONNX export: the localizer with its audio front end, a dynamic batch axis, onnxruntime's maps
equal to PyTorch's; bad names refused."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch

from avsl.cli.main import main
from avsl.inference.model import LocalizationModel
from tests.conftest import tiny_spec, write_model_checkpoint


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
