"""The reports: one evaluation's page shows every number of its metrics.json, what was scored and
its example clips; `avsl report` puts evaluations side by side; a picture never fails a run."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch

from avsl.cli.main import main
from avsl.evaluation.folder import FolderEval, evaluate_folder
from avsl.inference.predictors import BoxPredictor, CenterPredictor
from tests.conftest import SMALL_MODEL, as_set

RULES = ("median", "adaptive", "fixed")


def run_eval(layout, out, *extra) -> int:
    return main(["eval", "--data", str(layout), "--out", str(out), "--workers", "0", "--image-size", "32", *extra])


def numeric_leaves(tree, prefix=""):
    """(dotted path, value) of every number in a JSON tree (lists left out: ids, not metrics)."""
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from numeric_leaves(value, f"{path}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield path, value


def keyed_cells(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-key="([^"]+)" data-value="([^"]+)"', page))


def test_the_report_shows_every_number_of_metrics_json(small_layout, tmp_path):
    out = tmp_path / "out"
    assert run_eval(small_layout, out, "--predictor", "center") == 0
    page = (out / "report.html").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    shown = set(re.findall(r'data-value="([^"]+)"', page))
    scores = [(path, value) for path, value in numeric_leaves(metrics) if not path.startswith("options.")]
    assert len(scores) > 60 and [path for path, value in scores if repr(value) not in shown] == []
    cells = keyed_cells(page)
    for rule in RULES:  # each number in its own row: AP50 under each rule, and each rule's cap
        assert cells[f"by_threshold.{rule}.ap50"] == repr(metrics["by_threshold"][rule]["ap50"])
        assert cells[f"cap.{rule}.ap50"] == repr(metrics["cap"][rule]["ap50"])
        for bucket, row in metrics["by_threshold"][rule]["ciou_by_size"].items():
            assert row["n"] == 0 or cells[f"by_threshold.{rule}.ciou_by_size.{bucket}.ciou_mean"] == repr(
                row["ciou_mean"]
            )
    assert 'href="metrics.json"' in page and 'href="per_clip.csv"' in page
    assert "test list" in page and metrics["test_list"] in page and ">center<" in page
    assert "silent: neg" in page  # the layout's silent clip, among the examples
    assert page.count("data:image/png;base64,") == 2 and 'src="http' not in page
    assert "curve" not in page.lower().replace("success rate", "")  # no self-check of the AUC


def test_the_cap_is_the_ground_truth_boxes_own_score(small_layout):
    options = FolderEval(image_size=32, audio_seconds=0.5, workers=0)
    with pytest.warns(UserWarning):  # the layout's unannotated clip
        centre = evaluate_folder(CenterPredictor(), small_layout, options, "cpu").metrics
    with pytest.warns(UserWarning):
        boxes = evaluate_folder(BoxPredictor(), small_layout, options, "cpu").metrics
    for rule in RULES:
        assert centre["cap"][rule]["ap50"] == boxes["by_threshold"][rule]["ap50"]
        assert centre["cap"][rule]["ciou_mean"] == pytest.approx(boxes["by_threshold"][rule]["ciou_mean"])
    assert boxes["cap"]["fixed"]["ap50"] == 1.0 and centre["by_threshold"]["fixed"]["ap50"] < 1.0


def test_train_ends_on_the_test_split_whose_report_says_how_it_was_trained(tiny_benchmark, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", str(tiny_benchmark), "--method", "supervised", "--epochs", "1",
                 "--out", str(run), "--set", "data.workers=0", *as_set(*SMALL_MODEL),
                 "--test", str(tiny_benchmark / "test")]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    metrics = json.loads((run / "test" / "metrics.json").read_text())
    median = f"{100 * metrics['by_threshold']['median']['ap50']:.1f} % (median rule)"
    assert f"best checkpoint on test ({metrics['n']} clips" in printed and median in printed
    assert str(run / "test" / "report.html") in printed
    assert main(["eval", "--data", str(tiny_benchmark / "test"), "--checkpoint", str(run), "-o",
                 str(tmp_path / "again"), "--no-report"]) == 0  # fmt: skip
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["by_threshold"] == metrics["by_threshold"]  # the same evaluation as avsl eval
    assert metrics["model"]["method"] == "supervised" and metrics["model"]["step"] > 0
    page = (run / "test" / "report.html").read_text()
    for shown in ("supervised", str(run / "best.safetensors"), "ezvsl (tiny image, tiny audio encoder)"):
        assert f">{shown}<" in page


def comparison(tmp_path, folders, *extra) -> tuple[int, str]:
    page = tmp_path / "cmp" / "compare.html"
    code = main(["report", *map(str, folders), "-o", str(page), *extra])
    return code, page.read_text() if page.exists() else ""


def drawn(page: str) -> dict[str, set[str]]:
    """The clips drawn for each evaluation, from the clip grid's alt text."""
    alt = re.findall(r'<img alt="([^"]*: cIoU [^"]*)"', page)
    found: dict[str, set[str]] = {}
    for panel in alt[0].split(" | ") if alt else []:
        name, clip = re.match(r"(\S+) (\S+): cIoU", panel).groups()
        found.setdefault(name, set()).add(clip)
    return found


