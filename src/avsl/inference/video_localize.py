"""`avsl localize` on a video: every frame (or every k-th) localized with the audio window centred
on its time, drawn over the frame, and written as a video with the same frame rate, duration
and audio.

It streams: video frames are decoded, localized in batches (one model call per batch of frames
and their audio windows), drawn and encoded as they come, and the audio is decoded once, ahead
of the frames, into a buffer that keeps only the current window; memory does not grow with the
video's length (the saved maps aside, a few hundred bytes per frame).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soxr
import torch

from avsl.data.video import ffmpeg_reason, open_media, pcm_channels, stream_duration
from avsl.errors import AvslError
from avsl.inference.model import Localization, LocalizationModel
from avsl.ops.overlay import Layout, overlay
from avsl.progress import progress as progress_display

OUTPUT_AUDIO_CODEC = "aac"
# AAC's highest common rate: audio above what the encoder takes (192 kHz studio files) is resampled to it.
FALLBACK_AUDIO_RATE = 48_000
# Written into every overlay's metadata, so a rerun knows a file it may replace is its own output.
OUTPUT_TAG = "avsl localize"
# Frames may end this much before the header's duration (the last frame's own length, audio
# running longer) without the file counting as truncated.
TRUNCATION_SLACK_S = 1.0
# A frame's audio window is centred within half of this of its time: a 3 s window moves by at
# most 3 % of its length, and the audio network runs 5 times a second instead of per frame.
AUDIO_HOP_S = 0.2


@dataclass
class VideoRun:
    """What a run did: frames written, localized, shown (confident enough), and the maps."""

    frames: int = 0
    localized: int = 0
    shown: int = 0
    times: list[float] = field(default_factory=list)
    logits: list[np.ndarray] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    last_heatmap: np.ndarray | None = field(default=None, repr=False)  # shown until the next localized frame
    last_confidence: float | None = None  # of that frame
    last_time: float = 0.0  # of the last frame decoded
    stage_seconds: dict[str, float] = field(default_factory=dict)  # decode, audio, model, draw, encode
    audio_embeddings: dict[float, torch.Tensor] = field(
        default_factory=dict, repr=False
    )  # the latest batch's, by centre

    @contextmanager
    def timed(self, stage: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + time.perf_counter() - started


class AudioTrack:
    """A file's audio decoded once, front to back, as the model's mono samples, keeping only what
    the current and later windows need; its native frames go to `sink` (the output's encoder)."""

    def __init__(self, path: Path, model: LocalizationModel, sink=None) -> None:
        self.container = open_media(path, "audio file")
        if not self.container.streams.audio:
            self.container.close()
            raise AvslError(f"{path}: no audio stream (pass --audio FILE to supply one)")
        self.path = path
        self.stream = self.container.streams.audio[0]
        self.rate = model.sample_rate
        self.length = round(model.audio_seconds * self.rate)
        self.resampler = soxr.ResampleStream(self.stream.rate, self.rate, 1, dtype="float32", quality="HQ")
        self.buffer = np.zeros(0, np.float32)
        self.offset = 0  # model-rate sample index of buffer[0]
        self.finished = False
        self.frames = self.container.decode(self.stream)
        self.sink = sink

    def window(self, centre: float) -> torch.Tensor:
        """The model's window centred on `centre` s (EZ-VSL's: from centre - length/2, tiled
        when the audio ends first), as a (L,) tensor."""
        start = max(round((centre - self.length / self.rate / 2) * self.rate), 0)
        while not self.finished and self.offset + len(self.buffer) < start + self.length:
            self._decode_more()
        self.buffer, self.offset = self.buffer[max(start - self.offset, 0) :], max(start, self.offset)
        samples = self.buffer[: self.length]
        if not len(samples):
            samples = self.buffer[-1:] if len(self.buffer) else np.zeros(1, np.float32)
        if len(samples) < self.length:
            samples = np.tile(samples, self.length // len(samples) + 1)[: self.length]
        return torch.from_numpy(np.ascontiguousarray(samples))

    def drain(self) -> None:
        """Decode (and pass to the sink) the audio after the last frame."""
        while not self.finished:
            self._decode_more()
            self.buffer = self.buffer[-1:]

    def _decode_more(self) -> None:
        try:
            frame = next(self.frames)
        except StopIteration:
            self.finished = True
            tail = self.resampler.resample_chunk(np.zeros((0, 1), np.float32), last=True)
            self.buffer = np.concatenate([self.buffer, tail.reshape(-1)])
            return
        except av.error.FFmpegError:
            self.finished = True  # a damaged tail: keep what decoded
            return
        if self.sink is not None:
            try:
                self.sink(frame)
            except av.error.FFmpegError as err:  # the audio is the problem, not the video
                raise AvslError(f"{self.path}: cannot re-encode its audio ({ffmpeg_reason(err)})") from None
        samples = pcm_channels(frame)
        if not np.isfinite(samples).all():
            raise AvslError(f"{self.path}: audio holds NaN or infinite samples")
        mono = np.clip(samples, -1.0, 1.0).mean(axis=0)
        chunk = self.resampler.resample_chunk(mono[:, None].astype(np.float32)).reshape(-1)
        self.buffer = np.concatenate([self.buffer, chunk])

    def close(self) -> None:
        self.container.close()


def localize_video(
    model: LocalizationModel,
    source: str | Path,
    output: str | Path,
    audio: str | Path | None = None,
    stride: int = 1,
    alpha: float = 0.5,
    min_confidence: float | None = None,
    boxes: bool = False,
    batch_size: int = 16,
    progress: bool | None = None,
    audio_hop: float = AUDIO_HOP_S,
    layout: Layout = "overlay",
) -> VideoRun:
    """Write `output` (a video) from `source`; see the module docstring. The file appears only
    when complete (written to a temporary name, then renamed).

    Args:
        audio_hop: frames share the audio embedding of the window centred on the nearest
            multiple of this (s); 0 gives every frame a window centred on its own time.
        layout: "overlay", or "side-by-side" (frame | map | overlay, three times as wide).
    """
    source, output, audio = Path(source), Path(output), None if audio is None else Path(audio)
    temp = output.with_name(f".{output.stem}.{os.getpid()}.partial{output.suffix}")
    run = VideoRun()
    try:
        with _open_input(source) as container, av.open(str(temp), "w") as sink:
            video = container.streams.video[0]
            video.thread_type = "AUTO"
            claimed = stream_duration(container, video)
            sink.metadata["comment"] = OUTPUT_TAG
            encoder = _FrameEncoder(_video_encoder(sink, video, panels=3 if layout == "side-by-side" else 1))
            audio_out = _AudioEncoder(sink)
            track = AudioTrack(audio or source, model, audio_out.encode)
            try:
                audio_out.open(track)
                total = video.frames or None
                with progress_display(total, "localize", "frame", progress) as bar:
                    batches = _batches(container, video, batch_size)
                    while True:
                        with run.timed("decode"):
                            frames = next(batches, None)
                        if frames is None:
                            break
                        heatmaps = _localize_batch(model, frames, track, run, stride, min_confidence, audio_hop)
                        for (frame, picture), (heatmap, score) in zip(frames, heatmaps, strict=True):
                            with run.timed("draw"):
                                shown = overlay(picture, heatmap, alpha, boxes, confidence=score, layout=layout)
                            with run.timed("encode"):  # the wait for the encoding thread
                                encoder.put(frame, shown)
                            run.frames += 1
                        for packet in encoder.ready():
                            sink.mux(packet)
                        bar.update(len(frames))
                    if run.frames == 0:  # checked before the bar's last line: a failed run prints its error alone
                        raise AvslError(f"{source}: no video frame could be decoded")
                    _check_complete(source, run, claimed)
                with run.timed("audio"):
                    track.drain()
            finally:
                track.close()
                remaining = encoder.finish()  # stops the thread whatever happened
            sink.mux(remaining)
            audio_out.flush()
        os.replace(temp, output)
    except av.error.FFmpegError as err:
        raise AvslError(f"{source}: {ffmpeg_reason(err)}") from None
    finally:
        temp.unlink(missing_ok=True)
    return run


def _check_complete(source: Path, run: VideoRun, claimed: float | None) -> None:
    """A video whose frames stop well before the duration its header claims is truncated: its
    overlay would silently be short."""
    if claimed is None or not run.last_time:
        return
    if run.last_time < claimed - TRUNCATION_SLACK_S:
        raise AvslError(
            f"{source}: video frames end at {run.last_time:.2f} s, but it claims {claimed:.2f} s (truncated?)"
        )


def _audio_centre(time: float, hop: float) -> float:
    """The centre of the audio window a frame at `time` uses: its own time, or the nearest hop."""
    return time if hop <= 0 else round(round(time / hop) * hop, 6)


def _localize_batch(
    model, frames: list, track: AudioTrack, run: VideoRun, stride: int, min_confidence, audio_hop: float
) -> list[tuple[np.ndarray | None, float | None]]:
    """Each (frame, picture)'s heatmap (None: not shown) and confidence; frames between localized
    ones keep the previous one's, so --stride k costs 1/k of the model calls and still shows a map everywhere."""
    chosen = [i for i in range(len(frames)) if (run.frames + i) % stride == 0]
    results: dict[int, Localization] = {}
    if chosen:
        centres = [_audio_centre(_time(frames[i][0]), audio_hop) for i in chosen]
        kept = {c: run.audio_embeddings[c] for c in set(centres) if c in run.audio_embeddings}
        missing = sorted(set(centres) - set(kept))
        if missing:
            with run.timed("audio"):
                windows = torch.stack([track.window(centre) for centre in missing])
            with run.timed("model"):
                kept.update(zip(missing, model.embed_audio(windows), strict=True))
        run.audio_embeddings = kept
        with run.timed("model"):
            pictures = [frames[i][1] for i in chosen]
            images = model.prepare_frames(pictures)
            audio = torch.stack([run.audio_embeddings[centre] for centre in centres])
            sizes = [p.shape[:2] for p in pictures]
            results = dict(zip(chosen, model.localize_embedded(images, audio, sizes, levels=True), strict=True))
    last, score, heatmaps = run.last_heatmap, run.last_confidence, []
    for index, (frame, _) in enumerate(frames):
        if index in results:
            found = results[index]
            run.localized += 1
            run.times.append(_time(frame))
            run.logits.append(found.logits)
            run.confidences.append(found.confidence)
            shown = min_confidence is None or found.confidence >= min_confidence
            last, score = (found.heatmap if shown else None), found.confidence
        heatmaps.append((last, score))
        run.shown += last is not None
        run.last_time = _time(frame)
    run.last_heatmap, run.last_confidence = last, score
    return heatmaps


def _batches(container, video, size: int) -> Iterator[list]:
    """Lists of (frame, its RGB picture), converted once for the model and the drawing."""
    batch = []
    try:
        for frame in container.decode(video):
            batch.append((frame, frame.to_ndarray(format="rgb24")))
            if len(batch) == size:
                yield batch
                batch = []
    except av.error.FFmpegError:
        pass  # a truncated end: the frames before it are kept
    if batch:
        yield batch


def _time(frame) -> float:
    return float(frame.time) if frame.time is not None else 0.0


def _open_input(path: Path):
    container = open_media(path)
    if not container.streams.video:
        container.close()
        raise AvslError(f"{path}: no video stream")
    return container


ENCODER_PRESET = "superfast"
ENCODER_CRF = 23  # x264's own default quality
ENCODE_QUEUE = 32  # frames waiting for the encoding thread (bounds memory: 32 x 2.7 MB at 720p)


def _video_encoder(sink, video, panels: int = 1):
    """H.264 when the build has it (else MPEG-4 part 2), at the input's frame rate, `panels`
    frames wide; odd sizes lose their last row or column (4:2:0 needs even ones)."""
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    rate = video.average_rate or video.guessed_rate or Fraction(25)
    stream = sink.add_stream(codec, rate=rate)
    stream.width = video.codec_context.width * panels // 2 * 2
    stream.height = video.codec_context.height // 2 * 2
    stream.pix_fmt = "yuv420p"
    stream.time_base = video.time_base
    if codec == "libx264":
        # x264's "superfast" at its default quality (crf 23): measured 3x faster than its default
        # preset on a 720p overlay, for a file about 10 % larger than "veryfast" makes
        stream.options = {"preset": ENCODER_PRESET, "crf": str(ENCODER_CRF)}
    return stream


class _FrameEncoder:
    """The video encoder in its own thread: x264 works without the GIL, so on two cores the next
    frames are decoded, localized and drawn while these are encoded. Packets come back to the
    caller's thread, the only one that writes to the container."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.frames: queue.Queue = queue.Queue(maxsize=ENCODE_QUEUE)
        self.packets: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="avsl-encode", daemon=True)
        self.thread.start()

    def put(self, source_frame, picture: np.ndarray) -> None:
        if self.error is not None:
            raise self.error
        picture = picture[: self.stream.height, : self.stream.width]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
        frame.pts, frame.time_base = source_frame.pts, source_frame.time_base
        self.frames.put(frame)

    def ready(self) -> list:
        """The packets encoded so far."""
        found = []
        while not self.packets.empty():
            found.append(self.packets.get_nowait())
        return found

    def finish(self) -> list:
        """Stop the thread and flush the encoder: the packets left (an encoding error is raised)."""
        self.frames.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return [*self.ready(), *self.stream.encode()]

    def _work(self) -> None:
        while (frame := self.frames.get()) is not None:
            if self.error is not None:
                continue  # keep taking frames so that `put` never blocks on a dead thread
            try:
                for packet in self.stream.encode(frame):
                    self.packets.put(packet)
            except BaseException as err:  # handed to the caller's thread
                self.error = err


class _AudioEncoder:
    """The input's audio, re-encoded (AAC) into the output as it is decoded."""

    def __init__(self, sink) -> None:
        self.sink = sink
        self.stream = None
        self.resampler = None

    def open(self, track: AudioTrack) -> None:
        try:
            self._open(track.stream)
        except (av.error.FFmpegError, ValueError) as err:
            raise AvslError(f"{track.path}: cannot re-encode its audio ({ffmpeg_reason(err)})") from None

    def _open(self, source_stream) -> None:
        layout = "mono" if source_stream.channels == 1 else "stereo"
        rates = av.codec.Codec(OUTPUT_AUDIO_CODEC, "w").audio_rates or ()
        rate = source_stream.rate if source_stream.rate in rates else FALLBACK_AUDIO_RATE
        self.stream = self.sink.add_stream(OUTPUT_AUDIO_CODEC, rate=rate)
        self.stream.layout = layout
        self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)

    def encode(self, frame) -> None:
        if self.stream is None:
            return
        frame.pts = None  # the resampler and encoder count samples from the first one
        for converted in self.resampler.resample(frame):
            self.sink.mux(self.stream.encode(converted))

    def flush(self) -> None:
        if self.stream is not None:
            for converted in self.resampler.resample(None):
                self.sink.mux(self.stream.encode(converted))
            self.sink.mux(self.stream.encode())
