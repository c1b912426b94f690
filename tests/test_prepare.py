"""`avsl prepare`: short videos written with PyAV become the native layout with the right frame
(each frame shows its index) and audio (rate, length), resumably; hostile videos are listed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from avsl.bench.hostile import VIDEO_PIXEL_LIMIT, write_hostile_videos
from avsl.bench.videos import shown_index, write_video
from avsl.cli.main import main
from avsl.data.cache import is_cache


def index_in(path: Path) -> int:
    return shown_index(np.asarray(Image.open(path), dtype=np.float64))


def prepare(videos: Path, out: Path, *extra: str) -> int:
    return main(["prepare", str(videos), str(out), "--workers", "0", *extra])


@pytest.fixture
def videos(tmp_path) -> Path:
    folder = tmp_path / "videos"
    (folder / "nested").mkdir(parents=True)
    write_video(folder / "three.mp4", seconds=3.0, fps=25)  # 75 frames, AAC at 44.1 kHz stereo
    write_video(folder / "nested" / "two.mkv", seconds=2.0, fps=25, audio_codec="pcm_s16le", audio_rate=48_000)
    return folder


def test_middle_frame_and_whole_audio(videos, tmp_path):
    out = tmp_path / "layout"
    assert prepare(videos, out) == 0
    assert sorted(p.name for p in (out / "frames").iterdir()) == ["three.jpg", "two.jpg"]
    # the frame on screen at the middle: 1.5 s of 75 frames at 25 fps is frame 37, 1.0 s of 50 is 25
    assert index_in(out / "frames" / "three.jpg") == 37
    assert index_in(out / "frames" / "two.jpg") == 25
    for name, seconds in (("three", 3.0), ("two", 2.0)):
        info = sf.info(out / "audio" / f"{name}.wav")
        assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
        assert info.frames == round(seconds * 16_000)
    tone = sf.read(out / "audio" / "two.wav")[0]
    spectrum = np.abs(np.fft.rfft(tone))
    assert abs(np.argmax(spectrum) * 16_000 / len(tone) - 440) < 2  # the 440 Hz tone survived


def test_several_frames_their_own_audio_windows_and_the_vggsound_time(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    write_video(folder / "clip.mkv", seconds=3.0, audio_codec="pcm_s16le")
    out = tmp_path / "k"
    assert prepare(folder, out, "--frames", "3", "--audio-seconds", "1") == 0
    # frames at 0.5, 1.5 and 2.5 s: indices 12, 37, 62
    assert [index_in(out / "frames" / f"clip_{k}.jpg") for k in range(3)] == [12, 37, 62]
    assert all(sf.info(out / "audio" / f"clip_{k}.wav").frames == 16_000 for k in range(3))
    full = tmp_path / "full"
    full.mkdir()
    write_video(full / "abcdefghijk_000001.mkv", seconds=4.0, audio_codec="pcm_s16le")
    out = tmp_path / "vgg"
    assert prepare(full, out, "--time", "vggsound") == 0
    # the clip runs from 1 s to the end (4 s): its middle, 2.5 s, is frame 62
    assert index_in(out / "frames" / "abcdefghijk_000001.jpg") == 62
    assert sf.info(out / "audio" / "abcdefghijk_000001.wav").frames == 3 * 16_000


def test_a_rerun_skips_done_clips_and_redoes_half_written_ones(videos, tmp_path, capsys):
    out = tmp_path / "layout"
    assert prepare(videos, out) == 0
    capsys.readouterr()
    stamp = (out / "frames" / "three.jpg").stat().st_mtime_ns
    (out / "frames" / "two.jpg").unlink()  # killed between the audio and the frame
    (out / "frames" / ".two.jpg.123.tmp").write_bytes(b"partial")
    assert prepare(videos, out) == 0
    assert "1 clips written, 1 already there" in capsys.readouterr().out
    assert (out / "frames" / "three.jpg").stat().st_mtime_ns == stamp
    assert (out / "frames" / "two.jpg").exists()
    # the layout reads as a dataset: no temporary file is mistaken for a clip
    assert main(["eval", "--data", str(out), "--predictor", "center", "--out", str(tmp_path / "e")]) == 2  # no boxes


def test_hostile_videos_are_listed_each_with_its_problem(tmp_path, capsys):
    expected = write_hostile_videos(tmp_path / "bad")
    out = tmp_path / "layout"
    assert prepare(tmp_path / "bad", out, "--max-pixels", str(VIDEO_PIXEL_LIMIT)) == 0
    assert [p.name for p in (out / "frames").iterdir()] == ["good.jpg"]
    lines = dict(line.split("\t", 1) for line in (out / "prepare_skipped.tsv").read_text().splitlines())
    assert {Path(video).stem for video in lines} == set(expected)
    for video, problem in lines.items():
        assert expected[Path(video).stem] in problem and video in problem
    assert "skipped 7 video(s)" in capsys.readouterr().err
    assert prepare(tmp_path / "bad", tmp_path / "strict", "--strict", "--max-pixels", str(VIDEO_PIXEL_LIMIT)) == 2


def test_a_list_file_of_videos_and_the_training_cache(videos, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text("videos/three.mp4\n# a comment\nvideos/nested/two.mkv\nvideos/missing.mp4\n")
    out, cache = tmp_path / "layout", tmp_path / "cache"
    assert prepare(listing, out, "--cache", str(cache)) == 0
    assert sorted(p.stem for p in (out / "frames").iterdir()) == ["three", "two"]
    assert "missing.mp4: video not found" in (out / "prepare_skipped.tsv").read_text()
    assert is_cache(cache) and json.loads((cache / "cache.json").read_text())["count"] == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--time", "soon"], "--time must be"), (["--time", "1", "--frames", "2"], "one frame per video")],
)
def test_bad_options_are_one_line_errors(videos, tmp_path, capsys, extra, message):
    assert prepare(videos, tmp_path / "o", *extra) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_tar_shards_are_read_where_they_lie(videos, tmp_path, mode):
    """A shard of videos (as the community mirrors ship them), plain or gzipped: the same clips as
    the unpacked videos, read without writing the members to disk."""
    import tarfile

    shards = tmp_path / "shards"
    shards.mkdir()
    suffix = ".tar" if mode == "w" else ".tar.gz"
    with tarfile.open(shards / f"part0{suffix}", mode) as archive:
        archive.add(videos / "three.mp4", arcname="clips/three.mp4")
        archive.add(videos / "nested" / "two.mkv", arcname="clips/two.mkv")
        archive.add(tmp_path / "videos", arcname="clips/a_folder", recursive=False)  # not a file: ignored
    assert prepare(shards, tmp_path / "from_tar", "--workers", "2") == 0
    assert prepare(videos, tmp_path / "from_files") == 0
    for name in ("three", "two"):
        assert index_in(tmp_path / "from_tar" / "frames" / f"{name}.jpg") == index_in(
            tmp_path / "from_files" / "frames" / f"{name}.jpg"
        )
        tar_audio = sf.read(tmp_path / "from_tar" / "audio" / f"{name}.wav")[0]
        assert np.array_equal(tar_audio, sf.read(tmp_path / "from_files" / "audio" / f"{name}.wav")[0])
    assert sorted(p.name for p in tmp_path.rglob("*") if p.suffix in (".mp4", ".mkv")) == ["three.mp4", "two.mkv"]
    (shards / "broken.tar").write_bytes(b"not a tar at all")
    assert prepare(shards / "broken.tar", tmp_path / "broken") == 2  # the archive alone: nothing to do
    assert prepare(shards, tmp_path / "with_broken") == 0  # beside good shards: listed, the others read
    assert "broken.tar" in (tmp_path / "with_broken" / "prepare_skipped.tsv").read_text()
