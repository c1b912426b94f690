"""precision=auto and the bf16 fallback on machines without bf16 arithmetic."""

from __future__ import annotations

import warnings

import pytest
import torch

from avsl.engine import precision as precision_module
from avsl.engine.precision import resolve_precision


def test_auto_is_fp32_on_a_cpu_so_cpu_results_stay_as_they_were():
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"


def test_bf16_without_native_support_warns_once_and_uses_fp32(monkeypatch):
    monkeypatch.setattr(precision_module, "native_bf16", lambda device: False)
    precision_module._warn_no_bf16.cache_clear()
    with pytest.warns(RuntimeWarning, match="no native bf16"):
        assert resolve_precision("bf16", torch.device("cpu")) == "fp32"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("bf16", torch.device("cpu")) == "fp32"  # no second warning


def test_bf16_is_kept_where_the_hardware_has_it(monkeypatch):
    monkeypatch.setattr(precision_module, "native_bf16", lambda device: True)
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"  # auto never picks bf16 on a CPU
