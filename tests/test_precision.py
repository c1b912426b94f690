"""precision=auto (bf16 where the hardware multiplies in it) and the fp32 fallbacks."""

from __future__ import annotations

import warnings

import pytest
import torch

from avsl import precision as precision_module
from avsl.precision import native_bf16, resolve_precision

CPU = torch.device("cpu")


def _cpu_with(monkeypatch, bf16_units: bool, onednn_bf16: bool = True) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: bf16_units)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn_bf16, raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    precision_module._warn_no_bf16.cache_clear()


def test_auto_is_bf16_on_a_cpu_with_bf16_units(monkeypatch):
    _cpu_with(monkeypatch, bf16_units=True)
    assert resolve_precision("auto", CPU) == "bf16"
    assert resolve_precision("fp32", CPU) == "fp32"  # asked for: kept


def test_auto_is_fp32_on_avx512_without_bf16_units_but_bf16_is_honoured(monkeypatch):
    _cpu_with(monkeypatch, bf16_units=False)
    assert resolve_precision("auto", CPU) == "fp32"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("bf16", CPU) == "bf16"  # emulated by oneDNN: slow-ish, not a crawl


@pytest.mark.parametrize("variable", ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"])
def test_a_onednn_limit_below_bf16_turns_auto_to_fp32(monkeypatch, variable):
    _cpu_with(monkeypatch, bf16_units=True)
    monkeypatch.setenv(variable, "avx512_core_vnni")
    assert not native_bf16(CPU)
    assert resolve_precision("auto", CPU) == "fp32"
    monkeypatch.setenv(variable, "AVX512_CORE_AMX")
    assert resolve_precision("auto", CPU) == "bf16"


def test_bf16_where_it_would_crawl_warns_once_and_uses_fp32(monkeypatch):
    _cpu_with(monkeypatch, bf16_units=True)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # an AVX2-only machine, as oneDNN sees it
    with pytest.warns(RuntimeWarning, match="no usable bf16"):
        assert resolve_precision("bf16", CPU) == "fp32"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("bf16", CPU) == "fp32"  # no second warning
    _cpu_with(monkeypatch, bf16_units=False, onednn_bf16=False)  # oneDNN itself says no
    with pytest.warns(RuntimeWarning, match="no usable bf16"):
        assert resolve_precision("bf16", CPU) == "fp32"
