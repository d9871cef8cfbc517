"""Issue 12: playground uploads are checked from the header (bytes, pixels) before any pixel is decoded,
then shrunk cheaply. The huge PNGs are written row by row with zlib (tens of KB on disk, never in memory)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from kdcore.views import playground


def huge_png(width: int, height: int, bit_depth: int = 1, color_type: int = 0) -> bytes:
    """A valid all-black PNG of ``width`` × ``height`` (1-bit grey by default), built without holding its pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    channels = {0: 1, 2: 3}[color_type]
    row = b"\x00" * (1 + (width * channels * bit_depth + 7) // 8)  # filter byte + packed pixels
    z = zlib.compressobj(9)
    rows = 256  # rows per zlib call: a 20000² picture in ~1 s
    body = b"".join(z.compress(row * min(rows, height - i)) for i in range(0, height, rows)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any pixel decode fails the test: a refusal must come from the header alone."""
    def refuse(self: Image.Image) -> None:
        raise AssertionError(f"decoded a {self.size} picture that the header already refused")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.parametrize("side", [12000, 20000])
def test_huge_pngs_are_refused_from_the_header_with_a_clear_message(side: int, no_decoding: None) -> None:
    data = huge_png(side, side)
    assert len(data) < 300_000  # small on disk: the attack the limit is for
    with pytest.raises(playground.ImageError, match=r"too large.*at most 10 MB and 25 megapixels"):
        playground.prepare_image(data)


def test_just_over_the_pixel_limit_and_over_the_byte_limit_are_refused(no_decoding: None) -> None:
    with pytest.raises(playground.ImageError, match=r"5001×5000 = 25 megapixels"):
        playground.prepare_image(huge_png(5001, 5000))
    padded = huge_png(100, 100) + b"\x00" * (10 * 1024**2)
    with pytest.raises(playground.ImageError, match=r"too large \(10\.0 MB\)"):
        playground.prepare_image(padded)


def test_a_large_photo_within_the_limits_is_shrunk_before_float_work() -> None:
    img = Image.new("L", (4000, 3000), 255)  # 12 Mpx: a phone photo of a digit on paper
    img.paste(0, (1800, 900, 2200, 2100))  # a thick dark "1"
    for fmt in ("PNG", "JPEG"):
        buf = io.BytesIO()
        img.save(buf, fmt)
        out = playground.prepare_image(buf.getvalue())
        assert out.shape == (28, 28) and out.max() == pytest.approx(1.0) and out[:, :4].max() < 0.1, fmt
    small = playground._decode_small(buf.getvalue())
    assert max(small.size) <= playground.WORK_SIDE


def test_a_huge_drawn_array_is_refused() -> None:
    with pytest.raises(playground.ImageError, match="too large"):
        playground.prepare_image(np.zeros((6000, 6000, 4), dtype=np.uint8))
