"""Frame decoding: every PIL mode a corpus holds comes out as the right 8-bit RGB image, and
every broken or oversized file is one AvslError naming it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from avsl.bench.hostile import forged_png
from avsl.data.dataset import AVDataset
from avsl.data.frames import load_frame
from avsl.errors import AvslError
from avsl.types import BadSample
from tests.conftest import write_annotations, write_clip


def rgb(path, **kwargs) -> np.ndarray:
    return np.asarray(load_frame(path, **kwargs), dtype=np.int32)


def test_sixteen_bit_grayscale_is_scaled_not_clipped_to_white(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode in ("I;16", "I")
    decoded = rgb(path)
    expected = np.round(ramp / 65535 * 255).astype(np.int32)
    assert decoded.shape == (48, 64, 3)
    assert np.abs(decoded - expected[..., None]).max() <= 1
    assert decoded.min() == 0 and decoded.max() == 255  # not the all-white image of convert("RGB")


def test_float_image_reads_as_zero_to_one_and_nan_is_refused(tmp_path):
    values = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    path = tmp_path / "float.tiff"
    Image.fromarray(values, mode="F").save(path)
    assert np.abs(rgb(path)[..., 0] - np.round(values * 255)).max() <= 1
    values[3, 3] = np.nan
    Image.fromarray(values, mode="F").save(path)
    with pytest.raises(AvslError, match="NaN"):
        load_frame(path)


def test_transparent_pixels_show_white_whatever_colour_they_hide(tmp_path):
    pixels = np.zeros((8, 8, 4), np.uint8)
    pixels[..., 0] = 200  # a red hidden under alpha 0 on the left half
    pixels[:, 4:, 3] = 255
    pixels[:, :4, 3] = 0
    path = tmp_path / "alpha.png"
    Image.fromarray(pixels, "RGBA").save(path)
    decoded = rgb(path)
    assert (decoded[:, :4] == 255).all()
    assert (decoded[:, 4:] == [200, 0, 0]).all()
    la = tmp_path / "la.png"
    Image.fromarray(pixels[..., [0, 3]], "LA").save(la)
    assert (rgb(la)[:, :4] == 255).all() and (rgb(la)[:, 4:] == 200).all()


def test_palette_with_transparency_and_bilevel_and_cmyk(tmp_path):
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    palette.info["transparency"] = 0
    palette.putpixel((0, 0), 0)
    palette.save(tmp_path / "p.png", transparency=0)
    decoded = rgb(tmp_path / "p.png")
    assert (decoded[0, 0] == 255).all() and (decoded[1, 1] == [10, 20, 30]).all()
    Image.new("1", (5, 3), 1).save(tmp_path / "bw.png")
    assert (rgb(tmp_path / "bw.png") == 255).all()
    colour = np.full((16, 16, 3), (30, 120, 220), np.uint8)
    Image.fromarray(colour).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert np.abs(rgb(tmp_path / "cmyk.jpg") - colour).max() <= 8


def test_exif_orientation_turns_the_frame_upright(tmp_path):
    image = Image.new("RGB", (40, 20))
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image.save(tmp_path / "turned.jpg", exif=exif)
    assert load_frame(tmp_path / "turned.jpg").size == (20, 40)


def test_png_named_jpg_and_one_pixel_frames_are_read(tmp_path):
    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "tiny.jpg", format="PNG")
    assert (rgb(tmp_path / "tiny.jpg") == [1, 2, 3]).all()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (forged_png(100_000, 100_000), "more pixels than PIL will decode"),
        (forged_png(8_000, 8_000), "over the limit of 50,000,000"),
        (b"", "cannot decode image"),
        (b"not an image at all", "cannot decode image"),
    ],
)
def test_broken_and_oversized_files_are_one_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(AvslError, match=message) as info:
        load_frame(path)
    assert str(path) in str(info.value)


def test_truncated_jpeg_and_a_small_pixel_limit(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(AvslError, match="cannot decode image"):
        load_frame(tmp_path / "cut.jpg")
    (tmp_path / "whole.jpg").write_bytes(buffer.getvalue())
    with pytest.raises(AvslError, match="64 x 64 = 4,096 pixels, over the limit of 1,000"):
        load_frame(tmp_path / "whole.jpg", max_pixels=1000)


def test_a_bomb_frame_is_a_skipped_clip_in_a_dataset(tmp_path):
    for clip_id in ("good", "bomb"):
        write_clip(tmp_path, clip_id)
    (tmp_path / "frames" / "bomb.jpg").write_bytes(forged_png(100_000, 100_000))
    write_annotations(tmp_path, [{"file": c, "bbox": [[0.1, 0.1, 0.5, 0.5]]} for c in ("good", "bomb")])
    dataset = AVDataset(tmp_path, image_size=16, sample_rate=8000, audio_seconds=0.25)
    items = {dataset.ids[i]: dataset[i] for i in range(len(dataset))}
    assert isinstance(items["bomb"], BadSample) and "bomb.jpg" in items["bomb"].reason
    assert not isinstance(items["good"], BadSample)
