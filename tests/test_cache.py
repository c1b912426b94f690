"""The memory-mapped training cache: same clips as the in-memory bank, trains like it, refuses
what does not fit the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from avsl.cli.main import main
from avsl.data.cache import ClipCache, open_cache, write_cache
from avsl.data.dataset import AVDataset
from avsl.data.memory import load_clip_bank
from avsl.data.selection import load_source
from avsl.data.synth.presets import get_preset
from avsl.data.synth.writer import generate
from avsl.errors import AvslError
from tests.conftest import SMALL_MODEL, as_set


def test_cache_holds_what_the_bank_holds(small_layout, tmp_path):
    dataset = AVDataset(small_layout, 35, 16_000, 1.0, frames="uint8")
    index = write_cache(dataset, tmp_path / "cache", input_size=32, workers=0, batch_size=4)
    bank = load_clip_bank(dataset, workers=0)
    cache = open_cache(tmp_path / "cache")
    assert isinstance(cache, ClipCache) and index["count"] == len(cache) == len(bank) == 6
    assert cache.ids == bank.ids and cache.side == bank.side == 35 and cache.input_size == 32
    assert torch.equal(cache.has_box, bank.has_box)
    assert all(torch.equal(a, b) for a, b in zip(cache.boxes, bank.boxes, strict=True))
    picked = torch.tensor([5, 0, 3])
    from_cache, from_bank = cache.batch(picked), bank.batch(picked)
    assert from_cache.image.dtype == torch.uint8 and torch.equal(from_cache.image, from_bank.image)
    # float16 audio: within half a unit in the last place of 11 significant bits
    assert torch.allclose(from_cache.audio.float(), from_bank.audio, rtol=2**-11, atol=1e-7)
    assert not (tmp_path / "cache.partial").exists()


def test_unreadable_clips_are_listed_and_left_out(small_layout, tmp_path):
    (small_layout / "frames" / "b.jpg").write_bytes(b"not a jpeg")
    index = write_cache(AVDataset(small_layout, 24, 16_000, 1.0, frames="uint8"), tmp_path / "c", 24, workers=0)
    cache = open_cache(tmp_path / "c")
    assert "b" not in cache.ids and len(cache) == 5
    assert [s["id"] for s in index["skipped"]] == ["b"] and cache.skipped[0].id == "b"
    assert (tmp_path / "c" / "frames.u8").stat().st_size == 5 * 3 * 24 * 24


def test_a_damaged_or_mismatched_cache_is_refused(small_layout, tmp_path):
    write_cache(AVDataset(small_layout, 24, 16_000, 1.0, frames="uint8"), tmp_path / "c", 24, workers=0)
    with pytest.raises(AvslError, match="needs 30 px"):
        load_source(tmp_path / "c", 30, 16_000, 1.0, workers=0)
    with open(tmp_path / "c" / "audio.f16", "r+b") as stream:
        stream.truncate(10)
    with pytest.raises(AvslError, match="wrong size"):
        open_cache(tmp_path / "c")
    (tmp_path / "c" / "cache.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(AvslError, match="not a cache of this avsl version"):
        open_cache(tmp_path / "c")


def test_cache_maps_the_files_instead_of_reading_them(small_layout, tmp_path):
    write_cache(AVDataset(small_layout, 24, 16_000, 1.0, frames="uint8"), tmp_path / "c", 24, workers=0)
    cache = open_cache(tmp_path / "c")
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs Linux's /proc to see the process's mappings")
    # the tensors' storage is the file's own mapping, not a copy in this process's heap
    for tensor, name in ((cache.frames, "frames.u8"), (cache.audio, "audio.f16")):
        spans = [line.split()[0].split("-") for line in maps.read_text().splitlines() if line.endswith(name)]
        assert any(int(lo, 16) <= tensor.data_ptr() < int(hi, 16) for lo, hi in spans), name


def test_avsl_cache_then_train_from_it(tmp_path):
    data = tmp_path / "tiny"
    generate(data, get_preset("tiny").with_counts(24, 8, 0), seed=0, workers=1)
    assert main(["cache", str(data), str(tmp_path / "cache"), "--workers", "1"]) == 0
    assert open_cache(tmp_path / "cache" / "train").input_size == get_preset("tiny").image_size
    assert main(["cache", str(data), str(tmp_path / "cache")]) == 2  # exists: --overwrite needed
    run = tmp_path / "run"
    argv = ["train", "--data", str(tmp_path / "cache"), "--method", "dmt", "--out", str(run), "--epochs", "2",
            "--set", "data.batch_size=8", "--set", "semi.labeled_batch=2", "--set", "semi.warmup_epochs=1",
            *as_set(*SMALL_MODEL), "--labeled-fraction", "0.25"]  # fmt: skip
    assert main(argv) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and "val/teacher_a/ap50" in log[1] and "train/pl/kept" in log[1]
