"""`avsl bench --suite robustness`: the hostile corpus through the real commands, as a new user
would run them, each judged and counted.

Each command runs as its own process with a time limit, so a crash (a signal or exit 1), a hang
(the limit) and a traceback are seen as a user would see them. Outcomes:
  handled         the expected result: skipped and listed, read and scored, or exit 2 with one line
  crash           exit 1 or a signal, or a traceback on stderr
  hang            still running at the time limit
  silent garbage  exit 0, but a clip that must be skipped was scored, or lost without a word, or a
                  score is not finite, or a valid clip was refused
  written outside a file created or changed outside the command's output folder
"""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

from avsl.bench.hostile import CLIP_CASES, VIDEO_PIXEL_LIMIT, good_clip, write_corpus, write_hostile_videos
from avsl.bench.judge import (
    Runner,
    command_failure,
    outside_failure,
    subprocess_runner,
    verdict,
    watched,
)
from avsl.bench.misuse import misuse_cases
from avsl.data.frames import load_frame
from avsl.run import load_network, save_network

TIME_LIMIT_S = 300.0
# A small training run: the corpus has a few dozen 48 px clips.
TRAIN_SETTINGS = ["optim.epochs=1", "data.batch_size=8", "data.workers=0", "data.image_size=32",
                  "data.audio_seconds=0.5", "model.width=8", "model.dim=16"]  # fmt: skip
EVAL_OPTIONS = {"--predictor": "center", "--workers": "0", "--image-size": "32", "--audio-seconds": "0.5"}


def run(runner: Runner = subprocess_runner, timeout: float = TIME_LIMIT_S) -> dict:
    """Build the corpus in a temporary folder, run every command on it, and count the outcomes."""
    with tempfile.TemporaryDirectory(prefix="avsl-robustness-") as folder:
        root = Path(folder)
        corpus = write_corpus(root / "corpus")
        judged = [
            *_dataset_eval(runner, timeout, root, corpus),
            *_dataset_train(runner, timeout, root, corpus),
            *_misuse(runner, timeout, root),
            *_command_cases(runner, timeout, root),
            *_video_cases(runner, timeout, root),
        ]
    counts = {kind: sum(1 for j in judged if j["outcome"] == kind) for kind in OUTCOMES}
    return {
        "cases": len(judged),
        **counts,
        "not_handled": [j for j in judged if j["outcome"] != "handled"],
        "details": judged,
    }


OUTCOMES = ("handled", "crash", "hang", "silent garbage", "written outside")


# -- one dataset run meets every clip case ---------------------------------------------------


def _dataset_eval(runner: Runner, timeout: float, root: Path, corpus: dict) -> list[dict]:
    out = root / "eval"
    argv = _command_argv("eval", root / "corpus", out, ["--split", str(corpus["split"])])
    outcome, outside = watched(runner, argv, timeout, root, out)
    failure = command_failure(outcome, expect_code=0) or outside_failure(outside)
    if failure is None and not (out / "metrics.json").exists():
        failure = "silent garbage", "exit 0 without metrics.json"
    if failure is not None:
        return [verdict(f"eval: {c.name}", failure) for c in CLIP_CASES] + [
            verdict(f"eval: {c.name}", failure) for _, c in corpus["entries"]
        ]
    metrics = json.loads((out / "metrics.json").read_text())
    skipped = {item["id"]: item["reason"] for item in metrics["skipped"]["items"]}
    scores = _per_clip(out / "per_clip.csv")
    results = []
    for clip, case in corpus["clips"].items():
        judged = judge_clip(f"eval: {case.name}", case.expect, clip in skipped, scores.get(clip))
        if judged["outcome"] == "handled" and case.picture is not None:
            judged = verdict(judged["case"], _wrong_picture(root / "corpus" / "frames" / f"{clip}.jpg", case.picture))
        results.append(judged)
    for listed, case in corpus["entries"]:
        found = listed in skipped
        results.append(verdict(f"eval: {case.name}", None if found else ("silent garbage", "not listed")))
    duplicate = corpus["good"][0]
    once = scores.get(duplicate) is not None and duplicate in metrics.get("duplicate_ids", [])
    results.append(verdict("eval: duplicate entry", None if once else ("silent garbage", "not scored once")))
    return results


