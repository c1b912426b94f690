"""`avsl eval` end to end on a small native layout, and the CLI's error contract."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avsl.cli.main import main


def run_eval(layout, out, *extra):
    return main(["eval", "--data", str(layout), "--predictor", "center", "--out", str(out),
                 "--workers", "0", "--image-size", "32", *extra])  # fmt: skip


def test_center_eval_writes_metrics_and_maps(small_layout, tmp_path, capsys):
    out = tmp_path / "out"
    maps_file = tmp_path / "maps.npz"
    assert run_eval(small_layout, out, "--save-maps", str(maps_file)) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("n", "ap50", "ciou_mean", "auc", "ciou_by_size", "threshold"):
        assert key in metrics
    assert metrics["n"] == 4  # a, b, c, d: the negative and the unannotated clip are not scored
    assert metrics["threshold"] == "median"
    assert metrics["false_positive"]["n_silent"] == 1
    assert metrics["unannotated"]["ids"] == ["unlabelled"]
    rows = dict(line.split(",", 1) for line in (out / "per_clip.csv").read_text().splitlines()[1:])
    # "d" is the whole frame and the median rule turns on (at least) half of it
    assert 0.5 <= float(rows["d"].split(",")[0]) < 0.51
    assert metrics["ap50"] == pytest.approx(sum(float(r.split(",")[0]) >= 0.5 for r in rows.values()) / 4)
    with np.load(maps_file) as saved:
        assert saved["maps"].shape == (6, 224, 224)
        assert saved["maps"].dtype == np.float32
        assert saved["maps"].min() == 0.0 and saved["maps"].max() == 1.0
        assert list(saved["ids"]) == ["a", "b", "c", "d", "neg", "unlabelled"]
    assert "n=4" in capsys.readouterr().out


def test_bad_clip_is_skipped_and_reported(small_layout, tmp_path, capsys):
    (small_layout / "frames" / "a.jpg").write_bytes(b"broken")
    assert run_eval(small_layout, tmp_path / "out") == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["n"] == 3
    assert metrics["skipped"]["count"] == 1 and metrics["skipped"]["items"][0]["id"] == "a"
    assert "a.jpg" in capsys.readouterr().err


def test_strict_turns_a_skip_into_an_error(small_layout, tmp_path, capsys):
    (small_layout / "audio" / "b.wav").write_bytes(b"broken")
    assert run_eval(small_layout, tmp_path / "out", "--strict") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "b.wav" in err[0]
    assert not (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "--data", "/no/such/dir", "--predictor", "center", "--out", "o"], "/no/such/dir"),
        (["eval", "--data", "d", "--predictor", "nope", "--out", "o"], "invalid choice"),
        (["eval", "--data", "d", "--out", "o"], "one of the arguments"),
        (
            ["eval", "--batch-size", "-3", "--data", "d", "--predictor", "center", "--out", "o"],
            "must be positive",
        ),
        (["frobnicate"], "invalid choice"),
        (["localize"], "the following arguments are required"),
    ],
)
def test_user_errors_are_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
