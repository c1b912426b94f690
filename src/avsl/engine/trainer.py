"""The training loop shared by every method: data streams, optimisation, evaluation,
logging and checkpoints. The method decides what a step computes; this decides when."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from avsl.checkpoint import check_module_state
from avsl.config import TrainConfig, config_to_dict, config_to_yaml
from avsl.data.selection import Selection, TrainData, load_train_data
from avsl.data.source import evaluation_batches
from avsl.engine.allocator import retain_freed_memory
from avsl.engine.batches import BatchAssembler, Prefetcher
from avsl.engine.build import build_method, method_defaults, recipe_of, stage_schedule, steps_per_epoch
from avsl.engine.distributed import DistInfo, init_distributed, local_device, shutdown_distributed
from avsl.engine.runlog import RunLog
from avsl.engine.schedule import StageSchedule, learning_rate, step_seed
from avsl.errors import AvslError
from avsl.evaluation.evaluate import evaluate
from avsl.files import atomic_write, remove_temporary_files
from avsl.inference.checkpoint_predictor import CheckpointPredictor
from avsl.methods.base import Method, StreamSpec
from avsl.precision import autocast, resolve_precision
from avsl.progress import progress as progress_display
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
from avsl.zoo import fetch_checkpoint

PROGRESS_EVERY = 20  # steps between progress-bar loss readings (each waits for the device)


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    best: dict | None
    final: dict  # val metrics of the evaluated networks at the end
    seconds: float
    finished_before: bool = False  # a resumed run that had already trained every step
    precision: str = "fp32"  # the arithmetic used (config's `auto` resolved on this machine)


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
    run = _start(method_defaults(config), train_dir, val_dir, run_dir, device, resume)
    if run.start_step >= run.total_steps:  # a resumed run that had trained every step
        run.close()
        return TrainResult(run_dir, run.start_step, run.best, {}, time.perf_counter() - started, finished_before=True,
                           precision=run.precision)  # fmt: skip
    end_step = run.total_steps if max_steps is None else min(run.total_steps, max_steps)
    bar = progress_display(
        run.total_steps,
        f"train {config.method}",
        "step",
        progress if run.dist.is_main else False,
        initial=run.start_step,
        marks=config.optim.epochs,
    )  # a plain line per epoch in a log
    with Prefetcher(run.assembler, run.streams, range(run.start_step, end_step)) as prefetched:
        for step, batches in prefetched:
            if run.schedule.switches_at(step):
                run.method.start_unbiased()
            lr = _optimize(run, step, batches)
            done = step + 1
            bar.update(1)
            if done % PROGRESS_EVERY == 0 and run.epoch_logs.values:
                bar.set_postfix(loss=f"{run.epoch_logs.latest_loss():.3f}", lr=f"{lr:.2e}")
            if done % run.per_epoch == 0 or done == run.total_steps:
                _end_epoch(run, done, lr)
            elif run.config.checkpoint_every and done % run.config.checkpoint_every == 0:
                _save_mid_epoch(run, done)
    bar.close()
    if end_step == run.total_steps and run.best is None:
        run.save(BEST_FILE, end_step)
    run.close()
    return TrainResult(run_dir, end_step, run.best, run.last_metrics, time.perf_counter() - started,
                       precision=run.precision)  # fmt: skip


@dataclass
class _Run:
    """Everything one training run holds while it runs; the loop's functions share it."""

    config: TrainConfig
    run_dir: Path
    device: torch.device
    precision: str
    dist: DistInfo
    data: TrainData
    method: Method
    schedule: StageSchedule
    optimizer: torch.optim.Optimizer
    header: RunHeader
    log: RunLog
    assembler: BatchAssembler
    per_epoch: int
    total_steps: int
    start_step: int
    best: dict | None
    epoch_logs: EpochLogs
    last_metrics: dict = field(default_factory=dict)
    samples: int = 0
    tick: float = field(default_factory=time.perf_counter)

    def streams(self, step: int) -> dict[str, StreamSpec]:
        return self.method.streams(self.schedule.stage(step))

    def save(self, name: str, step: int, **state) -> None:
        """`last` or `best` in the run folder (rank 0 only)."""
        if self.dist.is_main:
            _save(self.run_dir / name, self.method, self.optimizer, self.header.at(step=step, best=self.best, **state))

    def close(self) -> None:
        self.log.close()
        if self.dist.is_main:
            remove_temporary_files(self.run_dir, RUN_FILES)
        if self.dist.world > 1:
            shutdown_distributed()


