"""Datasets by name, and the LightningDataModule that feeds uint8 batches to pretraining.

Every dataset is one entry of :data:`DATASETS`: a reader that returns the images of a split as
uint8 tensors (C, H, W) with integer labels (-1 where there is none), the dataset's channel
count, its normalisation statistics and the names of its splits. Adding a dataset is adding an
entry; nothing else changes.

Datasets held in memory (Fashion-MNIST, CIFAR, STL-10) are converted to the configured channels
and ``image_size`` once, when loaded, and a batch is one gather from that uint8 tensor
(``ArrayImages.__getitems__``), so they need no DataLoader workers. Image folders are decoded,
converted and resized per image in workers. Either way the loader hands over uint8 tensors; all
augmentation happens on the accelerator (:mod:`simclr.augment`).
"""

from __future__ import annotations

import os
import pickle
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import lightning as L
import numpy as np
import torch
import torchvision
import torchvision.transforms.v2.functional as TF
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from torch.utils.data._utils.collate import default_collate
from torchvision.datasets.utils import download_and_extract_archive, extract_archive

from simclr.config import DataConfig
from simclr.plain_pickle import UnsafePickle, load_plain_pickle
from simclr.sampling import EpochSampler

FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
PREPARE_CHUNK = 4096  # images resized at once when an in-memory split is prepared
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# what PIL raises for a file it cannot decode: corrupt, truncated, not an image, or a
# decompression bomb (more pixels than Image.MAX_IMAGE_PIXELS, PIL's guard)
UNREADABLE_IMAGE = (
    OSError,
    UnidentifiedImageError,
    ValueError,
    SyntaxError,
    Image.DecompressionBombError,
)


class DataError(ValueError):
    """A dataset cannot be read as configured; the message is one line naming what is wrong."""


class ImageBatch(NamedTuple):
    """A batch gathered in one indexing operation from images held in memory."""

    images: torch.Tensor
    labels: torch.Tensor


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

    def __getitems__(self, indices: Sequence[int]) -> ImageBatch:
        """A DataLoader batch as one gather (torch's batched fetch), not N lookups and a stack."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return ImageBatch(self.images[index], self.labels[index])

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


class ImageFolder(Dataset):
    """Every image file below ``path``; an immediate subfolder holding images is a class.

    Files directly in ``path`` (or all files, when there are no class folders) get label -1.
    Images of any size and colour mode are decoded with PIL into ``channels`` channels. A file
    that cannot be decoded is skipped with a warning naming it (``__getitem__`` returns None,
    which :func:`collate_skipping_unreadable` drops), so a corrupt file never stops an epoch.
    """

    def __init__(self, path: str | Path, channels: int = 3) -> None:
        self.root = Path(path)
        if not self.root.is_dir():
            raise DataError(f"data.path={str(path)!r} is not a directory")
        extensions = tuple(torchvision.datasets.folder.IMG_EXTENSIONS)
        files = sorted(
            p for p in self.root.rglob("*") if p.is_file() and p.name.lower().endswith(extensions)
        )
        if not files:
            raise DataError(f"data.path={str(path)!r} holds no images ({', '.join(extensions)})")
        class_of = {p: p.relative_to(self.root).parts[0] for p in files if p.parent != self.root}
        self.classes = sorted(set(class_of.values()))
        index = {name: i for i, name in enumerate(self.classes)}
        self.files = files
        self.labels = torch.tensor([index[class_of[p]] if p in class_of else -1 for p in files])
        self.mode = "L" if channels == 1 else "RGB"

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | None:
        path = self.files[index]
        try:
            with Image.open(path) as image:
                image = image.convert(self.mode)
                array = np.asarray(image, dtype=np.uint8)
        except UNREADABLE_IMAGE as error:
            warnings.warn(f"skipping unreadable image {path}: {error}", stacklevel=2)
            return None
        tensor = torch.from_numpy(array.copy())
        tensor = tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)
        return tensor, int(self.labels[index])


def collate_skipping_unreadable(samples: list | ImageBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Default collation after dropping the ``None`` of images that could not be read; a batch
    gathered at once from memory is already collated."""
    if isinstance(samples, ImageBatch):
        return samples.images, samples.labels
    kept = [s for s in samples if s is not None]
    if not kept:
        return torch.empty(0, dtype=torch.uint8), torch.empty(0, dtype=torch.long)
    return default_collate(kept)


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


