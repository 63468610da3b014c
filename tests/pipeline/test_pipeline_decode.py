"""Decode stage: formats, EXIF, and every refusal with its typed error."""

from __future__ import annotations

import base64
import io
import zlib

import numpy as np
import pytest
from PIL import Image

from support import DATA, read
from veronica.errors import ImageDecodeError, ImageTooLargeError, ImageTooSmallError
from veronica.pipeline.decode import DecodeLimits, decode_base64, decode_image


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("faces/obama/1.jpg", "JPEG"), ("portrait.png", "PNG"), ("portrait.webp", "WEBP")],
)
def test_decodes_accepted_formats_to_bgr(name: str, fmt: str) -> None:
    image = decode_image(read(name))
    assert image.format == fmt
    assert image.bgr.dtype == np.uint8 and image.bgr.ndim == 3 and image.bgr.shape[2] == 3
    with Image.open(DATA / name) as reference:
        assert (image.width, image.height) == reference.size


def test_channel_order_is_bgr() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (255, 0, 0)).save(buffer, "PNG")  # pure red
    bgr = decode_image(buffer.getvalue()).bgr
    assert tuple(bgr[0, 0]) == (0, 0, 255)


def test_exif_orientation_is_applied() -> None:
    raw = read("rotated_exif.jpg")
    with Image.open(io.BytesIO(raw)) as stored:
        stored_w, stored_h = stored.size
    image = decode_image(raw)
    assert stored_w > stored_h  # stored sideways
    assert (image.width, image.height) == (stored_h, stored_w)  # upright after EXIF


def test_base64_and_data_url() -> None:
    raw = read("portrait.webp")
    text = base64.b64encode(raw).decode()
    assert decode_base64(text).width == decode_image(raw).width
    assert decode_base64("data:image/webp;base64," + text).format == "WEBP"


def test_bad_base64() -> None:
    with pytest.raises(ImageDecodeError, match="base64"):
        decode_base64("not base64 at all!")


def test_truncated_jpeg() -> None:
    with pytest.raises(ImageDecodeError) as info:
        decode_image(read("truncated.jpg"))
    assert info.value.code == "image_undecodable" and info.value.status == 422


@pytest.mark.parametrize(
    "payload", [b"", b"hello, not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40]
)
def test_not_an_image(payload: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(payload)


def test_other_formats_refused() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "BMP")
    with pytest.raises(ImageDecodeError, match="BMP"):
        decode_image(buffer.getvalue())


def test_byte_limit() -> None:
    raw = read("faces/obama/1.jpg")
    with pytest.raises(ImageTooLargeError) as info:
        decode_image(raw, DecodeLimits(max_bytes=len(raw) - 1))
    assert info.value.status == 413


def test_png_bomb_refused_before_decoding() -> None:
    """8000×6000 = 48 MP of black compresses to ~50 kB; decoding it as BGR would take 144 MB."""
    buffer = io.BytesIO()
    Image.new("L", (8000, 6000)).save(buffer, "PNG", optimize=True)
    bomb = buffer.getvalue()
    assert len(bomb) < 200_000
    with pytest.raises(ImageTooLargeError, match="pixels"):
        decode_image(bomb)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_giant_header_refused_without_allocating() -> None:
    """A 100 kpx × 100 kpx header: Pillow's own bomb guard fires first; still our typed error."""
    with pytest.raises(ImageTooLargeError):
        decode_image(_png_header_only(100_000, 100_000))


def test_side_limits() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 200)).save(buffer, "PNG")
    with pytest.raises(ImageTooSmallError):
        decode_image(buffer.getvalue())
    wide = io.BytesIO()
    Image.new("RGB", (12_000, 40)).save(wide, "PNG")
    with pytest.raises(ImageTooLargeError, match="side"):
        decode_image(wide.getvalue())
