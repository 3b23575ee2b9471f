"""Image files written by PIL for the tests of ``data.decode``: JPEGs in colour and grey of
several sizes and encodings, a PNG, and JPEGs that do not decode."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

# (width, height) and PIL's JPEG options: 4:2:0, 4:4:4, 4:2:2 chroma, progressive, optimised
COLOUR_JPEGS = [
    ((53, 37), {"quality": 75}),
    ((64, 64), {"quality": 95, "subsampling": 0}),
    ((90, 120), {"progressive": True}),
    ((300, 20), {"subsampling": 1, "optimize": True}),
]
GREY_JPEGS = [((33, 45), {}), ((16, 16), {"quality": 100})]


def photo(size: tuple[int, int], mode: str, seed: int) -> Image.Image:
    """A smooth random image with a little noise, as photographs are (not pure noise)."""
    rng = np.random.default_rng(seed)
    width, height = size
    channels = 3 if mode == "RGB" else 1
    coarse = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, channels), dtype=np.uint8)
    smooth = Image.fromarray(coarse.squeeze(-1) if channels == 1 else coarse).resize(size)
    noisy = np.asarray(smooth).astype(int) + rng.integers(-20, 21, np.asarray(smooth).shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def jpeg_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def write_jpegs(folder: Path, seed: int = 0) -> list[Path]:
    """The colour and grey JPEGs of this module in ``folder``, named in the order written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    kinds = [("RGB", *item) for item in COLOUR_JPEGS] + [("L", *item) for item in GREY_JPEGS]
    for index, (mode, size, options) in enumerate(kinds):
        path = folder / f"{index}_{mode.lower()}.jpg"
        path.write_bytes(jpeg_bytes(photo(size, mode, seed + index), **options))
        paths.append(path)
    return paths


def write_png(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    photo((41, 29), "RGB", seed).save(path, "PNG")
    return path


def write_truncated_jpeg(path: Path, seed: int = 0) -> Path:
    """A JPEG cut in the middle of its image data: its header reads, its pixels do not."""
    data = jpeg_bytes(photo((64, 48), "RGB", seed))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    return path


def write_garbage_jpeg(path: Path, seed: int = 0) -> Path:
    """JPEG's magic bytes followed by noise: no header to read."""
    noise = np.random.default_rng(seed).integers(0, 256, 500, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff" + noise)
    return path
