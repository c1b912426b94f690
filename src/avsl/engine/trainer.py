"""The training loop shared by every method: data streams, optimisation, evaluation,
logging and checkpoints. The method decides what a step computes; this decides when."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from avsl.checkpoint import check_module_state
from avsl.config import TrainConfig, config_to_dict, config_to_yaml
from avsl.data.source import ClipSource, evaluation_batches
from avsl.engine.allocator import retain_freed_memory
from avsl.engine.batches import BatchAssembler, Prefetcher
from avsl.engine.build import NEEDS_BOXES, SEMI_SUPERVISED, build_method, method_defaults, steps_per_epoch
from avsl.engine.data import Selection, TrainData, load_train_data
from avsl.engine.distributed import init_distributed, local_device, shutdown_distributed
from avsl.engine.evaluate import evaluate
from avsl.engine.precision import autocast, resolve_precision
from avsl.engine.runlog import RunLog
from avsl.engine.schedule import learning_rate, step_seed
from avsl.errors import AvslError
from avsl.files import atomic_write, remove_temporary_files
from avsl.inference.checkpoint_predictor import CheckpointPredictor
from avsl.run import (
    BEST_FILE,
    CONFIG_FILE,
    LABELED_FILE,
    LAST_FILE,
    RUN_FILES,
    SKIPPED_FILE,
    RunHeader,
    clear_run,
    epoch_file,
    restore_run,
    save_run,
)
from avsl.types import AVBatch

PROGRESS_EVERY = 20  # steps between progress-bar loss readings (each waits for the device)


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    best: dict | None
    final: dict  # val metrics of the evaluated networks at the end
    seconds: float
    finished_before: bool = False  # a resumed run that had already trained every step


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
    """Train `config.method` on the layout or cache at `train_dir`; evaluate on `val_dir` every epoch.

    Args:
        max_steps: stop after this many steps (an interruption, for tests); the schedule
            still spans the configured epochs.
    """
    started = time.perf_counter()
    config = method_defaults(config)
    retain_freed_memory()  # each step reuses the previous step's pages (see avsl.engine.allocator)
    device = local_device(device)
    precision = resolve_precision(config.precision, device)
    dist_info = init_distributed(device)
    data = load_train_data(
        train_dir, val_dir, config.data.image_size, config.data.audio_seconds, config.data.sample_rate,
        config.labeled_fraction, config.method in NEEDS_BOXES, config.seed, config.data.workers,
        config.data.max_pixels, config.data.strict, *selections(config),
        needs_unlabeled=config.method in SEMI_SUPERVISED,
    )  # fmt: skip
    if dist_info.is_main:
        _warn_skipped(data, run_dir)
    per_epoch = steps_per_epoch(len(data.train), config.data.batch_size)
    total_steps = config.optim.epochs * per_epoch
    # A resumed run takes every weight from its checkpoint: initial weights (a file that may
    # have moved since, or a download) are not loaded.
    build_config = replace(config, model=replace(config.model, visual_weights="none")) if resume else config
    method = build_method(build_config, per_epoch)
    if config.model.init_from and not resume:
        initialize_from(method, Path(config.model.init_from))
    _check_shards(method, total_steps, dist_info.world)
    _place(method, device, config, dist_info.world)
    optimizer = _optimizer(config, method.trainable())
    start_step, best, epoch_state = 0, None, {}
    if resume:
        start_step, best, epoch_state = _restore(run_dir / LAST_FILE, method, optimizer)
        if start_step >= total_steps:
            if dist_info.world > 1:
                shutdown_distributed()
            return TrainResult(run_dir, start_step, best, {}, time.perf_counter() - started, finished_before=True)
    elif dist_info.is_main:
        _write_run_files(run_dir, config, data, train_dir, val_dir)
    log = RunLog(run_dir, enabled=dist_info.is_main)
    if resume and dist_info.is_main:
        log.truncate_after(start_step)
        remove_temporary_files(run_dir, RUN_FILES)  # left by a kill during a write
    header = RunHeader(
        config=config_to_dict(config), inference=method.inference_name, specs=method.specs,
        image_size=data.image_size, audio_seconds=data.audio_seconds,
        data={"train": str(train_dir), "val": str(val_dir) if val_dir else None},
    )  # fmt: skip
    pools = {"all": torch.arange(len(data.train)), "labeled": data.labeled, "unlabeled": data.unlabeled}
    assembler = BatchAssembler(
        data.train, pools, config.seed, data.image_size, device, config.channels_last, dist_info.rank, dist_info.world
    )
    epoch_logs = EpochLogs.restore(start_step, epoch_state, device)
    last_metrics: dict = {}
    end_step = total_steps if max_steps is None else min(total_steps, max_steps)
    samples, tick = 0, time.perf_counter()
    bar = tqdm(total=total_steps, initial=start_step, desc=f"train {config.method}", unit="step",
               disable=_bar_disabled(progress, dist_info.is_main))  # fmt: skip
    with Prefetcher(assembler, method.streams, range(start_step, end_step)) as prefetched:
        for step, batches in prefetched:
            lr = learning_rate(step, config.optim.lr, total_steps, config.optim.warmup_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            torch.manual_seed(step_seed(config.seed, step))  # the step's own randomness
            with autocast(device, precision):
                output = method.training_step(batches, step)
            optimizer.zero_grad(set_to_none=True)
            output.loss.backward()
            grad_norm = _clip_gradients(method.trainable(), config.optim)
            if config.optim.skip_nonfinite and not _finite(output.loss, grad_norm):
                epoch_logs.skipped_steps += 1  # no update, no teacher step: the weights stay finite
            else:
                optimizer.step()
                method.after_optimizer_step(step)
                epoch_logs.add(step, {"loss": output.loss.detach().float(), **output.logs})
            samples += sum(len(b) for b in batches.values()) * dist_info.world
            bar.update(1)
            done = step + 1
            if done % PROGRESS_EVERY == 0 and epoch_logs.values:
                bar.set_postfix(loss=f"{epoch_logs.latest_loss():.3f}", lr=f"{lr:.2e}")
            if done % per_epoch == 0 or done == total_steps:
                record = {"step": done, "epoch": done / per_epoch, "lr": lr,
                          "samples_per_s": samples / max(time.perf_counter() - tick, 1e-9)}  # fmt: skip
                record.update({f"train/{k}": v for k, v in epoch_logs.averages().items()})
                if config.optim.skip_nonfinite:
                    record["train/skipped_steps"] = epoch_logs.skipped_steps
                if dist_info.is_main and data.val is not None:
                    last_metrics = _validate(method, step, data.val, config, device, precision)
                    record.update({f"val/{n}/{k}": v for n, m in last_metrics.items() for k, v in m.items()})
                    score = last_metrics.get(method.inference_name, {}).get("ap50")
                    if score is not None and (best is None or score > best["ap50"]):
                        best = {"ap50": score, "step": done}
                        _save(run_dir / BEST_FILE, method, optimizer, header.at(step=done, best=best))
                log.write(record, done)
                epoch_logs, samples, tick = EpochLogs(done), 0, time.perf_counter()
                if dist_info.is_main:
                    _save(run_dir / LAST_FILE, method, optimizer, header.at(step=done, best=best))
                    if config.keep_epochs:
                        _save(epoch_file(run_dir, done // per_epoch), method, None, header.at(step=done))
            elif config.checkpoint_every and done % config.checkpoint_every == 0 and dist_info.is_main:
                epoch_logs.check_finite()
                # the epoch so far goes with it, so a resumed epoch's averages cover all its steps
                state = header.at(step=done, best=best, epoch_logs=epoch_logs.state())
                _save(run_dir / LAST_FILE, method, optimizer, state)
    bar.close()
    if dist_info.is_main and end_step == total_steps and best is None:
        _save(run_dir / BEST_FILE, method, optimizer, header.at(step=end_step, best=None))
    log.close()
    if dist_info.is_main:
        remove_temporary_files(run_dir, RUN_FILES)
    if dist_info.world > 1:
        shutdown_distributed()
    return TrainResult(run_dir, end_step, best, last_metrics, time.perf_counter() - started)


class EpochLogs:
    """The step logs of one epoch, kept on the device until the log is written: reading a value
    makes the host wait for the device, so it happens once an epoch (and every PROGRESS_EVERY
    steps for the progress bar), not every step."""

    def __init__(self, first_step: int) -> None:
        self.first_step = first_step
        self.values: dict[str, list[torch.Tensor]] = {}
        self.skipped_steps = 0  # non-finite steps left out under optim.skip_nonfinite

    def state(self) -> dict:
        """The epoch so far as JSON (for a mid-epoch checkpoint): exact float32 values, NaN as null."""
        values = {
            k: [None if math.isnan(x) else x for x in torch.stack(v).cpu().tolist()] for k, v in self.values.items()
        }
        return {"first_step": self.first_step, "values": values, "skipped_steps": self.skipped_steps}

    @classmethod
    def restore(cls, step: int, state: dict, device: torch.device) -> EpochLogs:
        """The logs of the epoch a mid-epoch checkpoint was in (empty at an epoch boundary)."""
        if not state:
            return cls(step)
        logs = cls(int(state["first_step"]))
        logs.skipped_steps = int(state.get("skipped_steps", 0))
        for key, values in state["values"].items():
            floats = [math.nan if x is None else x for x in values]
            logs.values[key] = list(torch.tensor(floats, dtype=torch.float32, device=device).unbind())
        return logs

    def add(self, step: int, logs: dict[str, torch.Tensor]) -> None:
        for key, value in logs.items():
            self.values.setdefault(key, []).append(value)

    def latest_loss(self) -> float:
        return float(self.values["loss"][-1])

    def check_finite(self) -> None:
        """Stop (AvslError) at a non-finite loss: its weights must not be saved or trained on."""
        losses = torch.stack(self.values.get("loss", [torch.zeros(())])).cpu()
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            step = self.first_step + int(bad[0]) + 1
            raise AvslError(
                f"training loss is not finite at step {step}; stopping before saving "
                "(lower optim.lr, or check the data for extreme values)"
            )

    def averages(self) -> dict[str, float]:
        """Each key's mean over the steps that measured it (NaN = not measured); keys no step
        measured are left out, so the log stays strict JSON."""
        self.check_finite()
        out = {}
        for key, values in self.values.items():
            stacked = torch.stack(values).cpu()
            if not torch.isnan(stacked).all():
                out[key] = float(stacked.nanmean())
        return out


def initialize_from(method, path: Path) -> list[str]:
    """Load a checkpoint's localizer into every student (and its teacher) of the same shapes."""
    source = CheckpointPredictor(path)
    state = source.model.state_dict()
    loaded = []
    for name in method.trainable_names():
        try:
            check_module_state(method.modules[name], state, path)
        except AvslError:
            continue
        for target in (name, name.replace("student", "teacher")):
            if target in method.modules:
                method.modules[target].load_state_dict(state)
                loaded.append(target)
    if not loaded:
        spec = source.spec
        raise AvslError(
            f"{path}: its {spec['name']} network ({spec['visual']} / {spec['audio']} encoders, dim {spec['dim']}, "
            f"{spec['frontend']} front end) matches none of this run's networks; set model.* to match it"
        )
    print(f"initialised {', '.join(loaded)} from {path}", flush=True)
    return loaded


