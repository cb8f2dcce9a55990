"""Decoding one image file, safely: the one place a user's image is opened.

- the size in the header is checked before any pixel is decoded: an image of more than
  `MAX_PIXELS` pixels (a decompression bomb, or a header that lies) is refused, as is what
  PIL itself flags as a bomb;
- 16-bit grey images (`I;16`) are scaled to 8 bits (v / 257, rounded), not clipped at 255;
  32-bit integer and float images (`I`, `F`) have no agreed 8-bit meaning and are refused;
- palette, CMYK, grey+alpha, RGBA, 1-bit, ... are converted by PIL to grey or RGB;
- a missing file, a folder, an empty, truncated or non-image file: one line naming the file.
"""

from __future__ import annotations

import re
import warnings
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from hashattack.errors import InputError
from hashattack.validation import MAX_PIXELS



def _eight_bit(image: Image.Image, path: Path) -> Image.Image:
    """`image` with 8-bit channels: 16-bit grey scaled, other deep modes refused."""
    if image.mode.startswith("I;16"):
        values = np.asarray(image, dtype=np.uint32)
        return Image.fromarray(((values + 128) // 257).astype(np.uint8), "L")
    if image.mode in ("I", "F"):
        raise InputError(f"{path}: {'32-bit integer' if image.mode == 'I' else 'floating-point'} pixels "
                         "are not read; save the image with 8- or 16-bit channels")
    return image


def open_image(path: str | Path, mode: str = "RGB", max_pixels: int = MAX_PIXELS) -> Image.Image:
    """The image at `path`, decoded and converted to `mode` ("L" grey or "RGB"), at most `max_pixels` pixels
    (MAX_PIXELS; a video frame: MAX_FRAME_PIXELS); see the module docstring."""
    return _decode(Path(path), Path(path), mode, max_pixels)


def decode_image(data: bytes, name: str, mode: str = "RGB") -> Image.Image:
    """An image file's bytes (an upload), decoded as `open_image` decodes a file; errors name `name`."""
    try:
        return _decode(BytesIO(data), name, mode, MAX_PIXELS)
    except InputError as error:   # PIL names the buffer object: leave it out
        raise InputError(re.sub(r" <_io\.BytesIO object at 0x[0-9a-f]+>", "", str(error))) from None


def _decode(source, path, mode: str, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise InputError(f"{path}: the header gives {width}x{height} pixels, more than "
                                     f"{max_pixels:,} (a decompression bomb?); refused before decoding")
                return _eight_bit(image, path).convert(mode)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"image {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not an image file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{path}: refused as a decompression bomb ({' '.join(str(exc).split())})") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        # PIL's UnidentifiedImageError is an OSError; truncated or corrupt data raises any of these
        raise InputError(f"{path}: cannot read the image ({' '.join(str(exc).split()) or type(exc).__name__})") from None


__all__ = ["open_image", "MAX_PIXELS"]
