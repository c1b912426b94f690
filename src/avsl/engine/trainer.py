"""The training loop shared by every method: data streams, optimisation, evaluation,
logging and checkpoints. The method decides what a step computes; this decides when."""

from __future__ import annotations

import contextlib
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from avsl.checkpoint import (
    BEST_FILE,
    LAST_FILE,
    load_checkpoint,
    load_module_state,
    optimizer_tensors,
    prefixed,
    restore_optimizer,
    save_checkpoint,
    unprefixed,
)
from avsl.config import TrainConfig, config_to_dict, config_to_yaml
from avsl.data.augment import CropParams, sample_crops, weak_augment
from avsl.data.memory import BatchStream, ClipBank
from avsl.engine.allocator import retain_freed_memory
from avsl.engine.build import NEEDS_BOXES, build_method, steps_per_epoch
from avsl.engine.data import TrainData, load_train_data
from avsl.engine.distributed import init_distributed, local_device, shutdown_distributed
from avsl.engine.evaluate import evaluate
from avsl.engine.runlog import RunLog
from avsl.engine.schedule import learning_rate, step_seed
from avsl.errors import AvslError
from avsl.files import atomic_write
from avsl.types import AVBatch

CHECKPOINT_FORMAT = "avsl-checkpoint-1"


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    best: dict | None
    final: dict  # val metrics of the evaluated networks at the end
    seconds: float


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(
    config: TrainConfig,
    train_dir: Path,
    val_dir: Path | None,
    run_dir: Path,
    device: torch.device,
    resume: bool = False,
    progress: bool | None = None,
    max_steps: int | None = None,
) -> TrainResult:
    """Train `config.method` on the layout at `train_dir`; evaluate on `val_dir` every epoch.

    Args:
        max_steps: stop after this many steps (an interruption, for tests); the schedule
            still spans the configured epochs.
    """
    started = time.perf_counter()
    retain_freed_memory()  # each step reuses the previous step's pages (see avsl.engine.allocator)
    device = local_device(device)
    dist_info = init_distributed(device)
    data = load_train_data(
        train_dir, val_dir, config.data.image_size, config.data.audio_seconds, config.data.sample_rate,
        config.labeled_fraction, config.method in NEEDS_BOXES, config.seed, config.data.workers,
    )  # fmt: skip
    per_epoch = steps_per_epoch(len(data.train), config.data.batch_size)
    total_steps = config.optim.epochs * per_epoch
    method = build_method(config, per_epoch)
    _check_shards(method, total_steps, dist_info.world)
    method.modules.to(device)
    if config.channels_last:
        method.modules.to(memory_format=torch.channels_last)
    if dist_info.world > 1:
        method.runners = {
            name: nn.parallel.DistributedDataParallel(method.modules[name]) for name in method.trainable_names()
        }
    optimizer = _optimizer(config, method.trainable())
    log = RunLog(run_dir, enabled=dist_info.is_main)
    start_step, best = 0, None
    if resume:
        start_step, best = _restore(run_dir / LAST_FILE, method, optimizer)
        log.truncate_after(start_step)
    elif dist_info.is_main:
        _write_run_files(run_dir, config, data, train_dir, val_dir)
    header = {
        "format": CHECKPOINT_FORMAT,
        "config": config_to_dict(config),
        "inference": method.inference_name,
        "specs": method.specs,
        "image_size": data.image_size,
        "audio_seconds": data.audio_seconds,
        "data": {"train": str(train_dir), "val": str(val_dir) if val_dir else None},
    }
    streams: dict[str, BatchStream] = {}
    pools = {
        "all": torch.arange(len(data.train)),
        "labeled": data.labeled,
        "unlabeled": data.unlabeled,
    }
    epoch_logs: dict[str, list[float]] = {}
    last_metrics: dict = {}
    end_step = total_steps if max_steps is None else min(total_steps, max_steps)
    samples, tick = 0, time.perf_counter()
    bar = tqdm(total=total_steps, initial=start_step, desc=f"train {config.method}", unit="step",
               disable=(not dist_info.is_main) if progress is None else not (progress and dist_info.is_main))  # fmt: skip
    for step in range(start_step, end_step):
        lr = learning_rate(step, config.optim.lr, total_steps, config.optim.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        torch.manual_seed(step_seed(config.seed, step))  # the step's augmentation randomness
        generator = torch.Generator().manual_seed(step_seed(config.seed, step))
        batches = {}
        for name, spec in method.streams(step).items():
            if name not in streams:
                streams[name] = BatchStream(pools[spec.pool], spec.batch_size, config.seed, zlib.crc32(name.encode()))
            indices = streams[name].indices(step)
            crops = sample_crops(len(indices), data.train.images.shape[-1], data.image_size, generator)
            seeds = _view_seeds(len(indices), step_seed(config.seed, step), name)
            mine = slice(dist_info.rank, None, dist_info.world)
            view = _weak_view(data.train, indices[mine], crops[mine], data.image_size, device, config.channels_last)
            batches[name] = replace(view, seeds=seeds[mine])
        with autocast(device, config.precision):
            output = method.training_step(batches, step)
        optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        if config.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(method.trainable(), config.optim.grad_clip)
        optimizer.step()
        method.after_optimizer_step(step)
        samples += sum(len(b) for b in batches.values()) * dist_info.world
        loss_value = float(output.loss.detach())
        for key, value in {"loss": loss_value, **output.logs}.items():
            epoch_logs.setdefault(key, []).append(value)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{lr:.2e}")
        done = step + 1
        if done % per_epoch == 0 or done == total_steps:
            elapsed = time.perf_counter() - tick
            record = {
                "step": done,
                "epoch": done / per_epoch,
                "lr": lr,
                "samples_per_s": samples / max(elapsed, 1e-9),
            }
            record.update({f"train/{k}": sum(v) / len(v) for k, v in epoch_logs.items()})
            if dist_info.is_main and data.val is not None:
                last_metrics = _validate(method, step, data.val, config, device)
                record.update({f"val/{n}/{k}": v for n, m in last_metrics.items() for k, v in m.items()})
                score = last_metrics.get(method.inference_name, {}).get("ap50")
                if score is not None and (best is None or score > best["ap50"]):
                    best = {"ap50": score, "step": done}
                    _save(run_dir / BEST_FILE, method, optimizer, {**header, "step": done, "best": best})
            log.write(record, done)
            epoch_logs, samples, tick = {}, 0, time.perf_counter()
            if dist_info.is_main:
                _save(run_dir / LAST_FILE, method, optimizer, {**header, "step": done, "best": best})
        elif config.checkpoint_every and done % config.checkpoint_every == 0 and dist_info.is_main:
            _save(run_dir / LAST_FILE, method, optimizer, {**header, "step": done, "best": best})
    bar.close()
    if dist_info.is_main and end_step == total_steps and best is None:
        _save(run_dir / BEST_FILE, method, optimizer, {**header, "step": end_step, "best": None})
    log.close()
    if dist_info.world > 1:
        shutdown_distributed()
    return TrainResult(run_dir, end_step, best, last_metrics, time.perf_counter() - started)


def _check_shards(method, total_steps: int, world: int) -> None:
    """Each rank takes an equal share of every batch; unequal shards would weigh clips unequally."""
    sizes = {spec.batch_size for step in (0, total_steps - 1) for spec in method.streams(step).values()}
    uneven = sorted(size for size in sizes if size % world)
    if uneven:
        raise AvslError(f"batch sizes {uneven} do not divide over {world} processes; choose multiples of {world}")


def _optimizer(config: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    kind = config.optim.optimizer
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=config.optim.lr, weight_decay=config.optim.weight_decay)
    if kind == "adam":
        return torch.optim.Adam(params, lr=config.optim.lr, weight_decay=config.optim.weight_decay)
    raise AvslError(f"unknown optimizer {kind!r}; choose adamw or adam")


def _view_seeds(count: int, seed: int, stream: str) -> torch.Tensor:
    """Per-clip seeds of the step's global batch for the method's own random views."""
    generator = torch.Generator().manual_seed(seed ^ zlib.crc32(stream.encode()))
    return torch.randint(0, 2**62, (count,), generator=generator)


def _weak_view(
    bank: ClipBank, indices: torch.Tensor, crops: CropParams, size: int, device: torch.device, channels_last: bool
) -> AVBatch:
    batch = bank.batch(indices)
    image, boxes = weak_augment(batch.image, batch.boxes, size, crops)
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    return replace(batch, image=image, boxes=boxes).to(device)


@torch.no_grad()
def _validate(method, step: int, val: ClipBank, config: TrainConfig, device: torch.device) -> dict:
    """ap50 / ciou_mean / auc on the val split for each network the method exposes now."""
    results = {}
    for name, module in method.evaluated(step).items():
        was_training = module.training
        module.eval()

        def predict(batch: AVBatch, model=module) -> torch.Tensor:
            with autocast(device, config.precision):
                return model(batch.image, batch.audio).map_logits

        outcome = evaluate(predict, val.batches(config.data.batch_size), device=device, progress=False)
        summary = outcome.metrics("median")
        results[name] = {k: summary[k] for k in ("ap50", "ciou_mean", "auc")}
        results[name]["ciou_small"] = summary["ciou_by_size"]["small"]["ciou_mean"]
        module.train(was_training)
    return results


def _save(path: Path, method, optimizer: torch.optim.Optimizer, header: dict) -> None:
    optim_tensors, optim_state = optimizer_tensors(optimizer)
    tensors = {
        **prefixed("modules.", method.modules.state_dict()),
        **prefixed("optim.", optim_tensors),
    }
    save_checkpoint(path, tensors, {**header, "optimizer": optim_state})


def _restore(path: Path, method, optimizer: torch.optim.Optimizer) -> tuple[int, dict | None]:
    tensors, header = load_checkpoint(path)
    if header.get("format") != CHECKPOINT_FORMAT:
        raise AvslError(f"{path}: not a training checkpoint of this avsl version")
    load_module_state(method.modules, unprefixed("modules.", tensors), path)
    restore_optimizer(optimizer, unprefixed("optim.", tensors), header["optimizer"])
    return int(header["step"]), header.get("best")


def _write_run_files(
    run_dir: Path, config: TrainConfig, data: TrainData, train_dir: Path, val_dir: Path | None
) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    text = config_to_yaml(config).encode()
    atomic_write(run_dir / "config.yaml", lambda stream: stream.write(text))
    ids = "".join(data.train.ids[i] + "\n" for i in data.labeled.tolist()).encode()
    atomic_write(run_dir / "labeled_ids.txt", lambda stream: stream.write(ids))
    (run_dir / "log.jsonl").unlink(missing_ok=True)
    skipped = [f"{s.id}\t{s.reason}\n" for s in data.train.skipped + (data.val.skipped if data.val else [])]
    if skipped:
        report = "".join(skipped).encode()
        atomic_write(run_dir / "skipped.tsv", lambda stream: stream.write(report))