def _bar_disabled(progress: bool | None, is_main: bool) -> bool | None:
    """tqdm's `disable`: no bar off rank 0; by default (None) a bar only on a terminal, so a log
    piped to a file stays readable."""
    if not is_main:
        return True
    return None if progress is None else not progress


def selections(config: TrainConfig) -> tuple[Selection, Selection]:
    """The training and validation clips the config's data section selects."""
    d = config.data
    train = Selection(d.format, tuple(d.split), d.labeled, d.annotations)
    return train, Selection(d.format, tuple(d.val_split), "", d.annotations)


def _clip_gradients(params: list[nn.Parameter], optim) -> torch.Tensor | None:
    """Clip to optim.grad_clip; the norm is also what optim.skip_nonfinite checks."""
    if optim.grad_clip > 0:
        return torch.nn.utils.clip_grad_norm_(params, optim.grad_clip)
    if optim.skip_nonfinite:
        return torch.nn.utils.clip_grad_norm_(params, math.inf)  # the norm, no clipping
    return None


def _finite(loss: torch.Tensor, grad_norm: torch.Tensor | None) -> bool:
    """One host read per step: only under optim.skip_nonfinite, which asks for it."""
    finite = (
        torch.isfinite(loss.detach())
        if grad_norm is None
        else torch.isfinite(loss.detach()) & torch.isfinite(grad_norm)
    )
    return bool(finite)


