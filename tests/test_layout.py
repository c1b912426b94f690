"""The native layout reader: annotations, bad boxes, ids, dataset and collate."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import DataLoader

from avsl.data.dataset import AVDataset, collate_samples
from avsl.data.layout import read_annotations, read_id_list
from avsl.data.reference import REFERENCE_DIR
from avsl.errors import AvslError
from avsl.types import BadSample
from tests.conftest import write_annotations, write_clip


def test_reads_reference_vggss_and_reports_sentinel_boxes(tmp_path):
    reference = REFERENCE_DIR / "vggss.json"
    skipped = read_annotations(reference, "skip")
    clipped = read_annotations(reference, "clip")
    assert len(skipped.entries) + len(skipped.problems) == 5158
    assert "MKC9LvRivTM_000030" in skipped.problems
    assert "Db6Hjt0x28k_000056" in skipped.problems
    assert len(clipped.entries) == 5158
    assert "MKC9LvRivTM_000030" in clipped.clipped


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not readable JSON"),
        ('{"file": "a"}', "expected a JSON list"),
        ("\u00ff\u00fe", "not readable JSON"),
    ],
)
def test_malformed_annotations_name_the_file(tmp_path, content, message):
    path = tmp_path / "annotations.json"
    path.write_text(content)
    with pytest.raises(AvslError, match=message) as info:
        read_annotations(path)
    assert str(path) in str(info.value)


def test_bad_boxes_skip_or_clip(tmp_path):
    path = tmp_path / "annotations.json"
    entries = [
        {"file": "ok", "bbox": [[0.1, 0.1, 0.5, 0.5]]},
        {"file": "outside", "bbox": [[0.1, 0.1, 1.5, 0.5]]},
        {"file": "inverted", "bbox": [[0.6, 0.1, 0.5, 0.5]]},
        {"file": "short", "bbox": [[0.6, 0.1]]},
    ]
    path.write_text(json.dumps(entries))
    skipped = read_annotations(path, "skip")
    assert set(skipped.entries) == {"ok"}
    assert "outside [0, 1]" in skipped.problems["outside"]
    assert "inverted" in skipped.problems["inverted"]
    assert "expected 4" in skipped.problems["short"]
    clipped = read_annotations(path, "clip")
    assert clipped.entries["outside"].boxes == ((0.1, 0.1, 1.0, 0.5),)
    assert set(clipped.clipped) == {"outside", "inverted"}
    assert "expected 4" in clipped.problems["short"]  # nothing to clip: skipped, not made a negative


def test_one_bad_entry_costs_only_itself(tmp_path):
    """Entries naming no usable clip are listed with their item number, duplicates counted once."""
    path = tmp_path / "annotations.json"
    entries = [
        {"class": "no file"},
        "not an object",
        {"file": "../escape", "bbox": []},
        {"file": "/etc/passwd", "bbox": []},
        {"file": "ok", "bbox": [[0.1, 0.1, 0.5, 0.5]]},
        {"file": "ok", "bbox": [[0.0, 0.0, 1.0, 1.0]]},
        {"file": "nan", "bbox": [[0.1, float("nan"), 0.5, 0.5]]},
    ]
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(entries).encode())  # with a UTF-8 byte-order mark
    result = read_annotations(path)
    assert set(result.entries) == {"ok"}
    assert result.entries["ok"].boxes == ((0.1, 0.1, 0.5, 0.5),)  # the first of the duplicates
    assert result.duplicates == ["ok"]
    assert [r.id for r in result.rejected] == ["item 0", "item 1", "item 2", "item 3"]
    assert all(str(path) in r.reason for r in result.rejected)
    assert "not a plain file stem" in result.rejected[2].reason
    assert "finite" in result.problems["nan"]
    assert "nan" not in read_annotations(path, "clip").entries  # NaN cannot be clipped into [0, 1]


def test_split_list_takes_the_first_csv_column(tmp_path):
    path = tmp_path / "flickr_test.csv"
    path.write_text("10000130166,202\n10007936344,0\n")
    assert read_id_list(path).ids == ["10000130166", "10007936344"]


def test_pair_list_pairs_frames_with_other_audio(tmp_path):
    """SLAVC's extended sets: a non-sounding row is its own clip, a known negative."""
    path = tmp_path / "plus_silent.csv"
    path.write_text("video,audio,label\nabc,abc,sounding\ndef,xyz,non-sounding\nghi,ghi,non-sounding\n")
    listed = read_id_list(path)
    assert listed.ids == ["abc", "def+xyz", "ghi+ghi"]
    assert listed.frame_of == {"def+xyz": "def", "ghi+ghi": "ghi"}
    assert listed.audio_of == {"def+xyz": "xyz", "ghi+ghi": "ghi"}
    assert listed.negatives == {"def+xyz", "ghi+ghi"}


def test_split_list_skips_unsafe_and_repeated_ids(tmp_path):
    path = tmp_path / "test.txt"
    path.write_bytes(b"\xef\xbb\xbfabc\n../up\n\nabc\n/abs/path\ndef\n")
    listed = read_id_list(path)
    assert listed.ids == ["abc", "def"]
    assert listed.duplicates == ["abc"]
    assert [r.id for r in listed.rejected] == ["line 2", "line 5"]


def test_dataset_reads_samples_and_skips_bad_ones(small_layout):
    (small_layout / "frames" / "b.jpg").write_bytes(b"garbage")
    (small_layout / "audio" / "c.wav").unlink()
    dataset = AVDataset(small_layout, image_size=32, sample_rate=8000, audio_seconds=0.5)
    assert len(dataset) == 6
    batch = next(iter(DataLoader(dataset, batch_size=6, collate_fn=collate_samples)))
    assert batch.image.shape == (4, 3, 32, 32)
    assert batch.audio.shape == (4, 4000)
    assert {s.id for s in batch.skipped} == {"b", "c"}
    reasons = {s.id: s.reason for s in batch.skipped}
    assert "b.jpg: cannot decode image" in reasons["b"]
    assert "c.wav" in reasons["c"]
    by_id = dict(zip(batch.ids, range(len(batch)), strict=True))
    assert batch.has_box.tolist() == [True, True, True, False]
    assert batch.sounding.tolist() == [True, True, False, False]
    assert torch.allclose(batch.boxes[by_id["a"]], torch.tensor([[0.1, 0.1, 0.4, 0.5]]))


def test_annotation_problem_becomes_a_bad_sample(tmp_path):
    write_clip(tmp_path, "x")
    write_annotations(tmp_path, [{"file": "x", "bbox": [[0.5, 0.5, 0.2, 0.9]]}])
    dataset = AVDataset(tmp_path, image_size=16, sample_rate=8000, audio_seconds=0.25)
    item = dataset[0]
    assert isinstance(item, BadSample) and "inverted" in item.reason
