"""JPEG files handed over as their bytes (simclr/data/encoded.py): which files, the batch that
holds them beside decoded images, its transfer and pinning, and which datasets are read so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from PIL import Image
from torch.utils.data._utils.pin_memory import pin_memory

from simclr.data.encoded import (
    EncodedBatch,
    EncodedImage,
    EncodedImages,
    collate_encoded,
    decoded_where,
    read_jpeg,
)
from simclr.data.images import ArrayImages, collate
from simclr.data.splits import load_split
from tests.simclr.jpegs import jpeg_bytes, photo, write_jpegs, write_png


def test_a_jpeg_is_known_by_its_magic_bytes_not_its_name(tmp_path: Path) -> None:
    jpegs = write_jpegs(tmp_path)
    for path in jpegs:
        assert read_jpeg(path).tolist() == list(path.read_bytes())
    png = write_png(tmp_path / "image.png")
    assert read_jpeg(png) is None
    assert read_jpeg(shutil.copy(png, tmp_path / "png_named.jpg")) is None
    renamed = shutil.copy(jpegs[0], tmp_path / "jpeg_named.png")
    assert read_jpeg(renamed).tolist() == list(jpegs[0].read_bytes())
    assert read_jpeg(tmp_path / "missing.jpg") is None  # PIL names it, in the worker


def test_a_cmyk_jpeg_is_left_to_pil(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (20, 20), (10, 20, 30, 40)).save(path)
    assert read_jpeg(path) is None  # torchvision and PIL convert CMYK to RGB differently


def test_a_jpeg_over_pils_pixel_limit_never_reaches_the_device(
    tmp_path: Path, data_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "large.jpg"
    path.write_bytes(jpeg_bytes(photo((64, 64), "RGB", seed=0)))
    config = data_config(tmp_path, "folder", path=str(tmp_path), image_size=16)
    dataset = EncodedImages(load_split(config, "all"))
    assert isinstance(dataset[0], EncodedImage)
    # over the limit: PIL decodes it in the worker with its warning, as data.decode=workers does
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64 - 1)
    assert read_jpeg(path) is None
    with pytest.warns(Image.DecompressionBombWarning):
        image, label = dataset[0]
    assert image.shape == (3, 16, 16) and label == -1
    # over twice the limit PIL refuses it: skipped with a warning naming the file
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64 // 2 - 1)
    with pytest.warns(UserWarning, match=f"skipping unreadable image {path}"):
        assert dataset[0] is None


def encoded(data: bytes, label: int) -> EncodedImage:
    return EncodedImage(torch.tensor(list(data), dtype=torch.uint8), label, f"{label}.jpg", 8, 3)


def test_collate_keeps_the_order_of_a_mixed_batch() -> None:
    first, second = encoded(b"\xff\xd8\xffab", 3), encoded(b"\xff\xd8\xffcdef", 5)
    decoded = torch.full((3, 8, 8), 7, dtype=torch.uint8)
    batch = collate_encoded([first, (decoded, 4), None, second])
    assert isinstance(batch, EncodedBatch)
    assert batch.is_jpeg.tolist() == [True, False, True] and batch.labels.tolist() == [3, 4, 5]
    assert batch.files == ["3.jpg", "5.jpg"] and (batch.image_size, batch.channels) == (8, 3)
    assert [bytes(data.tolist()) for data in batch.jpeg_bytes()] == [
        b"\xff\xd8\xffab",
        b"\xff\xd8\xffcdef",
    ]
    assert torch.equal(batch.images, decoded[None])
    only_encoded = collate_encoded([first, None])
    assert only_encoded.images.shape == (0, 3, 8, 8) and only_encoded.labels.tolist() == [3]
    plain = collate_encoded([(decoded, 4), None])  # nothing encoded: the workers' batch
    assert isinstance(plain, list) and torch.equal(plain[0], collate([(decoded, 4)])[0])
    assert collate_encoded([None, None]) is None


def small_batch() -> EncodedBatch:
    return collate_encoded([encoded(b"\xff\xd8\xffab", 1), (torch.ones(3, 8, 8).byte(), 2)])


def test_lightning_moves_the_batch_but_leaves_the_bytes_on_the_cpu() -> None:
    moved = move_data_to_device(small_batch(), torch.device("meta"))
    assert isinstance(moved, EncodedBatch)
    assert moved.images.device.type == moved.labels.device.type == "meta"
    # torchvision's decoders read their input on the CPU whatever device they decode to
    assert moved.jpegs.device.type == moved.is_jpeg.device.type == "cpu"


def test_the_loaders_pinning_pins_what_is_copied_to_the_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pinned = []

    def pin(tensor: torch.Tensor, *args) -> torch.Tensor:  # no GPU here to pin memory for
        pinned.append(tensor)
        return tensor.clone()

    monkeypatch.setattr(torch.Tensor, "pin_memory", pin)
    batch = small_batch()
    result = pin_memory(batch)  # what the DataLoader's pinning thread calls on each batch
    assert isinstance(result, EncodedBatch)
    assert [id(tensor) for tensor in pinned] == [id(batch.images), id(batch.labels)]
    assert torch.equal(result.images, batch.images) and result.jpegs is batch.jpegs


def test_which_datasets_come_encoded(tmp_path: Path, data_config) -> None:
    write_jpegs(tmp_path / "a")
    write_jpegs(tmp_path / "b")
    config = data_config(tmp_path, "folder", path=str(tmp_path), image_size=8, val_fraction=0.5)
    for split in ("all", "train"):  # a folder, and a held-out part of one
        prepared = load_split(config, split)
        assert isinstance(decoded_where(prepared, "device", cuda=False), EncodedImages)
        assert isinstance(decoded_where(prepared, "auto", cuda=True), EncodedImages)
        assert decoded_where(prepared, "auto", cuda=False) is prepared
        assert decoded_where(prepared, "workers", cuda=True) is prepared
    in_memory = ArrayImages(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(2))
    assert decoded_where(in_memory, "device", cuda=True) is in_memory
    files = EncodedImages(load_split(config, "train"))
    assert files.files == load_split(config, "train").source.files
    assert torch.equal(files.labels, load_split(config, "train").labels)