def _warn_skipped(data: TrainData, run_dir: Path) -> None:
    """One console line on skipped clips; the full list goes to RUN/skipped.tsv."""
    skipped = data.train.skipped + (data.val.skipped if data.val is not None else [])
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable clip(s) or bad entries (all in {run_dir / SKIPPED_FILE}); "
            f"first: {skipped[0].reason}",
            stacklevel=2,
        )


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


def _place(method, device: torch.device, config: TrainConfig, world: int) -> None:
    """Networks onto the device (channels-last when asked); under torchrun, the students wrapped
    in DDP, their BatchNorm synchronised over ranks with model.sync_bn."""
    method.modules.to(device)
    if config.channels_last:
        method.modules.to(memory_format=torch.channels_last)
    if world == 1:
        return
    if config.model.sync_bn:
        if device.type != "cuda":
            raise AvslError("model.sync_bn needs CUDA devices (SyncBatchNorm has no CPU kernel); use model.norm=group")
        for name in method.trainable_names():
            method.modules[name] = nn.SyncBatchNorm.convert_sync_batchnorm(method.modules[name])
    method.runners = {
        name: nn.parallel.DistributedDataParallel(method.modules[name]) for name in method.trainable_names()
    }


@torch.no_grad()
def _validate(method, step: int, val: ClipSource, config: TrainConfig, device: torch.device, precision: str) -> dict:
    """ap50 (median and adaptive rules) / ciou_mean / auc on the val split for each network the
    method exposes now."""
    results = {}
    for name, module in method.evaluated(step).items():
        was_training = module.training
        module.eval()

        def predict(batch: AVBatch, model=module) -> torch.Tensor:
            with autocast(device, precision):
                return model(batch.image, batch.audio).map_logits

        batches = evaluation_batches(val, config.data.batch_size)
        outcome = evaluate(predict, batches, device=device, progress=False)
        summary = outcome.metrics("median")
        results[name] = {k: summary[k] for k in ("ap50", "ap50_adaptive", "ciou_mean", "auc")}
        results[name]["ciou_small"] = summary["ciou_by_size"]["small"]["ciou_mean"]
        module.train(was_training)
    return results


