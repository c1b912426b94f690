"""Visual and audio encoders behind one small interface.

A visual encoder maps (B, 3, H, W) to a feature map (B, C, h, w); an audio encoder maps its
input (a log-spectrogram (B, 1, F, T), or a waveform (B, L) when `takes_waveform`) to (B, C).
Each has `out_channels`. The ResNet-18 pair is EZ-VSL's; the tiny ones make CPU training on
the synthetic benchmark practical; `soundnet_tiny` and `vggish_tiny` give DMT's two teachers
different audio backbones.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models import ResNet18_Weights, resnet18

from avsl.errors import AvslError
from avsl.models.registry import register_audio_encoder, register_visual_encoder


def norm_layer(kind: str, channels: int) -> nn.Module:
    """BatchNorm (default), or GroupNorm, whose output does not depend on the batch: exact
    multi-process parity on CPU, where SyncBatchNorm is not available."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    raise AvslError(f"unknown norm {kind!r}; choose batch or group")


def conv_bn_relu(cin: int, cout: int, stride: int = 1, kernel: int = 3, norm: str = "batch") -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        norm_layer(norm, cout),
        nn.ReLU(inplace=True),
    )


class ResNet18Visual(nn.Module):
    """torchvision ResNet-18 up to layer4: stride 32, 512 channels (7 x 7 at 224 px)."""

    out_channels = 512

    def __init__(self, weights: str = "none") -> None:
        super().__init__()
        net = resnet18(weights=None)
        if weights != "none":
            net.load_state_dict(load_visual_weights(weights))
        self.body = nn.Sequential(*list(net.children())[:-2])

    def forward(self, image: Tensor) -> Tensor:
        return self.body(image)  # (B, 512, H/32, W/32)


