"""EZ-VSL's and SLAVC's released state-dict layouts: imported maps equal a small re-implementation
of each peer's forward pass (torchvision ResNet-18s, scipy's spectrogram, the peers' einsum)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import signal
from torch import nn
from torchvision.models import resnet18

from avsl.cli.main import main
from avsl.inference.checkpoint_predictor import CheckpointPredictor
from avsl.types import AVBatch

TAU = 0.03


class PeerNet(nn.Module):
    """The peers' networks as their model.py builds them (EZ-VSL: one head; SLAVC: two heads and
    momentum copies), with random weights and BatchNorm statistics."""

    def __init__(self, heads: int, dim: int = 16, momentum: bool = False) -> None:
        super().__init__()
        self.imgnet = resnet18(weights=None)
        self.imgnet.avgpool, self.imgnet.fc = nn.Identity(), nn.Identity()
        self.audnet = resnet18(weights=None)
        self.audnet.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.audnet.avgpool, self.audnet.fc = nn.AdaptiveMaxPool2d((1, 1)), nn.Identity()
        names = ["img_proj", "aud_proj"] if heads == 1 else ["img_proj1", "aud_proj1", "img_proj2", "aud_proj2"]
        for name in names:
            setattr(self, name, nn.Conv2d(512, dim, 1) if name.startswith("img") else nn.Linear(512, dim))
        if momentum:
            self.momentum_img_proj1 = nn.Conv2d(512, dim, 1)
        generator = torch.Generator().manual_seed(3)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
        self.heads = [tuple(names[i : i + 2]) for i in range(0, len(names), 2)]

    def forward(self, image: torch.Tensor, spectrogram: torch.Tensor) -> torch.Tensor:
        features = self.imgnet(image).unflatten(1, (512, 7, 7))
        sound = self.audnet(spectrogram)
        maps = []
        for img_proj, aud_proj in self.heads:
            img = F.normalize(getattr(self, img_proj)(features), dim=1)
            aud = F.normalize(getattr(self, aud_proj)(sound), dim=1)
            maps.append(torch.einsum("nchw,nc->nhw", img, aud) / TAU)
        return sum(maps) / len(maps)


def ezvsl_spectrogram(waveform: np.ndarray) -> torch.Tensor:
    """EZ-VSL's datasets.py: scipy's spectrogram, log(S + 1e-7), then Normalize(mean 0, std 12)."""
    _, _, spec = signal.spectrogram(waveform, 16_000, nperseg=512, noverlap=274)
    return torch.from_numpy(np.log(spec + 1e-7) / 12.0).float()


@pytest.mark.parametrize(("heads", "seconds"), [(1, 3.0), (2, 5.0)], ids=["ezvsl", "slavc"])
def test_imported_maps_equal_the_peers_forward(tmp_path, heads, seconds):
    peer = PeerNet(heads, momentum=heads == 2).eval()
    path = tmp_path / "best.pth"
    state = {f"module.{k}": v for k, v in peer.state_dict().items()}  # as DDP saved it
    torch.save({"model": state, "epoch": 20, "best_cIoU": 0.4}, path)
    predictor = CheckpointPredictor(path)
    assert (predictor.image_size, predictor.audio_seconds) == (224, seconds)
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(2, 3, 224, 224, generator=generator)
    waveform = (torch.rand(2, round(seconds * 16_000), generator=generator) - 0.5) * 0.5
    batch = AVBatch(image=image, audio=waveform, boxes=[], has_box=torch.zeros(2, dtype=torch.bool), ids=["a", "b"])
    ours = predictor(batch)
    spectrograms = torch.stack([ezvsl_spectrogram(w.double().numpy()) for w in waveform])[:, None]
    with torch.inference_mode():
        theirs = peer(image, spectrograms)
    assert ours.shape == theirs.shape == (2, 7, 7)
    assert torch.allclose(ours, theirs, atol=2e-3, rtol=1e-4), (ours - theirs).abs().max()


def test_other_files_are_refused_in_one_line(tmp_path, capsys):
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "other.pth")
    argv = ["eval", "--data", str(tmp_path), "--checkpoint", str(tmp_path / "other.pth"), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "neither EZ-VSL's" in capsys.readouterr().err


@pytest.mark.slow
def test_a_peer_checkpoint_starts_the_students(tmp_path, capsys):
    """model.init_from: an EZ-VSL best.pth starts a run whose networks have its architecture."""
    from avsl.config import load_config
    from avsl.engine.build import build_method
    from avsl.engine.trainer import initialize_from

    peer = PeerNet(1).eval()
    torch.save({"model": peer.state_dict()}, tmp_path / "best.pth")
    matching = ["model.visual=resnet18", "model.audio=resnet18", "model.frontend=ezvsl", "model.dim=16",
                "semi.pair_b_audio=resnet18"]  # fmt: skip
    method = build_method(load_config(None, ["method=dmt", *matching]))
    assert initialize_from(method, tmp_path / "best.pth") == ["student_a", "teacher_a", "student_b", "teacher_b"]
    expected = peer.state_dict()["img_proj.weight"]
    assert torch.equal(method.modules["student_b"].visual_proj.weight, expected)
    other = build_method(load_config(None, ["method=selfsup"]))
    with pytest.raises(Exception, match="matches none of this run's networks"):
        initialize_from(other, tmp_path / "best.pth")


def test_object_guided_localization_blends_in_the_objectness_map(small_layout, tmp_path):
    """--ogl: 0.4 x the audio-visual map + 0.6 x an ImageNet ResNet-18's objectness, as EZ-VSL."""
    from avsl.inference.predictors import CenterPredictor, ObjectGuidedPredictor
    from avsl.ops.maps import minmax_normalize, upsample_maps

    weights = tmp_path / "resnet18.pth"
    network = resnet18(weights=None).eval()
    torch.save(network.state_dict(), weights)
    image = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    batch = AVBatch(
        image=image, audio=torch.zeros(2, 10), boxes=[], has_box=torch.zeros(2, dtype=torch.bool), ids=["a", "b"]
    )
    guided = ObjectGuidedPredictor(CenterPredictor(), str(weights))(batch)
    with torch.inference_mode():
        objects = nn.Sequential(*list(network.children())[:-2])(image).abs().mean(1)
    centre = minmax_normalize(upsample_maps(CenterPredictor()(batch), 224))
    expected = minmax_normalize(0.4 * centre + 0.6 * minmax_normalize(upsample_maps(objects, 224)))
    assert torch.allclose(guided, expected, atol=1e-5)
    out = tmp_path / "e"
    argv = ["eval", "--data", str(small_layout), "--predictor", "center", "--ogl", str(weights), "--out", str(out),
            "--workers", "0"]  # fmt: skip
    assert main(argv) == 0
    assert "ogl(0.4)" in (out / "metrics.json").read_text()


def test_a_safetensors_file_is_never_taken_for_a_pickle(tmp_path):
    """Its first byte is its header length's lowest: 0x80 for one file in 256."""
    from avsl.inference.peers import is_peer_checkpoint

    (tmp_path / "a.safetensors").write_bytes(b"\x80" + bytes(7) + b'{"__metadata__": {}}')
    (tmp_path / "b.pth").write_bytes(b"\x80\x04\x95" + bytes(8) + b"pickle")
    assert not is_peer_checkpoint(tmp_path / "a.safetensors")
    assert is_peer_checkpoint(tmp_path / "b.pth")
