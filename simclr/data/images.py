"""The dataset classes every split is read into, and the collate function of their loaders
(a folder whose JPEG files reach the device encoded has its own: :mod:`simclr.data.encoded`).

Images are uint8 tensors (C, H, W) with an integer label (-1 where there is none). A batch of
images held in memory is one gather (:class:`GatheredBatch`); images read from files are decoded
one by one, and an unreadable file is skipped with a warning naming it, never stopping an epoch.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from PIL import Image, features
from torch.utils.data import Dataset, Subset
from torch.utils.data._utils.collate import default_collate

from simclr.errors import DataError
from simclr.preprocess import UNREADABLE_IMAGE, decode_image, prepare_image

PREPARE_CHUNK = 4096  # images resized at once when an in-memory split is prepared


class GatheredBatch(tuple):
    """A batch gathered in one indexing operation from images held in memory: already collated,
    e.g. (images, labels)."""


class ArrayImages(Dataset):
    """Images held in memory as one uint8 tensor (N, C, H, W), with labels (N,)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str] = ()):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DataError(
                f"expected uint8 images (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        self.images, self.labels, self.classes = images, labels.long(), list(classes)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def __getitems__(self, indices: Sequence[int]) -> GatheredBatch:
        """A DataLoader batch as one gather (torch's batched fetch), not N lookups and a stack."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return GatheredBatch((self.images[index], self.labels[index]))

    def subset(self, indices: Sequence[int]) -> ArrayImages:
        index = torch.as_tensor(indices, dtype=torch.long)
        return ArrayImages(self.images[index], self.labels[index], self.classes)

    def prepared(self, image_size: int, channels: int) -> ArrayImages:
        """These images in ``channels`` channels at ``image_size``, converted once, in chunks."""
        images = self.images
        if images.shape[1] != channels or tuple(images.shape[-2:]) != (image_size, image_size):
            chunks = images.split(PREPARE_CHUNK)
            images = torch.cat([prepare_image(chunk, image_size, channels) for chunk in chunks])
        return ArrayImages(images, self.labels, self.classes)


def _pillow_reads(extension: str) -> bool:
    Image.init()  # registers every format plugin, WebP among them where Pillow has it
    return extension in Image.registered_extensions() and (
        extension != ".webp" or features.check("webp")
    )


# torchvision's image files, and GIF (its first frame), those of them this Pillow reads
IMAGE_EXTENSIONS = tuple(
    extension
    for extension in (*torchvision.datasets.folder.IMG_EXTENSIONS, ".gif")
    if _pillow_reads(extension)
)


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(IMAGE_EXTENSIONS)


def holds_images(folder: Path) -> bool:
    """Whether an image file lies anywhere below ``folder`` (stops at the first)."""
    return any(is_image_file(p) for p in folder.rglob("*"))


def no_images_found(*folders: Path) -> str:
    """What lies below ``folders``, which hold no image file, and what is accepted: "holds no
    image files (found 3 .txt, 1 without extension; images are .jpg, ...)"."""
    files = (p for folder in folders for p in folder.rglob("*") if p.is_file())
    counts = Counter(p.suffix.lower() or "without extension" for p in files)
    found = ", ".join(f"{count} {suffix}" for suffix, count in sorted(counts.items()))
    accepted = ", ".join(IMAGE_EXTENSIONS)
    return f"holds no image files (found {found or 'no files'}; images are {accepted})"


class ImageFolder(Dataset):
    """Every image file below ``path``; an immediate subfolder holding images is a class.

    Files directly in ``path`` (or all files, when there are no class folders) get label -1.
    An image file is one of :data:`IMAGE_EXTENSIONS` (GIF and WebP among them). Images of any
    size and colour mode are decoded into ``channels`` channels as a person sees them
    (:func:`simclr.preprocess.decode_image`). A file that cannot be decoded is skipped with a
    warning naming it (``__getitem__`` returns None, which :func:`collate` drops), so a corrupt
    file never stops an epoch.
    """

    def __init__(self, path: str | Path, channels: int = 3) -> None:
        self.root = Path(path)
        if not self.root.is_dir():
            raise DataError(f"data.path={str(path)!r} is not a directory")
        files = sorted(p for p in self.root.rglob("*") if is_image_file(p))
        if not files:
            raise DataError(f"data.path={str(path)!r} {no_images_found(self.root)}")
        class_of = {p: p.relative_to(self.root).parts[0] for p in files if p.parent != self.root}
        self.classes = sorted(set(class_of.values()))
        index = {name: i for i, name in enumerate(self.classes)}
        self.files = files
        self.labels = torch.tensor([index[class_of[p]] if p in class_of else -1 for p in files])
        self.channels = channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | None:
        path = self.files[index]
        try:
            image = decode_image(path, self.channels)
        except UNREADABLE_IMAGE as error:
            warnings.warn(f"skipping unreadable image {path}: {error}", stacklevel=2)
            return None
        return image, int(self.labels[index])


class LabelledSubset(Subset):
    """A subset of an image folder that keeps its ``labels``, ``classes`` and ``files``."""

    def __init__(self, dataset: Dataset, indices: list[int]) -> None:
        super().__init__(dataset, indices)
        self.labels = dataset.labels[torch.tensor(indices, dtype=torch.long)]
        self.classes = getattr(dataset, "classes", [])
        files = getattr(dataset, "files", None)
        self.files = None if files is None else [files[i] for i in indices]


class PreparedImages(Dataset):
    """A split's images as uint8 (channels, image_size, image_size): the only work of workers.

    Converts the channel count (grey -> RGB by copy, RGB -> grey by luminance), then resizes
    the shorter side to ``image_size`` and centre-crops a square when the size differs.
    """

    def __init__(self, source: Dataset, image_size: int, channels: int) -> None:
        self.source, self.image_size, self.channels = source, image_size, channels

    def __len__(self) -> int:
        return len(self.source)

    @property
    def labels(self) -> torch.Tensor:
        return self.source.labels

    @property
    def classes(self) -> list[str]:
        return list(getattr(self.source, "classes", []) or [])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | None:
        sample = self.source[index]
        if sample is None:
            return None
        image, label = sample
        return prepare_image(image, self.image_size, self.channels), label


def collate(samples: list | GatheredBatch) -> tuple | list | None:
    """A loader's batch: a gathered batch as it is; otherwise the samples that could be read,
    collated by torch's default, or None when none of them could."""
    if isinstance(samples, GatheredBatch):
        return tuple(samples)
    kept = [sample for sample in samples if sample is not None]
    return default_collate(kept) if kept else None


def num_classes_of(dataset: Dataset) -> int:
    """The number of classes of a labelled split (largest label + 1); 0 when unlabelled."""
    labels = dataset.labels
    return int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
