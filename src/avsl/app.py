"""The browser app (`avsl app`): drop a video, or an image and a sound, and see where the sound
comes from. A Gradio page over the same model and drawing code as `avsl localize`: nothing is
re-implemented here.

The page's localize function is also an HTTP endpoint (`api_name="/localize"`, for
`gradio_client`). Every upload and output lives in one temporary folder, removed when the app
stops; a bad upload (not a video, no sound, too long, too large) is a message on the page, and
the server goes on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avsl.data.video import frames_at, probe
from avsl.errors import AvslError, first_line
from avsl.inference.model import LocalizationModel
from avsl.inference.video_localize import localize_video
from avsl.ops.overlay import overlay

MAX_SECONDS = 60.0  # videos longer than this are refused (--max-seconds)
MAX_UPLOAD = "200mb"  # Gradio refuses larger uploads before they reach the model
LAYOUTS = ("overlay", "side-by-side")
TITLE = "avsl: where does the sound come from?"


@dataclass
class AppState:
    """The models by name (each loaded once), the folder every file goes to, and the limits."""

    checkpoints: dict[str, LocalizationModel]
    work: Path
    max_seconds: float = MAX_SECONDS
    examples: list[list] = field(default_factory=list)


def load_models(sources: Sequence[str | Path], device) -> dict[str, LocalizationModel]:
    """Each checkpoint loaded now, so that a bad one stops the app before its server starts."""
    models = {}
    for source in sources:
        name = str(source)
        models[name] = LocalizationModel.from_checkpoint(source, device)
    return models


def localize_upload(
    state: AppState,
    checkpoint: str,
    video: str | None,
    image: np.ndarray | None,
    audio: str | None,
    opacity: float,
    layout: str,
    min_confidence: float | None,
    stride: int,
) -> tuple[str | None, object | None, np.ndarray | None]:
    """The page's one action: (overlay video, confidence-over-time plot, strongest frame).
    AvslError carries the message the page shows."""
    model = state.checkpoints.get(checkpoint)
    if model is None:
        raise AvslError(f"no checkpoint {checkpoint!r} in this app")
    if layout not in LAYOUTS:
        raise AvslError(f"layout must be one of {', '.join(LAYOUTS)}")
    threshold = None if min_confidence in (None, "") else float(min_confidence)
    if video:
        return _localize_video(state, model, Path(video), Path(audio) if audio else None, opacity, layout,
                               threshold, max(1, int(stride)))  # fmt: skip
    if image is not None and audio:
        return None, None, _localize_image(model, image, Path(audio), opacity, layout, threshold)
    raise AvslError("give a video, or an image and an audio file")


def _localize_video(state, model, video, audio, opacity, layout, threshold, stride):
    info = probe(video)  # AvslError for a file that is not a video
    if info.duration > state.max_seconds:
        raise AvslError(f"the video lasts {info.duration:.0f} s; this app takes at most {state.max_seconds:.0f} s")
    if not info.has_audio and audio is None:
        raise AvslError("this video has no sound: add an audio file to localize its sound")
    output = state.work / f"localized-{uuid.uuid4().hex[:12]}.mp4"
    # progress=True: a tqdm bar, which the page's progress indicator follows (track_tqdm)
    run = localize_video(model, video, output, audio=audio, stride=stride, alpha=opacity,
                         min_confidence=threshold, progress=True, layout=layout)  # fmt: skip
    strongest = run.times[int(np.argmax(run.confidences))] if run.confidences else 0.0
    return str(output), _confidence_plot(run.times, run.confidences, strongest), frames_at(output, [strongest])[0]


def _localize_image(model, image, audio, opacity, layout, threshold) -> np.ndarray:
    import soundfile as sf

    try:
        waveform, rate = sf.read(audio, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise AvslError(f"{audio.name}: cannot read as audio ({first_line(err)})") from None
    found = model.localize(image, waveform, rate)
    shown = None if threshold is not None and found.confidence < threshold else found.heatmap
    return overlay(np.asarray(image, dtype=np.uint8), shown, opacity, confidence=found.confidence, layout=layout)


def _confidence_plot(times: list[float], confidences: list[float], strongest: float):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 2.4))
    axis = figure.subplots()
    axis.plot(times, confidences, color="tab:red")
    axis.axvline(strongest, color="dimgray", linestyle="--", linewidth=1)
    axis.set(xlabel="time (s)", ylabel="confidence")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def make_examples(folder: Path) -> list[list]:
    """A few generated inputs, so the page is useful on first load: a synthetic clip as a
    video, and two synthetic scenes as an image with its sound."""
    from PIL import Image

    from avsl.bench.videos import write_video
    from avsl.data.synth.writer import ensure_benchmark

    ensure_benchmark(folder / "synthetic", "tiny")
    examples = [[str(write_video(folder / "example_clip.mp4", seconds=3.0, size=(320, 240), texture=True)),
                 None, None]]  # fmt: skip
    test = folder / "synthetic" / "test"
    for clip in sorted((test / "frames").glob("*.jpg"))[:2]:
        enlarged = folder / f"example_{clip.stem}.png"
        Image.open(clip).resize((256, 256), Image.BICUBIC).save(enlarged)
        examples.append([None, str(enlarged), str(test / "audio" / f"{clip.stem}.wav")])
    return examples


def build_app(state: AppState):
    """The Gradio page (a `gr.Blocks`); `launch` it."""
    import gradio as gr

    def run(checkpoint, video, image, audio, opacity, layout, min_confidence, stride,
            progress=gr.Progress(track_tqdm=True)):  # noqa: B008 - how Gradio asks for it  # fmt: skip
        try:
            return localize_upload(state, checkpoint, video, image, audio, opacity, layout, min_confidence, stride)
        except AvslError as err:
            raise gr.Error(str(err)) from None

    names = list(state.checkpoints)
    with gr.Blocks(title=TITLE) as page:
        gr.Markdown(f"# {TITLE}\nDrop a video (with its sound), or an image and an audio file. The heatmap "
                    "shows where the model hears the sound: turbo colours over the region at or above half "
                    "of the map's range, outlined in white; the corner shows the confidence.")  # fmt: skip
        with gr.Row():
            with gr.Column():
                checkpoint = gr.Dropdown(names, value=names[0], label="model", visible=len(names) > 1)
                video = gr.Video(label="video (with sound)", sources=["upload"], elem_id="avsl-input")
                with gr.Row():
                    image = gr.Image(label="or an image", type="numpy", sources=["upload"])
                    audio = gr.Audio(label="and its sound", type="filepath", sources=["upload"])
                with gr.Accordion("options", open=False):
                    opacity = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="opacity")
                    layout = gr.Radio(list(LAYOUTS), value="overlay", label="layout")
                    min_confidence = gr.Number(value=None, label="minimum confidence (no heatmap below it)")
                    stride = gr.Slider(1, 10, value=1, step=1, label="localize every k-th frame")
                button = gr.Button("Localize", variant="primary")
            with gr.Column():
                shown = gr.Video(label="where the sound is", elem_id="avsl-output")
                plot = gr.Plot(label="confidence over time (dashed: the strongest frame)")
                frame = gr.Image(label="the strongest frame", type="numpy")
        inputs = [checkpoint, video, image, audio, opacity, layout, min_confidence, stride]
        button.click(run, inputs, [shown, plot, frame], api_name="localize")
        if state.examples:
            gr.Examples(state.examples, [video, image, audio], label="examples (generated)")
    return page


def temporary_folder() -> Path:
    """The app's one folder for uploads, outputs and examples; Gradio's cache goes there too."""
    folder = Path(tempfile.mkdtemp(prefix="avsl-app-"))
    os.environ["GRADIO_TEMP_DIR"] = str(folder / "uploads")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no call home
    os.environ.setdefault("MPLCONFIGDIR", str(folder / "matplotlib"))
    return folder


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
