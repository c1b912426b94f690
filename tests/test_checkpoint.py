"""Checkpoints: round trip, corrupted files, other architectures."""

from __future__ import annotations

import pytest
import torch

from avsl.checkpoint import (
    load_checkpoint,
    load_module_state,
    optimizer_tensors,
    restore_optimizer,
    save_checkpoint,
)
from avsl.errors import AvslError
from avsl.models import create_localizer


def test_round_trip_with_optimizer(tmp_path):
    model = create_localizer("ezvsl", width=8, dim=16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 3, 32, 32), torch.randn(2, 4000)).map_logits.mean().backward()
    optimizer.step()
    tensors, state = optimizer_tensors(optimizer)
    save_checkpoint(tmp_path / "c.safetensors", {**model.state_dict(), **{f"o.{k}": v for k, v in tensors.items()}},
                    {"step": 3, "optimizer": state})  # fmt: skip
    loaded, header = load_checkpoint(tmp_path / "c.safetensors")
    assert header["step"] == 3
    fresh = create_localizer("ezvsl", width=8, dim=16)
    load_module_state(fresh, {k: v for k, v in loaded.items() if not k.startswith("o.")}, tmp_path)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value)
    optimizer2 = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    restore_optimizer(optimizer2, {k[2:]: v for k, v in loaded.items() if k.startswith("o.")}, header["optimizer"])
    assert optimizer2.state_dict()["state"][0]["exp_avg"].equal(optimizer.state_dict()["state"][0]["exp_avg"])
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away


def test_corrupt_and_missing_files_are_one_line_errors(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(AvslError, match="bad.safetensors: not an avsl checkpoint"):
        load_checkpoint(tmp_path / "bad.safetensors")
    with pytest.raises(AvslError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.safetensors")


def test_other_architecture_is_refused(tmp_path):
    small = create_localizer("ezvsl", width=8, dim=16)
    wide = create_localizer("ezvsl", width=16, dim=16)
    with pytest.raises(AvslError, match="does not match the model architecture"):
        load_module_state(wide, small.state_dict(), tmp_path / "x")
