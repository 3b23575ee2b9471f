"""Frozen representations h = f(x) of a dataset split, extracted once and cached on disk.

Extraction follows the linear evaluation protocol (SimCLR section 4, appendix B.6): f in eval
mode, no gradient, and no augmentation beyond resizing to ``data.image_size`` and normalising
(:mod:`linear_eval.features.preprocess`). Features stream batch by batch into a memory-mapped
``.npy`` file, so a split larger than RAM can be extracted; the directory is written under a
temporary name and renamed when complete, so an interrupted extraction never leaves a cache that
looks finished (:mod:`linear_eval.features.cache`). A folder's images are decoded by PIL in the
loader's workers whatever ``data.decode`` says: decoding JPEG files on the device
(:mod:`simclr.data.device_decode`) is pretraining's alone.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from linear_eval.config import EvalConfig, FeaturesConfig
from linear_eval.features.cache import (
    PARTIAL_MARK,
    Features,
    array_records,
    cache_key,
    cache_problem,
    load_cached,
    remove_damaged,
)
from linear_eval.features.encoders import FeatureExtractor, frozen
from linear_eval.features.preprocess import Preprocessing, select_device
from linear_eval.features.rows import PROGRESS_FILE, FeatureRows
from simclr.data.config import resolved_spec
from simclr.data.held_out import split_identity
from simclr.data.images import ArrayImages, GatheredBatch, PreparedImages, collate
from simclr.data.splits import load_split
from simclr.data.workers import loader_workers
from simclr.errors import DataError
from simclr.run.atomic import process_running, remove_stale_temporaries
from simclr.run.paths import check_folder_to_write, check_free_space


def files_of(dataset: ArrayImages | PreparedImages) -> list[Path] | None:
    """The image files of a folder split (after its subset), or None for array datasets."""
    files = getattr(getattr(dataset, "source", dataset), "files", None)
    return None if files is None else list(files)


def classes_of(dataset: ArrayImages | PreparedImages) -> list[str]:
    return list(dataset.classes or [])


class _Indexed(Dataset):
    """(image, label, index) of a prepared split; None for an unreadable image."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        sample = self.dataset[index]
        return None if sample is None else (*sample, index)

    def __getitems__(self, indices: list[int]) -> GatheredBatch | list:
        """In-memory images: the batch (images, labels, indices) in one gather."""
        if isinstance(self.dataset, ArrayImages):
            gathered = self.dataset.__getitems__(indices)
            return GatheredBatch((*gathered, torch.as_tensor(indices)))
        return [self[index] for index in indices]


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
    identity = split_identity(resolved_spec(config.data), split, config.data.val_fraction)
    key = cache_key(
        extractor.fingerprint,
        config.data.name,
        identity,
        subset,
        config.seed,
        preprocessing,
        files,
        config.features.dtype,
    )
    directory = Path(cache_dir) / key
    if directory.exists():
        problem = cache_problem(directory)
        if problem is None:
            return load_cached(directory)
        warnings.warn(f"feature cache {directory}: {problem}; recomputing it", stacklevel=2)
        remove_damaged(directory)

    meta = {
        "key": key,
        "extractor": extractor.name,
        "encoder_fingerprint": extractor.fingerprint,
        "encoder": extractor.description,
        "dataset": config.data.name,
        "data_path": config.data.path,
        "split": split,
        "split_identity": identity,
        "subset": subset,
        "preprocessing": asdict(preprocessing),
        "dtype": config.features.dtype,
        "classes": classes_of(dataset),
        "files": None if files is None else [str(p) for p in files],
    }
    partial = Path(cache_dir) / f"{key}{PARTIAL_MARK}{os.getpid()}"
    check_folder_to_write("features.cache_dir", cache_dir)
    resumable = Path(cache_dir).glob(f"{key}{PARTIAL_MARK}*/{PROGRESS_FILE}")
    if next(resumable, None) is None:  # a resumed extraction has its file allocated already
        # a full disk under the memory map is a SIGBUS: refused here, in one line
        need = cache_bytes(extractor, preprocessing, len(dataset), config.features.dtype)
        check_free_space("features.cache_dir", cache_dir, need)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    if not (partial / PROGRESS_FILE).is_file():  # else this process resumes its own
        shutil.rmtree(partial, ignore_errors=True)
        if not _adopt_interrupted(Path(cache_dir), key, partial):
            partial.mkdir(parents=True)
    # extractions killed before their first checkpoint (those with one wait to be resumed)
    remove_stale_temporaries(cache_dir, PARTIAL_MARK, keep=lambda p: (p / PROGRESS_FILE).is_file())
    try:
        _write(extractor, dataset, preprocessing, config, partial, meta)
        try:
            os.rename(partial, directory)
        except OSError:  # another process finished the same features first
            if not (directory / "meta.json").is_file():
                raise
    finally:  # a checkpointed extraction stays, to be resumed by the next one of its key
        if not (partial / PROGRESS_FILE).is_file():
            shutil.rmtree(partial, ignore_errors=True)
    features = load_cached(directory)
    features.from_cache = False
    return features


