"""The synthetic benchmark: determinism, layout, boxes vs drawn objects, audible classes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from avsl.cli.main import main
from avsl.constants import EVAL_SIZE
from avsl.data.dataset import AVDataset
from avsl.data.reference import REFERENCE_DIR
from avsl.data.synth.classes import CLASSES, twin_of
from avsl.data.synth.presets import get_preset
from avsl.data.synth.render import mask_box, object_mask, render_frame
from avsl.data.synth.scene import sample_scene
from avsl.data.synth.writer import generate, scene_for
from avsl.errors import AvslError
from avsl.metrics.protocol import mean_box_area, size_bucket_index

TINY = get_preset("tiny")


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tiny"
    generate(out, TINY, seed=3, workers=2)
    return out


def file_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_whatever_the_process_count(tiny_bench, tmp_path):
    again = tmp_path / "again"
    generate(again, TINY, seed=3, workers=1)
    assert file_bytes(again) == file_bytes(tiny_bench)
    other = tmp_path / "other"
    generate(other, TINY.with_counts(4, 0, 0), seed=4, workers=1)
    assert file_bytes(other)["train/frames/train_000000.jpg"] != file_bytes(tiny_bench)["train/frames/train_000000.jpg"]


def test_layout_and_manifest(tiny_bench):
    manifest = json.loads((tiny_bench / "MANIFEST.json").read_text())
    assert manifest["counts"] == {"train": 48, "val": 16, "test": 16}
    assert len(manifest["classes"]) >= 8
    assert manifest["preset"]["name"] == "tiny" and manifest["seed"] == 3
    train = json.loads((tiny_bench / "train" / "annotations.json").read_text())
    assert len(train) == 48 and all(len(e["bbox"]) == 1 for e in train)  # every train box is written
    dataset = AVDataset(tiny_bench / "train", 64, 16_000, 0.5)
    sample = dataset[0]
    assert sample.image.shape == (3, 64, 64) and sample.waveform.shape == (8000,)


def test_rivals_stand_side_by_side_and_either_may_sound():
    """A rival scene puts two objects on either side of a straight cut, the sounding one on a
    random side, and the rival is often the sounding class's twin."""
    preset = replace(get_preset("bench"), min_objects=2, max_objects=2, rival_probability=1.0, twin_probability=0.5)
    rng = np.random.default_rng(0)
    left_or_top, twins = 0, 0
    for _ in range(200):
        scene = sample_scene(rng, preset, "sounding")
        assert len(scene.objects) == 2
        sounding = scene.sounding_object
        rival = next(o for o in scene.objects if not o.sounding)
        apart_in_x = sounding.x0 + sounding.width <= rival.x0 or rival.x0 + rival.width <= sounding.x0
        apart_in_y = sounding.y0 + sounding.height <= rival.y0 or rival.y0 + rival.height <= sounding.y0
        assert apart_in_x or apart_in_y
        left_or_top += sounding.x0 < rival.x0 if apart_in_x else sounding.y0 < rival.y0
        twins += rival.class_index == twin_of(sounding.class_index)
    assert 60 < left_or_top < 140 and 60 < twins < 140


def test_variants_keep_the_look_and_scale_the_sound():
    """The four variants of a base class share its shape and texture and differ in hue; their
    sounds are the base sound with every frequency scaled (the bell's 440 Hz fundamental here)."""
    bells = [c for c in CLASSES if c.name.startswith("bell")]  # bell, bell1, bell2, bell3
    assert len(CLASSES) == 64 and len(bells) == 4
    assert len({c.shape for c in bells}) == 1 and len({c.pattern for c in bells}) == 1
    assert len({tuple(round(x, 3) for x in c.colour) for c in bells}) == 4
    t = np.arange(16_000) / 16_000
    peaks = [np.argmax(np.abs(np.fft.rfft(c.sound(t, 1.0, np.random.default_rng(0))))) for c in bells]
    assert peaks == [440, 273, 352, 550]  # Hz: 440 x (1, 0.62, 0.8, 1.25)
    for index, cls in enumerate(CLASSES):
        twin = CLASSES[twin_of(index)]
        assert twin.shape is cls.shape and twin.pattern is cls.pattern and index // 16 == twin_of(index) // 16


def test_scenes_draw_from_the_presets_classes_only():
    preset = replace(get_preset("bench"), num_classes=6)
    rng = np.random.default_rng(0)
    used = set()
    for _ in range(100):
        scene = sample_scene(rng, preset, "offscreen")
        used |= {o.class_index for o in scene.objects} | {scene.offscreen_class}
    assert used == set(range(6))
    with pytest.raises(AvslError, match="num_classes must be an even number"):
        replace(preset, num_classes=7)
    with pytest.raises(AvslError, match="from 6 to 64"):
        replace(preset, num_classes=4)  # four objects in a frame leave no class to sound off-screen


def _size_mix(areas: torch.Tensor) -> np.ndarray:
    """Shares of the protocol's size buckets, for box areas in EVAL_SIZE x EVAL_SIZE pixels."""
    return np.bincount(size_bucket_index(areas).numpy(), minlength=4) / len(areas)