def load_visual_weights(source: str) -> dict[str, Tensor]:
    """ImageNet weights through torchvision's weights API, or a local file (never unpickled).

    Args:
        source: "imagenet" (torchvision's ResNet18_Weights.IMAGENET1K_V1, downloaded and
            cached by torchvision when the machine can reach it) or a path to a .safetensors or
            a torchvision .pth state dict.
    """
    if source == "imagenet":
        try:
            return ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as err:  # no network, proxy, cache permissions: all end the same way
            raise AvslError(
                f"could not fetch torchvision's ImageNet ResNet-18 weights ({type(err).__name__}); "
                "download resnet18-f37072fd.pth elsewhere and pass its path"
            ) from None
    path = Path(source)
    if not path.is_file():
        raise AvslError(f"{path}: visual weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(path)
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise AvslError(f"{path}: not a readable state dict ({type(err).__name__})") from None


class TinyVisual(nn.Module):
    """Six 3x3 conv layers, stride 8 (12 x 12 maps at 96 px): a CPU-sized visual encoder."""

    def __init__(self, width: int = 32, norm: str = "batch") -> None:
        super().__init__()
        self.out_channels = 4 * width
        self.body = nn.Sequential(
            conv_bn_relu(3, width, stride=2, norm=norm),
            conv_bn_relu(width, width, norm=norm),
            conv_bn_relu(width, 2 * width, stride=2, norm=norm),
            conv_bn_relu(2 * width, 2 * width, norm=norm),
            conv_bn_relu(2 * width, 4 * width, stride=2, norm=norm),
            conv_bn_relu(4 * width, 4 * width, norm=norm),
        )

    def forward(self, image: Tensor) -> Tensor:
        return self.body(image)  # (B, 4 * width, H/8, W/8)


class ResNet18Audio(nn.Module):
    """EZ-VSL's audio network: ResNet-18 with a one-channel stem and global max pooling."""

    out_channels = 512
    takes_waveform = False

    def __init__(self) -> None:
        super().__init__()
        net = resnet18(weights=None)
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.body = nn.Sequential(*list(net.children())[:-2])

    def forward(self, spectrogram: Tensor) -> Tensor:
        return self.body(spectrogram).amax(dim=(2, 3))  # (B, 512)


class TinyAudio(nn.Module):
    """Four conv stages on the log-spectrogram, global max pool (max over time suits sparse
    events, as EZ-VSL's AdaptiveMaxPool2d)."""

    takes_waveform = False

    def __init__(self, width: int = 32, norm: str = "batch") -> None:
        super().__init__()
        self.out_channels = 4 * width
        self.input_norm = norm_layer(norm, 1)
        self.body = nn.Sequential(
            conv_bn_relu(1, width, stride=2, norm=norm),
            conv_bn_relu(width, 2 * width, stride=2, norm=norm),
            conv_bn_relu(2 * width, 4 * width, stride=2, norm=norm),
            conv_bn_relu(4 * width, 4 * width, norm=norm),
        )

    def forward(self, spectrogram: Tensor) -> Tensor:
        return self.body(self.input_norm(spectrogram)).amax(dim=(2, 3))  # (B, 4 * width)


class VGGishTiny(nn.Module):
    """VGG-style blocks (two 3x3 convs, then 2x2 max pool) on the log-spectrogram."""

    takes_waveform = False

    def __init__(self, width: int = 32, norm: str = "batch") -> None:
        super().__init__()
        self.out_channels = 4 * width
        layers: list[nn.Module] = [norm_layer(norm, 1)]
        channels = [1, width, 2 * width, 4 * width]
        for cin, cout in zip(channels[:-1], channels[1:], strict=True):
            layers += [
                conv_bn_relu(cin, cout, norm=norm),
                conv_bn_relu(cout, cout, norm=norm),
                nn.MaxPool2d(2),
            ]
        self.body = nn.Sequential(*layers)

    def forward(self, spectrogram: Tensor) -> Tensor:
        return self.body(spectrogram).mean(dim=(2, 3))  # (B, 4 * width)


class SoundNetTiny(nn.Module):
    """A SoundNet-style 1-D CNN on the raw waveform: strided convs, global max pool."""

    takes_waveform = True

    def __init__(self, width: int = 32, norm: str = "batch") -> None:
        super().__init__()
        self.out_channels = 4 * width
        channels = [1, width // 2, width, 2 * width, 4 * width, 4 * width]
        strides = [4, 4, 4, 2, 2]
        kernels = [32, 16, 8, 8, 4]
        layers: list[nn.Module] = []
        for cin, cout, stride, kernel in zip(channels[:-1], channels[1:], strides, kernels, strict=True):
            layers += [
                nn.Conv1d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
                nn.BatchNorm1d(cout) if norm == "batch" else nn.GroupNorm(min(8, cout), cout),
                nn.ReLU(inplace=True),
            ]
        self.body = nn.Sequential(*layers)

    def forward(self, waveform: Tensor) -> Tensor:
        return self.body(waveform[:, None]).amax(dim=2)  # (B, 4 * width)


# Factories take the same keywords; the ResNets keep torchvision's BatchNorm and fixed widths.
@register_visual_encoder("resnet18")
def _resnet18_visual(weights: str = "none", width: int = 32, norm: str = "batch") -> nn.Module:
    return ResNet18Visual(weights)


@register_visual_encoder("tiny")
def _tiny_visual(weights: str = "none", width: int = 32, norm: str = "batch") -> nn.Module:
    if weights != "none":
        raise AvslError("the tiny visual encoder has no pretrained weights (use visual_weights=none)")
    return TinyVisual(width, norm)


@register_audio_encoder("resnet18")
def _resnet18_audio(width: int = 32, norm: str = "batch") -> nn.Module:
    return ResNet18Audio()


@register_audio_encoder("tiny")
def _tiny_audio(width: int = 32, norm: str = "batch") -> nn.Module:
    return TinyAudio(width, norm)


@register_audio_encoder("vggish_tiny")
def _vggish_tiny(width: int = 32, norm: str = "batch") -> nn.Module:
    return VGGishTiny(width, norm)


@register_audio_encoder("soundnet_tiny")
def _soundnet_tiny(width: int = 32, norm: str = "batch") -> nn.Module:
    return SoundNetTiny(width, norm)
