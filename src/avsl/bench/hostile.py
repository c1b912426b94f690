"""A hostile corpus in the native (VGG-SS) layout: the broken, odd and forged files a real
download holds, each with the outcome a correct reader must give.

Every clip case is one clip among good ones, so a single dataset run meets all of them at once,
as a real corpus would: `skip` clips must be skipped and listed naming the problem, `score`
clips (odd but valid) must be read and scored with finite values. Entry cases are annotation
or split-list entries that name no usable clip; they must be listed too.
"""

from __future__ import annotations

import io
import json
import struct
import wave
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
from PIL import Image

Expect = Literal["skip", "score"]
RATE = 16_000
SIDE = 48
GOOD_BOX = [[0.2, 0.2, 0.7, 0.8]]


@dataclass(frozen=True)
class ClipCase:
    """One hostile clip: `write(layout, id)` writes its files; `bbox` is its annotation."""

    name: str
    expect: Expect
    write: Callable[[Path, str], None]
    bbox: object = None  # None: a valid box
    picture: np.ndarray | None = None  # what a correct reader sees in the frame (H, W, 3) uint8


@dataclass(frozen=True)
class EntryCase:
    """An annotation entry or split-list line naming no usable clip (always listed, never read)."""

    name: str
    entry: object  # the JSON annotation item, or a split-list line when `in_split`
    in_split: bool = False


def _rng(clip_id: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(clip_id.encode()))


def _pixels(clip_id: str, side: int = SIDE) -> np.ndarray:
    return _rng(clip_id).integers(0, 256, (side, side, 3), dtype=np.uint8)


def _frame(layout: Path) -> Path:
    (layout / "frames").mkdir(parents=True, exist_ok=True)
    return layout / "frames"


def _audio_dir(layout: Path) -> Path:
    (layout / "audio").mkdir(parents=True, exist_ok=True)
    return layout / "audio"


def good_frame(layout: Path, clip_id: str) -> None:
    Image.fromarray(_pixels(clip_id)).save(_frame(layout) / f"{clip_id}.jpg", quality=90)


def good_audio(layout: Path, clip_id: str, seconds: float = 1.0, rate: int = RATE, channels: int = 1) -> None:
    samples = 0.2 * _rng(clip_id).standard_normal((int(seconds * rate), channels)).astype(np.float32)
    sf.write(_audio_dir(layout) / f"{clip_id}.wav", samples, rate)


def good_clip(layout: Path, clip_id: str) -> None:
    good_frame(layout, clip_id)
    good_audio(layout, clip_id)


def _with_frame(frame: Callable[[Path], None]) -> Callable[[Path, str], None]:
    """A clip with good audio and the frame `frame(path)` writes."""

    def write(layout: Path, clip_id: str) -> None:
        good_audio(layout, clip_id)
        frame(_frame(layout) / f"{clip_id}.jpg")

    return write


def _with_audio(audio: Callable[[Path], None], suffix: str = ".wav") -> Callable[[Path, str], None]:
    """A clip with a good frame and the audio `audio(path)` writes."""

    def write(layout: Path, clip_id: str) -> None:
        good_frame(layout, clip_id)
        audio(_audio_dir(layout) / f"{clip_id}{suffix}")

    return write


def _jpeg_bytes(pixels: np.ndarray, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format="JPEG")
    return buffer.getvalue()


def forged_png(width: int, height: int) -> bytes:
    """A valid 1-pixel PNG whose header claims width x height (a decompression bomb's header)."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


_RAMP = np.linspace(0, 65535, SIDE * SIDE).reshape(SIDE, SIDE).astype(np.uint16)
_RED = (200, 30, 30)
_WHITE = (255, 255, 255)


def _halves(left: tuple[int, int, int], right: tuple[int, int, int]) -> np.ndarray:
    picture = np.empty((SIDE, SIDE, 3), np.uint8)
    picture[:, : SIDE // 2], picture[:, SIDE // 2 :] = left, right
    return picture


def _smooth() -> np.ndarray:
    """A smooth picture, so that JPEG's loss stays small against the reference."""
    y, x = np.mgrid[0:SIDE, 0:SIDE] / (SIDE - 1)
    return np.stack([200 * x, 200 * y, 150 * (1 - x)], axis=-1).round().astype(np.uint8)


def _sixteen_bit(path: Path) -> None:
    Image.fromarray(_RAMP).save(path, "PNG")


