"""The peers' released checkpoints (EZ-VSL's and SLAVC's `best.pth`) as avsl localizers.

Both save `{"model": state_dict, ...}` with torch.save; the state dict (keys possibly prefixed
`module.` by DistributedDataParallel) holds a torchvision ResNet-18 `imgnet.*` (avgpool and fc
replaced by identities), an audio ResNet-18 `audnet.*` with a one-channel stem, and projections
(EZ-VSL: `img_proj`, `aud_proj`; SLAVC: `img_proj1/2`, `aud_proj1/2`, plus momentum copies that
its evaluation does not use). Their maps are `(f_v . f_a) / tau` on L2-normalised features
(SLAVC: the mean over its two heads), computed on EZ-VSL's log-spectrogram of the audio; the
import reproduces them exactly with `eps = 0`. Files are read with torch's `weights_only`
loader, which refuses anything but tensors and plain containers: nothing is unpickled freely.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor

from avsl.errors import AvslError

PEER_TAU = 0.03  # EZ-VSL's and SLAVC's default --tau
PEER_IMAGE_SIZE = 224
# EZ-VSL tests on 3 s windows; SLAVC's test loader reads 5 s (its datasets.py, audio_dur=5.).
PEER_AUDIO_SECONDS = {"ezvsl": 3.0, "slavc": 5.0}
# torchvision's ResNet-18 children, as avsl's `body` Sequential numbers them (avgpool, fc dropped)
_RESNET_CHILDREN = {"conv1": 0, "bn1": 1, "layer1": 4, "layer2": 5, "layer3": 6, "layer4": 7}
_PROJECTIONS = {
    "ezvsl": {"img_proj": "visual_proj", "aud_proj": "audio_proj"},
    "slavc": {
        "img_proj1": "visual_proj",
        "aud_proj1": "audio_proj",
        "img_proj2": "visual_proj2",
        "aud_proj2": "audio_proj2",
    },
}


def is_peer_checkpoint(path: Path) -> bool:
    """A torch.save file (a zip archive, or an old-style pickle) rather than safetensors.

    A safetensors file starts with its header's 8-byte length and then the JSON header's "{";
    that is checked first, as the length's first byte may be anything, 0x80 included.
    """
    try:
        with open(path, "rb") as stream:
            head = stream.read(9)
    except OSError:
        return False
    if head[8:9] == b"{":
        return False
    return head[:2] == b"PK" or head[:1] == b"\x80"


def load_peer_checkpoint(path: Path, tau: float = PEER_TAU) -> tuple[dict, dict[str, Tensor], float]:
    """(localizer spec, avsl state dict, audio seconds) of an EZ-VSL or SLAVC checkpoint."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on old pickle protocols: the verdict is below
            saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # the safe loader's refusals and format errors alike
        raise AvslError(f"{path}: not an avsl checkpoint, nor a loadable EZ-VSL/SLAVC state dict "
                        f"({type(err).__name__})") from None  # fmt: skip
    state = saved.get("model", saved) if isinstance(saved, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise AvslError(f"{path}: expected a state dict (or {{'model': state dict}}) of tensors")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    kind = "slavc" if "img_proj1.weight" in state else "ezvsl" if "img_proj.weight" in state else None
    if kind is None:
        raise AvslError(f"{path}: neither EZ-VSL's (img_proj.*) nor SLAVC's (img_proj1.*) state dict layout")
    converted = {}
    for key, value in state.items():
        target = _avsl_key(key, kind)
        if target is not None:
            converted[target] = value
    dim = int(state["img_proj1.weight" if kind == "slavc" else "img_proj.weight"].shape[0])
    spec = {"name": kind, "visual": "resnet18", "audio": "resnet18", "visual_weights": "none", "width": 32,
            "norm": "batch", "dim": dim, "frontend": "ezvsl", "sample_rate": 16_000, "eps": 0.0, "tau": tau}  # fmt: skip
    return spec, converted, PEER_AUDIO_SECONDS[kind]


def _avsl_key(key: str, kind: str) -> str | None:
    """The avsl name of a peer tensor; None for tensors the peer's evaluation does not use."""
    head, _, rest = key.partition(".")
    if head in ("imgnet", "audnet"):
        child, _, tail = rest.partition(".")
        if child not in _RESNET_CHILDREN:
            return None  # fc / avgpool are identities: no tensors
        return f"{'visual' if head == 'imgnet' else 'audio'}.body.{_RESNET_CHILDREN[child]}.{tail}"
    if head in _PROJECTIONS[kind]:
        return f"{_PROJECTIONS[kind][head]}.{rest}"
    return None  # SLAVC's momentum encoders
