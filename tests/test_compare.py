"""Paired-bootstrap intervals (`avsl.evaluation.bootstrap`) and `avsl compare` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avsl.cli.main import main
from avsl.evaluation.bootstrap import bootstrap, clip_scores, differences, run_scores
from avsl.metrics.protocol import auc


def cious(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {rule: rng.uniform(0, 1, n) for rule in ("median", "adaptive", "fixed")}


def interval(a_runs, b_runs, draws=2000, seed=0) -> dict:
    a, b = run_scores(a_runs), run_scores(b_runs)
    drawn = bootstrap([a, b], draws, seed)
    return {f"{d.metric}/{d.rule}": d for d in differences(a, b, drawn[0], drawn[1])}


def test_per_clip_scores_average_to_the_protocols_metrics():
    values = np.random.default_rng(3).uniform(0, 1, 200)
    scores = clip_scores(values)
    assert scores["auc"].mean() == pytest.approx(auc(torch.tensor(values)), abs=1e-12)
    assert scores["ap50"].mean() == (values >= 0.5).mean() and scores["ciou_mean"].mean() == pytest.approx(
        values.mean()
    )


def test_runs_that_differ_by_a_constant_have_that_constant_as_interval():
    a = cious(300, 0)
    b = {rule: values + 0.01 for rule, values in a.items()}  # every clip 0.01 better
    found = interval([a], [b])["ciou_mean/adaptive"]
    assert (
        found.difference == pytest.approx(0.01)
        and found.low == pytest.approx(0.01)
        and found.high == pytest.approx(0.01)
    )
    assert found.verdict == "B higher, interval excludes 0"


def test_an_evaluation_against_itself_has_a_zero_interval():
    a = cious(300, 0)
    for found in interval([a], [a]).values():
        assert found.difference == found.low == found.high == 0 and found.verdict == "no difference shown"


def test_intervals_shrink_as_clips_are_added():
    widths = []
    for n in (50, 500, 5000):
        found = interval([cious(n, 0)], [cious(n, 1)])["ciou_mean/median"]
        widths.append(found.high - found.low)
    assert widths[0] > 2 * widths[1] > 4 * widths[2]  # about 1/sqrt(n): 3.2x per step


def test_resampling_is_deterministic_under_a_seed_and_seeds_widen_it():
    a, b = cious(200, 0), cious(200, 1)
    first, again, other = interval([a], [b], seed=5), interval([a], [b], seed=5), interval([a], [b], seed=6)
    assert first == again and first != other
    # two seeds of B that disagree: resampling the seeds too gives a wider interval than one seed
    b2 = {rule: np.clip(values + 0.2, 0, 1) for rule, values in b.items()}
    one, two = interval([a], [b])["ciou_mean/median"], interval([a], [b, b2])["ciou_mean/median"]
    assert (two.high - two.low) > 1.5 * (one.high - one.low)


def run_eval(layout, out, *source) -> None:
    assert main(["eval", "--data", str(layout), "--out", str(out), "--workers", "0", "--no-report",
                 "--image-size", "32", *source]) == 0  # fmt: skip


def test_compare_end_to_end(small_layout, tmp_path, capsys):
    run_eval(small_layout, tmp_path / "center", "--predictor", "center")
    run_eval(small_layout, tmp_path / "box", "--predictor", "box")
    run_eval(small_layout, tmp_path / "full" / "seed0" / "test", "--predictor", "full")
    run_eval(small_layout, tmp_path / "full" / "seed1" / "test", "--predictor", "full")
    capsys.readouterr()
    out_md, out_json = tmp_path / "cmp.md", tmp_path / "cmp.json"
    assert main(["compare", str(tmp_path / "center"), str(tmp_path / "box"), str(tmp_path / "full"),
                 "--draws", "500", "-o", str(out_md), "-o", str(out_json)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    result = json.loads(out_json.read_text())
    assert printed.strip() == out_md.read_text().strip()
    assert [run["seeds"] for run in result["runs"]] == [1, 1, 2] and result["clips"] == 4
    box = {(d["metric"], d["rule"]): d for d in result["pairs"][0]["differences"]}
    centre = json.loads((tmp_path / "center" / "metrics.json").read_text())
    boxes = json.loads((tmp_path / "box" / "metrics.json").read_text())
    for rule in ("median", "adaptive", "fixed"):
        assert box[("ap50", rule)]["a"] == centre["by_threshold"][rule]["ap50"]
        assert box[("ap50", rule)]["b"] == boxes["by_threshold"][rule]["ap50"]
        assert box[("auc", rule)]["b"] == pytest.approx(boxes["by_threshold"][rule]["auc"], abs=1e-12)
    assert "| ciou_mean | fixed |" in printed and "B = " in printed


def test_compare_refuses_evaluations_of_different_lists(small_layout, tmp_path, capsys):
    run_eval(small_layout, tmp_path / "all", "--predictor", "center")
    (tmp_path / "two.txt").write_text("a\nb\n")
    run_eval(small_layout, tmp_path / "two", "--predictor", "center", "--split", str(tmp_path / "two.txt"))
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "all"), str(tmp_path / "two")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another test list" in err[0]
    assert main(["compare", str(tmp_path / "all")]) == 2
    assert main(["compare", str(tmp_path / "all"), str(tmp_path / "nothing")]) == 2
