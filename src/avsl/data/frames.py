"""Frame decoding: any image file PIL reads -> an 8-bit RGB image, or one error naming the file.

`Image.convert("RGB")` alone is wrong for several modes a real corpus holds: 16-bit grayscale
("I;16", "I") is clipped to 255 and comes out all white, 32-bit float ("F") likewise, and a
transparent pixel's hidden colour shows through when alpha is dropped. Those modes are scaled or
composited here first. The pixel limit is checked from the header, before any pixel is decoded,
so one forged header cannot exhaust memory.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from avsl.constants import MAX_FRAME_PIXELS
from avsl.errors import AvslError

# Transparent pixels are shown over white, as an image viewer on a white page shows them.
_BACKGROUND = (255, 255, 255)
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def load_frame(path: Path, max_pixels: int = MAX_FRAME_PIXELS) -> Image.Image:
    """Decode a frame to 8-bit RGB, upright as its EXIF orientation says.

    Raises:
        AvslError: the file is missing, not an image, truncated, over `max_pixels`, or holds
            non-finite values; the message names the file.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit below decides
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise AvslError(_too_large(path, width, height, max_pixels))
                image.load()
                return to_rgb(ImageOps.exif_transpose(image), path)
    except FileNotFoundError:
        raise AvslError(f"{path}: frame not found") from None
    except Image.DecompressionBombError:
        raise AvslError(f"{path}: image header claims more pixels than PIL will decode (limit {max_pixels})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as err:
        # PIL's plugins signal a broken file with any of these (SyntaxError: a bad PNG chunk).
        raise AvslError(f"{path}: cannot decode image ({_reason(err)})") from None


def to_rgb(image: Image.Image, path: Path | str = "image") -> Image.Image:
    """8-bit RGB from any PIL mode: 16-bit and float scaled, alpha composited over white."""
    if image.mode in _SIXTEEN_BIT:
        return Image.fromarray(_scaled(np.asarray(image, dtype=np.float64), 65535.0, path)).convert("RGB")
    if image.mode == "F":  # float images hold [0, 1], as scikit-image and torchvision read them
        return Image.fromarray(_scaled(np.asarray(image, dtype=np.float64), 1.0, path)).convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _scaled(values: np.ndarray, full_scale: float, path: Path | str) -> np.ndarray:
    """Values in [0, full_scale] -> uint8 grayscale, refusing NaN or infinity."""
    if not np.isfinite(values).all():
        raise AvslError(f"{path}: image holds NaN or infinite values")
    return np.round(np.clip(values / full_scale, 0.0, 1.0) * 255.0).astype(np.uint8)


def _too_large(path: Path, width: int, height: int, limit: int) -> str:
    return f"{path}: image is {width} x {height} = {width * height:,} pixels, over the limit of {limit:,} (max_pixels)"


def _reason(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
