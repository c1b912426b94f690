"""The run folder and its checkpoint schema (avsl.run): saved and restored through one module."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from avsl.errors import AvslError
from avsl.run import (
    BEST_FILE,
    CONFIG_FILE,
    LAST_FILE,
    RunHeader,
    clear_run,
    holds_run,
    load_network,
    read_run_header,
    restore_run,
    save_network,
    save_run,
    started_without_checkpoint,
)
from tests.conftest import tiny_spec, write_model_checkpoint


def _header(**changes) -> RunHeader:
    base = RunHeader(config={"method": "selfsup"}, inference="model", specs={"model": tiny_spec()}, image_size=32,
                     audio_seconds=0.5, data={"train": "t", "val": None})  # fmt: skip
    return base.at(**changes)


def test_a_run_checkpoint_restores_weights_optimizer_and_header(tmp_path):
    modules = nn.ModuleDict({"model": nn.Linear(3, 2)})
    optimizer = torch.optim.AdamW(modules.parameters(), lr=0.1)
    modules["model"](torch.ones(1, 3)).sum().backward()
    optimizer.step()
    save_run(tmp_path / LAST_FILE, _header(step=7, best={"ap50": 0.5, "step": 7}), modules, optimizer)
    fresh = nn.ModuleDict({"model": nn.Linear(3, 2)})
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=0.1)
    header = restore_run(tmp_path / LAST_FILE, fresh, fresh_optimizer)
    assert header.step == 7 and header.best == {"ap50": 0.5, "step": 7} and header.image_size == 32
    assert torch.equal(fresh["model"].weight, modules["model"].weight)
    assert torch.equal(
        fresh_optimizer.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"]
    )
    assert read_run_header(tmp_path / LAST_FILE) == header


def test_a_network_checkpoint_is_not_a_run_and_a_run_folder_needs_a_checkpoint(tmp_path):
    write_model_checkpoint(tmp_path / "model.safetensors", tiny_spec())
    with pytest.raises(AvslError, match="not a training checkpoint"):
        read_run_header(tmp_path / "model.safetensors")
    run = tmp_path / "run"
    run.mkdir()
    (run / CONFIG_FILE).write_text("method: selfsup\n")
    assert not holds_run(run) and started_without_checkpoint(run)
    (run / BEST_FILE).write_bytes(b"")
    assert holds_run(run) and not started_without_checkpoint(run)
    (run / "mine.txt").write_text("kept")
    clear_run(run)
    assert [p.name for p in run.iterdir()] == ["mine.txt"]


def test_load_network_checks_the_header_before_anything_is_built(tmp_path):
    path = tmp_path / "model.safetensors"
    write_model_checkpoint(path, tiny_spec())
    found = load_network(path)
    assert found.name == "model" and found.image_size == 64 and found.spec["dim"] == 8
    save_network(path, tiny_spec(), found.state, image_size=10**6)
    with pytest.raises(AvslError, match="image_size"):
        load_network(path)
    save_network(path, tiny_spec(dim=10**6), found.state, image_size=64)
    with pytest.raises(AvslError, match="dim"):
        load_network(path)
    with pytest.raises(AvslError, match="no network 'teacher'"):
        load_network(path, "teacher")
