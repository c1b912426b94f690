"""The hostile command lines: where avsl once exited 0 while the user lost a file or believed
something false (an input overwritten by its own overlay, a NaN model scored as AP50 0, a
"DMT" run with no unlabelled clip, a resume that trained nothing). Each case must end in the
right behaviour, or in one line and exit 2 with nothing written; `avsl bench --suite
robustness` judges them beside the hostile corpus.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from PIL import Image

from avsl.bench.hostile import good_clip
from avsl.bench.judge import Outcome, Runner, command_failure, outside_failure, verdict, watched
from avsl.run import LAST_FILE, load_network, read_run_header, resolve_checkpoint, save_network

# The robustness suite's small model and data (32 px frames, 0.5 s windows); a semi-supervised
# run needs labelled and unlabelled clips in each batch and a stage after its warm-up.
SMALL_TRAINING = ["data.batch_size=8", "data.workers=0", "data.image_size=32", "data.audio_seconds=0.5",
                  "model.width=8", "model.dim=16", "semi.labeled_batch=2", "semi.warmup_epochs=1"]  # fmt: skip
TRAIN_CLIPS = 8


@dataclass(frozen=True)
class Misuse:
    """One command line and what must follow: its exit code, the only folder it may change
    (None: nothing at all), and a check of what else must hold (a problem, or None)."""

    name: str
    argv: list[str]
    expect: int = 2
    may_write: Path | None = None
    check: Callable[[Outcome], str | None] | None = None


def misuse_cases(runner: Runner, timeout: float, root: Path, run_dir: Path) -> list[dict]:
    """Every case, judged in order (a later case may use an earlier one's output); `run_dir` is
    a finished training run of the small model."""
    folder = root / "misuse"
    folder.mkdir()
    layout = folder / "layout"
    for index in range(TRAIN_CLIPS):
        good_clip(layout, f"c{index}")
    (layout / "annotations.json").write_text(
        json.dumps([{"file": f"c{i}", "bbox": [[0.2, 0.2, 0.7, 0.8]]} for i in range(TRAIN_CLIPS)])
    )
    cases = [
        *_localize_cases(folder, run_dir),
        *_checkpoint_cases(folder, layout, run_dir),
        *_train_cases(folder, layout),
        *_prepare_cases(folder),
        *_cache_cases(folder, layout),
        *_eval_cases(folder),
        *_report_cases(folder, folder / "flickr_eval"),
        *_evidence_cases(folder, layout),
    ]
    nowhere = folder / "nothing may be written"
    results = []
    for case in cases:
        outcome, outside = watched(runner, case.argv, timeout, root, case.may_write or nowhere)
        failure = command_failure(outcome, case.expect) or outside_failure(outside)
        if failure is None and case.check is not None:
            problem = case.check(outcome)
            failure = None if problem is None else ("silent garbage", problem)
        results.append(verdict(case.name, failure))
    return results


# -- localize: inputs are never overwritten; odd sound still works; errors name the right file --


def _localize_cases(folder: Path, run_dir: Path) -> list[Misuse]:
    from avsl.bench.videos import write_video  # PyAV writes the files; imported only when asked

    media, out = folder / "media", folder / "overlays"
    media.mkdir()
    out.mkdir()
    video = write_video(media / "clip.mp4", seconds=1.0)
    os.link(video, media / "hard_link.mp4")
    shutil.copy(video, media / "someone_elses.mp4")
    shutil.copy(video, out / "replace_me.mp4")
    image = media / "frame.png"
    Image.fromarray(np.full((40, 48, 3), 120, np.uint8)).save(image)
    sound = media / "sound.wav"
    sf.write(sound, _noise(16_000, 1), 16_000)
    studio = media / "studio_192k_8ch.wav"
    sf.write(studio, _noise(192_000, 8), 192_000, subtype="PCM_16")
    one_sample = media / "one_sample.wav"
    sf.write(one_sample, _noise(1, 1), 16_000)
    not_audio = media / "not_audio.wav"
    not_audio.write_text("this is not a sound\n")
    localize = ["localize", "--checkpoint", str(run_dir), "--device", "cpu"]
    overlay = out / "overlay.mp4"
    return [
        Misuse("localize: output is the input video", [*localize, str(video), "-o", str(video)]),
        Misuse("localize: output is a hard link to the input", [*localize, str(video), "-o", str(media / "hard_link.mp4")]),
        Misuse("localize: output is the input image", [*localize, str(image), "--audio", str(sound), "-o", str(image)]),
        Misuse("localize: output is another video", [*localize, str(video), "-o", str(media / "someone_elses.mp4")]),
        Misuse("localize: output of an unknown format", [*localize, str(video), "-o", str(out / "overlay.txt")]),
        Misuse("localize: --min-confidence nan", [*localize, str(video), "-o", str(overlay), "--min-confidence", "nan"]),
        Misuse("localize: a video", [*localize, str(video), "-o", str(overlay)], 0, out, _exists(overlay)),
        Misuse("localize: a rerun replaces its own output", [*localize, str(video), "-o", str(overlay)], 0, out,
               _exists(overlay)),
        Misuse("localize: --overwrite replaces another file",
               [*localize, str(video), "-o", str(out / "replace_me.mp4"), "--overwrite"], 0, out,
               _exists(out / "replace_me.mp4")),
        Misuse("localize: 192 kHz 8-channel --audio on a video",
               [*localize, str(video), "--audio", str(studio), "-o", str(out / "studio.mp4")], 0, out,
               _exists(out / "studio.mp4")),
        Misuse("localize: one-sample --audio", [*localize, str(image), "--audio", str(one_sample), "-o",
               str(out / "one.png")], check=_names(one_sample)),
        Misuse("localize: unreadable --audio on a video",
               [*localize, str(video), "--audio", str(not_audio), "-o", str(out / "bad_audio.mp4")],
               check=_names(not_audio, not_named=video)),
    ]  # fmt: skip


def _noise(samples: int, channels: int) -> np.ndarray:
    return (0.2 * np.random.default_rng(0).standard_normal((samples, channels))).astype(np.float32)


# -- checkpoints: every one checked before use ---------------------------------------------


def _checkpoint_cases(folder: Path, layout: Path, run_dir: Path) -> list[Misuse]:
    made = folder / "checkpoints"
    made.mkdir()
    found = load_network(resolve_checkpoint(run_dir))
    state = found.state
    weight = next(k for k, v in state.items() if v.ndim > 1)
    forged = {
        "NaN weights": {**state, weight: _with_first(state[weight], float("nan"))},
        "infinite weights": {**state, weight: _with_first(state[weight], float("inf"))},
        "integer tensor for a float weight": {**state, weight: state[weight].round().long()},
    }
    paths = {}
    for name, values in forged.items():
        paths[name] = made / f"{name.replace(' ', '_')}.safetensors"
        save_network(paths[name], found.spec, values, found.image_size, found.audio_seconds)
    paths["EZ-VSL layout claiming a million rows"] = _peer(made / "million_rows.pth", rows=10**6)
    paths["EZ-VSL layout with a zero-stride tensor"] = _peer(made / "zero_stride.pth", rows=16)
    paths["a device (/dev/zero)"] = Path("/dev/zero")
    fifo = made / "fifo.safetensors"
    os.mkfifo(fifo)
    paths["a FIFO"] = fifo
    cases = []
    for name, path in paths.items():
        out = folder / "evals" / name.replace(" ", "_")
        argv = ["eval", "--data", str(layout), "--out", str(out), "--checkpoint", str(path), "--workers", "0"]
        cases.append(Misuse(f"eval: checkpoint with {name}", argv, check=_absent(out)))
    nan = paths["NaN weights"]
    frame = folder / "media" / "frame.png"
    cases += [
        Misuse("localize: checkpoint with NaN weights", ["localize", "--checkpoint", str(nan), str(frame), "--audio",
               str(folder / "media" / "sound.wav"), "-o", str(folder / "overlays" / "nan.png")]),
        Misuse("export: checkpoint with NaN weights", ["export", "--checkpoint", str(nan), "-o",
               str(folder / "exports" / "nan.onnx")], check=_absent(folder / "exports")),
    ]  # fmt: skip
    return cases


def _with_first(tensor: torch.Tensor, value: float) -> torch.Tensor:
    changed = tensor.clone()
    changed.view(-1)[0] = value
    return changed


def _peer(path: Path, rows: int) -> Path:
    """An EZ-VSL `best.pth` whose projections are broadcast views: `rows` entries stored in one."""
    from torchvision.models import resnet18

    state = {}
    if rows < 1000:  # a complete state dict, so only the zero stride is wrong
        for prefix in ("imgnet", "audnet"):
            network = resnet18(weights=None)
            if prefix == "audnet":
                network.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
            state.update({f"{prefix}.{k}": v for k, v in network.state_dict().items() if not k.startswith("fc.")})
    state["img_proj.weight"] = torch.ones(1, 512, 1, 1).expand(rows, 512, 1, 1)
    state["img_proj.bias"] = torch.zeros(1).expand(rows)
    state["aud_proj.weight"] = torch.ones(1, 512).expand(rows, 512)
    state["aud_proj.bias"] = torch.zeros(1).expand(rows)
    torch.save({"model": state}, path)
    return path


# -- training: semi-supervised settings that cannot be what was asked; resume ---------------


def _train_cases(folder: Path, layout: Path) -> list[Misuse]:
    runs = folder / "runs"
    settings = [item for setting in SMALL_TRAINING for item in ("--set", setting)]

    def train(out: Path, *extra: str) -> list[str]:
        return ["train", "--data", str(layout), "--out", str(out), "--method", "dmt", "--epochs", "2", *settings,
                *extra]  # fmt: skip

    dmt = runs / "dmt"
    stopped = runs / "stopped_before_a_checkpoint"
    stopped.mkdir(parents=True)
    (stopped / "config.yaml").write_text("method: dmt\n")
    (stopped / "log.jsonl").write_text("")
    return [
        Misuse("train: dmt without --labeled-fraction", train(dmt), 0, dmt, _labelled_few(dmt)),
        Misuse("train: dmt with every clip labelled", train(runs / "all", "--labeled-fraction", "1"),
               check=_absent(runs / "all")),
        Misuse("train: dmt whose epochs end within the warm-up", train(runs / "short", "--epochs", "1"),
               check=_absent(runs / "short")),
        Misuse("train: --resume with other settings", ["train", "--resume", str(dmt), "--set", "optim.lr=0.1"]),
        Misuse("train: --resume of a finished run", ["train", "--resume", str(dmt)], 0),
        Misuse("train: --resume --epochs extends a run", ["train", "--resume", str(dmt), "--epochs", "3"], 0, dmt,
               _trained_steps(dmt, more_than=2)),
        Misuse("train: --resume of a run stopped before its first checkpoint", ["train", "--resume", str(stopped)]),
        Misuse("train: rerun of a run stopped before its first checkpoint", train(stopped), 0, stopped,
               _exists(stopped / "best.safetensors")),
    ]  # fmt: skip


def _labelled_few(run: Path) -> Callable[[Outcome], str | None]:
    def check(_: Outcome) -> str | None:
        labelled = (run / "labeled_ids.txt").read_text().split()
        return None if 0 < len(labelled) < TRAIN_CLIPS else f"{len(labelled)} of {TRAIN_CLIPS} clips labelled"

    return check


def _trained_steps(run: Path, more_than: int) -> Callable[[Outcome], str | None]:
    def check(_: Outcome) -> str | None:
        step = read_run_header(run / LAST_FILE).step
        return None if step > more_than else f"the run stayed at step {step}"

    return check


# -- prepare and cache: nothing to do is an error; reruns skip finished work; no data deleted --


def _prepare_cases(folder: Path) -> list[Misuse]:
    from avsl.bench.videos import write_video

    empty, videos = folder / "no_videos", folder / "videos"
    empty.mkdir()
    videos.mkdir()
    video = write_video(videos / "short.mp4", seconds=1.0)
    prepared, cache = folder / "prepared", folder / "prepared_cache"
    not_a_cache = folder / "not_a_cache"
    not_a_cache.mkdir()
    (not_a_cache / "notes.txt").write_text("mine\n")
    return [
        Misuse("prepare: no videos found", ["prepare", str(empty), str(folder / "p_none")],
               check=_absent(folder / "p_none")),
        Misuse("prepare: every frame time out of range", ["prepare", str(videos), str(folder / "p_late"), "--time",
               "999", "--workers", "0"], may_write=folder / "p_late", check=_names(video)),
        Misuse("prepare --cache", ["prepare", str(videos), str(prepared), "--cache", str(cache), "--workers", "0"], 0,
               folder, _exists(cache / "cache.json")),
        Misuse("prepare --cache: a rerun keeps the finished work", ["prepare", str(videos), str(prepared), "--cache",
               str(cache), "--workers", "0"], 0, prepared),
        Misuse("prepare --cache: into a folder that is not a cache", ["prepare", str(videos), str(prepared), "--cache",
               str(not_a_cache), "--workers", "0"]),
    ]  # fmt: skip


def _cache_cases(folder: Path, layout: Path) -> list[Misuse]:
    a_file = folder / "a_file.txt"
    a_file.write_text("mine\n")
    cache = ["cache", str(layout), "--workers", "1", "--overwrite"]
    return [
        Misuse("cache: OUT is a file, with --overwrite", [*cache[:2], str(a_file), *cache[2:]]),
        Misuse("cache: OUT is the data folder, with --overwrite", [*cache[:2], str(layout), *cache[2:]]),
        Misuse("cache: OUT is a folder that is not a cache, with --overwrite",
               [*cache[:2], str(folder / "not_a_cache"), *cache[2:]]),
    ]  # fmt: skip


# -- eval: every clip it leaves out is named on the console ------------------------------------


def _eval_cases(folder: Path) -> list[Misuse]:
    flickr = folder / "flickr"
    (flickr / "Annotations").mkdir(parents=True)
    for index in range(4):
        good_clip(flickr, f"f{index}")
    for index in range(3):  # f3 is listed but has no XML
        box = "<bbox><difficult>0</difficult><xmin>40</xmin><ymin>40</ymin><xmax>200</xmax><ymax>220</ymax></bbox>"
        (flickr / "Annotations" / f"f{index}.xml").write_text(f"<annotation><object>{box}</object></annotation>")
    (flickr / "test.txt").write_text("".join(f"f{i}\n" for i in range(4)))
    out = folder / "flickr_eval"
    argv = ["eval", "--data", str(flickr), "--split", str(flickr / "test.txt"), "--predictor", "center",
            "--workers", "0", "--image-size", "32", "--audio-seconds", "0.5", "--out", str(out)]  # fmt: skip
    return [Misuse("eval: a listed clip without an XML is named on the console", argv, 0, out, _mentions("f3"))]


# -- report: only evaluations in, only its own pages replaced ---------------------------------


def _report_cases(folder: Path, evaluation: Path) -> list[Misuse]:
    """`evaluation` is the folder the eval case above writes (it runs first)."""
    empty, broken, pages = folder / "not_an_evaluation", folder / "broken_evaluation", folder / "pages"
    for made in (empty, broken, pages):
        made.mkdir()
    (broken / "metrics.json").write_text("{not json")
    notes = pages / "notes.html"
    notes.write_text("<html>my own notes</html>\n")
    page = pages / "compare.html"
    report = ["report", "--device", "cpu"]
    return [
        Misuse("report: a folder that is not an evaluation", [*report, str(empty), "-o", str(page)],
               check=_names(empty)),
        Misuse("report: a metrics.json that is not JSON", [*report, str(broken), "-o", str(page)],
               check=_names(broken / "metrics.json")),
        Misuse("report: the same evaluation twice", [*report, str(evaluation), str(evaluation), "-o", str(page)]),
        Misuse("report: over a page avsl did not write", [*report, str(evaluation), "-o", str(notes)],
               check=lambda _: None if notes.read_text() == "<html>my own notes</html>\n" else "notes.html changed"),
        Misuse("report: an evaluation", [*report, str(evaluation), "-o", str(page)], 0, pages, _exists(page)),
    ]  # fmt: skip


# -- compare, eval --maps, download, app: their inputs checked before any work ----------------


def _evidence_cases(folder: Path, layout: Path) -> list[Misuse]:
    lists = folder / "two_lists"
    for name, ids in (("a", ["c0", "c1"]), ("b", ["c0", "c2"])):
        made = lists / name
        made.mkdir(parents=True)
        (made / "metrics.json").write_text(json.dumps({"test_list": f"list {name}", "by_threshold": {}}))
        rows = "".join(f"{i},0.5,0.5,100.0,0.5\n" for i in ids)
        (made / "per_clip.csv").write_text("id,ciou_median,ciou_fixed,box_area,ciou_adaptive\n" + rows)
    maps = folder / "maps"
    maps.mkdir()
    ids = np.array([f"c{i}" for i in range(TRAIN_CLIPS)])
    with_nan = np.ones((TRAIN_CLIPS, 7, 7), np.float32)
    with_nan[3, 2, 2] = np.nan
    np.savez(maps / "nan.npz", ids=ids, maps=with_nan)
    np.savez(
        maps / "other.npz", ids=np.array([f"zz{i}" for i in range(TRAIN_CLIPS)]), maps=np.ones((TRAIN_CLIPS, 7, 7))
    )
    scored = ["eval", "--data", str(layout), "--workers", "0", "--out", str(folder / "maps_eval"), "--maps"]
    listing = folder / "clips.txt"
    listing.write_text("abc_000001\n")
    broken = folder / "not_a_model.pth"
    broken.write_bytes(b"\x80\x04 not a checkpoint")
    return [
        Misuse("compare: evaluations of different test lists", ["compare", str(lists / "a"), str(lists / "b")],
               check=_mentions("another test list")),
        Misuse("eval --maps: a map holding NaN", [*scored, str(maps / "nan.npz")], check=_mentions("'c3' holds NaN")),
        Misuse("eval --maps: the maps of another data set", [*scored, str(maps / "other.npz")],
               check=_mentions("not clips of the test data")),
        Misuse("download: an unknown placeholder in --url-template",
               ["download", str(listing), str(folder / "downloaded"), "--url-template", "http://127.0.0.1/{video}"],
               check=_mentions("unknown placeholder")),
        Misuse("app: a checkpoint that is not one", ["app", "--checkpoint", str(broken), "--port", "9"],
               check=_names(broken)),
    ]  # fmt: skip


# -- what must hold afterwards ---------------------------------------------------------------


def _exists(path: Path) -> Callable[[Outcome], str | None]:
    return lambda _: None if path.exists() else f"{path.name} was not written"


def _absent(path: Path) -> Callable[[Outcome], str | None]:
    """A refused command leaves no folder behind, not even an empty one."""
    return lambda _: None if not path.exists() else f"{path.name} was left behind"


def _names(culprit: Path, not_named: Path | None = None) -> Callable[[Outcome], str | None]:
    def check(outcome: Outcome) -> str | None:
        if str(culprit) not in outcome.stderr:
            return f"the message does not name {culprit.name}"
        if not_named is not None and f"{not_named}:" in outcome.stderr:
            return f"the message blames {not_named.name}"
        return None

    return check


def _mentions(text: str) -> Callable[[Outcome], str | None]:
    return lambda outcome: None if text in outcome.stderr else f"{text} is not named on stderr"
