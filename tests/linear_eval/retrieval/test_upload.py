"""Tests of linear_eval/retrieval/upload.py: an upload decoded as a gallery file is, its pixels
counted from the header and refused above the cap before anything is decoded, and anything that
is not an image a one-line error."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from linear_eval.retrieval.upload import decode_upload, unreadable
from simclr.errors import DataError


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _declared_png(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height pixels but whose data is a few bytes: what a
    decompression bomb looks like to a reader of headers."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("channels", [1, 3])
def test_an_upload_is_decoded_to_the_channels_asked_for(channels: int) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    image = decode_upload(_png(rgb), channels)
    assert image.dtype == torch.uint8 and image.shape == (channels, 5, 7)
    if channels == 3:
        assert torch.equal(image, torch.from_numpy(rgb).permute(2, 0, 1))
    else:  # PIL's own conversion to grey, as a gallery file gets
        expected = np.asarray(Image.fromarray(rgb).convert("L"))
        assert torch.equal(image[0], torch.from_numpy(expected))


def test_a_picture_above_the_cap_is_refused_from_its_header() -> None:
    with pytest.raises(DataError, match=r"declares 3000 x 2000 pixels, more than the 5,000,000"):
        decode_upload(_declared_png(3000, 2000), 1, max_pixels=5_000_000)
    small = decode_upload(_png(np.zeros((2, 3), np.uint8)), 1, max_pixels=6)  # at the cap: taken
    assert small.shape == (1, 2, 3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the upload is empty"),
        (b"not an image at all", "the upload is not an image that can be read"),
        (_png(np.zeros((4, 4), np.uint8))[:40], "the upload is not an image that can be read"),
    ],
    ids=["empty", "text", "truncated"],
)
def test_what_is_not_an_image_is_one_line(data: bytes, message: str) -> None:
    with pytest.raises(DataError, match=f"^{message}") as error:
        decode_upload(data, 1)
    assert "\n" not in str(error.value) and "BytesIO" not in str(error.value)


def test_why_is_said_in_a_few_words() -> None:
    assert unreadable(OSError("cannot identify image file <_io.BytesIO object at 0x1>")) == (
        "cannot identify image file"
    )
    assert unreadable(ValueError("")) == "ValueError"
    assert len(unreadable(OSError("x" * 500))) == 160
