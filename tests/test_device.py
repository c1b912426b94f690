"""Every method's step keeps its tensors on the batch's device and never waits for it.

The `meta` device has shapes but no values: a step that creates a tensor on the CPU fails to
mix it with meta tensors (as it would with CUDA ones), and a step that reads a value on the host
(`.item()`, `float(t)`, `bool(t)`, a boolean-mask index) raises. So one step on `meta` checks,
without a GPU, both that a training step runs on CUDA and that it does not synchronise.
"""

from __future__ import annotations

import pytest
import torch

from avsl.config import load_config
from avsl.engine.build import METHODS, build_method, stage_schedule
from avsl.types import AVBatch
from tests.conftest import SMALL_MODEL

META = torch.device("meta")


def meta_batch(size: int, seed: int) -> AVBatch:
    boxes = [torch.tensor([[0.1, 0.2, 0.6, 0.7]]) if i % 3 else torch.zeros(0, 4) for i in range(size)]
    batch = AVBatch(
        image=torch.empty(size, 3, 32, 32),
        audio=torch.empty(size, 8_000),
        boxes=boxes,
        has_box=torch.ones(size, dtype=torch.bool),
        ids=[f"{seed}-{i}" for i in range(size)],
        seeds=torch.arange(size) + 100 * seed,
    )
    return batch.to(META)


def test_records_follow_their_device():
    batch = meta_batch(5, 0)
    assert all(b.device == META for b in batch.boxes) and batch.has_box.device == META
    assert batch.sounding.device == META and batch.sounding.shape == (5,)


@pytest.mark.parametrize("method_name", METHODS)
def test_every_methods_step_runs_on_another_device_without_waiting_for_it(method_name):
    config = load_config(None, [f"method={method_name}", *SMALL_MODEL, "data.batch_size=8",
                                "semi.labeled_batch=3", "semi.warmup_epochs=1"])  # fmt: skip
    method = build_method(config)
    method.modules.to(META)
    schedule = stage_schedule(config, steps_per_epoch=1)
    for step in (0, 1, 2):  # warm-up, the stage switch, an unbiased step
        if schedule.switches_at(step):
            method.start_unbiased()
        stage = schedule.stage(step)
        batches = {name: meta_batch(spec.batch_size, index) for index, (name, spec) in
                   enumerate(method.streams(stage).items())}  # fmt: skip
        output = method.training_step(batches, stage)
        output.loss.backward()
        if schedule.teacher_decay(step) is not None:
            method.update_teachers(schedule.teacher_decay(step))
        assert output.loss.device == META
        assert all(value.device == META for value in output.logs.values())
