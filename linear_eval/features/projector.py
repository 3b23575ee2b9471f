"""The files of TensorBoard's embedding projector for ``simclr embed --projector``.

Writes to a ``projector/`` folder, read by ``tensorboard --logdir FOLDER`` without TensorFlow:
``projector_config.pbtxt`` (TensorBoard's ``ProjectorConfig`` proto, written by its own
``visualize_embeddings``), ``tensors.tsv`` (one representation a line, tab-separated, exact
float32), ``metadata.tsv`` (a header, then each point's class, label, dataset index or image
path, and row of ``embeddings.npy``) and ``sprite.png`` (each point's image as a square thumbnail,
row-major in a square grid, as the projector reads it). More images than ``max_points`` are a
seeded random sample; the sprite stays within the 8192 px a side that the projector accepts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from linear_eval.config import EvalConfig
from linear_eval.features.cache import Features
from simclr.data.splits import load_split
from simclr.errors import ConfigError, printable

FOLDER = "projector"
TENSOR_NAME = "representation"
SPRITE_LIMIT = 8192  # px a side: the projector refuses a larger sprite image
DEFAULT_POINTS = 10_000  # the projector's t-SNE sample size: every point takes part in t-SNE
POINTS_LIMIT = 100_000  # the projector loads at most this many rows of a tensor
CHUNK = 4096


@dataclass(frozen=True)
class ProjectorSample:
    """The rows of ``embeddings.npy`` shown (ascending), drawn from ``total`` with ``seed``."""

    rows: np.ndarray
    total: int
    seed: int
    max_points: int

    @property
    def sampled(self) -> bool:
        return len(self.rows) < self.total


def check_max_points(option: str, value: int) -> None:
    """``value`` points can be shown: at least 1, at most what the projector loads."""
    if not 1 <= value <= POINTS_LIMIT:
        limit = f"must be in [1, {POINTS_LIMIT}], the most points the projector loads"
        raise ConfigError(f"{option} {value} is invalid: {limit}")


def sample_rows(total: int, max_points: int, seed: int) -> ProjectorSample:
    """Every row when ``total <= max_points``, else ``max_points`` rows drawn without
    replacement by numpy's generator seeded with ``seed``, in ascending order."""
    if total <= max_points:
        rows = np.arange(total)
    else:
        rows = np.sort(np.random.default_rng(seed).choice(total, max_points, replace=False))
    return ProjectorSample(rows, total, seed, max_points)


def grid_columns(points: int) -> int:
    """Thumbnails a side of the square sprite grid."""
    return max(1, math.ceil(math.sqrt(points)))


