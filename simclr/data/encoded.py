"""JPEG files of an image folder handed over as their bytes, for the device to decode.

With ``data.decode=device`` (or ``auto`` on a CUDA accelerator) the loader's workers only read a
JPEG file and check its header; the batch keeps the files encoded (:class:`EncodedBatch`) until it
has reached the device, where :func:`simclr.data.device_decode.decode_batch` decodes it. A file
the device would not decode as PIL does (not a JPEG by its magic bytes, CMYK, more pixels than
``PIL.Image.MAX_IMAGE_PIXELS``, a header PIL cannot read) is decoded by PIL in the worker
exactly as with ``data.decode=workers``, so either setting gives the same images.
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from simclr.data.images import PreparedImages, collate
from simclr.preprocess import UNREADABLE_IMAGE

JPEG_MAGIC = b"\xff\xd8\xff"  # start of image, then the first marker
DEVICE_MODES = ("L", "RGB")  # grey and YCbCr JPEGs: torchvision decodes them as PIL does


def read_jpeg(path: str | Path) -> torch.Tensor | None:
    """The bytes of the file ``path`` as a 1-D uint8 tensor when the device can decode it as PIL
    would: a JPEG by its magic bytes, grey or colour (YCbCr), whose header PIL reads and whose
    pixel count is at most ``PIL.Image.MAX_IMAGE_PIXELS``; None for any other file."""
    try:
        with open(path, "rb") as file:
            if file.read(len(JPEG_MAGIC)) != JPEG_MAGIC:
                return None
            file.seek(0)
            data = bytearray(file.read())
    except OSError:
        return None  # PIL, in the worker, names the file and its error
    return torch.frombuffer(data, dtype=torch.uint8) if _header_fits(data) else None


def _header_fits(data: bytearray) -> bool:
    """Whether the JPEG ``data`` is grey or colour and within PIL's decompression-bomb limit,
    read from its header alone (PIL parses up to the frame header, decoding nothing)."""
    try:
        with warnings.catch_warnings():
            # PIL warns again when the worker decodes the file; the warning belongs there
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                mode, (width, height) = image.mode, image.size
    except UNREADABLE_IMAGE:
        return False
    limit = Image.MAX_IMAGE_PIXELS
    return mode in DEVICE_MODES and (limit is None or width * height <= limit)


@dataclass(frozen=True)
class EncodedImage:
    """One JPEG file as it is on disk, and what the device is to make of it."""

    data: torch.Tensor  # 1-D uint8: the file's bytes
    label: int
    file: str
    image_size: int
    channels: int


@dataclass(frozen=True)
class EncodedBatch:
    """A loader's batch of B images of which some are JPEG files still encoded.

    ``jpegs`` holds the files' bytes end to end (one tensor crosses from a worker process, not
    one per file) and stays on the CPU: torchvision's decoders read their input there, whatever
    device they decode to. ``.to(device)`` (Lightning's transfer) and ``.pin_memory()`` (the
    DataLoader's) move or pin the rest.
    """

    jpegs: torch.Tensor  # (total bytes,) uint8
    jpeg_sizes: list[int]  # the bytes of each file, in batch order
    files: list[str]  # the path of each file, for warnings
    images: torch.Tensor  # (B - files, channels, S, S) uint8: those the workers decoded
    is_jpeg: torch.Tensor  # (B,) bool, on the CPU: which positions ``jpegs`` fills
    labels: torch.Tensor  # (B,)
    image_size: int
    channels: int

    def jpeg_bytes(self) -> list[torch.Tensor]:
        """Each file's bytes, a 1-D uint8 view of ``jpegs``."""
        return list(self.jpegs.split(self.jpeg_sizes))

    def to(self, device: torch.device | str, non_blocking: bool | None = None) -> EncodedBatch:
        """This batch with its decoded images and labels on ``device``; the bytes stay."""
        if non_blocking is None:  # as Lightning moves plain tensors: asynchronous to a GPU
            non_blocking = torch.device(device).type == "cuda"
        images = self.images.to(device, non_blocking=non_blocking)
        labels = self.labels.to(device, non_blocking=non_blocking)
        return dataclasses.replace(self, images=images, labels=labels)

    def pin_memory(self) -> EncodedBatch:
        """This batch with the tensors that are copied to the device in page-locked memory."""
        images, labels = self.images.pin_memory(), self.labels.pin_memory()
        return dataclasses.replace(self, images=images, labels=labels)


class EncodedImages(Dataset):
    """A folder split (``prepared``, of an image folder or a subset of one) whose JPEG files the
    workers hand over as :class:`EncodedImage`; every other file is decoded by ``prepared``, in
    the worker, as before (None when it cannot be)."""

    def __init__(self, prepared: PreparedImages) -> None:
        self.prepared = prepared
        self.files = prepared.source.files

    def __len__(self) -> int:
        return len(self.prepared)

    @property
    def labels(self) -> torch.Tensor:
        return self.prepared.labels

    @property
    def classes(self) -> list[str]:
        return self.prepared.classes

    def __getitem__(self, index: int) -> EncodedImage | tuple[torch.Tensor, int] | None:
        path = self.files[index]
        data = read_jpeg(path)
        if data is None:
            return self.prepared[index]
        prepared = self.prepared
        label = int(self.labels[index])
        return EncodedImage(data, label, str(path), prepared.image_size, prepared.channels)


def collate_encoded(samples: list) -> EncodedBatch | tuple | list | None:
    """The batch of :class:`EncodedImages`' samples: an :class:`EncodedBatch` when some are
    encoded, else what :func:`simclr.data.images.collate` makes (None when none was read)."""
    kept = [sample for sample in samples if sample is not None]
    encoded = [sample for sample in kept if isinstance(sample, EncodedImage)]
    if not encoded:
        return collate(kept)
    decoded = [sample for sample in kept if not isinstance(sample, EncodedImage)]
    first = encoded[0]
    if decoded:
        images = torch.stack([image for image, _ in decoded])
    else:
        size = first.image_size
        images = torch.empty((0, first.channels, size, size), dtype=torch.uint8)
    is_jpeg = torch.tensor([isinstance(sample, EncodedImage) for sample in kept])
    labels = [sample.label if isinstance(sample, EncodedImage) else sample[1] for sample in kept]
    return EncodedBatch(
        jpegs=torch.cat([sample.data for sample in encoded]),
        jpeg_sizes=[len(sample.data) for sample in encoded],
        files=[sample.file for sample in encoded],
        images=images,
        is_jpeg=is_jpeg,
        labels=torch.tensor(labels, dtype=torch.long),
        image_size=first.image_size,
        channels=first.channels,
    )


def decoded_where(dataset: Dataset, decode: str, cuda: bool) -> Dataset:
    """``dataset`` as a loader reads it under ``data.decode=decode``: a split of an image folder
    as :class:`EncodedImages` for ``device``, and for ``auto`` when the accelerator is a CUDA
    GPU (``cuda``); any other dataset, and every dataset for ``workers``, as it is."""
    files = getattr(dataset.source, "files", None) if isinstance(dataset, PreparedImages) else None
    on_device = decode == "device" or (decode == "auto" and cuda)
    return EncodedImages(dataset) if files is not None and on_device else dataset
