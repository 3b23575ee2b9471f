"""What is done to every image before f, in pretraining, evaluation and retrieval alike.

Decoding a file into uint8 (C, H, W), converting its channel count, resizing the shorter side
and centre-cropping a square, scaling to [0, 1] and normalising per channel. Nothing here is
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


def decode_image(path: str | Path, channels: int) -> torch.Tensor:
    """The image file ``path`` as uint8 (channels, H, W), decoded by PIL from any format and
    colour mode; raises one of :data:`UNREADABLE_IMAGE` for a file that cannot be decoded."""
    with Image.open(path) as image:
        array = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    tensor = torch.from_numpy(array.copy())
    return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()


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