def thumbnail_side(points: int, image_side: int) -> int:
    """The thumbnail's side in px: the image's own, or less so the sprite fits 8192 px."""
    return max(1, min(image_side, SPRITE_LIMIT // grid_columns(points)))


def projector_bytes(points: int, dim: int, image_side: int, channels: int) -> int:
    """An upper bound on the bytes written: the TSVs and the sprite uncompressed."""
    side = grid_columns(points) * thumbnail_side(points, image_side)
    return points * (dim * 17 + 512) + side * side * channels


def export_projector(
    features: Features, config: EvalConfig, directory: str | Path, sample: ProjectorSample
) -> dict:
    """Write the projector files of the rows of ``sample`` to ``directory``; returns what
    ``meta.json`` records of them (the sample, the sprite's thumbnail and size)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rows = sample.rows
    image_side = int(features.meta["preprocessing"]["image_size"])
    side = thumbnail_side(len(rows), image_side)
    write_tensor(features, rows, directory / "tensors.tsv")
    write_metadata(features, rows, directory / "metadata.tsv")
    images = gallery_images(features, config, rows)
    sprite = write_sprite(images, len(rows), side, directory / "sprite.png")
    write_config(directory, (len(rows), features.representation.shape[1]), side)
    return {
        "folder": directory.name,
        "points": len(rows),
        "of": sample.total,
        "sampled": sample.sampled,
        "seed": sample.seed,
        "max_points": sample.max_points,
        "thumbnail_px": side,
        "sprite_px": sprite,
        "files": ["projector_config.pbtxt", "tensors.tsv", "metadata.tsv", "sprite.png"],
    }


def gallery_images(
    features: Features, config: EvalConfig, rows: np.ndarray
) -> Iterable[torch.Tensor]:
    """The uint8 (C, S, S) image of each of ``rows``, read as the features were extracted:
    the same split, subset and seed, preprocessed to the same size and channels."""
    meta = features.meta
    dataset = load_split(config.data, meta["split"], meta["subset"], seed=config.seed)
    return (dataset[int(features.indices[row])][0] for row in rows)


def write_tensor(features: Features, rows: np.ndarray, path: Path) -> None:
    """One representation a line, tab-separated; 9 significant digits read back exactly."""
    with path.open("w") as handle:
        for begin in range(0, len(rows), CHUNK):  # the source is memory-mapped
            chunk = features.representation[rows[begin : begin + CHUNK]]
            np.savetxt(handle, chunk, fmt="%.9g", delimiter="\t")


def write_metadata(features: Features, rows: np.ndarray, path: Path) -> None:
    """A header (the projector reads a first line with a tab as column names), then each
    point's class, label, dataset index or image path, and row of ``embeddings.npy``."""
    classes, paths = features.classes, features.paths
    item = "index" if paths is None else "path"
    lines = [f"class\tlabel\t{item}\trow\n"]
    for row in rows.tolist():
        label = int(features.labels[row])
        name = classes[label] if 0 <= label < len(classes) else ""
        key = int(features.indices[row]) if paths is None else paths[row]
        lines.append(f"{_field(name)}\t{label}\t{_field(str(key))}\t{row}\n")
    path.write_text("".join(lines))


def _field(text: str) -> str:
    # a tab or a line break inside a value would shift the projector's columns or rows
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def write_sprite(
    images: Iterable[torch.Tensor], count: int, side: int, path: Path
) -> tuple[int, int]:
    """The ``count`` images as ``side`` px thumbnails, row-major in a square grid of
    ceil(sqrt(count)) a side (empty cells black); returns the sprite's (width, height)."""
    columns = grid_columns(count)
    canvas = None
    for position, image in enumerate(images):
        picture = image.permute(1, 2, 0).numpy()
        if canvas is None:
            canvas = np.zeros((columns * side, columns * side, picture.shape[2]), np.uint8)
        thumbnail = _thumbnail(picture, side)
        top, left = (position // columns) * side, (position % columns) * side
        canvas[top : top + side, left : left + side] = thumbnail
    if canvas is None:
        canvas = np.zeros((side, side, 1), np.uint8)
    pixels = canvas[:, :, 0] if canvas.shape[2] == 1 else canvas
    Image.fromarray(pixels).save(path, optimize=True)
    return canvas.shape[1], canvas.shape[0]


def _thumbnail(picture: np.ndarray, side: int) -> np.ndarray:
    """(H, W, C) uint8 as (side, side, C): resized (antialiased) when it is not that size."""
    if picture.shape[:2] == (side, side):
        return picture
    grey = picture.shape[2] == 1
    image = Image.fromarray(picture[:, :, 0] if grey else picture)
    resized = np.asarray(image.resize((side, side), Image.Resampling.LANCZOS))
    return resized[:, :, None] if grey else resized


def write_config(directory: Path, shape: tuple[int, int], side: int) -> Path:
    """``projector_config.pbtxt``: one embedding, its tensor, metadata and sprite, by paths
    relative to ``directory`` (the projector serves no file outside it)."""
    from tensorboard.plugins.projector import ProjectorConfig, visualize_embeddings

    config = ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = TENSOR_NAME
    embedding.tensor_path = "tensors.tsv"
    embedding.tensor_shape.extend(shape)
    embedding.metadata_path = "metadata.tsv"
    embedding.sprite.image_path = "sprite.png"
    embedding.sprite.single_image_dim.extend([side, side])
    visualize_embeddings(str(directory), config)
    return directory / "projector_config.pbtxt"


def summary_line(record: dict, directory: Path) -> str:
    """The one line ``simclr embed`` prints: how many points, the sample, where and how to view."""
    shown = printable(str(directory))
    sample = (
        f", sampled with seed {record['seed']} (at most {record['max_points']:,}),"
        if record["sampled"]
        else ""
    )
    return (
        f"projector: {record['points']:,} of {record['of']:,} images{sample} "
        f"in {shown} (tensorboard --logdir {shown})"
    )