def _palette_alpha(path: Path) -> None:
    """Left half palette index 0 (transparent, hiding black), right half index 1 (red)."""
    image = Image.fromarray(np.where(np.arange(SIDE) < SIDE // 2, 0, 1).astype(np.uint8)[None].repeat(SIDE, 0), "P")
    image.putpalette([0, 0, 0, *_RED])
    image.save(path, "PNG", transparency=0)


def _rgba(path: Path) -> None:
    """Left half transparent (hiding black), right half opaque red."""
    pixels = np.zeros((SIDE, SIDE, 4), np.uint8)
    pixels[:, SIDE // 2 :] = (*_RED, 255)
    Image.fromarray(pixels, "RGBA").save(path, "PNG")


def _wav_bytes(samples: np.ndarray, rate: int, subtype: str) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def _noise(seconds: float, rate: int = RATE, channels: int = 1) -> np.ndarray:
    return (0.2 * np.random.default_rng(0).standard_normal((int(seconds * rate), channels))).astype(np.float32)


def _non_finite(value: float) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        samples = _noise(1.0)
        samples[RATE // 2 : RATE // 2 + 10] = value
        path.write_bytes(_wav_bytes(samples, RATE, "FLOAT"))

    return write


def _eight_bit(path: Path) -> None:
    with wave.open(str(path), "wb") as stream:
        stream.setnchannels(1)
        stream.setsampwidth(1)
        stream.setframerate(RATE)
        stream.writeframes((128 + 40 * np.sin(np.arange(RATE) / 5)).astype(np.uint8).tobytes())


def _truncated_wav(path: Path) -> None:
    data = _wav_bytes(_noise(1.0), RATE, "PCM_16")
    path.write_bytes(data[: len(data) // 2])  # the header still claims the whole second


def _write(content: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content)


def _audio_only(layout: Path, clip_id: str) -> None:
    good_audio(layout, clip_id)


def _frame_only(layout: Path, clip_id: str) -> None:
    good_frame(layout, clip_id)


def _truncated_jpeg(path: Path) -> None:
    """The first half of a good JPEG (encoded when the corpus is written, not at import)."""
    whole = _jpeg_bytes(_pixels("reference"))
    path.write_bytes(whole[: len(whole) // 2])


CLIP_CASES: tuple[ClipCase, ...] = (
    # fmt: off
    ClipCase("frame: truncated JPEG", "skip", _with_frame(_truncated_jpeg)),
    ClipCase("frame: zero-byte JPEG", "skip", _with_frame(_write(b""))),
    ClipCase("frame: text named .jpg", "skip", _with_frame(_write(b"this is not an image\n"))),
    ClipCase("frame: decompression-bomb header", "skip", _with_frame(_write(forged_png(200_000, 200_000)))),
    ClipCase("frame: header over the pixel limit", "skip", _with_frame(_write(forged_png(10_000, 10_000)))),
    ClipCase(
        "frame: PNG bytes named .jpg",
        "score",
        _with_frame(lambda p: Image.fromarray(_smooth()).save(p, "PNG")),
        picture=_smooth(),
    ),
    ClipCase("frame: CMYK JPEG", "score", _with_frame(_write(_jpeg_bytes(_smooth(), "CMYK"))), picture=_smooth()),
    ClipCase(
        "frame: 16-bit grayscale",
        "score",
        _with_frame(_sixteen_bit),
        picture=np.repeat(np.round(_RAMP / 257.0).astype(np.uint8)[..., None], 3, axis=-1),
    ),
    ClipCase("frame: palette with transparency", "score", _with_frame(_palette_alpha), picture=_halves(_WHITE, _RED)),
    ClipCase("frame: RGBA", "score", _with_frame(_rgba), picture=_halves(_WHITE, _RED)),
    ClipCase(
        "frame: 1 x 1 pixel",
        "score",
        _with_frame(lambda p: Image.new("RGB", (1, 1), (90, 9, 9)).save(p, "PNG")),
        picture=np.array([[[90, 9, 9]]], np.uint8),
    ),
    ClipCase("audio: zero-byte WAV", "skip", _with_audio(_write(b""))),
    ClipCase("audio: text named .wav", "skip", _with_audio(_write(b"RIFF? no, just text\n"))),
    ClipCase("audio: NaN samples", "skip", _with_audio(_non_finite(float("nan")))),
    ClipCase("audio: infinite samples", "skip", _with_audio(_non_finite(float("inf")))),
    ClipCase("audio: truncated WAV", "score", _with_audio(_truncated_wav)),
    ClipCase("audio: one sample", "skip", _with_audio(_write(_wav_bytes(_noise(1 / RATE), RATE, "PCM_16")))),
    ClipCase("audio: 0.05 s", "score", _with_audio(_write(_wav_bytes(_noise(0.05), RATE, "PCM_16")))),
    ClipCase("audio: 6 channels", "score", _with_audio(_write(_wav_bytes(_noise(1.0, channels=6), RATE, "PCM_16")))),
    ClipCase("audio: 8-bit PCM", "score", _with_audio(_eight_bit)),
    ClipCase(
        "audio: silent", "score", _with_audio(_write(_wav_bytes(np.zeros((RATE, 1), np.float32), RATE, "PCM_16")))
    ),
    ClipCase("audio: 8 kHz", "score", _with_audio(_write(_wav_bytes(_noise(1.0, rate=8_000), 8_000, "PCM_16")))),
    ClipCase("audio: FLAC", "score", _with_audio(lambda p: sf.write(p, _noise(1.0), RATE), ".flac")),
    ClipCase("pair: frame without audio", "skip", _frame_only),
    ClipCase("pair: audio without frame", "skip", _audio_only),
    ClipCase("box: negative", "skip", good_clip, [[-0.3, 0.1, 0.5, 0.5]]),
    ClipCase("box: inverted", "skip", good_clip, [[0.7, 0.1, 0.2, 0.5]]),
    ClipCase("box: outside the frame", "skip", good_clip, [[0.5, 0.5, 1.7, 0.9]]),
    ClipCase("box: empty", "skip", good_clip, [[0.4, 0.4, 0.4, 0.4]]),
    ClipCase("box: NaN", "skip", good_clip, [[0.1, float("nan"), 0.5, 0.5]]),
    ClipCase("box: three numbers", "skip", good_clip, [[0.1, 0.1, 0.5]]),
    ClipCase("box: strings", "skip", good_clip, [["0.1", "0.1", "0.5", "0.5"]]),
    ClipCase("box: not a list", "skip", good_clip, "0.1 0.1 0.5 0.5"),
    ClipCase("id: spaces, unicode and punctuation", "score", good_clip),
    # fmt: on
)

ENTRY_CASES: tuple[EntryCase, ...] = (
    EntryCase("annotation: entry without 'file'", {"class": "dog", "bbox": GOOD_BOX}),
    EntryCase("annotation: entry not an object", ["file", "x"]),
    EntryCase("annotation: id with ../", {"file": "../../outside", "bbox": GOOD_BOX}),
    EntryCase("annotation: absolute path id", {"file": "/etc/hostname", "bbox": GOOD_BOX}),
    EntryCase("split list: id with ../", "../../outside", in_split=True),
    EntryCase("split list: absolute path id", "/etc/hostname", in_split=True),
)

GOOD_CLIPS = 6


def clip_id(index: int, case: ClipCase) -> str:
    """A case's clip id; the odd-characters case gets an odd (but safe) id."""
    if case.name.startswith("id:"):
        return f"clip {index:02d} · ü #&'(1)"
    return f"case{index:02d}"


def write_corpus(root: Path) -> dict:
    """Write the corpus: good clips, every clip case and entry case, a split list naming them all,
    and an annotation file with a UTF-8 byte-order mark and one duplicate entry.

    Returns:
        {"clips": {id: case}, "entries": [(listed id, case)], "good": [ids], "split": path}
    """
    annotations: list[object] = []
    good = [f"good{i}" for i in range(GOOD_CLIPS)]
    for clip in good:
        good_clip(root, clip)
        annotations.append({"file": clip, "class": "thing", "bbox": GOOD_BOX})
    clips = {}
    for index, case in enumerate(CLIP_CASES):
        name = clip_id(index, case)
        case.write(root, name)
        annotations.append({"file": name, "class": "thing", "bbox": case.bbox if case.bbox is not None else GOOD_BOX})
        clips[name] = case
    annotations.append(dict(annotations[0]))  # a duplicate entry: scored once
    entries = []
    split_lines = [*good, *clips]
    for case in ENTRY_CASES:
        if case.in_split:
            split_lines.append(str(case.entry))
            entries.append((f"line {len(split_lines)}", case))
        else:
            annotations.append(case.entry)
            entries.append((f"item {len(annotations) - 1}", case))
    text = json.dumps(annotations, ensure_ascii=False)
    (root / "annotations.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    split = root / "test.txt"
    split.write_text("\n".join(split_lines) + "\n", encoding="utf-8")
    return {"clips": clips, "entries": entries, "good": good, "split": split}


VIDEO_PIXEL_LIMIT = 100_000  # the pixel limit the video cases run under (a 640 x 480 video exceeds it)


def write_hostile_videos(folder: Path) -> dict[str, str]:
    """Broken videos for `avsl prepare`, each with words its report line must hold (run it with
    --max-pixels VIDEO_PIXEL_LIMIT), and one good video (expected: written)."""
    from avsl.bench.videos import write_video  # PyAV writes the files; imported only when asked

    folder.mkdir(parents=True, exist_ok=True)
    write_video(folder / "good.mp4")
    write_video(folder / "no_audio.mp4", audio_rate=None)
    write_video(folder / "no_video.mkv", video_codec=None, audio_codec="pcm_s16le")
    write_video(folder / "no_frames.mkv", frames=0, audio_codec="pcm_s16le")
    (folder / "header.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    (folder / "empty.webm").write_bytes(b"")
    whole = write_video(folder / "whole.mkv", seconds=4.0, audio_codec="pcm_s16le").read_bytes()
    (folder / "whole.mkv").unlink()
    (folder / "cut_end.mkv").write_bytes(whole[: int(len(whole) * 0.4)])
    write_video(folder / "huge.mkv", seconds=0.2, size=(640, 480), audio_codec="pcm_s16le")
    return {"no_audio": "no audio stream", "no_video": "no video stream", "no_frames": "no_frames.mkv",
            "header": "cannot open as a video", "empty": "cannot open as a video",
            "cut_end": "truncated", "huge": f"over the limit of {VIDEO_PIXEL_LIMIT:,} pixels"}  # fmt: skip