@pytest.mark.slow
def test_vggss_mix_preset_draws_the_size_mix_of_the_vggss_boxes():
    preset = get_preset("vggss_mix")
    rng = np.random.default_rng(0)
    objects = [sample_scene(rng, preset, "sounding").sounding_object for _ in range(3000)]
    drawn = torch.tensor([o.width * o.height / preset.image_size**2 * EVAL_SIZE**2 for o in objects])
    entries = json.loads((REFERENCE_DIR / "vggss.json").read_text())
    vggss = mean_box_area([torch.tensor(entry["bbox"]) for entry in entries])
    assert np.abs(_size_mix(drawn) - _size_mix(vggss)).max() < 0.03  # each bucket within 3 points
    with pytest.raises(AvslError, match="size_weights"):
        replace(preset, size_weights=(0.5, 0.5, 0.5, 0.5))


def test_boxes_match_the_drawn_objects():
    for index in range(30):
        scene, rng = scene_for("train", index, seed=1, preset=TINY)
        frame = render_frame(scene, rng).astype(float) / 255
        for obj in scene.objects:
            mask = object_mask(obj, scene.image_size)
            x1, y1, x2, y2 = (np.array(mask_box(mask)) * scene.image_size).round().astype(int)
            inside = np.zeros_like(mask)
            inside[y1:y2, x1:x2] = True
            assert mask.sum() > 0 and not (mask & ~inside).any()  # the box holds the whole object
            assert mask[y1:y2, x1:x2].any(axis=0).all() and mask[y1:y2, x1:x2].any(axis=1).all()
            # the object's pixels carry its (patterned) colour, not the background's
            u, v = np.meshgrid(
                (np.arange(obj.width) + 0.5) / obj.width * 2 - 1,
                (np.arange(obj.height) + 0.5) / obj.height * 2 - 1,
            )
            shade = CLASSES[obj.class_index].pattern(u, v)[..., None] * np.array(obj.colour)
            drawn = frame[obj.y0 : obj.y0 + obj.height, obj.x0 : obj.x0 + obj.width]
            local = mask[obj.y0 : obj.y0 + obj.height, obj.x0 : obj.x0 + obj.width]
            assert np.abs(drawn[local] - shade[local]).mean() < 0.05


def test_annotation_box_is_the_sounding_objects_mask_box(tiny_bench):
    entries = json.loads((tiny_bench / "test" / "annotations.json").read_text())
    for index, entry in enumerate(entries):
        scene, _ = scene_for("test", index, seed=3, preset=TINY)
        sounding = scene.sounding_object
        if sounding is None:
            assert entry["bbox"] == [] and entry["kind"] in ("silent", "offscreen")
            continue
        assert entry["bbox"] == [list(mask_box(object_mask(sounding, TINY.image_size)))]


@pytest.mark.slow
def test_sounding_class_is_recoverable_from_the_spectrum(tmp_path):
    out = tmp_path / "spectra"
    all_classes = replace(TINY, num_classes=64).with_counts(640, 0, 160)  # 10 clips per class
    generate(out, all_classes, seed=5, workers=2)

    def features(split: str) -> tuple[np.ndarray, list[str]]:
        entries = [e for e in json.loads((out / split / "annotations.json").read_text()) if e["class"]]
        rows = []
        for entry in entries:
            audio, _ = sf.read(out / split / "audio" / f"{entry['file']}.wav")
            spectrum = np.abs(np.fft.rfft(audio))[:4000]  # 0.5 s at 16 kHz: 2 Hz bins to 8 kHz
            bands = np.log(spectrum.reshape(80, -1).mean(1) + 1e-6)  # 80 linear bands of 100 Hz
            rows.append(bands - bands.mean())
        return np.array(rows), [e["class"] for e in entries]

    train_x, train_y = features("train")
    test_x, test_y = features("test")
    names = sorted(set(train_y))
    centroids = np.stack([train_x[[y == n for y in train_y]].mean(0) for n in names])
    predicted = [names[i] for i in np.argmin(((test_x[:, None] - centroids[None]) ** 2).sum(-1), axis=1)]
    accuracy = np.mean([p == t for p, t in zip(predicted, test_y, strict=True)])
    print("nearest-centroid accuracy", accuracy)
    # chance is 1/64; twins differ only in pitch, tempo or band, variants in pitch and tempo
    assert accuracy > 0.25, accuracy


def test_center_baseline_evaluates_on_the_benchmark(tiny_bench, tmp_path):
    out = tmp_path / "eval"
    assert (
        main(
            [
                "eval",
                "--data",
                str(tiny_bench / "test"),
                "--predictor",
                "center",
                "--out",
                str(out),
                "--workers",
                "0",
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == sum(
        1 for e in json.loads((tiny_bench / "test" / "annotations.json").read_text()) if e["bbox"]
    )
    assert metrics["false_positive"] is None or metrics["false_positive"]["n_silent"] >= 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--preset", "nope"], "unknown preset"),
        (["--preset", "tiny", "--num-train", "-5"], "must not be negative"),
        (["--preset", "tiny", "--num-val", "x"], "expected a whole number"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, argv, message):
    assert main(["synth", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_existing_output_needs_overwrite(tiny_bench, tmp_path, capsys):
    out = tmp_path / "full"
    out.mkdir()
    (out / "something").write_text("keep me")
    argv = ["synth", str(out), "--preset", "tiny", "--num-train", "2", "--num-val", "1", "--num-test", "1"]
    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "something").read_text() == "keep me"
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads((out / "MANIFEST.json").read_text())["counts"]["train"] == 2
