"""Using a trained model: the Python API (load, localize, evaluate, train) and `avsl localize` on
videos and images, after a short training on the tiny preset."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image
from scipy.stats import binomtest

import avsl
from avsl.bench.videos import write_video
from avsl.cli.main import main
from avsl.data.dataset import AVDataset
from avsl.inference.model import LocalizationModel
from avsl.inference.video_localize import localize_video


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_benchmark) -> tuple[Path, Path]:
    """The tiny benchmark and a supervised run on it (15 epochs, a few seconds)."""
    data = tiny_benchmark
    run = tmp_path_factory.mktemp("localize") / "run"
    argv = ["train", "--data", str(data), "--method", "supervised", "--epochs", "15", "--out", str(run),
            "--set", "data.workers=0", "--set", "data.batch_size=16", "--set", "model.width=16",
            "--set", "model.dim=32"]  # fmt: skip
    assert main(argv) == 0
    return data, run


def clips(data: Path):
    for split in ("val", "test"):
        for entry in json.loads((data / split / "annotations.json").read_text()):
            if entry["bbox"]:
                frame = np.asarray(Image.open(data / split / "frames" / f"{entry['file']}.jpg"))
                waveform, rate = sf.read(data / split / "audio" / f"{entry['file']}.wav", dtype="float32")
                yield frame, waveform, rate, entry["bbox"]


def test_the_map_peaks_inside_the_sounding_object_more_often_than_chance(trained):
    data, run = trained
    model = avsl.load(run, device="cpu")
    hits, chance, count = 0, 0.0, 0
    for frame, waveform, rate, boxes in clips(data):
        found = model.localize(frame, waveform, rate)
        height, width = frame.shape[:2]
        assert found.heatmap.shape == (height, width) and 0 <= found.heatmap.min() <= found.heatmap.max() <= 1
        y, x = np.unravel_index(found.heatmap.argmax(), found.heatmap.shape)
        hits += any(b[0] * width <= x < b[2] * width and b[1] * height <= y < b[3] * height for b in boxes)
        inside = np.zeros((height, width), bool)
        for b in boxes:
            inside[int(b[1] * height) : int(np.ceil(b[3] * height)), int(b[0] * width) : int(np.ceil(b[2] * width))] = 1
        chance += inside.mean()
        count += 1
    assert count >= 20
    # chance: a peak uniform over the frame falls in the boxes' share of it
    assert binomtest(hits, count, chance / count, alternative="greater").pvalue < 0.05, (hits, count, chance / count)


def test_the_api_gives_the_evaluated_networks_map(trained):
    """localize() on a frame and waveform from disk = the network on the evaluation's batch."""
    data, run = trained
    model = avsl.load(run, device="cpu", precision="fp32")
    dataset = AVDataset(data / "test", model.image_size, model.sample_rate, model.audio_seconds)
    sample = dataset[0]
    frame = np.array(Image.open(data / "test" / "frames" / f"{sample.id}.jpg"))
    waveform, rate = sf.read(data / "test" / "audio" / f"{sample.id}.wav", dtype="float32")
    found = model.localize(frame, waveform, rate)
    with torch.inference_mode():
        expected = model.network(sample.image[None], sample.waveform[None]).map_logits[0]
    assert np.allclose(found.logits, expected.numpy(), atol=1e-5)
    assert found.confidence == pytest.approx(float(expected.max()), abs=1e-5)
    # the same through a torch image (3, H, W) in [0, 1] and a (channels, samples) waveform
    again = model.localize(torch.from_numpy(frame).permute(2, 0, 1) / 255.0, np.stack([waveform, waveform]), rate)
    assert np.allclose(again.logits, found.logits, atol=1e-5)
    # precision=auto (bf16 where the CPU multiplies in it): the heatmap stays close to fp32's
    quick = avsl.load(run, device="cpu").localize(frame, waveform, rate)
    assert np.abs(quick.heatmap - found.heatmap).max() < 0.05


