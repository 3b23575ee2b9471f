"""An uploaded query image, decoded under limits a server needs: its pixel count is read from
the header and refused above a cap before anything is decoded (a decompression bomb: a small
file that declares a huge picture), and a file that is not an image is a one-line error."""

from __future__ import annotations

import io
import warnings

import torch
from PIL import Image

from simclr.errors import DataError
from simclr.preprocess import UNREADABLE_IMAGE, decode_image

# a 40-megapixel photograph passes; PIL's own guard warns only above 89 Mpx and refuses at 179
MAX_UPLOAD_PIXELS = 40_000_000


def decode_upload(data: bytes, channels: int, max_pixels: int = MAX_UPLOAD_PIXELS) -> torch.Tensor:
    """The uploaded bytes ``data`` as uint8 (channels, H, W), decoded as a gallery image file
    is (:func:`simclr.preprocess.decode_image`); a DataError in one line when they are empty,
    not an image PIL reads, or a picture of more than ``max_pixels`` pixels."""
    if not data:
        raise DataError("the upload is empty: choose an image file (PNG, JPEG, ...)")
    too_many = (
        f"more than the {max_pixels:,} pixels allowed (a decompression bomb, or a picture to "
        "shrink first)"
    )
    try:
        with warnings.catch_warnings():  # PIL warns from 89 Mpx; the cap below is lower
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # reads the header only
                width, height = image.size
    except Image.DecompressionBombError as error:  # PIL refuses from 179 Mpx, at the header
        raise DataError(f"the upload declares {too_many}: {unreadable(error)}") from None
    except UNREADABLE_IMAGE as error:
        raise DataError(
            f"the upload is not an image that can be read ({unreadable(error)})"
        ) from None
    if width * height > max_pixels:
        raise DataError(f"the upload declares {width} x {height} pixels, {too_many}")
    try:
        return decode_image(io.BytesIO(data), channels)
    except UNREADABLE_IMAGE as error:
        raise DataError(
            f"the upload is not an image that can be read ({unreadable(error)})"
        ) from None


def unreadable(error: BaseException) -> str:
    """Why PIL could not read a file, in a few words without the in-memory file's repr."""
    words = str(error).split(" <_io.BytesIO")[0].strip() or type(error).__name__
    return words if len(words) <= 160 else words[:157] + "..."