def _start(
    config: TrainConfig, train_dir: Path, val_dir: Path | None, run_dir: Path, device: torch.device, resume: bool
) -> _Run:
    """Data, method, optimizer and run files, new or restored from the run's last checkpoint."""
    retain_freed_memory()  # each step reuses the previous step's pages (see avsl.engine.allocator)
    device = local_device(device)
    dist = init_distributed(device)
    recipe = recipe_of(config)
    data = load_train_data(
        train_dir, val_dir, config.data.image_size, config.data.audio_seconds, config.data.sample_rate,
        config.labeled_fraction, recipe.needs_boxes, config.seed, config.data.workers,
        config.data.max_pixels, config.data.strict, *selections(config), needs_unlabeled=recipe.semi_supervised,
    )  # fmt: skip
    if dist.is_main:
        _warn_skipped(data, run_dir)
    per_epoch = steps_per_epoch(len(data.train), config.data.batch_size)
    total_steps = config.optim.epochs * per_epoch
    # A resumed run takes every weight from its checkpoint: initial weights (a file that may
    # have moved since, or a download) are not loaded.
    method = build_method(replace(config, model=replace(config.model, visual_weights="none")) if resume else config)
    if config.model.init_from and not resume:
        initialize_from(method, fetch_checkpoint(config.model.init_from))
    schedule = stage_schedule(config, per_epoch)
    _check_shards(method, schedule, total_steps, dist.world)
    _place(method, device, config, dist.world)
    optimizer = _optimizer(config, method.trainable())
    start_step, best, epoch_state = 0, None, {}
    if resume:
        restored = restore_run(run_dir / LAST_FILE, method.modules, optimizer)
        start_step, best, epoch_state = restored.step, restored.best, restored.epoch_logs
    elif dist.is_main:
        _write_run_files(run_dir, config, data, train_dir, val_dir)
    log = RunLog(run_dir, enabled=dist.is_main and start_step < total_steps)  # a finished run is left as it is
    if resume and log.enabled:
        log.truncate_after(start_step)
        remove_temporary_files(run_dir, RUN_FILES)  # left by a kill during a write
    precision = resolve_precision(config.precision, device)
    header = RunHeader(
        config=config_to_dict(config), inference=method.inference_name, specs=method.specs,
        image_size=data.image_size, audio_seconds=data.audio_seconds,
        data={"train": str(train_dir), "val": str(val_dir) if val_dir else None}, precision=precision,
    )  # fmt: skip
    pools = {"all": torch.arange(len(data.train)), "labeled": data.labeled, "unlabeled": data.unlabeled}
    assembler = BatchAssembler(
        data.train, pools, config.seed, data.image_size, device, config.channels_last, dist.rank, dist.world
    )
    return _Run(
        config, run_dir, device, precision, dist, data, method, schedule, optimizer,
        header, log, assembler, per_epoch, total_steps, start_step, best,
        EpochLogs.restore(start_step, epoch_state, device),
    )  # fmt: skip


def _optimize(run: _Run, step: int, batches: dict[str, AVBatch]) -> float:
    """One step: the method's loss, backward, clipping, the optimizer, then the teachers."""
    config = run.config
    lr = learning_rate(step, config.optim.lr, run.total_steps, config.optim.warmup_steps)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    torch.manual_seed(step_seed(config.seed, step))  # the step's own randomness
    with autocast(run.device, run.precision):
        output = run.method.training_step(batches, run.schedule.stage(step))
    run.optimizer.zero_grad(set_to_none=True)
    output.loss.backward()
    grad_norm = _clip_gradients(run.method.trainable(), config.optim)
    if config.optim.skip_nonfinite and not _finite(output.loss, grad_norm):
        run.epoch_logs.skipped_steps += 1  # no update, no teacher step: the weights stay finite
    else:
        run.optimizer.step()
        decay = run.schedule.teacher_decay(step)
        if decay is not None:
            run.method.update_teachers(decay)
        run.epoch_logs.add(step, {"loss": output.loss.detach().float(), **output.logs})
    run.samples += sum(len(b) for b in batches.values()) * run.dist.world
    return lr


def _end_epoch(run: _Run, done: int, lr: float) -> None:
    """The epoch's log line, validation, the best and last checkpoints (and the epoch's weights)."""
    record = {"step": done, "epoch": done / run.per_epoch, "lr": lr,
              "samples_per_s": run.samples / max(time.perf_counter() - run.tick, 1e-9)}  # fmt: skip
    record.update({f"train/{k}": v for k, v in run.epoch_logs.averages().items()})
    if run.config.optim.skip_nonfinite:
        record["train/skipped_steps"] = run.epoch_logs.skipped_steps
    if run.dist.is_main and run.data.val is not None:
        run.last_metrics = _validate(run, done - 1)
        record.update({f"val/{n}/{k}": v for n, m in run.last_metrics.items() for k, v in m.items()})
        score = run.last_metrics.get(run.method.inference_name, {}).get("ap50")
        if score is not None and (run.best is None or score > run.best["ap50"]):
            run.best = {"ap50": score, "step": done}
            run.save(BEST_FILE, done)
    run.log.write(record, done)
    run.epoch_logs, run.samples, run.tick = EpochLogs(done), 0, time.perf_counter()
    run.save(LAST_FILE, done)
    if run.config.keep_epochs and run.dist.is_main:
        _save(epoch_file(run.run_dir, done // run.per_epoch), run.method, None, run.header.at(step=done))


def _save_mid_epoch(run: _Run, done: int) -> None:
    """`last` within an epoch; the epoch's logs so far go with it, so a resumed epoch's averages
    cover all its steps."""
    if run.dist.is_main:
        run.epoch_logs.check_finite()
        run.save(LAST_FILE, done, epoch_logs=run.epoch_logs.state())


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


def _check_shards(method: Method, schedule: StageSchedule, total_steps: int, world: int) -> None:
    """Each rank takes an equal share of every batch; unequal shards would weigh clips unequally."""
    stages = {schedule.stage(0), schedule.stage(total_steps - 1)}
    sizes = {spec.batch_size for stage in stages for spec in method.streams(stage).values()}
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
def _validate(run: _Run, step: int) -> dict:
    """ap50 (median and adaptive rules) / ciou_mean / auc on the val split for each network the
    method exposes at `step`."""
    results = {}
    for name, module in run.method.evaluated(run.schedule.stage(step)).items():
        was_training = module.training
        module.eval()

        def predict(batch: AVBatch, model=module) -> torch.Tensor:
            with autocast(run.device, run.precision):
                return model(batch.image, batch.audio).map_logits

        batches = evaluation_batches(run.data.val, run.config.data.batch_size)
        outcome = evaluate(predict, batches, device=run.device, progress=False)
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