def test_the_model_is_a_module_and_integer_pcm_is_scaled(trained):
    """model(images, waveforms) = localize on the same inputs; int16 PCM gives the float map."""
    data, run = trained
    model = avsl.load(run, device="cpu")
    assert isinstance(model, torch.nn.Module) and not model.training
    assert "localizer=ezvsl" in repr(model) and f"image_size={model.image_size}" in repr(model)
    clip = sorted((data / "test" / "frames").glob("*.jpg"))[0]
    frame = np.array(Image.open(clip))
    waveform, rate = sf.read(data / "test" / "audio" / f"{clip.stem}.wav", dtype="int16")
    as_int = model.localize(frame, waveform, rate)
    as_float = model.localize(frame, waveform.astype(np.float32) / 32768, rate)
    assert np.allclose(as_int.logits, as_float.logits, atol=1e-5)
    images, windows = model.prepare_image(frame)[None], model.prepare_audio(waveform, rate)[None]
    with torch.inference_mode():
        assert np.allclose(model(images, windows).numpy()[0], as_int.logits, atol=1e-5)
    with pytest.warns(UserWarning, match="outside"):
        model.prepare_audio(waveform.astype(np.float32), rate)  # int16 values as floats: not scaled


def test_the_api_evaluates_and_trains_as_the_cli(trained, tmp_path):
    data, run = trained
    metrics = avsl.evaluate(run, data / "test", device="cpu", workers=0)
    assert main(["eval", "--data", str(data / "test"), "--checkpoint", str(run), "--out", str(tmp_path / "e"),
                 "--workers", "0", "--device", "cpu"]) == 0  # fmt: skip
    cli = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert (metrics["n"], metrics["ap50"], metrics["ciou_mean"]) == (cli["n"], cli["ap50"], cli["ciou_mean"])
    config = avsl.TrainConfig(method="selfsup")
    config.optim.epochs, config.data.workers, config.model.width, config.model.dim = 1, 0, 8, 16
    result = avsl.train(config, data, tmp_path / "run", device="cpu")
    assert result.steps == 1 and (tmp_path / "run" / "best.safetensors").exists()


