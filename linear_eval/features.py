"""Frozen representations h = f(x) of a dataset split, extracted once and cached on disk.

Extraction follows the linear evaluation protocol (SimCLR section 4, appendix B.6): f in eval
mode, no gradient, and no augmentation beyond resizing to ``data.image_size`` and normalising.
Features stream batch by batch into a memory-mapped ``.npy`` file, so a split larger than RAM
can be extracted; the directory is written under a temporary name and renamed when complete, so
an interrupted extraction never leaves a cache that looks finished.

The cache key is the sha256 of the extractor's weight fingerprint, the dataset (name, split,
subset, and for image folders every file's path, size and modification time) and the
preprocessing (image size, channels, mean, std). Changing any of them, a new checkpoint
included, gives a new key: stale features are never served.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate
from tqdm.auto import tqdm

from linear_eval.config import EvalConfig, FeaturesConfig
from linear_eval.encoders import FeatureExtractor, frozen
from linear_eval.feature_rows import FeatureRows
from simclr.atomic import remove_stale_temporaries, sha256_of
from simclr.augment import Normalize
from simclr.data import (
    ArrayImages,
    PreparedImages,
    load_split,
    loader_workers,
    normalization,
    resolved_channels,
)

CACHE_VERSION = 2  # 2: meta.json holds each array's sha256 and shape
PARTIAL_MARK = ".partial-"  # a cache being written: <key>.partial-<pid>, renamed when complete
ARRAYS = ("features.npy", "labels.npy", "indices.npy")


@dataclass(frozen=True)
class Preprocessing:
    """What is done to an image before f: resize to a square, convert channels, normalise."""

    image_size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    normalize: bool

    @classmethod
    def from_config(cls, config: EvalConfig) -> Preprocessing:
        mean, std = normalization(config.data, config.normalize.mean, config.normalize.std)
        channels = resolved_channels(config.data)
        enabled = config.normalize.enabled
        return cls(config.data.image_size, channels, tuple(mean), tuple(std), enabled)

    def module(self) -> Normalize:
        return Normalize(self.mean, self.std, enabled=self.normalize)


@dataclass
class Features:
    """Representations (N, D) float32 (memory-mapped), labels (N,) and dataset indices (N,)."""

    representation: np.ndarray
    labels: np.ndarray
    indices: np.ndarray  # row i is image indices[i] of the split (unreadable files are skipped)
    meta: dict
    directory: Path
    from_cache: bool

    @property
    def paths(self) -> list[str] | None:
        """For an image folder, the file of each row."""
        files = self.meta.get("files")
        return None if files is None else [files[i] for i in self.indices]

    @property
    def classes(self) -> list[str]:
        return list(self.meta.get("classes", []))

    def __len__(self) -> int:
        return len(self.representation)


def files_of(dataset: ArrayImages | PreparedImages) -> list[Path] | None:
    """The image files of a folder split (after its subset), or None for array datasets."""
    source = getattr(dataset, "source", dataset)
    if hasattr(source, "files"):
        return list(source.files)
    if hasattr(source, "dataset") and hasattr(source.dataset, "files"):
        return [source.dataset.files[i] for i in source.indices]
    return None


def classes_of(dataset: ArrayImages | PreparedImages) -> list[str]:
    return list(dataset.classes or [])


def cache_key(
    extractor: FeatureExtractor,
    config: EvalConfig,
    split: str,
    subset: float | None,
    preprocessing: Preprocessing,
    files: Sequence[Path] | None,
) -> str:
    """sha256 of everything the cached features depend on."""
    listing = None
    if files is not None:
        digest = hashlib.sha256()
        for path in files:
            stat = path.stat()
            digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        listing = digest.hexdigest()
    content = {
        "version": CACHE_VERSION,
        "encoder": extractor.fingerprint,
        "dataset": config.data.name,
        "split": split,
        "subset": subset,
        "subset_seed": config.seed if subset is not None else None,
        "files": listing,
        "preprocessing": asdict(preprocessing),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


class _Indexed(Dataset):
    """(image, label, index) of a prepared split; None for an unreadable image."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        sample = self.dataset[index]
        return None if sample is None else (*sample, index)

    def __getitems__(self, indices: list[int]) -> tuple | list:
        """In-memory images: the batch (images, labels, indices) in one gather."""
        if isinstance(self.dataset, ArrayImages):
            return (*self.dataset.__getitems__(indices), torch.as_tensor(indices))
        return [self[index] for index in indices]


