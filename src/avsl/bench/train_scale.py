"""Training speed at the papers' scale on a GPU (`avsl bench --suite train --device cuda`).

In one run: the device's bf16 matrix-multiply rate; for the self-supervised EZ-VSL step and
DMT's unbiased step (ResNet-18 pairs, 224 px, 3 s EZ-VSL spectrograms, channels-last) at
batch 128 and 256 in fp32 and bf16: the step on a ready batch, the whole loop (the prefetching
loader over a memory-mapped cache, then the step), peak GPU memory, the FLOP rate as a fraction
of the bf16 matmul rate, and the projected time of one 144k-clip epoch; and the loader alone
over a synthetic cache of `cache_clips` clips (50,000 at 224 px is 14 GB: more than the CPU
machines' memory).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from avsl.bench.timing import median_seconds, wait_for_devices
from avsl.config import load_config
from avsl.configs import PAPER_ENCODERS
from avsl.data.augment import stored_size
from avsl.data.cache import AUDIO_FILE, FRAMES_FILE, open_cache, write_index
from avsl.engine.batches import BatchAssembler, Prefetcher
from avsl.engine.build import build_method
from avsl.methods.base import StreamSpec
from avsl.precision import autocast, resolve_precision

SIZE = 224
SECONDS = 3.0
RATE = 16_000
EPOCH_CLIPS = 144_000  # Flickr-SoundNet / VGG-Sound 144k training lists (EZ-VSL, SLAVC)
METHODS = {
    "selfsup": ["method=selfsup"],
    "dmt": ["method=dmt", "semi.warmup_epochs=0", "semi.pair_b_audio=resnet18"],
}


def run(
    device: torch.device,
    batches: tuple[int, ...] = (128, 256),
    cache_clips: int = 50_000,
    steps: int = 12,
    work_dir: Path | None = None,
    size: int = SIZE,
    encoders: tuple[str, ...] = PAPER_ENCODERS,
) -> dict:
    """See the module docstring; `size` and `encoders` shrink it for a test on the CPU."""
    results: dict = {"device": device_name(device), "image_size": size, "audio_seconds": SECONDS}
    bf16_rate = matmul_rate(device, torch.bfloat16, n=8192 if device.type == "cuda" else 256)
    results["matmul_tflops_bf16"] = round(bf16_rate / 1e12, 3)
    with tempfile.TemporaryDirectory(dir=work_dir) as folder:
        started = time.perf_counter()
        cache = open_cache(write_synthetic_cache(Path(folder) / "cache", cache_clips, size))
        results["cache"] = {"clips": cache_clips, "gib": round(_cache_bytes(cache) / 2**30, 1),
                            "write_seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
        results["rows"] = []
        for method in METHODS:
            for batch in batches:
                for precision in ("fp32", "bf16"):
                    row = _measure(cache, method, batch, precision, device, bf16_rate, steps, encoders)
                    results["rows"].append(row)
        results["loader_alone"] = {str(b): _loader_rate(cache, b, device, steps) for b in batches}
    return results


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int = 8192) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return 2 * n**3 / median_seconds(lambda: a @ b, repeats=10, warmup=3)


def write_synthetic_cache(path: Path, clips: int, size: int = SIZE, distinct: int = 512) -> Path:
    """A cache in the real format whose clips repeat `distinct` random ones (writing 50k random
    clips would time the random generator, not the loader)."""
    side, samples = stored_size(size), round(SECONDS * RATE)
    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    frame_block = rng.integers(0, 256, (distinct, 3, side, side), dtype=np.uint8)
    audio_block = (0.1 * rng.standard_normal((distinct, samples))).astype(np.float16)
    for name, block in ((FRAMES_FILE, frame_block), (AUDIO_FILE, audio_block)):
        with open(path / name, "wb") as stream:
            for start in range(0, clips, distinct):
                stream.write(block[: min(distinct, clips - start)].tobytes())
    ids = [f"c{i}" for i in range(clips)]
    write_index(path, side, size, RATE, SECONDS, ids, [[[0.2, 0.2, 0.7, 0.8]]] * clips, [True] * clips)
    return path


def _cache_bytes(cache) -> int:
    return cache.frames.numel() + 2 * cache.audio.numel()


def _measure(cache, method_name: str, batch: int, precision: str, device, bf16_rate, steps: int, encoders) -> dict:
    labeled = batch // 4  # DMT's batch: a quarter labelled, as the 32 + 96
    config = load_config(None, [*METHODS[method_name], *encoders, f"data.batch_size={batch}",
                                f"semi.labeled_batch={labeled}", f"precision={precision}"])  # fmt: skip
    precision = resolve_precision(config.precision, device)
    method = build_method(config)
    method.modules.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(method.trainable(), lr=1e-4)
    pools = {"all": torch.arange(len(cache)), "labeled": torch.arange(labeled * 8),
             "unlabeled": torch.arange(labeled * 8, len(cache))}  # fmt: skip
    assembler = BatchAssembler(cache, pools, 0, cache.input_size, device, channels_last=True)
    stage = "unbiased" if method_name == "dmt" else "warmup"  # DMT's step after its warm-up
    method.start_unbiased()  # DMT: teachers <- students (nothing for a single model)

    def step(batches) -> None:
        with autocast(device, precision):
            output = method.training_step(batches, stage)
        optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        optimizer.step()
        if stage == "unbiased":
            method.update_teachers(config.semi.alpha)

    fixed = assembler.batches(0, method.streams(stage))
    step(fixed)  # the first step's one-off costs (allocations, kernels) out of the timing
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step_seconds = median_seconds(lambda: step(fixed), repeats=steps, warmup=2)
    with FlopCounterMode(display=False) as counter:
        step(fixed)
    loop_seconds = _loop_seconds(assembler, method.streams(stage), step, steps)
    flops = counter.get_total_flops()
    row = {
        "method": method_name,
        "batch": batch,
        "precision": precision,
        "step_samples_per_s": round(batch / step_seconds, 1),
        "loop_samples_per_s": round(batch / loop_seconds, 1),
        "loop_fraction_of_step": round(step_seconds / loop_seconds, 3),
        "gflop_per_sample": round(flops / batch / 1e9, 1),
        "fraction_of_bf16_matmul": round(flops / step_seconds / bf16_rate, 3),
        "epoch_144k_seconds": round(EPOCH_CLIPS * loop_seconds / batch, 1),
    }
    if device.type == "cuda":
        row["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return row


def _loop_seconds(assembler, plan: dict[str, StreamSpec], step, steps: int) -> float:
    """Median seconds per step of the real loop: prefetched batches from the cache, then the step."""
    times = []
    with Prefetcher(assembler, lambda _: plan, range(100, 100 + steps + 2)) as prefetched:
        last = time.perf_counter()
        for _, batches in prefetched:
            step(batches)
            wait_for_devices()
            now = time.perf_counter()
            times.append(now - last)
            last = now
    return float(np.median(times[2:]))


def _loader_rate(cache, batch: int, device, steps: int) -> float:
    """Samples/s of the loader alone (gather, pinned copy, crop and normalise on the device)."""
    pools = {"all": torch.arange(len(cache))}
    assembler = BatchAssembler(cache, pools, 0, cache.input_size, device, channels_last=True)
    plan = {"all": StreamSpec("all", batch)}
    with Prefetcher(assembler, lambda _: plan, range(steps + 2)) as prefetched:
        iterator = iter(prefetched)
        next(iterator)
        wait_for_devices()
        start = time.perf_counter()
        for _ in iterator:
            pass
        wait_for_devices()
    return round(batch * (steps + 1) / (time.perf_counter() - start), 1)
