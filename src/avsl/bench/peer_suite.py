"""`avsl bench --suite peer`: avsl's fp32 training step against EZ-VSL's own, in one process,
timed in turn round after round (medians), at EZ-VSL's standard size: the ResNet-18 pair, 224 x
224 frames, 3 s of audio as its 257 x 200 log-spectrogram, batch 32, Adam.

EZ-VSL's step is its public `model.py` run as its `train.py` runs it (forward, loss, backward,
Adam step), loaded from a local copy of its repository that AVSL_EZVSL_SOURCE names; nothing of
it is copied into avsl. Its ImageNet download is switched off (the `resnet18` its module
imported builds an untrained network: speed needs no weights). Without the variable the suite
says why it did not run.

To measure a CPU without AVX-512 on one that has it, restrict oneDNN and ATen alike:
`ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 avsl bench --suite peer`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
import torchvision

from avsl.bench import train_suite
from avsl.bench.timing import alternating_median_seconds
from avsl.errors import AvslError

SOURCE_VARIABLE = "AVSL_EZVSL_SOURCE"
# EZ-VSL train.py's defaults: tau 0.03, out_dim 512, Adam at init_lr 1e-4; its spectrogram of
# 3 s (scipy, nperseg 512, noverlap 274) is 257 x 200
TAU, DIM, LR = 0.03, 512, 1e-4
SPECTROGRAM = (257, 200)


def run(repeats: int = 7, device: torch.device | None = None) -> dict:
    source = os.environ.get(SOURCE_VARIABLE)
    if not source:
        return {"skipped": f"set {SOURCE_VARIABLE} to a local copy of EZ-VSL's repository "
                           "(github.com/stoneMo/EZ-VSL) to time its step beside avsl's"}  # fmt: skip
    peer_step = _peer_step(Path(source))
    method, optimizer = train_suite.step_method("ezvsl")
    batch = train_suite.batch_source(train_suite.clip_bank())()
    peer_seconds, avsl_seconds = alternating_median_seconds(
        peer_step, lambda: train_suite.timed_step(method, optimizer, batch, "fp32"), repeats=repeats
    )
    batch_size = train_suite.BATCH
    return {
        "batch": batch_size,
        "image_size": train_suite.SIZE,
        "repeats": repeats,
        "peer": f"EZ-VSL model.py from {source}",
        "ezvsl_step_samples_per_s": round(batch_size / peer_seconds, 2),
        "avsl_step_samples_per_s": round(batch_size / avsl_seconds, 2),
        "avsl_over_ezvsl": round(peer_seconds / avsl_seconds, 2),
    }


def _peer_step(source: Path):
    """EZ-VSL's training step on a fixed random batch, as its train.py takes it."""
    model_file = source / "model.py"
    if not model_file.is_file():
        raise AvslError(f"{SOURCE_VARIABLE}={source}: no model.py there (a copy of EZ-VSL's repository?)")
    spec = importlib.util.spec_from_file_location("ezvsl_peer_model", model_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.resnet18 = lambda **_: torchvision.models.resnet18(weights=None)  # no ImageNet download
    torch.manual_seed(0)
    model = module.EZVSL(TAU, DIM).train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    image = torch.randn(train_suite.BATCH, 3, train_suite.SIZE, train_suite.SIZE)
    spectrogram = torch.randn(train_suite.BATCH, 1, *SPECTROGRAM)

    def step() -> None:
        loss, _ = model(image.float(), spectrogram.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step
