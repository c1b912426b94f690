"""`avsl train` end to end on the tiny preset: run files, eval of the checkpoint, exact
resume, two-process parity, and the user errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from avsl.checkpoint import load_checkpoint
from avsl.cli.main import main
from avsl.config import load_config
from avsl.engine.trainer import train
from avsl.precision import resolve_precision
from avsl.run import read_run_header
from tests.conftest import SMALL_MODEL, as_set

FAST = [
    "--set",
    "data.batch_size=16",
    "--set",
    "data.workers=0",
    *as_set(*SMALL_MODEL),
]


@pytest.fixture
def tiny(tiny_benchmark) -> Path:
    return tiny_benchmark


def test_train_then_eval_the_checkpoint(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    argv = [
        "train",
        "--data",
        str(tiny),
        "--method",
        "selfsup",
        "--out",
        str(run),
        "--epochs",
        "2",
        *FAST,
    ]
    assert main(argv) == 0
    trained_in = resolve_precision("auto", torch.device("cpu"))  # what this machine trains in: said, and kept
    assert f"min ({trained_in});" in capsys.readouterr().out
    for name in (
        "config.yaml",
        "labeled_ids.txt",
        "last.safetensors",
        "best.safetensors",
        "log.jsonl",
    ):
        assert (run / name).exists(), name
    assert list((run / "tb").iterdir())
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1.0, 2.0] and "val/model/ap50" in log[0]
    out = tmp_path / "eval"
    assert (
        main(
            [
                "eval",
                "--data",
                str(tiny / "test"),
                "--checkpoint",
                str(run),
                "--out",
                str(out),
                "--workers",
                "0",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] > 0
    # the arithmetic used is recorded: training's `auto` as this machine resolved it; scoring fp32
    assert read_run_header(run / "best.safetensors").precision == trained_in
    assert (metrics["model"]["training_precision"], metrics["model"]["precision"]) == (trained_in, "fp32")
    assert main(argv) == 2  # the run exists: resume or overwrite, never silently clobber
    assert "--resume" in capsys.readouterr().err


def test_labeled_subset_is_seeded_and_sized(tiny, tmp_path):
    runs = []
    for name in ("a", "b"):
        run = tmp_path / name
        argv = ["train", "--data", str(tiny), "--method", "supervised", "--labeled-fraction", "0.25",
                "--out", str(run), "--epochs", "1", *FAST]  # fmt: skip
        assert main(argv) == 0
        runs.append((run / "labeled_ids.txt").read_text().split())
    assert runs[0] == runs[1] and len(runs[0]) == 12  # 25 % of 48


def run_config(method: str, epochs: int = 2, extra: tuple[str, ...] = ()):
    return load_config(None, [f"method={method}", f"optim.epochs={epochs}", "labeled_fraction=0.25",
                              "data.batch_size=16", "data.workers=0", *SMALL_MODEL,
                              "semi.labeled_batch=4", "semi.warmup_epochs=1", *extra])  # fmt: skip


def checkpoint_tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)[0]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["supervised", "dmt"])
def test_interrupted_run_resumes_exactly(tiny, tmp_path, method):
    config = run_config(method, epochs=3, extra=("checkpoint_every=2",))
    device = torch.device("cpu")
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    train(config, tiny / "train", tiny / "val", straight, device, progress=False)
    train(config, tiny / "train", tiny / "val", broken, device, progress=False, max_steps=5)
    assert load_checkpoint(broken / "last.safetensors")[1]["step"] == 4  # mid-epoch save (every 2 steps)
    train(config, tiny / "train", tiny / "val", broken, device, resume=True, progress=False)
    expected, resumed = (
        checkpoint_tensors(straight / "last.safetensors"),
        checkpoint_tensors(broken / "last.safetensors"),
    )
    assert expected.keys() == resumed.keys()
    different = [k for k in expected if not torch.equal(expected[k], resumed[k])]
    assert not different, different[:5]
    steps = [json.loads(line)["step"] for line in (broken / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))  # no epoch logged twice after the resume

    def training_logs(run: Path) -> list[dict]:
        records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k.startswith(("train/", "val/"))} for r in records]

    # the interrupted epoch's averages cover all its steps, before and after the resume
    assert training_logs(broken) == training_logs(straight)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "schedule"),
    [
        ("supervised", ["--labeled-fraction", "1", "--epochs", "1"]),
        # one warm-up epoch, then the unbiased stage: teachers, filter, strong views and EMA under
        # DDP too; a tiny binarisation threshold, as the young maps are faint, so that the filter
        # keeps some pseudo-labels and drops others (unequal counts per rank)
        ("dmt", ["--labeled-fraction", "0.25", "--epochs", "2", "--set", "semi.warmup_epochs=1",
                 "--set", "semi.labeled_batch=4", "--set", "semi.delta=1e-9"]),
    ],
)  # fmt: skip
def test_two_processes_match_one_with_the_same_global_batch(tiny, tmp_path, method, schedule):
    # fp32: what is tested is that the split into ranks changes nothing; under bf16 (`auto` on a
    # CPU with bf16 units) each rank's half-batch rounds differently
    common = ["--data", str(tiny), "--method", method, *schedule, "--set", "data.batch_size=8", "--set", "data.workers=0", *as_set(*SMALL_MODEL), "--set", "model.norm=group", "--set", "precision=fp32", "--device", "cpu"]  # fmt: skip
    single = tmp_path / "single"
    assert main(["train", *common, "--out", str(single)]) == 0
    double = tmp_path / "double"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(free_port()), "-m", "avsl.cli.main", "train", *common, "--out", str(double)]  # fmt: skip
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    one, two = (
        checkpoint_tensors(single / "last.safetensors"),
        checkpoint_tensors(double / "last.safetensors"),
    )
    # dmt: a binarised pseudo-label pixel and Adam's normalised step can turn float
    # reassociation into a visible change of a few weights; the bulk must still agree exactly
    atol = 1e-5 if method == "supervised" else 1e-4
    keys = [k for k in one if k.startswith("modules.") and one[k].is_floating_point()]
    for key in keys:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=atol, msg=key)
    gaps = torch.cat([(one[k] - two[k]).abs().flatten() for k in keys])
    assert float(gaps.mean()) < 1e-7 and float((gaps > 1e-5).float().mean()) < 1e-3
    if method == "dmt":
        kept = json.loads((single / "log.jsonl").read_text().splitlines()[-1])["train/pl/kept"]
        assert 0 < kept < 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--localizer", "nope"], "unknown localizer 'nope'"),
        (["--labeled-fraction", "0"], "labelled fraction must be in (0, 1]"),
        (["--labeled-fraction", "1.5"], "labelled fraction must be in (0, 1]"),
        (["--method", "nope"], "invalid choice"),
        (["--set", "optim.lrr=1"], "optim.lrr"),
    ],
)
def test_bad_training_options_are_one_line_errors(tiny, tmp_path, capsys, extra, message):
    argv = ["train", "--data", str(tiny), "--out", str(tmp_path / "run"), *FAST, *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_boxes_needed_but_absent(tiny, tmp_path, capsys):
    bare = tmp_path / "bare"
    (bare / "frames").mkdir(parents=True)
    (bare / "audio").mkdir()
    for path in sorted((tiny / "train" / "frames").glob("*.jpg"))[:8]:
        (bare / "frames" / path.name).write_bytes(path.read_bytes())
        wav = tiny / "train" / "audio" / f"{path.stem}.wav"
        (bare / "audio" / wav.name).write_bytes(wav.read_bytes())
    argv = [
        "train",
        "--data",
        str(bare),
        "--method",
        "supervised",
        "--out",
        str(tmp_path / "r"),
        *FAST,
    ]
    assert main(argv) == 2
    assert "no training clip has boxes" in capsys.readouterr().err


def test_eval_refuses_corrupt_or_foreign_checkpoints(tiny, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage that is not a checkpoint")
    argv = [
        "eval",
        "--data",
        str(tiny / "test"),
        "--checkpoint",
        str(bad),
        "--out",
        str(tmp_path / "e"),
    ]
    assert main(argv) == 2
    assert "not an avsl checkpoint" in capsys.readouterr().err
