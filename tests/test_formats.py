"""The public layouts on small files in their real formats: Flickr-SoundNet's XML annotations and
Data/ download, VGG-SS with the packaged vggss.json, SLAVC's extended sets, split lists by name,
the DMT protocol's split files, and training from list files."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from avsl.cli.main import main
from avsl.data.benchmarks import DMT_SIZES, annotated_ids, dmt_split_ids, make_dmt_splits, resolve_split
from avsl.data.dataset import AVDataset
from avsl.data.flickr import parse_flickr_xml
from avsl.data.layout import read_annotations, read_id_list
from avsl.data.reference import REFERENCE_DIR
from avsl.errors import AvslError
from avsl.metrics.protocol import gt_maps
from tests.conftest import SMALL_MODEL, as_set, write_clip

FLICKR_IDS = [row[0] for row in csv.reader((REFERENCE_DIR / "flickr_test.csv").open())][:3]


def flickr_xml(boxes: list[tuple[int, int, int, int]]) -> str:
    """The Flickr-SoundNet annotation format: one <object><bbox> per annotator, pixel coordinates
    of a 256 x 256 frame after one non-coordinate child."""
    objects = "".join(
        f"<object><bbox><difficult>0</difficult><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax><ymax>{d}</ymax>"
        "</bbox></object>"
        for a, b, c, d in boxes
    )
    return f"<annotation><filename>x.jpg</filename>{objects}</annotation>"


def test_three_annotators_give_the_consensus_map_by_hand(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text(flickr_xml([(0, 0, 128, 128), (64, 64, 192, 192), (64, 0, 128, 256)]))
    boxes = parse_flickr_xml(path)
    assert boxes[0] == (0.0, 0.0, 0.5, 0.5)
    expected = torch.zeros(224, 224)
    for x1, y1, x2, y2 in [(0, 0, 128, 128), (64, 64, 192, 192), (64, 0, 128, 256)]:
        px = [int(224 * v / 256) for v in (x1, y1, x2, y2)]  # the peers' pixel rounding
        expected[px[1] : px[3], px[0] : px[2]] += 1
    expected = (expected / 2).clamp(max=1)
    assert torch.equal(gt_maps([torch.tensor(boxes)], rule="consensus")[0], expected)
    assert set(expected.unique().tolist()) == {0.0, 0.5, 1.0}


def write_flickr_download(root: Path, ids: list[str]) -> None:
    """The public download's layout: Data/<digit>/<id>.jpg|.wav beside Annotations/<id>.xml."""
    (root / "Annotations").mkdir(parents=True)
    for index, clip_id in enumerate(ids):
        folder = root / "Data" / str(index % 2)
        write_clip(folder, clip_id, seed=index)
        (folder / "frames" / f"{clip_id}.jpg").rename(folder / f"{clip_id}.jpg")
        (folder / "audio" / f"{clip_id}.wav").rename(folder / f"{clip_id}.wav")
        (root / "Annotations" / f"{clip_id}.xml").write_text(flickr_xml([(30, 30, 200, 220), (40, 20, 180, 230)]))


def test_flickr_download_layout_round_trips_through_eval(tmp_path, capsys):
    root = tmp_path / "Flickr-SoundNet"
    write_flickr_download(root, FLICKR_IDS)
    (root / "Annotations" / "broken.xml").write_text("<annotation><object><bbox>")
    out = tmp_path / "e"
    argv = ["eval", "--data", str(root), "--benchmark", "flickr", "--predictor", "center", "--out", str(out),
            "--workers", "0"]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 3 and metrics["gt_rule"] == "consensus" and metrics["format"] == "flickr"
    assert metrics["test_list"] == "flickr: flickr_test.csv (249 clips listed)"
    reasons = {s["id"]: s["reason"] for s in metrics["skipped"]["items"]}
    assert len(reasons) == 246 and all("frame not found" in r for r in reasons.values())
    assert "test list: flickr" in capsys.readouterr().out
    # the same clips as frames/ + audio/ folders, found by --format auto, with the default list
    flat = tmp_path / "flat"
    for clip_id in FLICKR_IDS:
        write_clip(flat, clip_id)
    (flat / "Annotations").mkdir()
    for clip_id in FLICKR_IDS:
        (flat / "Annotations" / f"{clip_id}.xml").write_text(flickr_xml([(30, 30, 200, 220)]))
    assert (
        main(["eval", "--data", str(flat), "--predictor", "center", "--out", str(tmp_path / "f"), "--workers", "0"])
        == 0
    )
    assert json.loads((tmp_path / "f" / "metrics.json").read_text())["n"] == 3


def test_a_malformed_xml_file_is_a_listed_clip(tmp_path):
    root = tmp_path / "d"
    write_flickr_download(root, FLICKR_IDS[:2])
    (root / "Annotations" / f"{FLICKR_IDS[1]}.xml").write_text("<annotation><object><bbox><xmin>1")
    dataset = AVDataset(root, 32, 16_000, 0.5)
    assert dataset.layout.format == "flickr" and len(dataset) == 2
    bad = dataset[dataset.ids.index(FLICKR_IDS[1])]
    assert "not readable XML" in bad.reason and f"{FLICKR_IDS[1]}.xml" in bad.reason