def cache_bytes(
    extractor: FeatureExtractor, preprocessing: Preprocessing, rows: int, dtype: str
) -> int:
    """The bytes the cache of ``rows`` images takes: features (rows x dim of ``dtype``; dim from
    the encoder, or C*H*W for raw pixels), labels and indices (int64)."""
    dim = getattr(extractor.model, "feature_dim", None)
    if dim is None:
        dim = preprocessing.channels * preprocessing.image_size**2
    return rows * (int(dim) * np.dtype(dtype).itemsize + 16)


def _adopt_interrupted(cache_dir: Path, key: str, partial: Path) -> bool:
    """Take over the folder of an extraction of ``key`` whose process is gone and that left a
    checkpoint (renamed to ``partial``, so no other process takes it too)."""
    for folder in sorted(cache_dir.glob(f"{key}{PARTIAL_MARK}*")):
        pid = folder.name.rsplit(PARTIAL_MARK, 1)[-1]
        if not pid.isdigit() or process_running(int(pid)) or not (folder / PROGRESS_FILE).is_file():
            continue
        try:
            os.rename(folder, partial)
        except OSError:  # another process adopted it first
            continue
        return True
    return False


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
        collate_fn=collate,
    )
    start = time.perf_counter()
    description = f"{extractor.name}: {config.data.name}/{split_label(meta)}"
    if config.features.devices > 1:
        from linear_eval.features.sharded import extract_sharded

        written = extract_sharded(
            extractor.model, normalize, loader, directory, config.features, device, description
        )
    else:
        resumed = FeatureRows.resume(directory, len(dataset))
        if resumed is not None:
            meta["resumed_at"] = resumed[1]
            print(f"{description}: resuming at image {resumed[1]:,} of {len(dataset):,}")
        written = _extract_here(
            extractor.model,
            normalize,
            loader,
            directory,
            config.features,
            device,
            description,
            resumed,
        )
    if written == 0:
        raise DataError(f"no readable image in {config.data.name}/{meta['split']}")
    if written < len(dataset):
        skipped = len(dataset) - written
        warnings.warn(f"{description}: skipped {skipped} of {len(dataset)} images", stacklevel=2)
    meta["arrays"] = array_records(directory)
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
    resumed: tuple[FeatureRows, int] | None = None,
) -> int:
    """Features of every batch of ``loader`` in this process, in order, from the checkpoint of
    ``resumed`` when given; a checkpoint every ``config.checkpoint_rows`` rows. The rows
    written."""
    model, normalize = model.to(device), normalize.to(device)
    total = len(loader.dataset)
    rows, start = resumed or (FeatureRows(directory, total, config.dtype), 0)
    if start > 0:  # the same loader settings over the images not read yet
        loader = DataLoader(
            Subset(loader.dataset, range(start, total)),
            batch_size=loader.batch_size,
            num_workers=loader.num_workers,
            collate_fn=loader.collate_fn,
        )
    batches = tqdm(loader, desc=description, disable=not config.progress_bar)
    checkpointed = rows.written
    with frozen(model):
        for number, batch in enumerate(batches, start=1):
            if batch is not None:
                images, labels, indices = batch
                representation = model(normalize(images.to(device))).float().cpu().numpy()
                rows.append(representation, labels.numpy(), indices.numpy())
            if rows.written - checkpointed >= config.checkpoint_rows:
                rows.checkpoint(min(total, start + number * loader.batch_size))
                checkpointed = rows.written
    return rows.close()


def split_label(meta: dict) -> str:
    subset = meta.get("subset")
    return meta["split"] if subset is None else f"{meta['split']}[{subset:g}]"
