"""`avsl eval --maps`: maps made elsewhere scored by the same protocol, exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avsl.cli.main import main
from tests.conftest import tiny_spec, write_model_checkpoint

# what describes the model rather than its scores
NOT_SCORES = ("predictor", "model", "options")


def evaluate(layout, out, *source) -> int:
    return main(["eval", "--data", str(layout), "--out", str(out), "--workers", "0", "--no-report", *source])


def scores(folder) -> dict:
    metrics = json.loads((folder / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k not in NOT_SCORES}


@pytest.mark.parametrize("model", ["checkpoint", "center"])
def test_saved_maps_score_exactly_as_the_evaluation_that_saved_them(small_layout, tmp_path, model):
    if model == "checkpoint":
        write_model_checkpoint(tmp_path / "model.safetensors", tiny_spec(visual="tiny"))
        source = ["--checkpoint", str(tmp_path / "model.safetensors")]
    else:
        source = ["--predictor", "center"]
    saved = tmp_path / "maps.npz"
    assert evaluate(small_layout, tmp_path / "direct", *source, "--save-maps", str(saved)) == 0
    assert evaluate(small_layout, tmp_path / "again", "--maps", str(saved)) == 0
    with np.load(saved) as archive:
        assert archive["raw_maps"].shape[0] == archive["maps"].shape[0] == 6  # every clip the model saw
    direct, again = scores(tmp_path / "direct"), scores(tmp_path / "again")
    assert again == direct and direct["false_positive"]["n_silent"] == 1
    metrics = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert metrics["model"] == {"predictor": "maps", "maps": str(saved)}


def box_map(box, height: int, width: int) -> np.ndarray:
    """1 inside the normalised box on an H x W grid, 0 elsewhere."""
    ys, xs = (np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width
    inside_y = (ys >= box[1]) & (ys <= box[3])
    inside_x = (xs >= box[0]) & (xs <= box[2])
    return (inside_y[:, None] & inside_x[None, :]).astype(np.float32)


BOXES = {"a": [0.1, 0.1, 0.4, 0.5], "b": [0.5, 0.5, 0.9, 0.95], "c": [0.3, 0.2, 0.7, 0.8], "d": [0.0, 0.0, 1.0, 1.0]}


def test_rectangular_maps_in_a_file_or_a_folder(small_layout, tmp_path):
    ids = [*BOXES, "neg"]
    maps = np.stack([box_map(BOXES.get(i, [0, 0, 0.1, 0.1]), 30, 50) for i in ids])  # 30 x 50: not square
    np.savez(tmp_path / "maps.npz", ids=np.array(ids), maps=maps)
    folder = tmp_path / "npy"
    folder.mkdir()
    for clip_id, one in zip(ids, maps, strict=True):
        np.save(folder / f"{clip_id}.npy", one)
    assert evaluate(small_layout, tmp_path / "file", "--maps", str(tmp_path / "maps.npz"), "--threshold", "fixed") == 0
    assert evaluate(small_layout, tmp_path / "folder", "--maps", str(folder), "--threshold", "fixed") == 0
    from_file, from_folder = scores(tmp_path / "file"), scores(tmp_path / "folder")
    assert from_file == from_folder
    assert from_file["ap50"] == 1.0  # each clip's own box, at any map size, is found under the fixed rule


def write_maps(path, ids, maps) -> str:
    np.savez(path, ids=np.array(ids), maps=np.asarray(maps, dtype=np.float32))
    return str(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: write_maps(p, ["a", "b"], [np.full((7, 7), np.nan), np.ones((7, 7))]), "'a' holds NaN"),
        (lambda p: write_maps(p, ["a", "b"], np.ones((2, 7))), "must be N x H x W"),
        (lambda p: write_maps(p, ["a", "zzz"], np.ones((2, 7, 7))), "not clips of the test data (first: 'zzz')"),
        (lambda p: write_maps(p, ["a", "b"], np.ones((2, 7, 7))), "no map for 3 of the 5 listed clips"),
        (lambda p: (p.write_text("not a zip"), str(p))[1], "not a readable .npz"),
        (lambda p: str(p.parent / "nowhere.npz"), "nowhere.npz"),
    ],
)
def test_bad_maps_are_one_line_exit_2(small_layout, tmp_path, capsys, make, message):
    source = make(tmp_path / "maps.npz")
    assert evaluate(small_layout, tmp_path / "out", "--maps", source) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert str(tmp_path / "maps.npz") in err[0] or str(tmp_path / "nowhere.npz") in err[0]  # the file is named
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_missing_maps_are_skipped_or_zero_when_asked(small_layout, tmp_path):
    full = [box_map(BOXES[i], 14, 14) for i in BOXES]
    source = write_maps(tmp_path / "maps.npz", [*BOXES], full)  # no map for the silent clip
    assert evaluate(small_layout, tmp_path / "skip", "--maps", source, "--missing", "skip") == 0
    skipped = json.loads((tmp_path / "skip" / "metrics.json").read_text())
    assert skipped["n"] == 4 and skipped["false_positive"] is None
    assert [item["id"] for item in skipped["skipped"]["items"]] == ["neg"]
    assert evaluate(small_layout, tmp_path / "zero", "--maps", source, "--missing", "zero") == 0
    zero = json.loads((tmp_path / "zero" / "metrics.json").read_text())
    assert zero["false_positive"]["n_silent"] == 1 and zero["skipped"]["count"] == 0
    assert main(["eval", "--data", str(small_layout), "--predictor", "center", "--missing", "zero",
                 "--out", str(tmp_path / "x")]) == 2  # fmt: skip