def _collate(samples: tuple | list):
    if isinstance(samples, tuple):  # gathered at once, already a batch
        return samples
    kept = [s for s in samples if s is not None]
    return default_collate(kept) if kept else None


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cache_problem(directory: Path) -> str | None:
    """Why the cache in ``directory`` cannot be used (a file missing, cut or altered), or None.

    Every array is checked against the shape and sha256 recorded when it was written, so a
    cache overwritten with other bytes of the same size is caught too.
    """
    try:
        meta = json.loads((directory / "meta.json").read_text())
        recorded = meta["arrays"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"meta.json is missing or damaged ({type(error).__name__})"
    for name in ARRAYS:
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        try:
            shape = list(np.load(path, mmap_mode="r").shape)
        except (OSError, ValueError) as error:
            return f"{name} is not a readable array ({type(error).__name__})"
        if shape != recorded[name]["shape"] or sha256_of(path) != recorded[name]["sha256"]:
            return f"{name} is not the array that was written (shape or sha256 differs)"
    return None


def load_cached(directory: Path) -> Features:
    meta = json.loads((directory / "meta.json").read_text())
    return Features(
        np.load(directory / "features.npy", mmap_mode="r"),
        np.load(directory / "labels.npy"),
        np.load(directory / "indices.npy"),
        meta,
        directory,
        from_cache=True,
    )


def extract_features(
    extractor: FeatureExtractor,
    config: EvalConfig,
    split: str,
    subset: float | None,
    cache_dir: str | Path,
) -> Features:
    """h = f(x) for every image of ``split`` (``subset`` of it), from the cache when present."""
    dataset = load_split(config.data, split, subset, seed=config.seed)
    preprocessing = Preprocessing.from_config(config)
    files = files_of(dataset)
    key = cache_key(extractor, config, split, subset, preprocessing, files)
    directory = Path(cache_dir) / key
    if directory.exists():
        problem = cache_problem(directory)
        if problem is None:
            return load_cached(directory)
        warnings.warn(f"feature cache {directory}: {problem}; recomputing it", stacklevel=2)
        _remove(directory)

    meta = {
        "key": key,
        "extractor": extractor.name,
        "encoder_fingerprint": extractor.fingerprint,
        "encoder": extractor.description,
        "dataset": config.data.name,
        "data_path": config.data.path,
        "split": split,
        "subset": subset,
        "preprocessing": asdict(preprocessing),
        "classes": classes_of(dataset),
        "files": None if files is None else [str(p) for p in files],
    }
    partial = Path(cache_dir) / f"{key}{PARTIAL_MARK}{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    remove_stale_temporaries(cache_dir, PARTIAL_MARK)  # extractions killed earlier
    try:
        _write(extractor, dataset, preprocessing, config, partial, meta)
        try:
            os.rename(partial, directory)
        except OSError:  # another process finished the same features first
            if not (directory / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    features = load_cached(directory)
    features.from_cache = False
    return features


def _write(
    extractor: FeatureExtractor,
    dataset: ArrayImages | PreparedImages,
    preprocessing: Preprocessing,
    config: EvalConfig,
    directory: Path,
    meta: dict,
) -> None:
    device = select_device(config.features.device)
    normalize = preprocessing.module()
    loader = DataLoader(
        _Indexed(dataset),
        batch_size=config.features.batch_size,
        shuffle=False,
        num_workers=loader_workers(config.features.num_workers, dataset),
        collate_fn=_collate,
    )
    start = time.perf_counter()
    description = f"{extractor.name}: {config.data.name}/{split_label(meta)}"
    if config.features.devices > 1:
        from linear_eval.sharded import extract_sharded

        written = extract_sharded(
            extractor.model, normalize, loader, directory, config.features, device, description
        )
    else:
        written = _extract_here(
            extractor.model, normalize, loader, directory, config.features, device, description
        )
    if written == 0:
        raise ValueError(f"no readable image in {config.data.name}/{meta['split']}")
    if written < len(dataset):
        skipped = len(dataset) - written
        warnings.warn(f"{description}: skipped {skipped} of {len(dataset)} images", stacklevel=2)
    meta["arrays"] = {
        name: {
            "shape": list(np.load(directory / name, mmap_mode="r").shape),
            "sha256": sha256_of(directory / name),
        }
        for name in ARRAYS
    }
    meta.update(count=written, feature_dim=meta["arrays"]["features.npy"]["shape"][1])
    meta["seconds"] = round(time.perf_counter() - start, 3)
    (directory / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


def _extract_here(
    model: torch.nn.Module,
    normalize: torch.nn.Module,
    loader: DataLoader,
    directory: Path,
    config: FeaturesConfig,
    device: torch.device,
    description: str = "",
) -> int:
    """Features of every batch of ``loader`` in this process, in order; the rows written."""
    model, normalize = model.to(device), normalize.to(device)
    rows = FeatureRows(directory, len(loader.dataset))
    batches = tqdm(loader, desc=description, disable=not config.progress_bar)
    with frozen(model):
        for batch in batches:
            if batch is None:
                continue
            images, labels, indices = batch
            representation = model(normalize(images.to(device))).float().cpu().numpy()
            rows.append(representation, labels.numpy(), indices.numpy())
    return rows.close()


def _remove(directory: Path) -> None:
    """Move a damaged cache aside first, so that a reader never sees it half deleted."""
    doomed = directory.with_name(f"{directory.name}.damaged-{os.getpid()}")
    os.replace(directory, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def split_label(meta: dict) -> str:
    subset = meta.get("subset")
    return meta["split"] if subset is None else f"{meta['split']}[{subset:g}]"