def test_report_puts_evaluations_side_by_side(small_layout, tmp_path):
    assert run_eval(small_layout, tmp_path / "run" / "test", "--predictor", "center") == 0
    assert run_eval(small_layout, tmp_path / "full", "--predictor", "full") == 0
    code, page = comparison(tmp_path, [tmp_path / "run", tmp_path / "full"])  # a run folder holding its eval
    assert code == 0
    cells = keyed_cells(page)
    for index, folder in enumerate([tmp_path / "run" / "test", tmp_path / "full"]):
        metrics = json.loads((folder / "metrics.json").read_text())
        for rule in RULES:
            assert cells[f"{index}.by_threshold.{rule}.ap50"] == repr(metrics["by_threshold"][rule]["ap50"])
    assert cells["cap.median.ap50"] == repr(metrics["cap"]["median"]["ap50"])  # one test list: its cap row
    clips = drawn(page)
    assert len(clips) == 2 and clips["test"] == clips["full"]  # each named by its folder's last part
    assert len(clips["full"]) == 4  # every scored clip of the layout (a, b, c, d)
    assert "../run/test/metrics.json" in page and "different test lists" not in page
    assert "How sure the differences are" in page and "1.difference.ap50.adaptive.low" in cells


def test_report_replaces_only_its_own_pages(small_layout, tmp_path, capsys):
    assert run_eval(small_layout, tmp_path / "a", "--predictor", "center") == 0
    assert comparison(tmp_path, [tmp_path / "a"], "--no-clips")[0] == 0
    assert comparison(tmp_path, [tmp_path / "a"], "--no-clips")[0] == 0  # its own page: replaced
    notes = tmp_path / "cmp" / "compare.html"
    notes.write_text("<html>my notes</html>")
    capsys.readouterr()
    assert comparison(tmp_path, [tmp_path / "a"], "--no-clips")[0] == 2
    assert "not a page avsl wrote" in capsys.readouterr().err and notes.read_text() == "<html>my notes</html>"
    assert comparison(tmp_path, [tmp_path / "a"], "--no-clips", "--overwrite")[0] == 0


def test_report_without_the_data_keeps_the_numbers_and_warns(small_layout, tmp_path, capsys):
    assert run_eval(small_layout, tmp_path / "a", "--predictor", "center") == 0
    assert run_eval(small_layout, tmp_path / "b", "--predictor", "box") == 0
    shutil.rmtree(small_layout)
    code, page = comparison(tmp_path, [tmp_path / "a", tmp_path / "b"])
    assert code == 0 and page.count("data:image/png;base64,") == 1  # the curves only
    assert "clips not drawn" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root.mkdir(), "not an evaluation folder"),
        (lambda root: (root.mkdir(), (root / "metrics.json").write_text("{nope")), "not a readable metrics.json"),
        (
            lambda root: (
                root.mkdir(),
                (root / "metrics.json").write_text('{"by_threshold": {}}'),
                (root / "per_clip.csv").write_text("id,x\na,1\n"),
            ),
            "not the per_clip.csv",
        ),  # fmt: skip
    ],
)
def test_report_refuses_what_is_not_an_evaluation(tmp_path, capsys, make, message):
    make(tmp_path / "e")
    code, page = comparison(tmp_path, [tmp_path / "e"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0] and not page


def test_a_picture_never_fails_an_evaluation(small_layout, tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("the drawing broke")

    monkeypatch.setattr("avsl.evaluation.report_clips.overlay", broken)
    assert run_eval(small_layout, tmp_path / "a", "--predictor", "center") == 0
    err = capsys.readouterr().err
    assert re.search(r"warning: report: best: \w+: not drawn \(the drawing broke\)", err)
    assert "warning: report: silent: neg: not drawn (the drawing broke)" in err
    assert (tmp_path / "a" / "report.html").exists() and (tmp_path / "a" / "metrics.json").exists()
    monkeypatch.setattr("avsl.evaluation.output.write_report", broken)
    assert run_eval(small_layout, tmp_path / "b", "--predictor", "center") == 0
    assert "report.html: not written (the drawing broke)" in capsys.readouterr().err
    assert (tmp_path / "b" / "metrics.json").exists() and not (tmp_path / "b" / "report.html").exists()


def test_silent_clip_confidences_are_ordered(small_layout):
    with pytest.warns(UserWarning):
        outcome = evaluate_folder(CenterPredictor(), small_layout, FolderEval(image_size=32, workers=0), "cpu")
    silent = outcome.result.silent_clips()
    assert [clip for clip, _ in silent] == ["neg"] and isinstance(silent[0][1], float)
    assert torch.cat(outcome.result.confidences).numel() == 5  # a, b, c, d and neg