def _save(path: Path, method, optimizer: torch.optim.Optimizer | None, header: RunHeader) -> None:
    """Save the method (and optimizer), refusing non-finite weights (they would poison `best` and
    every run resumed or evaluated from it)."""
    floats = [t for t in method.modules.state_dict().values() if t.is_floating_point()]
    if not bool(torch.stack([torch.isfinite(t).all() for t in floats]).all()):
        raise AvslError(
            f"weights are not finite at step {header.step}; stopping before saving "
            "(lower optim.lr, or set optim.skip_nonfinite=true)"
        )
    path.parent.mkdir(exist_ok=True)
    save_run(path, header, method.modules, optimizer)


def _restore(path: Path, method, optimizer: torch.optim.Optimizer) -> tuple[int, dict | None, dict]:
    """Weights, optimizer state, step, best score and the interrupted epoch's logs."""
    header = restore_run(path, method.modules, optimizer)
    return header.step, header.best, header.epoch_logs


def _write_run_files(
    run_dir: Path, config: TrainConfig, data: TrainData, train_dir: Path, val_dir: Path | None
) -> None:
    clear_run(run_dir)
    text = config_to_yaml(config).encode()
    atomic_write(run_dir / CONFIG_FILE, lambda stream: stream.write(text))
    ids = "".join(data.train.ids[i] + "\n" for i in data.labeled.tolist()).encode()
    atomic_write(run_dir / LABELED_FILE, lambda stream: stream.write(ids))
    skipped = [f"{s.id}\t{s.reason}\n" for s in data.train.skipped + (data.val.skipped if data.val else [])]
    if skipped:
        report = "".join(skipped).encode()
        atomic_write(run_dir / SKIPPED_FILE, lambda stream: stream.write(report))