def _dataset_train(runner: Runner, timeout: float, root: Path, corpus: dict) -> list[dict]:
    """A training run over the corpus (every frame on disk, no split list)."""
    data = root / "train_data"
    shutil.copytree(root / "corpus", data)
    (data / "test.txt").unlink()
    run_dir = root / "run"
    argv = _command_argv("train", data, run_dir, ["--method", "selfsup"])
    outcome, outside = watched(runner, argv, timeout, root, run_dir)
    failure = command_failure(outcome, expect_code=0) or outside_failure(outside)
    if failure is None:
        failure = _bad_training_log(run_dir)
    if failure is not None:
        return [verdict(f"train: {c.name}", failure) for c in CLIP_CASES]
    listed = _skipped_ids(run_dir / "skipped.tsv")
    results = []
    for clip, case in corpus["clips"].items():
        results.append(
            judge_clip(f"train: {case.name}", case.expect, clip in listed, 0.0 if clip not in listed else None)
        )
    return results


def _misuse(runner: Runner, timeout: float, root: Path) -> list[dict]:
    """The hostile command lines (avsl.bench.misuse), on the run `_dataset_train` trained."""
    if not (root / "run" / "best.safetensors").exists():
        return [verdict("misuse: every case", ("crash", "the training run they use did not finish"))]
    return misuse_cases(runner, timeout, root, root / "run")


def judge_clip(name: str, expect: str, listed: bool, score: float | None) -> dict:
    if expect == "skip":
        if listed:
            return verdict(name, None)
        return verdict(name, ("silent garbage", "scored" if score is not None else "neither scored nor listed"))
    if listed:
        return verdict(name, ("silent garbage", "a valid clip was refused"))
    if score is None or not math.isfinite(score):
        return verdict(name, ("silent garbage", f"score {score}"))
    return verdict(name, None)


def _wrong_picture(path: Path, picture: np.ndarray) -> tuple[str, str] | None:
    """A frame the reader decodes to another picture than a viewer shows is silent garbage
    (a 16-bit frame once came out all white)."""
    decoded = np.asarray(load_frame(path), dtype=np.float64)
    if decoded.shape != picture.shape:
        return "silent garbage", f"decoded as {decoded.shape}, expected {picture.shape}"
    error = float(np.abs(decoded - picture).mean())
    return ("silent garbage", f"decoded picture differs by {error:.1f} grey levels on average") if error > 4 else None


def _per_clip(path: Path) -> dict[str, float]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return {line.rsplit(",", 4)[0]: float(line.rsplit(",", 4)[1]) for line in lines}


def _skipped_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {line.split("\t")[0] for line in path.read_text(encoding="utf-8").splitlines() if line}