def prepare_image(image: torch.Tensor, image_size: int, channels: int) -> torch.Tensor:
    """uint8 (..., C, H, W) -> uint8 (..., channels, image_size, image_size): one image or a
    batch."""
    if image.shape[-3] != channels:
        if channels == 3:
            image = image.expand(*image.shape[:-3], 3, -1, -1)
        else:
            image = TF.rgb_to_grayscale(image[..., :3, :, :])
    if tuple(image.shape[-2:]) != (image_size, image_size):
        image = TF.resize(image, image_size, antialias=True)
        image = TF.center_crop(image, [image_size, image_size])
    return image.contiguous()


# ----------------------------------------------------------------------------- readers


def _trusting_files_on_disk(cls: type) -> type:
    """A torchvision dataset class that accepts its files when they are present.

    torchvision checks every file against the md5 of the official archive; re-packed copies and
    the small files the tests write in the same format would be refused. Downloading still
    happens when a file is missing.
    """

    def files_present(self) -> bool:
        names = [name for name, _ in self.train_list + self.test_list]
        return all(os.path.isfile(os.path.join(self.root, self.base_folder, n)) for n in names)

    return type(cls.__name__, (cls,), {"_check_integrity": files_present})


_STL10 = _trusting_files_on_disk(torchvision.datasets.STL10)


def _torchvision_error(name: str, root: str, error: Exception) -> DataError:
    message = str(error).splitlines()[0]
    return DataError(f"cannot read {name} under data.root={root!r}: {message}")


def read_fashion_mnist(config: DataConfig, split: str) -> ArrayImages:
    """Fashion-MNIST; the IDX files of Debian's ``dataset-fashion-mnist`` are used when present."""
    raw = Path(config.root) / "FashionMNIST" / "raw"
    if FASHION_MNIST_SYSTEM_DIR.is_dir():
        raw.mkdir(parents=True, exist_ok=True)
        for archive in FASHION_MNIST_SYSTEM_DIR.glob("*-ubyte.gz"):
            target = raw / archive.name.removesuffix(".gz")
            if not target.exists():
                # each process of a multi-device run extracts on its own; a rename is atomic,
                # so no process reads another's half-written file
                partial = raw / f".extract-{os.getpid()}"
                partial.mkdir(exist_ok=True)
                extract_archive(str(archive), str(partial))
                os.replace(partial / target.name, target)
                shutil.rmtree(partial, ignore_errors=True)
    try:
        dataset = torchvision.datasets.FashionMNIST(
            config.root, train=split == "train", download=config.download
        )
    except (RuntimeError, OSError) as error:
        raise _torchvision_error("fashion_mnist", config.root, error) from None
    return ArrayImages(dataset.data.unsqueeze(1), dataset.targets, dataset.classes)


def _read_cifar(cls: type, name: str) -> Callable[[DataConfig, str], ArrayImages]:
    def read(config: DataConfig, split: str) -> ArrayImages:
        folder = Path(config.root) / cls.base_folder
        names = [file for file, _ in (cls.train_list if split == "train" else cls.test_list)]
        if not all((folder / file).is_file() for file in names):
            if not config.download:
                raise DataError(
                    f"cannot read {name} under data.root={config.root!r}: {folder} lacks "
                    f"{', '.join(names)} (data.download=false)"
                )
            try:  # torchvision checks the archive's md5
                download_and_extract_archive(cls.url, config.root, None, cls.filename, cls.tgz_md5)
            except (RuntimeError, OSError) as error:
                raise _torchvision_error(name, config.root, error) from None
        batches = [_plain_pickle(folder / file, name) for file in names]
        labels = [label for b in batches for label in b.get("labels", b.get("fine_labels", []))]
        images = np.concatenate([b["data"] for b in batches]).reshape(-1, 3, 32, 32)
        meta = folder / cls.meta["filename"]
        classes = _plain_pickle(meta, name)[cls.meta["key"]] if meta.is_file() else []
        return ArrayImages(torch.from_numpy(images.copy()), torch.tensor(labels), classes)

    read.__doc__ = f"{name} from its official python-pickle batches, read without running code."
    return read


