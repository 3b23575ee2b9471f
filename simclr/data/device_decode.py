"""JPEG files decoded on the device their batch has reached: the other half of
:mod:`simclr.data.encoded`.

torchvision decodes the batch's files in one call (nvjpeg on a CUDA device, libjpeg-turbo on
the CPU) in RGB; one channel is PIL's luma of that, so the images equal those PIL decodes in the
workers (on the CPU bit for bit: both decode with libjpeg-turbo). Each is then converted and
resized as the workers would (:func:`simclr.preprocess.prepare_image`), one by one since the
files' sizes differ.
"""

from __future__ import annotations

import re
import warnings

import torch
from torchvision.io import ImageReadMode, decode_jpeg

from simclr.data.encoded import EncodedBatch
from simclr.preprocess import prepare_image

# torchvision 0.29 deprecates its decoders in favour of TorchCodec, which is not a dependency
DEPRECATION = "The image decoding and encoding capabilities of TorchVision are deprecated"
SOURCE_LOCATION = re.compile(r"^decode_jpeg, \S+:\d+, ")  # torchvision's prefix to its errors


def decode_batch(batch: EncodedBatch) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(uint8 images (B', C, S, S), labels (B',)) of ``batch`` on the device of its labels: its
    JPEG files decoded there beside the images the workers decoded, in the batch's order. A file
    that does not decode is left out with a warning naming it; None when no image is left."""
    device = batch.labels.device
    decoded = iter(_decode_jpegs(batch.jpeg_bytes(), batch.files, device))
    workers = iter(batch.images)
    images = []
    for is_jpeg in batch.is_jpeg.tolist():
        image = next(decoded) if is_jpeg else next(workers)
        if is_jpeg and image is not None:
            if batch.channels == 1:
                image = luminance(image)
            image = prepare_image(image, batch.image_size, batch.channels)
        images.append(image)
    kept = [position for position, image in enumerate(images) if image is not None]
    if not kept:
        return None
    labels = batch.labels[torch.tensor(kept, device=device)]
    return torch.stack([images[position] for position in kept]), labels


def luminance(images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (..., 3, H, W) -> uint8 grey (..., 1, H, W) as PIL's ``convert("L")`` computes
    it: ITU-R 601-2 luma, L = (19595 R + 38470 G + 7471 B + 2^15) >> 16, exact in int32."""
    red, green, blue = images.int().unbind(-3)
    grey = (red * 19595 + green * 38470 + blue * 7471 + (1 << 15)) >> 16
    return grey.to(torch.uint8).unsqueeze(-3)


def _decode_jpegs(
    jpegs: list[torch.Tensor], files: list[str], device: torch.device
) -> list[torch.Tensor | None]:
    """The RGB images (3, H, W) of ``jpegs`` on ``device``, batched; None for each that fails."""
    if not jpegs:
        return []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=DEPRECATION, category=DeprecationWarning)
        try:
            return decode_jpeg(jpegs, mode=ImageReadMode.RGB, device=device)
        except RuntimeError:
            pass  # one file that does not decode fails the whole call: find it
        return [_decode_one(data, file, device) for data, file in zip(jpegs, files)]


def _decode_one(data: torch.Tensor, file: str, device: torch.device) -> torch.Tensor | None:
    try:
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    except RuntimeError as error:
        reason = SOURCE_LOCATION.sub("", str(error))
        warnings.warn(f"skipping unreadable image {file}: {reason}", stacklevel=4)
        return None
