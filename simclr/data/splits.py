"""A configured split: read by its registered reader, subset, converted to ``image_size``."""

from __future__ import annotations

import functools

import torch

from simclr.data.config import DataConfig, resolved_channels, resolved_spec
from simclr.data.held_out import VAL_SPLIT, held_out_fraction, held_out_rows, source_split
from simclr.data.images import ArrayImages, ImageFolder, LabelledSubset, PreparedImages
from simclr.errors import DataError


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
    config: DataConfig,
    split: str,
    subset: float | None = None,
    seed: int = 0,
    with_held_out: bool = False,
) -> ArrayImages | PreparedImages:
    """The images of ``split`` as uint8 (C, image_size, image_size) with labels: in-memory
    datasets converted once (:class:`ArrayImages`), folders converted per image. A split that
    holds the validation rows is read without them unless ``with_held_out``
    (:mod:`simclr.data.held_out`); ``subset`` is then drawn from what is left."""
    source = _chosen_rows(config, split, subset, seed, with_held_out)
    channels = resolved_channels(config)
    if isinstance(source, ArrayImages):
        return source.prepared(config.image_size, channels)
    return PreparedImages(source, config.image_size, channels)


def split_labels(
    config: DataConfig, split: str, subset: float | None = None, seed: int = 0
) -> torch.Tensor:
    """The labels of the rows :func:`load_split` gives, without converting their images."""
    return _chosen_rows(config, split, subset, seed).labels


def _chosen_rows(
    config: DataConfig, split: str, subset: float | None, seed: int, with_held_out: bool = False
) -> ArrayImages | ImageFolder | LabelledSubset:
    """The rows of ``split`` as read (held-out rows and ``subset`` applied), not yet converted."""
    spec = resolved_spec(config)
    if split not in spec.splits:
        raise DataError(
            f"split {split!r} of {config.name} is unknown: allowed: {', '.join(spec.splits)}"
        )
    read = functools.partial(
        spec.read,
        root=config.root,
        download=config.download,
        path=config.path,
        channels=config.channels or 3,
        val_fraction=config.val_fraction,
    )
    source = read(source_split(spec, split))
    fraction = held_out_fraction(config.val_fraction, spec)
    if fraction and (split == VAL_SPLIT or (split in spec.held_out_within and not with_held_out)):
        training = source if split in (VAL_SPLIT, spec.held_out_from) else read(spec.held_out_from)
        source = _held_out_part(source, training.labels, fraction, split == VAL_SPLIT)
    indices = subset_indices(len(source), subset, seed)
    if indices is None:
        return source
    return (
        source.subset(indices)
        if isinstance(source, ArrayImages)
        else LabelledSubset(source, indices)
    )


def _held_out_part(
    source: ArrayImages, training_labels: torch.Tensor, fraction: float, val: bool
) -> ArrayImages:
    """The val rows of ``source`` (the training split), or ``source`` without them: the training
    split's rows come first in every split that holds them (STL-10's train+unlabeled)."""
    kept, held = held_out_rows(training_labels, fraction)
    if val:
        return source.subset(held)
    return source.subset([*kept, *range(len(training_labels), len(source))])
