"""Every method on CUDA: one short training in fp32 and bf16, validation, resume, and an eval
with negatives in the data. Skipped without a GPU (CI has none); `scripts/gpu_check.sh` runs
them wherever one is at hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from avsl.checkpoint import load_checkpoint
from avsl.cli.main import main
from avsl.config import load_config
from avsl.engine.build import METHODS
from avsl.engine.trainer import train
from tests.conftest import SMALL_MODEL, as_set

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

SMALL = ["--set", "data.batch_size=16", "--set", "semi.labeled_batch=4", "--set", "semi.warmup_epochs=1",
         *as_set(*SMALL_MODEL), "--labeled-fraction", "0.25"]  # fmt: skip


@pytest.fixture
def tiny(tiny_benchmark) -> Path:
    return tiny_benchmark


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_validates_and_evaluates_on_cuda(tiny, tmp_path, method, precision):
    run = tmp_path / "run"
    argv = ["train", "--data", str(tiny), "--method", method, "--out", str(run), "--epochs", "3",
            "--device", "cuda", "--set", f"precision={precision}", *SMALL]  # fmt: skip
    assert main(argv) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(log) == 3 and all(r["train/loss"] == r["train/loss"] for r in log)  # finite, not NaN
    tensors, _ = load_checkpoint(run / "best.safetensors")
    assert all(torch.isfinite(t.float()).all() for t in tensors.values())
    out = tmp_path / "eval"
    assert main(["eval", "--data", str(tiny / "test"), "--checkpoint", str(run), "--out", str(out),
                 "--device", "cuda"]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] > 0 and metrics["false_positive"]["n_silent"] > 0


@pytest.mark.parametrize("method", ["supervised", "dmt"])
def test_an_interrupted_cuda_run_resumes_to_the_end(tiny, tmp_path, method):
    config = load_config(None, [f"method={method}", "optim.epochs=3", "labeled_fraction=0.25", "data.batch_size=16",
                                *SMALL_MODEL, "semi.labeled_batch=4", "semi.warmup_epochs=1",
                                "checkpoint_every=2"])  # fmt: skip
    device = torch.device("cuda")
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    done = train(config, tiny / "train", tiny / "val", straight, device, progress=False)
    train(config, tiny / "train", tiny / "val", broken, device, progress=False, max_steps=5)
    assert load_checkpoint(broken / "last.safetensors")[1]["step"] == 4
    resumed = train(config, tiny / "train", tiny / "val", broken, device, resume=True, progress=False)
    assert resumed.steps == done.steps
    expected, got = load_checkpoint(straight / "last.safetensors")[0], load_checkpoint(broken / "last.safetensors")[0]
    assert expected.keys() == got.keys()
    # GPU kernels need not be bitwise deterministic: the same run, to within their rounding
    for key in expected:
        if expected[key].is_floating_point():
            gap = (expected[key].float() - got[key].float()).norm()
            assert gap <= 1e-2 * expected[key].float().norm() + 1e-4, key