def read_video(path: Path) -> tuple[int, float, float, bool]:
    """Frame count, frame rate, duration (s), and whether it has audio."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return count, float(stream.average_rate), container.duration / av.time_base, bool(container.streams.audio)


def test_a_video_overlay_keeps_frames_rate_duration_and_audio(trained, tmp_path, capsys):
    _, run = trained
    source = write_video(tmp_path / "in.mp4", seconds=2.0, fps=25, size=(96, 64), texture=True, video_codec="libx264")
    out, maps = tmp_path / "out.mp4", tmp_path / "maps.npz"
    argv = ["localize", "--checkpoint", str(run), str(source), "-o", str(out), "--save-maps", str(maps),
            "--stride", "3", "--boxes", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    frames, rate, duration, has_audio = read_video(out)
    expected = read_video(source)
    assert (frames, rate, has_audio) == (expected[0], expected[1], True)
    assert abs(duration - expected[2]) < 0.1
    saved = np.load(maps)
    assert saved["logits"].shape[0] == saved["times"].shape[0] == saved["confidence"].shape[0] == 17  # ceil(50 / 3)
    assert np.allclose(np.diff(saved["times"]), 3 / 25)
    assert "50 frames, 17 localized, 50 with a heatmap" in capsys.readouterr().out
    # no confidence clears the bar: the frames come out as they went in (but for the codec)
    assert main([*argv[:5], str(tmp_path / "plain.mp4"), "--min-confidence", "1e9", "--device", "cpu"]) == 0
    with av.open(str(source)) as a, av.open(str(tmp_path / "plain.mp4")) as b:
        first_in = next(a.decode(video=0)).to_ndarray(format="rgb24").astype(float)
        first_out = next(b.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    assert np.abs(first_in - first_out).mean() < 6


def test_an_image_overlay_and_its_raw_map(trained, tmp_path):
    data, run = trained
    clip = sorted((data / "test" / "frames").glob("*.jpg"))[0]
    out = tmp_path / "overlay.png"
    argv = ["localize", "--checkpoint", str(run), str(clip), "--audio", str(data / "test" / "audio" / f"{clip.stem}.wav"),
            "-o", str(out), "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    assert Image.open(out).size == Image.open(clip).size
    saved = np.load(out.with_suffix(".npz"))
    assert saved["heatmap"].shape == (64, 64) and saved["logits"].ndim == 2
    panels = tmp_path / "panels.png"
    assert main([*argv[:-4], "-o", str(panels), "--layout", "side-by-side", "--device", "cpu"]) == 0
    width, height = Image.open(clip).size
    assert Image.open(panels).size == (3 * width, height)  # frame | map | overlay


@pytest.mark.parametrize("case", ["no audio", "truncated", "no video", "missing folder", "not a checkpoint",
                                  "image without audio"])  # fmt: skip
def test_bad_inputs_are_one_line_exit_2_and_leave_no_output(trained, tmp_path, capsys, case):
    _, run = trained
    checkpoint, output = run, tmp_path / "out.mp4"
    if case == "no audio":
        source = write_video(tmp_path / "silent.mp4", audio_rate=None)
    elif case == "truncated":
        whole = write_video(tmp_path / "whole.mkv", seconds=4.0, audio_codec="pcm_s16le").read_bytes()
        source = tmp_path / "cut.mkv"
        source.write_bytes(whole[: len(whole) // 2])
    elif case == "no video":
        source = write_video(tmp_path / "sound.mkv", video_codec=None, audio_codec="pcm_s16le")
    elif case == "missing folder":
        source, output = write_video(tmp_path / "ok.mp4"), tmp_path / "nowhere" / "out.mp4"
    elif case == "not a checkpoint":
        source, checkpoint = write_video(tmp_path / "ok.mp4"), tmp_path / "model.pth"
        checkpoint.write_bytes(b"\x80\x04not a checkpoint")
    else:
        source, output = Path(sorted((trained[0] / "test" / "frames").glob("*.jpg"))[0]), tmp_path / "out.png"
    assert main(["localize", "--checkpoint", str(checkpoint), str(source), "-o", str(output), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("avsl localize: error:"), err
    assert not output.exists() and not list(output.parent.glob(".*partial*")) if output.parent.exists() else True


def test_frames_of_an_audio_hop_share_its_window(trained, tmp_path):
    """--audio-hop 0.2: the frames at multiples of 0.2 s get exactly their own window's map."""
    _, run = trained
    source = write_video(tmp_path / "in.mkv", seconds=1.0, fps=25, size=(64, 64), audio_codec="pcm_s16le")
    maps = {}
    for hop in ("0", "0.2"):
        saved = tmp_path / f"maps{hop}.npz"
        argv = ["localize", "--checkpoint", str(run), str(source), "-o", str(tmp_path / f"out{hop}.mkv"),
                "--audio-hop", hop, "--save-maps", str(saved), "--device", "cpu"]  # fmt: skip
        assert main(argv) == 0
        maps[hop] = np.load(saved)["logits"]
    on_the_hop = [0, 5, 10, 15, 20]  # frames at 0, 0.2, ... s
    assert np.allclose(maps["0"][on_the_hop], maps["0.2"][on_the_hop], atol=1e-5)
    assert not np.allclose(maps["0"], maps["0.2"], atol=1e-5)  # the others share a neighbour's window


def test_the_video_streamer_on_its_own(trained, tmp_path):
    """localize_video without the command line: every frame written, one map per hop window,
    and an audio file the encoder does not take (96 kHz) resampled for the overlay's track."""
    _, run = trained
    model = LocalizationModel.from_checkpoint(run)
    source = write_video(tmp_path / "in.mp4", seconds=1.0, fps=25)
    sound = tmp_path / "studio.wav"
    sf.write(sound, (0.1 * np.random.default_rng(0).standard_normal((96_000, 4))).astype(np.float32), 96_000)
    done = localize_video(model, source, tmp_path / "out.mkv", audio=sound, stride=2, progress=False)
    assert done.frames == 25 and done.localized == 13 and done.shown == 25
    assert np.all(np.diff(done.times) > 0) and len(done.audio_embeddings) >= 1
    assert read_video(tmp_path / "out.mkv")[3]  # it has its audio
