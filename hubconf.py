"""torch.hub entry point: `torch.hub.load("<owner>/avsl", "localizer", checkpoint=...)`, or
`torch.hub.load(path_to_this_repository, "localizer", source="local", checkpoint=...)`, returns
the model `avsl.load` returns (an nn.Module: `model(images, waveforms)` gives maps)."""

import sys
from pathlib import Path

dependencies = ["torch", "torchvision", "numpy", "safetensors", "soundfile", "soxr", "PIL", "yaml"]

_SOURCE = Path(__file__).resolve().parent / "src"
if _SOURCE.is_dir() and str(_SOURCE) not in sys.path:
    sys.path.insert(0, str(_SOURCE))  # torch.hub runs this file from a repository checkout


def localizer(checkpoint, device="cpu", network=None, sha256=None):
    """A trained localizer: `checkpoint` is a run folder, a checkpoint file (avsl's, or EZ-VSL's /
    SLAVC's best.pth), an http(s) URL or hf://owner/repo/file, or a name from `avsl models`."""
    from avsl.api import load

    return load(checkpoint, device, network, sha256)
