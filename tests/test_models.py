"""Every registered localizer and encoder: shapes, normalisation, gradients."""

from __future__ import annotations

import pytest
import torch

from avsl.errors import AvslError
from avsl.models import create_localizer, list_audio_encoders, list_localizers

SMALL_AUDIO = [a for a in list_audio_encoders() if a != "resnet18"]


@pytest.mark.parametrize("name", list_localizers())
@pytest.mark.parametrize("audio", SMALL_AUDIO)
def test_tiny_localizers_forward_and_backward(name, audio):
    torch.manual_seed(0)
    model = create_localizer(name, visual="tiny", audio=audio, width=8, dim=16)
    image = torch.randn(3, 3, 64, 64)
    waveform = torch.randn(3, 8000) * 0.1
    output = model(image, waveform)
    assert output.map_logits.shape == (3, 8, 8)
    assert output.visual.shape == (3, 16, 8, 8) and output.audio.shape == (3, 16)
    torch.testing.assert_close(output.audio.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(output.visual.norm(dim=1), torch.ones(3, 8, 8))
    output.map_logits.mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


@pytest.mark.slow
def test_resnet18_pair_shapes_at_224():
    model = create_localizer("ezvsl", visual="resnet18", audio="resnet18", frontend="ezvsl", dim=512)
    output = model(torch.randn(2, 3, 224, 224), torch.randn(2, 48_000) * 0.1)
    assert output.map_logits.shape == (2, 7, 7)


def test_unknown_names_are_user_errors():
    with pytest.raises(AvslError, match="unknown localizer 'nope'"):
        create_localizer("nope")
    with pytest.raises(AvslError, match="unknown audio encoder"):
        create_localizer("ezvsl", audio="nope")
    with pytest.raises(AvslError, match="no pretrained weights"):
        create_localizer("ezvsl", visual_weights="imagenet")


def test_visual_weights_from_a_local_file(tmp_path):
    from safetensors.torch import save_file
    from torchvision.models import resnet18

    reference = resnet18(weights=None).state_dict()
    save_file(reference, tmp_path / "r18.safetensors")
    model = create_localizer("ezvsl", visual="resnet18", visual_weights=str(tmp_path / "r18.safetensors"))
    torch.testing.assert_close(model.visual.body[0].weight, reference["conv1.weight"])
    torch.save(reference, tmp_path / "r18.pth")
    create_localizer("ezvsl", visual="resnet18", visual_weights=str(tmp_path / "r18.pth"))
    (tmp_path / "bad.pth").write_bytes(b"junk")
    with pytest.raises(AvslError, match="bad.pth: not a readable state dict"):
        create_localizer("ezvsl", visual="resnet18", visual_weights=str(tmp_path / "bad.pth"))
