"""What is done to every image before f, in pretraining, evaluation and retrieval alike.

Decoding a file into uint8 (C, H, W) (the picture a person sees, whatever PIL's colour mode:
:func:`seen_picture`), converting its channel count, resizing the shorter side and
centre-cropping a square, scaling to [0, 1] and normalising per channel; :class:`Preprocess` is
the last four for the images a user holds, checked (torchvision's ``weights.transforms()``).
Nothing here is random: the stochastic views of pretraining are :mod:`simclr.augment`, built on
these.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image, UnidentifiedImageError
from torch import nn

from simclr.errors import DataError

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


class Preprocess(nn.Module):
    """What is done to an image before f when its representation h is read off a trained
    encoder, as the linear evaluation protocol does (SimCLR section 4, appendix B.6: no
    augmentation) and as ``simclr embed``, ``index`` and ``eval`` do: the image converted to
    ``channels`` channels and resized to a centred square of ``image_size``
    (:func:`prepare_image`), then scaled to [0, 1] and normalised per channel (:class:`Normalize`).

    Takes one image (C, H, W), a batch (N, C, H, W) or a list of images of any sizes, C = 1
    (grey) or 3 (RGB), as uint8 in 0..255, another integer dtype within 0..255, or float in
    [0, 1]. Float pixels are rounded to the nearest of the 256 levels of an 8-bit image, so a
    float image and its uint8 twin give the same output. Images are resized on their own device
    (the CPU, as ``simclr embed`` does), then moved to this module's. Returns float32 (channels,
    image_size, image_size), with N in front for a batch or a list; bad input is a one-line
    :class:`~simclr.errors.DataError`.
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        mean: Sequence[float],
        std: Sequence[float],
        normalize: bool = True,
    ) -> None:
        super().__init__()
        self.image_size, self.channels = image_size, channels
        self.normalize = Normalize(mean, std, enabled=normalize)

    def forward(self, images: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        if isinstance(images, (list, tuple)):
            if not images:
                raise DataError("images=[] is invalid: allowed: a list of one image or more")
            one_by_one = [self._prepared(image, single=True) for image in images]
            return self._normalized(torch.stack(one_by_one))
        prepared = self._prepared(images)
        if prepared.dim() == 3:
            return self._normalized(prepared.unsqueeze(0))[0]
        return self._normalized(prepared)

    def _prepared(self, images: torch.Tensor, single: bool = False) -> torch.Tensor:
        return prepare_image(eight_bit_images(images, single), self.image_size, self.channels)

    def _normalized(self, images: torch.Tensor) -> torch.Tensor:
        return self.normalize(images.to(self.normalize.mean.device))

    def extra_repr(self) -> str:
        mean = tuple(round(value, 6) for value in self.normalize.mean.flatten().tolist())
        std = tuple(round(value, 6) for value in self.normalize.std.flatten().tolist())
        return (
            f"image_size={self.image_size}, channels={self.channels}, mean={mean}, std={std}, "
            f"normalize={self.normalize.enabled}"
        )


IMAGE_SHAPES = "(C, H, W) or (N, C, H, W) with C = 1 (grey) or 3 (RGB), H and W >= 1"
PIXEL_VALUES = "uint8 0..255, another integer dtype within 0..255, or float in [0, 1]"


def eight_bit_images(images: torch.Tensor, single: bool = False) -> torch.Tensor:
    """``images`` as uint8 (:class:`Preprocess`'s input rules), or a one-line DataError naming
    the shape, dtype or values and what is allowed; ``single``: one image (C, H, W) only."""
    if not isinstance(images, torch.Tensor):
        allowed = "a torch.Tensor " + ("(C, H, W)" if single else f"{IMAGE_SHAPES}, or a list")
        raise DataError(f"images of type {type(images).__name__} are invalid: allowed: {allowed}")
    shape = tuple(images.shape)
    ndims = (3,) if single else (3, 4)
    if images.dim() not in ndims or shape[-3] not in (1, 3) or min(shape[-2:]) < 1:
        shapes = "(C, H, W), C = 1 or 3, in a list" if single else IMAGE_SHAPES
        raise DataError(f"images of shape {shape} are invalid: allowed: {shapes}")
    if images.dtype == torch.uint8:
        return images
    if images.dtype == torch.bool or images.is_complex():
        raise DataError(f"images of dtype {images.dtype} are invalid: allowed: {PIXEL_VALUES}")
    if images.numel() == 0:
        return images.to(torch.uint8)
    low, high = (float(value) for value in torch.aminmax(images))
    if images.is_floating_point():
        if not 0.0 <= low <= high <= 1.0:  # NaN fails too
            raise DataError(
                f"images of dtype {images.dtype} hold values {low:.4g}..{high:.4g}, which is "
                f"invalid: allowed: {PIXEL_VALUES} (the pixels before any normalisation)"
            )
        return images.float().mul(255.0).round_().to(torch.uint8)
    if low < 0 or high > 255:
        raise DataError(
            f"images of dtype {images.dtype} hold values {low:.0f}..{high:.0f}, which is "
            f"invalid: allowed: {PIXEL_VALUES}"
        )
    return images.to(torch.uint8)