def test_vggss_benchmark_uses_the_packaged_boxes(tmp_path):
    annotations = read_annotations(REFERENCE_DIR / "vggss.json")
    ids = [row.strip() for row in (REFERENCE_DIR / "vggss_test.csv").read_text().splitlines()[:4]]
    root = tmp_path / "vggss"
    for index, clip_id in enumerate(ids):
        write_clip(root, clip_id, seed=index)
    dataset = AVDataset(root, 32, 16_000, 0.5, split=resolve_split("vggss_test"),
                        annotation_file=REFERENCE_DIR / "vggss.json")  # fmt: skip
    first = dataset[dataset.ids.index(ids[0])]
    assert first.boxes.shape[0] == len(annotations.entries[ids[0]].boxes)
    out = tmp_path / "e"
    assert main(["eval", "--data", str(root), "--benchmark", "vggss", "--predictor", "center", "--out", str(out),
                 "--workers", "0"]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 4 and metrics["gt_rule"] == "union"
    assert metrics["annotations"].endswith("reference/vggss.json")
    assert metrics["test_list"] == "vggss: vggss_test.csv (5,158 clips listed)"


def test_packaged_vggss_json_parses_with_its_box_counts():
    clipped = read_annotations(REFERENCE_DIR / "vggss.json", "clip")
    assert len(clipped.entries) == 5158 and not clipped.rejected and not clipped.duplicates
    counts = Counter(len(e.boxes) for e in clipped.entries.values())
    # 4,619 single boxes, as the public reference notes say; the rest hold 2-7 (its "2-11" is not so)
    assert counts == {1: 4619, 2: 385, 3: 94, 4: 37, 5: 18, 6: 3, 7: 2}
    skipped = read_annotations(REFERENCE_DIR / "vggss.json", "skip")
    # 12 corrupt sentinels (docs/protocol.md) and 6 clips with a zero-area box
    assert len(skipped.problems) == 18 and len(skipped.entries) == 5140


def test_extended_set_scores_false_positives_of_mismatched_pairs(tmp_path):
    rows = list(csv.reader((REFERENCE_DIR / "flickr_test_plus_silent.csv").open()))[1:]
    video, audio = rows[0][0], rows[0][1]
    root = tmp_path / "ext"
    write_flickr_download(root, [video, audio])
    out = tmp_path / "e"
    argv = ["eval", "--data", str(root), "--benchmark", "flickr_plus_silent", "--predictor", "center",
            "--out", str(out), "--workers", "0"]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 2  # the two sounding clips
    assert metrics["false_positive"]["n_silent"] == 1 and metrics["false_positive"]["n_sounding"] == 2


def test_dmt_splits_are_disjoint_sized_seeded_and_annotated():
    for dataset in ("flickr", "vggss"):
        parts = {part: dmt_split_ids(dataset, part) for part in DMT_SIZES}
        assert parts == make_dmt_splits(dataset)  # the shipped files are the seeded function's output
        annotated = set(annotated_ids(dataset))
        for part, ids in parts.items():
            assert len(ids) == len(set(ids)) and set(ids) <= annotated
            assert len(ids) == DMT_SIZES[part] or (dataset, part, len(ids)) == ("flickr", "test", 249)
        assert not set(parts["train"]) & set(parts["val"])
        assert not (set(parts["train"]) | set(parts["val"])) & set(parts["test"])
    assert len(annotated_ids("flickr")) == 4999


def test_named_splits_resolve_and_unknown_ones_are_refused(tmp_path):
    assert resolve_split("vggss_144k").name == "vggss_144k.txt.gz"
    assert resolve_split("dmt-val", "vggss").name == "dmt_vggss_val.txt"
    with pytest.raises(AvslError, match="no packaged list of that name"):
        resolve_split("vggss_999k")
    with pytest.raises(AvslError, match="which dataset"):
        resolve_split("dmt-test")


def test_training_from_list_files_with_a_labelled_list(tiny_lists, tmp_path):
    data, train_list, labeled_list = tiny_lists
    run = tmp_path / "run"
    argv = ["train", "--data", str(data), "--method", "supervised", "--split", str(train_list),
            "--labeled", str(labeled_list), "--out", str(run), "--epochs", "1", "--set", "data.batch_size=4",
            "--set", "data.workers=0", *as_set(*SMALL_MODEL)]  # fmt: skip
    assert main(argv) == 0
    assert (run / "labeled_ids.txt").read_text().split() == sorted(labeled_list.read_text().split())


@pytest.fixture
def tiny_lists(tmp_path):
    """A layout of 10 clips: a training list of 8 (the other 2 unused), 3 of them labelled."""
    data = tmp_path / "data"
    ids = [f"c{i}" for i in range(10)]
    for index, clip_id in enumerate(ids):
        write_clip(data, clip_id, seed=index)
    (data / "annotations.json").write_text(json.dumps([{"file": i, "bbox": [[0.1, 0.2, 0.6, 0.7]]} for i in ids]))
    train_list, labeled_list = tmp_path / "train.txt", tmp_path / "labelled.txt"
    train_list.write_text("\n".join(ids[:8]))
    labeled_list.write_text("c1\nc4\nc6\n")
    return data, train_list, labeled_list


def test_a_dmt_run_holds_out_the_other_splits_and_uses_the_packaged_boxes(tmp_path):
    """VGG-SS's annotated clips are in the 144k list too: dmt-val and dmt-test must not train."""
    from avsl.data.selection import Selection

    root = tmp_path / "vggsound"
    (root / "frames").mkdir(parents=True)
    selection = Selection(splits=("vggss_144k",), labeled="dmt-train")
    held = set(selection.held_out(root))
    assert held == set(dmt_split_ids("vggss", "val")) | set(dmt_split_ids("vggss", "test"))
    assert selection.box_file(root) == REFERENCE_DIR / "vggss.json"
    assert [p.name for p in selection.lists(root)] == ["vggss_144k.txt.gz", "dmt_vggss_train.txt"]
    assert held & set(read_id_list(resolve_split("vggss_144k")).ids)  # the overlap that makes this necessary
    assert Selection(splits=("dmt-val",)).box_file(root) == REFERENCE_DIR / "vggss.json"  # validation's boxes
