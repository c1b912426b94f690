"""The localizer as ONNX: frames and waveforms in (any batch size), raw maps out.

The graph holds both encoders, the audio front end (the spectrogram is computed inside, so a
runtime feeds the same windows `avsl` does) and the map. Inputs are what
`LocalizationModel.prepare_image` / `prepare_audio` make: `image` (B, 3, S, S) float, ImageNet-
normalised; `waveform` (B, L) float mono at the model's rate. Output `map_logits` (B, h, w);
min-max normalise and upsample it as `avsl.ops.maps` does for a heatmap. Needs the optional
extra `avsl[onnx]` (onnx and onnxscript for torch's exporter, onnxruntime for the check).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from avsl.constants import IMAGENET_MEAN, IMAGENET_STD
from avsl.errors import AvslError
from avsl.files import atomic_write
from avsl.inference.model import LocalizationModel

OPSET = 18
CHECK_BATCH = 3  # the check runs a batch size other than the export's, to exercise the dynamic axis


class _MapOnly(nn.Module):
    """The localizer with one output: its raw map."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, image: Tensor, waveform: Tensor) -> Tensor:
        return self.network(image, waveform).map_logits


@dataclass
class ExportReport:
    path: Path
    image_shape: tuple
    waveform_length: int
    map_shape: tuple
    max_abs_difference: float | None  # onnxruntime against PyTorch on random input
    preprocessing: dict  # what the file's metadata says a runtime must do (see `preprocessing`)


def export_onnx(model: LocalizationModel, path: Path, check: bool = True) -> ExportReport:
    """Write `path` and, with `check`, compare onnxruntime's maps with PyTorch's first: the file
    appears only once exported and checked, and nothing else is left beside it."""
    _require("onnx", "onnxscript")
    network = _MapOnly(model.network).cpu().eval()
    length = round(model.audio_seconds * model.sample_rate)
    image = torch.randn(2, 3, model.image_size, model.image_size)
    waveform = torch.rand(2, length) * 2 - 1
    with torch.inference_mode():
        map_shape = tuple(network(image[:1], waveform[:1]).shape[1:])
    steps = preprocessing(model, map_shape)
    data = _with_metadata(_exported(network, image, waveform, path), steps)
    difference = parity_difference(network, data, model, length) if check else None
    if difference is not None and not math.isfinite(difference):
        raise AvslError(f"{path}: not written: onnxruntime's maps differ from PyTorch's by {difference} "
                        "(non-finite maps on a random batch)")  # fmt: skip
    atomic_write(path, lambda stream: stream.write(data))
    return ExportReport(path, (3, model.image_size, model.image_size), length, map_shape, difference, steps)


def preprocessing(model: LocalizationModel, map_shape: tuple) -> dict:
    """What a runtime does around the graph, as avsl does it (the file carries it as JSON in its
    metadata, one key each): the image squashed to image_size (bicubic), scaled to [0, 1] and
    normalised by image_mean / image_std, channels first; the audio mono at sample_rate, the
    window_samples centred on the frame's time (tiled when the clip is shorter); the output
    upsampled to the frame (bilinear) and min-max normalised for a heatmap."""
    return {
        "image_size": model.image_size,
        "image_resize": "bicubic",
        "image_mean": list(IMAGENET_MEAN),
        "image_std": list(IMAGENET_STD),
        "sample_rate": model.sample_rate,
        "audio_seconds": model.audio_seconds,
        "window_samples": round(model.audio_seconds * model.sample_rate),
        "frontend": model.predictor.spec["frontend"],
        "map_size": list(map_shape),
        "heatmap": "upsample bilinearly to the frame, then min-max normalise",
    }


def _with_metadata(data: bytes, steps: dict) -> bytes:
    import onnx

    proto = onnx.load_from_string(data)
    for key, value in steps.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    return proto.SerializeToString()


def _exported(network: nn.Module, image: Tensor, waveform: Tensor, path: Path) -> bytes:
    """The ONNX model's bytes. The exporter writes files (a large model's external data too), so
    it writes into a temporary folder beside `path` that is removed whatever happens."""
    batch = torch.export.Dim("batch", min=1)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as folder:
        temp = Path(folder) / path.name
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the exporter's progress notes, not problems
                program = torch.onnx.export(
                    network, (image, waveform), dynamo=True, opset_version=OPSET,
                    input_names=["image", "waveform"], output_names=["map_logits"],
                    dynamic_shapes={"image": {0: batch}, "waveform": {0: batch}}, verbose=False,
                )  # fmt: skip
            program.save(str(temp))
            return temp.read_bytes()
        except Exception as err:  # the exporter raises many types; all mean "this graph did not export"
            raise AvslError(f"ONNX export failed ({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None


def parity_difference(network: nn.Module, data: bytes, model: LocalizationModel, length: int) -> float:
    """The largest |difference| between onnxruntime's maps of the exported `data` and PyTorch's, on
    a seeded random batch of CHECK_BATCH (not the export's size, to exercise the dynamic axis)."""
    _require("onnxruntime")
    # Importing onnxruntime writes a telemetry device id under ~/.cache unless this is set; a
    # command writes nowhere but the paths it is given (a user's own setting is kept).
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    generator = torch.Generator().manual_seed(0)
    image = torch.randn(CHECK_BATCH, 3, model.image_size, model.image_size, generator=generator)
    waveform = torch.rand(CHECK_BATCH, length, generator=generator) * 2 - 1
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (onnx_maps,) = session.run(None, {"image": image.numpy(), "waveform": waveform.numpy()})
    with torch.inference_mode():
        torch_maps = network(image, waveform).numpy()
    return float(np.abs(onnx_maps - torch_maps).max())


def _require(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise AvslError(f"ONNX export needs {', '.join(missing)}: pip install 'avsl[onnx]'")
