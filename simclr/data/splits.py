"""A configured split: read by its registered reader, subset, converted to ``image_size``."""

from __future__ import annotations

import torch

from simclr.data.config import DataConfig, resolved_channels, resolved_spec
from simclr.data.images import ArrayImages, LabelledSubset, PreparedImages
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
    config: DataConfig, split: str, subset: float | None = None, seed: int = 0
) -> ArrayImages | PreparedImages:
    """The images of ``split`` as uint8 (C, image_size, image_size) with labels: in-memory
    datasets converted once (:class:`ArrayImages`), folders converted per image."""
    spec = resolved_spec(config)
    if split not in spec.splits:
        raise DataError(
            f"split {split!r} of {config.name} is unknown: allowed: {', '.join(spec.splits)}"
        )
    channels = resolved_channels(config)
    source = spec.read(
        split,
        root=config.root,
        download=config.download,
        path=config.path,
        channels=config.channels or 3,
        val_fraction=config.val_fraction,
    )
    indices = subset_indices(len(source), subset, seed)
    if isinstance(source, ArrayImages):
        source = source if indices is None else source.subset(indices)
        return source.prepared(config.image_size, channels)
    if indices is not None:
        source = LabelledSubset(source, indices)
    return PreparedImages(source, config.image_size, channels)
