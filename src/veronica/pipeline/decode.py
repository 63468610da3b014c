"""Stage 1, decode: untrusted bytes (JPEG/PNG/WebP, or base64 of them) to a BGR array.

Limits are checked before and after decoding: byte size first (cheap), then the
header's pixel count before any pixel is decoded (decompression bombs: a 50 kB
PNG can expand to gigabytes), then the dimensions.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from veronica.errors import ImageDecodeError, ImageTooLargeError, ImageTooSmallError

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})


@dataclass(frozen=True)
class DecodeLimits:
    """Defaults fit any webcam or phone photo while keeping one request's memory bounded."""

    max_bytes: int = 10 * 1024 * 1024
    """10 MiB: a 12-megapixel phone JPEG is 3–6 MiB."""
    max_pixels: int = 40_000_000
    """40 MP (about 120 MB as BGR) covers current phone cameras; more is a bomb."""
    max_side: int = 10_000
    min_side: int = 32
    """Below 32 px no face is large enough to recognise."""


@dataclass(frozen=True, eq=False)
class DecodedImage:
    bgr: NDArray[np.uint8]
    """H×W×3, BGR (OpenCV order), EXIF orientation already applied."""
    format: str

    @property
    def width(self) -> int:
        return int(self.bgr.shape[1])

    @property
    def height(self) -> int:
        return int(self.bgr.shape[0])


def decode_base64(text: str, limits: DecodeLimits = DecodeLimits()) -> DecodedImage:
    """Decode base64 (optionally a ``data:image/...;base64,`` URL) of an image file."""
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    # base64 is 4/3 the size: refuse before allocating the decoded copy.
    if len(text) > limits.max_bytes * 4 // 3 + 4:
        raise ImageTooLargeError(f"image is larger than {limits.max_bytes} bytes")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageDecodeError("image is not valid base64") from exc
    return decode_image(raw, limits)


def decode_image(data: bytes, limits: DecodeLimits = DecodeLimits()) -> DecodedImage:
    """Decode image bytes with EXIF orientation applied; typed errors for every refusal."""
    if len(data) == 0:
        raise ImageDecodeError("image is empty")
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(f"image is {len(data)} bytes; the limit is {limits.max_bytes}")
    with warnings.catch_warnings():
        # Pillow warns (then errors) on bombs by its own limit; we apply ours first.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(f"image has too many pixels: {exc}") from exc
        except (UnidentifiedImageError, OSError) as exc:
            raise ImageDecodeError("not a JPEG, PNG or WebP image") from exc
        if image.format not in ALLOWED_FORMATS:
            raise ImageDecodeError(f"image format {image.format} is not accepted (JPEG, PNG, WebP)")
        image_format = str(image.format)
        width, height = image.size
        _check_dimensions(width, height, limits)
        try:
            rgb = ImageOps.exif_transpose(image).convert("RGB")
            rgb.load()
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise ImageDecodeError(f"image data is damaged or truncated: {exc}") from exc
    bgr = np.asarray(cv2.cvtColor(np.asarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2BGR), np.uint8)
    return DecodedImage(bgr=bgr, format=image_format)


def _check_dimensions(width: int, height: int, limits: DecodeLimits) -> None:
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"image has {width}×{height} = {width * height} pixels; "
            f"the limit is {limits.max_pixels}"
        )
    if max(width, height) > limits.max_side:
        raise ImageTooLargeError(f"image side {max(width, height)} px exceeds {limits.max_side}")
    if min(width, height) < limits.min_side:
        raise ImageTooSmallError(
            f"image is {width}×{height} px; each side must be at least {limits.min_side}"
        )
