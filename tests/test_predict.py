"""`avsl predict`: maps, a table and pictures for a folder without boxes, from frames or videos."""

from __future__ import annotations

import csv

import numpy as np
from PIL import Image

from avsl.bench.videos import write_video
from avsl.cli.main import main
from tests.conftest import tiny_spec, write_clip, write_model_checkpoint


def test_a_layout_without_boxes_gets_its_table_maps_and_pictures(tmp_path, capsys):
    checkpoint = tmp_path / "model.safetensors"
    write_model_checkpoint(checkpoint, tiny_spec(visual="tiny"))
    folder = tmp_path / "mine"
    for index in range(3):
        write_clip(folder, f"clip{index}", seed=index)
    (folder / "audio" / "clip2.wav").write_text("not a sound")
    out = tmp_path / "out"
    argv = ["predict", str(folder), "--checkpoint", str(checkpoint), "-o", str(out), "--overlays", "--workers", "0"]
    assert main(argv) == 0
    assert "clip2" in capsys.readouterr().err  # skipped, and named
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert [r["id"] for r in rows] == ["clip0", "clip1"]
    for row in rows:
        assert 0 < float(row["peak_x"]) < 1 and 0 < float(row["peak_y"]) < 1
        assert float(row["box_x1"]) < float(row["box_x2"]) and float(row["box_y1"]) < float(row["box_y2"])
    saved = np.load(out / "maps.npz")
    assert list(saved["ids"]) == ["clip0", "clip1"] and saved["maps"].shape == (2, 224, 224)
    assert Image.open(out / "overlays" / "clip0.png").size == (96, 64)  # the frame's own size
    assert (out / "predict_skipped.tsv").read_text().startswith("clip2\t")


def test_a_folder_of_videos_and_an_eval_without_boxes_points_here(tmp_path, capsys):
    checkpoint = tmp_path / "model.safetensors"
    write_model_checkpoint(checkpoint, tiny_spec(visual="tiny"))
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", seconds=1.0)
    write_video(videos / "silent.mp4", seconds=1.0, audio_rate=None)
    out = tmp_path / "out"
    assert main(["predict", str(videos), "--checkpoint", str(checkpoint), "-o", str(out), "--workers", "0"]) == 0
    assert [r["id"] for r in csv.DictReader((out / "predictions.csv").open())] == ["a"]
    assert "silent" in (out / "predict_skipped.tsv").read_text()
    bare = tmp_path / "bare"
    write_clip(bare, "x")
    assert main(["eval", "--data", str(bare), "--checkpoint", str(checkpoint), "-o", str(tmp_path / "e")]) == 2
    assert "avsl predict" in capsys.readouterr().err
