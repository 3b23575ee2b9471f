"""What is done to every image before f, in pretraining, evaluation and retrieval alike.

Decoding a file into uint8 (C, H, W) (the picture a person sees, whatever PIL's colour mode:
:func:`seen_picture`), converting its channel count, resizing the shorter side and
centre-cropping a square, scaling to [0, 1] and normalising per channel. Nothing here is
random: the stochastic views of pretraining are :mod:`simclr.augment`, built on these.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image, UnidentifiedImageError
from torch import nn

# what PIL raises for a file it cannot decode: corrupt, truncated, not an image, or a
# decompression bomb (more pixels than Image.MAX_IMAGE_PIXELS, PIL's guard)
UNREADABLE_IMAGE = (
    OSError,
    UnidentifiedImageError,
    ValueError,
    SyntaxError,
    Image.DecompressionBombError,
)


BACKGROUND = (255, 255, 255)  # what a transparent pixel shows: white, as a page or a viewer does
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")  # PIL's modes with an alpha band
UINT16_MODES = ("I;16", "I;16L", "I;16B")  # 16-bit unsigned grey, either byte order


def decode_image(path: str | Path, channels: int) -> torch.Tensor:
    """The image file ``path`` as uint8 (channels, H, W): the picture a person sees in it (the
    first frame of an animation), by :func:`seen_picture`, in ``channels`` channels (grey to RGB
    by copy, RGB to grey by luminance); raises one of :data:`UNREADABLE_IMAGE` for a file that
    cannot be decoded."""
    with Image.open(path) as image:
        picture = seen_picture(image)
        array = np.asarray(picture.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    tensor = torch.from_numpy(array.copy())
    return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()


def seen_picture(image: Image.Image) -> Image.Image:
    """The 8-bit grey (L) or colour (RGB) picture a person sees in ``image``, by its mode:

    - L, RGB: as they are, bit for bit.
    - 1: black 0, white 255.
    - P: the palette expanded to RGB; a transparent palette entry as alpha, below.
    - RGBA, LA, PA, RGBa, La: alpha composited on white (:data:`BACKGROUND`).
    - CMYK (and YCbCr, RGBX, HSV): converted to RGB by PIL.
    - I;16, I;16L, I;16B (16-bit unsigned): value / 257, rounded, so x * 257 decodes to x.
    - I (32-bit signed): value * 255 / (2**31 - 1), rounded; negative values black.
    - F (32-bit float): values within [0, 1] times 255, rounded; else min..max stretched to
      0..255 (a constant image black); NaN and infinities count as 0.
    """
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode in ALPHA_MODES or (mode == "P" and "transparency" in image.info):
        background = Image.new("RGBA", image.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    if mode == "1":
        return image.convert("L")
    if mode in UINT16_MODES or mode in ("I", "F"):
        # PIL's convert("L") clips these values to 0..255 instead of scaling them
        return Image.fromarray(_scaled_to_uint8(np.asarray(image), mode))
    return image.convert("RGB")


def _scaled_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """The grey ``values`` of an I;16, I or F image scaled to uint8 as :func:`seen_picture` says."""
    if mode in UINT16_MODES:
        scaled = values / 257.0
    elif mode == "I":
        scaled = np.clip(values, 0, None) * (255.0 / (2**31 - 1))
    else:
        values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if low >= 0.0 and high <= 1.0:
            scaled = values * 255.0
        elif high > low:
            scaled = (values - low) * (255.0 / (high - low))
        else:
            scaled = np.zeros_like(values)
    return np.rint(scaled).astype(np.uint8)


def prepare_image(image: torch.Tensor, image_size: int, channels: int) -> torch.Tensor:
    """uint8 (..., C, H, W) -> uint8 (..., channels, image_size, image_size): one image or a
    batch. Grey becomes RGB by copy, RGB becomes grey by luminance; then the shorter side is
    resized to ``image_size`` (antialiased) and a centred square is cropped."""
    if image.shape[-3] != channels:
        if channels == 3:
            image = image.expand(*image.shape[:-3], 3, -1, -1)
        else:
            image = TF.rgb_to_grayscale(image[..., :3, :, :])
    if tuple(image.shape[-2:]) != (image_size, image_size):
        image = TF.resize(image, image_size, antialias=True)
        image = TF.center_crop(image, [image_size, image_size])
    return image.contiguous()


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] to float32 in [0, 1]; float images are taken as in [0, 1]."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


class Normalize(nn.Module):
    """(x - mean) / std per channel; the identity when ``enabled`` is false."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = to_unit_float(images)
        if not self.enabled:
            return images
        return (images - self.mean) / self.std