def _bad_training_log(run_dir: Path) -> tuple[str, str] | None:
    if not (run_dir / "best.safetensors").exists():
        return "silent garbage", "exit 0 without best.safetensors"
    for line in (run_dir / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if not all(v is not None and math.isfinite(v) for k, v in record.items() if k.startswith("train/")):
            return "silent garbage", f"non-finite training log: {line}"
    return None


def _video_cases(runner: Runner, timeout: float, root: Path) -> list[dict]:
    """`avsl prepare` over broken videos and a good one: each broken one listed with its problem."""
    expected = write_hostile_videos(root / "videos")
    out = root / "prepared"
    argv = ["prepare", str(root / "videos"), str(out), "--workers", "0", "--max-pixels", str(VIDEO_PIXEL_LIMIT)]
    outcome, outside = watched(runner, argv, timeout, root, out)
    failure = command_failure(outcome, expect_code=0) or outside_failure(outside)
    names = [f"prepare: {stem}" for stem in (*expected, "good")]
    if failure is not None:
        return [verdict(name, failure) for name in names]
    report = out / "prepare_skipped.tsv"
    lines = dict(line.split("\t", 1) for line in report.read_text().splitlines()) if report.exists() else {}
    listed = {Path(video).stem: problem for video, problem in lines.items()}
    written = {p.stem for p in (out / "frames").glob("*.jpg")}
    results = []
    for stem, words in expected.items():
        if stem in written:
            failure = "silent garbage", "a clip was written"
        elif stem not in listed or words not in listed[stem]:
            failure = "silent garbage", f"listed as {listed.get(stem)!r}, expected {words!r}"
        else:
            failure = None
        results.append(verdict(f"prepare: {stem}", failure))
    good = "good" in written and "good" not in listed
    results.append(verdict("prepare: good", None if good else ("silent garbage", "the good video was not written")))
    return results


# -- whole-file and command-line cases: each must end in exit 2 and one line -------------------


def _command_cases(runner: Runner, timeout: float, root: Path) -> list[dict]:
    small = root / "small"
    for index in range(4):
        good_clip(small, f"s{index}")
    (small / "annotations.json").write_text(
        json.dumps([{"file": f"s{i}", "bbox": [[0.1, 0.1, 0.6, 0.6]]} for i in range(4)])
    )
    checkpoints = _forged_checkpoints(root / "run" / "best.safetensors", root / "forged")
    marker = root / "forged" / "UNPICKLED"
    cases = [
        ("annotation file: not JSON", _edited(small, root / "c1", "annotations.json", "[{'file': oops"), "eval"),
        (
            "annotation file: an object, not a list",
            _edited(small, root / "c2", "annotations.json", '{"file": "s0"}'),
            "eval",
        ),
        (
            "layout defaults: text where a number goes",
            _edited(small, root / "c3", "avsl.json", '{"image_size": "big"}'),
            "eval",
        ),
        ("split list: missing", ["--split", str(root / "no_such_list.txt")], "eval"),
        ("data folder: missing", ["--data", str(root / "no_such_folder")], "eval"),
        ("--out: an existing file", ["--out", str(small / "annotations.json")], "eval"),
        ("--audio-seconds nan", ["--audio-seconds", "nan"], "eval"),
        ("--audio-seconds -1", ["--audio-seconds", "-1"], "eval"),
        *[(f"checkpoint: {name}", ["--checkpoint", str(path)], "eval") for name, path in checkpoints.items()],
        ("config: malformed YAML", ["--config", str(_text(root / "bad.yaml", "optim: {lr: [1\n"))], "train"),
        ("config: a list, not a mapping", ["--config", str(_text(root / "list.yaml", "- 1\n- 2\n"))], "train"),
        ("setting: optim.lr=nan", ["--set", "optim.lr=nan"], "train"),
        ("setting: semi.tau_f=nan", ["--method", "dmt", "--set", "semi.tau_f=nan"], "train"),
        ("setting: semi.pairs=3", ["--method", "dmt", "--set", "semi.pairs=3"], "train"),
        ("setting: optim.epochs=0", ["--set", "optim.epochs=0"], "train"),
        ("--out: under a file", ["--out", str(small / "annotations.json" / "run")], "train"),
        ("--resume: no run there", ["--resume", str(root / "no_such_run")], "train"),
    ]
    results = []
    for name, extra, command in cases:
        out = root / "out" / name.replace(" ", "_").replace("/", "_")
        argv = _command_argv(command, small, out, extra)
        outcome, outside = watched(runner, argv, timeout, root, out)
        failure = command_failure(outcome, expect_code=2) or outside_failure(outside)
        if failure is None and marker.exists():
            failure = "crash", "a pickle in a checkpoint was executed"
        results.append(verdict(f"{command}: {name}", failure))
    return results


def _command_argv(command: str, data: Path, out: Path, extra: list[str]) -> list[str]:
    """The command on `data` into `out` with the suite's small settings, then `extra`: argparse
    keeps an option's last value, and the last --set of a key wins."""
    if "--resume" in extra:
        return [command, *extra]
    argv = [command, "--data", str(data), "--out", str(out)]
    if command == "eval":
        chosen = {k: v for k, v in EVAL_OPTIONS.items() if not (k == "--predictor" and "--checkpoint" in extra)}
        argv += [item for pair in chosen.items() for item in pair]
    else:
        argv += [item for setting in TRAIN_SETTINGS for item in ("--set", setting)]
    return argv + extra


def _edited(layout: Path, copy: Path, name: str, text: str) -> list[str]:
    shutil.copytree(layout, copy)
    (copy / name).write_text(text)
    return ["--data", str(copy)]


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _forged_checkpoints(source: Path, folder: Path) -> dict[str, Path]:
    """Checkpoints a hostile or broken download could hold, made from a real one."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {"truncated": folder / "truncated.safetensors", "pickle with a side effect": folder / "model.pth",
            "safetensors header claiming 4 TB": folder / "huge.safetensors"}  # fmt: skip
    raw = source.read_bytes() if source.exists() else b""
    made["truncated"].write_bytes(raw[: len(raw) // 2])
    made["pickle with a side effect"].write_bytes(pickle.dumps(_Touch(folder / "UNPICKLED")))
    header = json.dumps({"x": {"dtype": "F32", "shape": [10**9, 10**3], "data_offsets": [0, 4 * 10**12]}}).encode()
    made["safetensors header claiming 4 TB"].write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 64)
    if source.exists():
        found = load_network(source)
        for name, change in (("forged width 10^9", {"width": 10**9}), ("forged width 1024", {"width": 1024}),
                             ("spec of the wrong type", None)):  # fmt: skip
            spec = {**found.spec, **change} if change else [found.spec]
            made[name] = folder / f"{name.replace(' ', '_')}.safetensors"
            save_network(made[name], spec, found.state, found.image_size, found.audio_seconds)
    return made


class _Touch:
    """Unpickling this creates a file: proof that a loader executed a pickle."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.mknod, (self.path,))
