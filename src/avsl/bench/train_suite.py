"""Training-step speed at the standard size: ResNet-18 pair, 224 x 224 frames, 3 s of 16 kHz
audio as EZ-VSL's 257 x 200 spectrogram, batch 32: the size at which avsl's step is compared with EZ-VSL's own.

Reports, in one run: this machine's fp32 matrix-multiply rate (2048 x 2048), each localizer's
step samples/s and its FLOP rate (torch's flop counter) as a fraction of the matmul rate, where
the step's time goes (convolutions against the memory-bound layers, from torch.profiler), the
bf16-autocast step, the data path alone (clip bank + weak augmentation), and the whole loop
(data + step), whose shortfall against the step alone is what data loading costs. The process
tunes malloc as the trainer does (avsl.engine.allocator); a spawned process measures the step
and the loop again under the C library's default malloc, for comparison. bf16 is measured only
where the CPU has native bf16 (elsewhere it runs on a reference path for many minutes); the JSON
says when it was skipped. On a GPU the suite is `avsl.bench.train_scale`.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from avsl.bench import train_scale
from avsl.bench.timing import alternating_median_seconds, median_seconds
from avsl.config import load_config
from avsl.data.augment import stored_size
from avsl.data.dataset import AVDataset
from avsl.data.memory import ClipBank, load_clip_bank
from avsl.data.synth.presets import get_preset
from avsl.data.synth.writer import generate
from avsl.engine.allocator import retain_freed_memory
from avsl.engine.batches import BatchAssembler
from avsl.engine.build import build_method
from avsl.methods.base import StreamSpec
from avsl.precision import autocast, native_bf16
from avsl.types import AVBatch

BATCH = 32
SIZE = 224
SECONDS = 3.0
LOCALIZERS = ("ezvsl", "lvs")


def matmul_flops_per_second(dtype: torch.dtype = torch.float32, n: int = 2048) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / median_seconds(lambda: a @ b, repeats=10, warmup=3)


def step_method(localizer: str):
    """The selfsup method over `localizer` at the standard size (channels-last), and its optimizer."""
    config = load_config(None, [
        "method=selfsup", f"model.localizer={localizer}", "model.visual=resnet18", "model.audio=resnet18",
        "model.frontend=ezvsl", "model.dim=512", f"data.batch_size={BATCH}",
    ])  # fmt: skip
    method = build_method(config)
    method.modules.to(memory_format=torch.channels_last)
    return method, torch.optim.AdamW(method.trainable(), lr=1e-4)


def timed_step(method, optimizer, batch, precision: str) -> None:
    """One training step as the trainer takes it: forward under `precision`, backward, update."""
    with autocast(torch.device("cpu"), precision):
        output = method.training_step({"all": batch}, "warmup")
    optimizer.zero_grad(set_to_none=True)
    output.loss.backward()
    optimizer.step()


def run(repeats: int = 3, device: torch.device | None = None) -> dict:
    if device is not None and device.type == "cuda":
        return train_scale.run(device)
    results: dict = {"batch": BATCH, "image_size": SIZE, "audio_seconds": SECONDS, "threads": torch.get_num_threads()}
    results["malloc_tuned"] = retain_freed_memory()
    fp32_rate = matmul_flops_per_second(torch.float32)
    results["matmul_gflops_fp32"] = round(fp32_rate / 1e9, 1)
    precisions = ("fp32", "bf16") if native_bf16(torch.device("cpu")) else ("fp32",)
    if "bf16" in precisions:
        results["matmul_gflops_bf16"] = round(matmul_flops_per_second(torch.bfloat16) / 1e9, 1)
    else:
        results["bf16_skipped"] = "this CPU has no native bf16 arithmetic (a reference path would take many minutes)"
    next_batch = batch_source(clip_bank())
    results["loader_samples_per_s"] = round(BATCH / median_seconds(next_batch, repeats=10), 1)
    fixed = next_batch()
    for localizer in LOCALIZERS:
        results[localizer] = _measure(localizer, fixed, next_batch, fp32_rate, repeats, precisions)
    # malloc's settings cannot be undone in this process: the default is measured in a new one
    # (an executor's worker, unlike a Pool's, may start the clip bank's loader processes)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        results["default_malloc"] = pool.submit(_default_malloc_loops, repeats).result()
    return results


def clip_bank() -> ClipBank:
    """Four batches of synthetic clips at the standard size, decoded into memory."""
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        preset = dataclasses.replace(get_preset("tiny"), image_size=SIZE, audio_seconds=SECONDS)
        generate(Path(folder) / "d", preset.with_counts(4 * BATCH, 0, 0), seed=0)
        dataset = AVDataset(Path(folder) / "d" / "train", stored_size(SIZE), 16_000, SECONDS, frames="uint8")
        return load_clip_bank(dataset, workers=2)


def batch_source(bank: ClipBank) -> Callable[[], AVBatch]:
    """What the trainer does for a batch (`avsl.engine.batches`), one step after another."""
    assembler = BatchAssembler(bank, {"all": torch.arange(len(bank))}, 0, SIZE, torch.device("cpu"), True)
    plan = {"all": StreamSpec("all", BATCH)}
    steps = iter(range(10**9))
    return lambda: assembler.batches(next(steps), plan)["all"]


def _default_malloc_loops(repeats: int) -> dict:
    next_batch = batch_source(clip_bank())
    fixed = next_batch()
    return {name: _loop_against_step(*step_method(name), fixed, next_batch, repeats) for name in LOCALIZERS}


def _time_shares(method, optimizer, batch) -> dict:
    """Where an fp32 step's time goes: convolutions (the FLOPs) against the memory-bound rest."""
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        timed_step(method, optimizer, batch, "fp32")
    self_us = {e.key: e.self_cpu_time_total for e in profiler.key_averages()}
    total = sum(self_us.values())
    groups = {
        "convolution": ("aten::mkldnn_convolution", "aten::convolution_backward"),
        "batch_norm": ("aten::native_batch_norm", "aten::native_batch_norm_backward"),
        "relu": ("aten::relu_", "aten::clamp_min_", "aten::threshold_backward"),
        "max_pool": ("aten::max_pool2d_with_indices", "aten::max_pool2d_with_indices_backward"),
        "zero_fill": ("aten::fill_", "aten::zero_"),  # mostly max-pool backward's gradient buffer
    }
    shares = {name: round(sum(self_us.get(k, 0) for k in keys) / total, 3) for name, keys in groups.items()}
    shares["other"] = round(1 - sum(shares.values()), 3)
    return {"time_shares": shares, "convolution_seconds": round(total * shares["convolution"] / 1e6, 3)}