def _plain_pickle(path: Path, name: str) -> dict:
    try:
        return load_plain_pickle(path)
    except UnsafePickle as error:
        raise DataError(f"{name} file {path} is refused: {error}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, OSError) as error:
        raise DataError(f"{name} file {path} is not readable ({type(error).__name__})") from None


def read_stl10(config: DataConfig, split: str) -> ArrayImages:
    """STL-10 binary files; ``train+unlabeled`` adds the 100,000 unlabelled images (label -1)."""
    try:
        dataset = _STL10(config.root, split=split, download=config.download)
    except (RuntimeError, OSError) as error:
        raise _torchvision_error("stl10", config.root, error) from None
    images = torch.from_numpy(np.ascontiguousarray(dataset.data))
    return ArrayImages(images, torch.from_numpy(dataset.labels.astype(np.int64)), dataset.classes)


def read_folder(config: DataConfig, split: str) -> ImageFolder:
    """All images under ``data.path`` (one split: the folder itself)."""
    return ImageFolder(config.path, channels=config.channels or 3)


@dataclass(frozen=True)
class DatasetSpec:
    """One registered dataset: how to read a split, and what pretraining uses."""

    read: Callable[[DataConfig, str], Dataset]
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    splits: tuple[str, ...]
    pretrain_split: str
    eval_train_split: str | None  # labelled split that probes and kNN train on
    eval_test_split: str | None  # labelled split they are measured on


DATASETS: dict[str, DatasetSpec] = {
    "fashion_mnist": DatasetSpec(
        read_fashion_mnist, 1, (0.2860,), (0.3530,), ("train", "test"), "train", "train", "test"
    ),
    "cifar10": DatasetSpec(
        _read_cifar(torchvision.datasets.CIFAR10, "cifar10"),
        3,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        ("train", "test"),
        "train",
        "train",
        "test",
    ),
    "cifar100": DatasetSpec(
        _read_cifar(torchvision.datasets.CIFAR100, "cifar100"),
        3,
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
        ("train", "test"),
        "train",
        "train",
        "test",
    ),
    "stl10": DatasetSpec(
        read_stl10,
        3,
        (0.4467, 0.4398, 0.4066),
        (0.2603, 0.2566, 0.2713),
        ("train", "test", "unlabeled", "train+unlabeled"),
        "train+unlabeled",
        "train",
        "test",
    ),
    "folder": DatasetSpec(read_folder, 3, IMAGENET_MEAN, IMAGENET_STD, ("all",), "all", None, None),
}


def dataset_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DataError(f"data.name={name!r} is unknown: allowed: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def resolved_channels(config: DataConfig) -> int:
    return config.channels or dataset_spec(config.name).channels


def normalization(config: DataConfig, mean=None, std=None) -> tuple[list[float], list[float]]:
    """Per-channel mean and std for ``config``'s channel count (explicit values win)."""
    spec = dataset_spec(config.name)
    channels = resolved_channels(config)
    mean = list(mean) if mean is not None else list(spec.mean)
    std = list(std) if std is not None else list(spec.std)

    def fit(values: list[float]) -> list[float]:
        if len(values) == channels:
            return values
        if channels == 1:
            return [float(np.mean(values))]
        return values * 3

    return fit(mean), fit(std)


def subset_indices(size: int, subset: float | None, seed: int) -> list[int] | None:
    """A seeded random choice of ``subset`` (fraction or count) of ``range(size)``."""
    if subset is None:
        return None
    count = round(subset * size) if subset <= 1 else int(subset)
    if count > size:
        raise DataError(f"subset={subset:g} asks for {count} images but the split has {size}")
    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(size, generator=generator)[:count].tolist())


def load_split(
    config: DataConfig, split: str, subset: float | None = None, seed: int = 0
) -> ArrayImages | PreparedImages:
    """The images of ``split`` as uint8 (C, image_size, image_size) with labels: in-memory
    datasets converted once (:class:`ArrayImages`), folders converted per image."""
    spec = dataset_spec(config.name)
    if split not in spec.splits:
        raise DataError(
            f"split {split!r} of {config.name} is unknown: allowed: {', '.join(spec.splits)}"
        )
    source = spec.read(config, split)
    indices = subset_indices(len(source), subset, seed)
    channels = resolved_channels(config)
    if isinstance(source, ArrayImages):
        source = source if indices is None else source.subset(indices)
        return source.prepared(config.image_size, channels)
    if indices is not None:
        source = _SubsetWithLabels(source, indices)
    return PreparedImages(source, config.image_size, channels)


class _SubsetWithLabels(Subset):
    def __init__(self, dataset: Dataset, indices: list[int]) -> None:
        super().__init__(dataset, indices)
        self.labels = dataset.labels[torch.tensor(indices, dtype=torch.long)]
        self.classes = getattr(dataset, "classes", [])


def labels_of(dataset: ArrayImages | PreparedImages) -> torch.Tensor:
    return dataset.labels


def num_classes_of(dataset: ArrayImages | PreparedImages) -> int:
    labels = labels_of(dataset)
    return int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0


def loader_workers(requested: int | None, dataset: Dataset) -> int:
    """DataLoader worker processes: ``requested``, or for None (auto) none for images held in
    memory, whose batch is one gather in the main process (workers would only compete with the
    training step for the CPU), and one per available core, up to 8, for images decoded from
    files."""
    if requested is not None:
        return requested
    if isinstance(dataset, ArrayImages):
        return 0
    return min(8, len(os.sched_getaffinity(0)))


class SimCLRDataModule(L.LightningDataModule):
    """Training images for pretraining and, where labelled, a validation split for the probe."""

    def __init__(self, config: DataConfig, seed: int = 0) -> None:
        super().__init__()
        self.config, self.seed = config, seed
        self.spec = dataset_spec(config.name)
        self.train_set: ArrayImages | PreparedImages | None = None
        self.val_set: ArrayImages | PreparedImages | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        config = self.config
        self.train_set = load_split(config, self.spec.pretrain_split, config.subset, self.seed)
        if len(self.train_set) < config.batch_size:
            raise DataError(
                f"data.batch_size={config.batch_size} exceeds the {len(self.train_set)} training "
                "images: lower data.batch_size or enlarge data.subset"
            )
        if self.spec.eval_test_split is not None:
            self.val_set = load_split(
                config, self.spec.eval_test_split, config.val_subset, self.seed
            )

    @property
    def num_classes(self) -> int:
        """Classes the online probe predicts (0 when the training images have no labels)."""
        self.setup()
        return num_classes_of(self.train_set)

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        workers = loader_workers(self.config.num_workers, dataset)
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        if train:  # the order is a function of (seed, epoch, rank): see simclr.sampling
            sampler = EpochSampler(len(dataset), self.config.batch_size, self.seed, rank, world)
        elif world > 1:  # Lightning's own replacement is off for the training order's sake
            sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False)
        else:
            sampler = None
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            sampler=sampler,
            drop_last=train,  # every step contrasts a full batch of N images
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
            collate_fn=collate_skipping_unreadable,
            # its own generator: making an iterator must not draw from the views' random state
            generator=torch.Generator().manual_seed(self.seed),
        )

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader | list:
        self.setup()
        return [] if self.val_set is None else self._loader(self.val_set, train=False)