def _measure(localizer: str, fixed, next_batch, fp32_rate: float, repeats: int, precisions: tuple[str, ...]) -> dict:
    method, optimizer = step_method(localizer)
    with FlopCounterMode(display=False) as counter:
        timed_step(method, optimizer, fixed, "fp32")
    flops = counter.get_total_flops()
    row: dict = {"gflop_per_step": round(flops / 1e9, 1)}
    profiled = _time_shares(method, optimizer, fixed)
    # nearly all counted FLOPs are convolutions: their own rate against the matmul rate
    profiled["convolution_fraction_of_matmul"] = round(flops / profiled["convolution_seconds"] / fp32_rate, 3)
    row.update(profiled)
    for precision in precisions:
        seconds = median_seconds(lambda p=precision: timed_step(method, optimizer, fixed, p), repeats=repeats)
        row[f"step_samples_per_s_{precision}"] = round(BATCH / seconds, 2)
        if precision == "fp32":
            row["fp32_fraction_of_matmul"] = round(flops / seconds / fp32_rate, 3)
    row.update(_loop_against_step(method, optimizer, fixed, next_batch, repeats))
    if "bf16" in precisions:
        row["bf16_speedup"] = round(row["step_samples_per_s_bf16"] / row["step_samples_per_s_fp32"], 2)
    return row


def _loop_against_step(method, optimizer, fixed: AVBatch, next_batch: Callable[[], AVBatch], repeats: int) -> dict:
    """The loop (a fresh batch from the loader, then the step) against the step on a ready
    batch, alternately: their gap, a few per cent of a 3-second step, is below the drift of two
    separate medians."""
    step, loop = alternating_median_seconds(
        lambda: timed_step(method, optimizer, fixed, "fp32"),
        lambda: timed_step(method, optimizer, next_batch(), "fp32"),
        repeats=2 * repeats + 1,
    )
    return {
        "paired_step_samples_per_s_fp32": round(BATCH / step, 2),
        "loop_samples_per_s_fp32": round(BATCH / loop, 2),
        "data_loading_loss": round(1 - step / loop, 3),
    }
